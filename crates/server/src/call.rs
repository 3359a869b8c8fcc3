//! `tools/call`: the capability gate's verdict, the slot that bounds concurrent
//! calls (503 at once when none is free), the call itself (cancellable by
//! `notifications/cancelled` and by dropping it), metrics, and the reply — plain
//! JSON, or an SSE stream when the client asked for progress.

use std::sync::Arc;
use std::time::Instant;

use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

use crate::modern::Era;
use crate::progress::{self, ProgressSink};
use rmcp::model::{CallToolRequestParams, RequestMetaObject};

use crate::registry::Lookup;
use crate::rpc::{Reply, RpcError, ok};
use crate::state::AppState;

/// The `LOG_LEVELS` index a 2026-07-28 request asked for in `_meta`, if any.
fn requested_log_level(meta: &RequestMetaObject) -> Option<u8> {
    let level = meta.0.0.get("io.modelcontextprotocol/logLevel")?.as_str()?;
    crate::state::LOG_LEVELS
        .iter()
        .position(|l| *l == level)
        .map(|i| i as u8)
}

fn accepts_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"))
}

/// What the audit trail records of one call; inert when the trail is off.
#[derive(Clone)]
struct Trail {
    tool: String,
    digest: Option<crate::audit::ArgsDigest>,
}

impl Trail {
    fn new(state: &AppState, tool: &str, args: &Value) -> Self {
        let wanted = state.audit.is_on() || state.traces.get().is_some();
        Self {
            tool: ralph_mcp_session::names::canonical_tool_name(tool).to_owned(),
            digest: wanted.then(|| crate::audit::digest(args)),
        }
    }

    fn record(
        &self,
        state: &AppState,
        outcome: crate::audit::Outcome,
        started: Instant,
        bytes: usize,
    ) {
        let Some(digest) = &self.digest else {
            return;
        };
        let took = started.elapsed();
        state.audit.record(&self.tool, digest, outcome, took, bytes);
        if let Some(traces) = state.traces.get() {
            let end = std::time::SystemTime::now();
            traces.call(
                &self.tool,
                outcome,
                end - took,
                end,
                bytes,
                &hex::encode(digest),
            );
        }
    }
}

pub async fn call_tool(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    id: &str,
    params: Value,
    era: Era,
) -> Reply {
    // rmcp's type: `name` a string, `arguments` an object, `_meta` a map.
    let params: CallToolRequestParams = match serde_json::from_value(params) {
        Ok(p) => p,
        Err(e) => {
            return RpcError::invalid_params(format!(
                "Invalid params: tools/call needs `name` (the tool to call) and `arguments` (an object): {e}"
            ))
            .reply(id);
        }
    };
    let name = params.name.into_owned();
    let args = params.arguments.map_or(Value::Null, Value::Object);
    let meta = params.meta.unwrap_or_default();
    let started = Instant::now();
    let trail = Trail::new(state, &name, &args);
    let refused =
        |state: &AppState| trail.record(state, crate::audit::Outcome::Refused, started, 0);
    let target = match state.registry.lookup(&name) {
        Lookup::Unknown => {
            refused(state);
            state
                .metrics
                .tool_call("unknown", "unknown", started.elapsed());
            let available = state.registry.visible_names();
            let canonical = ralph_mcp_session::names::canonical_tool_name(&name);
            let why = if crate::ralph::TOOLS_NOT_SERVED.contains(&canonical) {
                format!(
                    "`{canonical}` is a Ralph Workflow tool that ralph-mcp does not serve yet (README, \"Under Ralph Workflow\"). Available tools: {}",
                    available.join(", ")
                )
            } else {
                format!(
                    "Unknown tool: `{name}`. Available tools: {}",
                    available.join(", ")
                )
            };
            return RpcError::invalid_params(why)
                .with_data(serde_json::json!({ "available_tools": available }))
                .reply(id);
        }
        Lookup::Refused(e) => {
            refused(state);
            state.metrics.tool_call(
                ralph_mcp_session::names::canonical_tool_name(&name),
                "refused",
                started.elapsed(),
            );
            return tool_result(id, e.into_result(), era, false);
        }
        Lookup::Found(target) => target,
    };
    let Some(_permit) = state.try_permit() else {
        refused(state);
        state.metrics.saturation_rejections.inc();
        return RpcError::saturated().reply(id);
    };
    // Under conflict resolution Ralph must hear of the call before it runs.
    if let Some(relay) = &state.activity_relay
        && let Err(why) = relay.emit(&name).await
    {
        refused(state);
        return RpcError::new(
            StatusCode::OK,
            crate::ralph::relay::RELAY_ERROR_CODE,
            why,
            None,
        )
        .reply(id);
    }
    let token = meta.get_progress_token().map(|t| t.0.into_json_value());
    // Log messages: in the handshake era at the level `logging/setLevel` chose, on
    // calls streamed for progress; in 2026-07-28 only when this request asked for
    // them in `_meta`, and then they alone make the reply a stream.
    let log_threshold = match era {
        Era::Legacy => token.as_ref().map(|_| state.log_level()),
        Era::Modern => requested_log_level(&meta),
    };
    if !accepts_event_stream(headers) || (token.is_none() && log_threshold.is_none()) {
        let _permit = _permit;
        return run_call(state, target, args, None, started, id, era, &trail).await;
    }
    // Answer with an SSE stream that the call feeds.
    let (tx, rx) = tokio::sync::mpsc::channel(progress::BUFFER);
    let sink = ProgressSink::new(token, tx.clone(), log_threshold);
    let metric_name = target.metric_name();
    let state = state.clone();
    let id = id.to_owned();
    tokio::spawn(async move {
        let _permit = _permit;
        // run_call answers with JSON only; anything else would be a bug, and the
        // client still gets an answer instead of a stream that just ends.
        // A client that closes the stream has cancelled the call (2026-07-28 says so
        // outright; for earlier versions nobody is left to answer): dropping the
        // call's future stops it.
        let call = run_call(&state, target, args, Some(sink), started, &id, era, &trail);
        let body = tokio::select! {
            reply = call => match reply {
                Reply::Json { body, .. } => body,
                _ => RpcError::internal("the call produced no reply").body(&id),
            },
            () = tx.closed() => {
                trail.record(&state, crate::audit::Outcome::Cancelled, started, 0);
                state.metrics.tool_call(&metric_name, "cancelled", started.elapsed());
                return;
            }
        };
        let _ = tx
            .send(progress::Event {
                json: body,
                last: true,
            })
            .await;
    });
    Reply::Stream(rx)
}

