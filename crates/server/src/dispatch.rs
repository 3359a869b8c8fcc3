//! MCP dispatch: decode one JSON-RPC message, check the session and protocol
//! headers, route the method, and encode the reply in one buffer.

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use rmcp::model::{
    Implementation, InitializeResult, ProtocolVersion, ServerCapabilities, ToolsCapability,
};
use serde_json::{Map, Value};

use crate::call::call_tool;
use crate::modern::{self, Era};
use crate::resources;
use crate::rpc::{Reply, code, err, ok};
use crate::state::{AppState, LOG_LEVELS};

/// What `initialize` and `server/discover` tell the model about this server.
pub const INSTRUCTIONS: &str = "Workspace tools for a coding agent. Paths are relative to the workspace root and must stay inside the allowed roots (see list_allowed_roots).";

/// Versions we answer `initialize` with: every known version that still has
/// the handshake, back to 2024-11-05.
pub fn supported_versions() -> impl Iterator<Item = &'static ProtocolVersion> {
    ProtocolVersion::KNOWN_VERSIONS
        .iter()
        .filter(|v| v.has_initialize())
}

/// The client's version when we support it, else our latest.
pub fn negotiate(requested: &str) -> ProtocolVersion {
    supported_versions()
        .find(|v| v.as_str() == requested)
        .cloned()
        .unwrap_or(ProtocolVersion::LATEST_WITH_INITIALIZE)
}

/// A decoded JSON-RPC message.
struct Message {
    id: Option<String>,
    method: Option<String>,
    params: Value,
}

fn decode(bytes: &[u8]) -> Result<Message, Reply> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        err(
            StatusCode::BAD_REQUEST,
            crate::rpc::NO_ID,
            code::PARSE_ERROR,
            &format!("Parse error: body is not valid JSON ({e})"),
        )
    })?;
    let mut obj = match value {
        Value::Object(o) => o,
        Value::Array(_) => {
            return Err(err(
                StatusCode::BAD_REQUEST,
                crate::rpc::NO_ID,
                code::INVALID_REQUEST,
                "Invalid Request: JSON-RPC batches are not supported; send one message per POST",
            ));
        }
        _ => {
            return Err(err(
                StatusCode::BAD_REQUEST,
                crate::rpc::NO_ID,
                code::INVALID_REQUEST,
                "Invalid Request: the body must be a JSON-RPC object",
            ));
        }
    };
    let id = match obj.remove("id") {
        None => None,
        Some(v @ (Value::String(_) | Value::Number(_))) => Some(v.to_string()),
        Some(_) => {
            return Err(err(
                StatusCode::BAD_REQUEST,
                crate::rpc::NO_ID,
                code::INVALID_REQUEST,
                "Invalid Request: `id` must be a string or a number",
            ));
        }
    };
    let id_json = id.clone().unwrap_or_else(|| crate::rpc::NO_ID.into());
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(err(
            StatusCode::BAD_REQUEST,
            &id_json,
            code::INVALID_REQUEST,
            "Invalid Request: `jsonrpc` must be \"2.0\"",
        ));
    }
    let method = match obj.remove("method") {
        None => None,
        Some(Value::String(m)) => Some(m),
        Some(_) => {
            return Err(err(
                StatusCode::BAD_REQUEST,
                &id_json,
                code::INVALID_REQUEST,
                "Invalid Request: `method` must be a string",
            ));
        }
    };
    if method.is_none() && !(obj.contains_key("result") || obj.contains_key("error")) {
        return Err(err(
            StatusCode::BAD_REQUEST,
            &id_json,
            code::INVALID_REQUEST,
            "Invalid Request: a message needs `method` (request or notification) or `result`/`error` (response)",
        ));
    }
    let params = obj.remove("params").unwrap_or(Value::Null);
    Ok(Message { id, method, params })
}