#[allow(clippy::too_many_arguments)]
async fn run_call(
    state: &AppState,
    target: crate::registry::Target,
    args: Value,
    sink: Option<ProgressSink>,
    started: Instant,
    id: &str,
    era: Era,
    trail: &Trail,
) -> Reply {
    let metric_name = target.metric_name();
    let structured = matches!(&target, crate::registry::Target::Builtin(t) if crate::tools::output::is_structured(t.name));
    // Counted while this future lives, however it ends (answered, cancelled, dropped).
    let _in_flight = state.metrics.in_flight_guard();
    let (_registered, abort) = state.calls.register(id);
    let call = futures_util::future::Abortable::new(state.registry.call(target, args, sink), abort);
    let mut result = match call.await {
        Ok(result) => result,
        Err(_) => {
            trail.record(state, crate::audit::Outcome::Cancelled, started, 0);
            state
                .metrics
                .tool_call(&metric_name, "cancelled", started.elapsed());
            return RpcError::cancelled(
                "Request cancelled by the client (notifications/cancelled)",
            )
            .reply(id);
        }
    };
    let outcome = if result.is_error == Some(true) {
        "error"
    } else {
        "ok"
    };
    state
        .metrics
        .tool_call(&metric_name, outcome, started.elapsed());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    if let Some(notice) = state.dev_timebox.notice(now) {
        result.content.push(rmcp::model::ContentBlock::text(notice));
    }
    let audited = if result.is_error == Some(true) {
        crate::audit::Outcome::Error
    } else {
        crate::audit::Outcome::Ok
    };
    let reply = tool_result(id, result, era, structured);
    if trail.digest.is_some() {
        let bytes = match &reply {
            Reply::Json { body, .. } => body.len(),
            _ => 0,
        };
        trail.record(state, audited, started, bytes);
    }
    reply
}

/// The reply to a call; `structured` says the tool declares an output schema,
/// so its JSON text goes out as `structuredContent` too.
fn tool_result(
    id: &str,
    mut result: rmcp::model::CallToolResult,
    era: Era,
    structured: bool,
) -> Reply {
    if let Some(body) = one_text_block_body(id, &result, era, structured) {
        return Reply::Json {
            status: StatusCode::OK,
            body,
            with_session: false,
        };
    }
    // The discriminator and the server's identity belong to 2026-07-28; older clients
    // reject unknown shapes less often without them, and every version treats an
    // absent `resultType` as "complete". Serialised straight from the struct: no
    // intermediate JSON tree for large results.
    match era {
        Era::Legacy => result.result_type = None,
        Era::Modern => {
            result.result_type = Some(rmcp::model::ResultType::COMPLETE);
            let meta = result.meta.get_or_insert_with(Default::default);
            meta.0.extend(crate::modern::server_info_meta());
        }
    }
    result.is_error.get_or_insert(false);
    let body = serde_json::to_string(&result).unwrap_or_else(|_| "{}".into());
    ok(id, &body, false)
}