/// Handles one POST body.
pub async fn handle(state: &Arc<AppState>, headers: &HeaderMap, bytes: &[u8]) -> Reply {
    let msg = match decode(bytes) {
        Ok(m) => m,
        Err(reply) => {
            state.metrics.request("invalid");
            return reply;
        }
    };
    let Some(method) = msg.method else {
        // A response to a server request; we send none, so just accept it.
        return Reply::Accepted;
    };
    state.metrics.request(metric_method(&method));
    let era = modern::era_of(&method, &msg.params, headers);
    let Some(id) = msg.id else {
        // Notifications need no answer; a cancellation stops the call it names.
        if method == "notifications/cancelled"
            && let Some(request) = msg.params.get("requestId")
        {
            state.calls.cancel(&request.to_string());
        }
        return Reply::Accepted;
    };
    if era == Era::Modern {
        return handle_modern(state, headers, &id, &method, msg.params).await;
    }
    if method == "initialize" {
        return initialize(&id, &msg.params);
    }
    if let Some(reply) = check_session_headers(state, headers, &id) {
        return reply;
    }
    match method.as_str() {
        "ping" => ok(&id, "{}", false),
        "tools/list" => ok(&id, &state.registry.list_result_json(), false),
        "tools/call" => call_tool(state, headers, &id, msg.params, Era::Legacy).await,
        "logging/setLevel" => set_level(state, &id, &msg.params),
        "resources/list" => ok(&id, &resources::list(state), false),
        "resources/templates/list" => ok(&id, resources::TEMPLATES, false),
        "prompts/list" => ok(&id, &resources::prompts(state), false),
        "prompts/get" => match resources::get_prompt(state, &msg.params).await {
            Ok(body) => ok(&id, &body, false),
            Err(e) => read_error(&id, &e, e.code),
        },
        "resources/read" => match resources::read_any(state, &msg.params).await {
            Ok(body) => ok(&id, &body, false),
            Err(e) => read_error(&id, &e, e.code),
        },
        _ => err(
            StatusCode::OK,
            &id,
            code::METHOD_NOT_FOUND,
            &format!("Method not found: `{method}`"),
        ),
    }
}

/// One request of the 2026-07-28 era: checked, then routed; a method this era
/// does not have (`initialize`, `ping`, `logging/setLevel`, …) is 404 / -32601.
async fn handle_modern(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    id: &str,
    method: &str,
    params: Value,
) -> Reply {
    if let Err(e) = modern::check_request(headers, method, &params) {
        return e.reply(Some(id));
    }
    match method {
        "server/discover" => ok(id, &modern::discover(), false),
        "tools/list" => ok(
            id,
            &modern::decorate(
                &state.registry.list_result_json(),
                Some(modern::tools_cache(state)),
            ),
            false,
        ),
        "tools/call" => call_tool(state, headers, id, params, Era::Modern).await,
        "resources/list" => ok(
            id,
            &modern::decorate(&resources::list(state), Some(modern::VOLATILE)),
            false,
        ),
        "resources/templates/list" => ok(
            id,
            &modern::decorate(resources::TEMPLATES, Some(modern::STABLE)),
            false,
        ),
        "resources/read" => match resources::read_any(state, &params).await {
            // A handle's bytes never change; an upstream's resource may.
            Ok(body) => {
                let uri = params.get("uri").and_then(Value::as_str).unwrap_or("");
                let hint = if uri.starts_with(crate::media_store::URI_PREFIX) {
                    modern::STABLE
                } else {
                    modern::VOLATILE
                };
                ok(id, &modern::decorate(&body, Some(hint)), false)
            }
            // This era reports a missing resource as invalid params.
            Err(e) if e.code == code::RESOURCE_NOT_FOUND => {
                read_error(id, &e, code::INVALID_PARAMS)
            }
            Err(e) => read_error(id, &e, e.code),
        },
        "prompts/list" => ok(
            id,
            &modern::decorate(&resources::prompts(state), Some(modern::VOLATILE)),
            false,
        ),
        "prompts/get" => match resources::get_prompt(state, &params).await {
            Ok(body) => ok(id, &modern::decorate(&body, Some(modern::VOLATILE)), false),
            Err(e) => read_error(id, &e, e.code),
        },
        "subscriptions/listen" => modern::listen(state, id, &params),
        _ => modern::RpcError::method_not_found(method).reply(Some(id)),
    }
}

/// A failed `resources/read`, with `data.uri` when the resource was not found.
fn read_error(id: &str, e: &resources::ReadError, code: i64) -> Reply {
    match e.data() {
        Some(data) => Reply::Json {
            status: StatusCode::OK,
            body: crate::rpc::error_with_data(id, code, &e.message, data),
            with_session: false,
        },
        None => err(StatusCode::OK, id, code, &e.message),
    }
}

fn metric_method(method: &str) -> &str {
    match method {
        "initialize"
        | "ping"
        | "tools/list"
        | "tools/call"
        | "logging/setLevel"
        | "resources/list"
        | "resources/read"
        | "resources/templates/list"
        | "server/discover"
        | "subscriptions/listen"
        | "notifications/initialized"
        | "notifications/cancelled" => method,
        _ => "other",
    }
}

/// Checks `MCP-Protocol-Version` and `Mcp-Session-Id`; `Some` is the refusal to send.
/// A missing session id is accepted (see below); a foreign one is 404.
pub fn check_session_headers(state: &AppState, headers: &HeaderMap, id: &str) -> Option<Reply> {
    if let Some(v) = headers.get("mcp-protocol-version") {
        let v = v.to_str().unwrap_or("");
        if !supported_versions().any(|s| s.as_str() == v) {
            let list: Vec<&str> = supported_versions().map(ProtocolVersion::as_str).collect();
            return Some(err(
                StatusCode::BAD_REQUEST,
                id,
                code::INVALID_REQUEST,
                &format!(
                    "Bad Request: unsupported MCP-Protocol-Version `{v}`; supported: {}",
                    list.join(", ")
                ),
            ));
        }
    }
    // The server serves one session. A request without the header is served as
    // that session: Ralph's tool-hash baseline and alias probes send a bare
    // `tools/list`, and 2026-07-28 clients send no session at all. An id this
    // server did not issue is refused, so a client of an older server learns
    // to initialize again.
    match headers
        .get("mcp-session-id")
        .map(http::HeaderValue::as_bytes)
    {
        None => None,
        Some(got) if got == state.mcp_session_id.as_bytes() => None,
        Some(_) => Some(err(
            StatusCode::NOT_FOUND,
            id,
            code::SERVER_ERROR,
            "Session not found: this Mcp-Session-Id was not issued by this server; initialize again",
        )),
    }
}

fn initialize(id: &str, params: &Value) -> Reply {
    let requested = match params.get("protocolVersion") {
        Some(Value::String(v)) => v.as_str(),
        Some(_) => {
            return err(
                StatusCode::OK,
                id,
                code::INVALID_PARAMS,
                "Invalid params: `protocolVersion` must be a string such as \"2025-06-18\"",
            );
        }
        None => {
            return err(
                StatusCode::OK,
                id,
                code::INVALID_PARAMS,
                "Invalid params: initialize needs `protocolVersion`",
            );
        }
    };
    let mut capabilities = ServerCapabilities::default();
    let mut tools = ToolsCapability::default();
    // Upstreams, and `.agent/mcp.toml` edits, change the lists.
    tools.list_changed = Some(true);
    capabilities.tools = Some(tools);
    capabilities.logging = Some(Map::new());
    let mut res = rmcp::model::ResourcesCapability::default();
    res.list_changed = Some(true);
    capabilities.resources = Some(res);
    let mut prompts = rmcp::model::PromptsCapability::default();
    prompts.list_changed = Some(true);
    capabilities.prompts = Some(prompts);
    let mut result = InitializeResult::new(capabilities);
    result.protocol_version = negotiate(requested);
    result.server_info = Implementation::new("ralph-mcp", env!("CARGO_PKG_VERSION"));
    result.instructions = Some(INSTRUCTIONS.into());
    let body = serde_json::to_string(&result).unwrap_or_else(|_| "{}".into());
    ok(id, &body, true)
}

fn set_level(state: &AppState, id: &str, params: &Value) -> Reply {
    let level = params.get("level").and_then(Value::as_str).unwrap_or("");
    match LOG_LEVELS.iter().position(|l| *l == level) {
        Some(idx) => {
            state.set_log_level(idx as u8);
            ok(id, "{}", false)
        }
        None => err(
            StatusCode::OK,
            id,
            code::INVALID_PARAMS,
            &format!(
                "Invalid params: `level` must be one of {}",
                LOG_LEVELS.join(", ")
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn negotiation_echoes_supported_and_falls_back_to_latest() {
        assert_eq!(negotiate("2024-11-05").as_str(), "2024-11-05");
        assert_eq!(negotiate("2025-06-18").as_str(), "2025-06-18");
        assert_eq!(
            negotiate("1999-01-01"),
            ProtocolVersion::LATEST_WITH_INITIALIZE
        );
    }

    #[test]
    fn decode_rejects_batches_and_bad_ids() {
        assert!(decode(b"[]").is_err());
        assert!(decode(br#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#).is_err());
        assert!(decode(br#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#).is_err());
        let m = decode(br#"{"jsonrpc":"2.0","id":"a","method":"ping"}"#)
            .ok()
            .unwrap();
        assert_eq!(m.id.as_deref(), Some("\"a\""));
    }

    #[test]
    fn bodies_are_valid_json() {
        let v: Value =
            serde_json::from_str(&crate::rpc::error_body("7", -32600, "a \"quoted\" msg")).unwrap();
        assert_eq!(v["error"]["code"], -32600);
        let v: Value = serde_json::from_str(&crate::rpc::result_body("\"x\"", "{}")).unwrap();
        assert_eq!(v["id"], "x");
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn decoding_arbitrary_json_objects_never_panics(id in prop::option::of(any::<i64>()), method in prop::option::of(".{0,20}"), params in prop::option::of(".{0,20}")) {
            let mut obj = serde_json::json!({"jsonrpc": "2.0"});
            if let Some(id) = id { obj["id"] = id.into(); }
            if let Some(m) = method { obj["method"] = m.into(); }
            if let Some(p) = params { obj["params"] = p.into(); }
            let _ = decode(obj.to_string().as_bytes());
        }
    }
}