/// The whole reply, written in one buffer, for the commonest result: one plain
/// text block (a file's text, a listing, a JSON document as text) and nothing else.
/// The same JSON `tool_result` would write, without the struct round trip.
fn one_text_block_body(
    id: &str,
    result: &rmcp::model::CallToolResult,
    era: Era,
    structured: bool,
) -> Option<String> {
    let [block] = result.content.as_slice() else {
        return None;
    };
    let text = block.as_text()?;
    if text.meta.is_some()
        || text.annotations.is_some()
        || result.structured_content.is_some()
        || result.meta.is_some()
    {
        return None;
    }
    let mut out = Vec::with_capacity(text.text.len() + 160);
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(br#","result":{"#);
    if era == Era::Modern {
        out.extend_from_slice(br#""resultType":"complete","#);
    }
    out.extend_from_slice(br#""content":[{"type":"text","text":"#);
    crate::json_text::push_json_str(&mut out, &text.text);
    let failed = result.is_error == Some(true);
    out.extend_from_slice(if failed {
        br#"}],"isError":true"#
    } else {
        br#"}],"isError":false"#
    });
    // The tool's JSON text, verbatim: a handler's serde output, so valid JSON.
    if structured && !failed && text.text.trim_start().starts_with('{') {
        out.extend_from_slice(br#","structuredContent":"#);
        out.extend_from_slice(text.text.as_bytes());
    }
    if era == Era::Modern {
        out.extend_from_slice(br#","_meta":"#);
        out.extend_from_slice(
            Value::Object(crate::modern::server_info_meta())
                .to_string()
                .as_bytes(),
        );
    }
    out.extend_from_slice(b"}}");
    // Only valid UTF-8 went in: the id, the fixed parts and an escaped `str`.
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{CallToolResult, ContentBlock};

    fn body_of(r: Reply) -> Value {
        match r {
            Reply::Json { body, .. } => serde_json::from_str(&body).unwrap(),
            _ => panic!("not JSON"),
        }
    }

    #[test]
    fn the_one_text_fast_path_writes_what_serde_would() {
        for era in [Era::Legacy, Era::Modern] {
            for (text, err) in [
                ("plain", false),
                ("a \"quoted\"\nline\u{1}", true),
                ("", false),
            ] {
                let mut r = CallToolResult::success(vec![ContentBlock::text(text)]);
                r.is_error = Some(err);
                let fast = one_text_block_body("7", &r, era, false).expect("fast path");
                let fast: Value = serde_json::from_str(&fast).unwrap();
                // The general path, with the fast path out of the way (a second block).
                let mut slow = r.clone();
                slow.content.push(ContentBlock::text("x"));
                let mut slow = body_of(tool_result("7", slow, era, false));
                slow["result"]["content"].as_array_mut().unwrap().pop();
                assert_eq!(fast, slow, "{era:?} {text:?}");
            }
        }
    }

    #[test]
    fn a_structured_tool_sends_its_json_text_as_structured_content() {
        let json = r#"{"path":"a","n":1.5e300,"list":[1,2]}"#;
        let ok = CallToolResult::success(vec![ContentBlock::text(json)]);
        let body: Value =
            serde_json::from_str(&one_text_block_body("1", &ok, Era::Modern, true).unwrap())
                .unwrap();
        let text: Value =
            serde_json::from_str(body["result"]["content"][0]["text"].as_str().unwrap()).unwrap();
        assert_eq!(body["result"]["structuredContent"], text);
        let mut failed = ok.clone();
        failed.is_error = Some(true);
        let body: Value =
            serde_json::from_str(&one_text_block_body("1", &failed, Era::Modern, true).unwrap())
                .unwrap();
        assert!(body["result"].get("structuredContent").is_none());
        let plain = CallToolResult::success(vec![ContentBlock::text("not json")]);
        let body: Value =
            serde_json::from_str(&one_text_block_body("1", &plain, Era::Legacy, true).unwrap())
                .unwrap();
        assert!(body["result"].get("structuredContent").is_none());
    }
}
