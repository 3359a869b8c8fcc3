//! MCP dispatch: decode one JSON-RPC message, check the session and protocol
//! headers, route the method, and encode the reply in one buffer.

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use rmcp::model::{
    ErrorCode, Implementation, InitializeResult, JsonRpcVersion2_0, ProtocolVersion, RequestId,
    ServerCapabilities, ToolsCapability,
};
use serde_json::{Map, Value};

use crate::call::call_tool;
use crate::modern::{self, Era};
use crate::resources;
use crate::rpc::{NO_ID, Reply, RpcError, ok};
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
    /// The request id as JSON text (a number or a quoted string); `None` for a
    /// notification or a response.
    id: Option<String>,
    method: Option<String>,
    params: Value,
}

/// One POST body's JSON-RPC envelope, decoded with rmcp's types for its
/// members: `jsonrpc` must be "2.0", `id` a number or a string. `params` stays
/// JSON for the method to decode.
#[derive(serde::Deserialize)]
struct Envelope {
    #[allow(dead_code)] // its type is the check
    jsonrpc: JsonRpcVersion2_0,
    /// `Some(None)` is an explicit `null`, which MCP does not allow.
    #[serde(default, deserialize_with = "present")]
    id: Option<Option<RequestId>>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    params: Value,
    #[serde(default)]
    result: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    error: Option<serde::de::IgnoredAny>,
}

/// Tells a member that is present (even as `null`) from one that is absent.
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// Decodes one body; a refusal comes with the id to answer it under ([`NO_ID`]
/// when unknown).
fn decode(bytes: &[u8]) -> Result<Message, (RpcError, String)> {
    let env: Envelope = serde_json::from_slice(bytes).map_err(|e| diagnose(bytes, &e))?;
    let id = match env.id {
        None => None,
        Some(Some(id)) => Some(serde_json::to_string(&id).unwrap_or_default()),
        Some(None) => {
            return Err((
                RpcError::invalid_request("Invalid Request: `id` must be a string or a number"),
                NO_ID.into(),
            ));
        }
    };
    if env.method.is_none() && env.result.is_none() && env.error.is_none() {
        return Err((no_method(), id.unwrap_or_else(|| NO_ID.into())));
    }
    Ok(Message {
        id,
        method: env.method,
        params: env.params,
    })
}

fn no_method() -> RpcError {
    RpcError::invalid_request(
        "Invalid Request: a message needs `method` (request or notification) or `result`/`error` (response)",
    )
}

/// Says what is wrong with a body the typed decode refused, as precisely as
/// the body allows (the id is kept when it can be read, so the client can match
/// the reply).
fn diagnose(bytes: &[u8], typed: &serde_json::Error) -> (RpcError, String) {
    let value: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            return (
                RpcError::parse_error(format!("Parse error: body is not valid JSON ({e})")),
                NO_ID.into(),
            );
        }
    };
    let obj = match value {
        Value::Object(o) => o,
        Value::Array(_) => {
            return (
                RpcError::invalid_request(
                    "Invalid Request: JSON-RPC batches are not supported; send one message per POST",
                ),
                NO_ID.into(),
            );
        }
        _ => {
            return (
                RpcError::invalid_request("Invalid Request: the body must be a JSON-RPC object"),
                NO_ID.into(),
            );
        }
    };
    let id = match obj.get("id") {
        None => NO_ID.into(),
        Some(v) => match serde_json::from_value::<RequestId>(v.clone()) {
            Ok(id) => serde_json::to_string(&id).unwrap_or_default(),
            Err(_) => {
                return (
                    RpcError::invalid_request("Invalid Request: `id` must be a string or a number"),
                    NO_ID.into(),
                );
            }
        },
    };
    let why = if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        RpcError::invalid_request("Invalid Request: `jsonrpc` must be \"2.0\"")
    } else if obj.get("method").is_some_and(|m| !m.is_string()) {
        RpcError::invalid_request("Invalid Request: `method` must be a string")
    } else {
        RpcError::invalid_request(format!("Invalid Request: {typed}"))
    };
    (why, id)
}

/// Handles one POST body.
pub async fn handle(state: &Arc<AppState>, headers: &HeaderMap, bytes: &[u8]) -> Reply {
    let msg = match decode(bytes) {
        Ok(m) => m,
        Err((e, id)) => {
            state.metrics.request("invalid");
            return e.reply(&id);
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
        _ => RpcError::unknown_method(&method).reply(&id),
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
        return e.reply(id);
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
            Err(e) if e.code == ErrorCode::RESOURCE_NOT_FOUND => {
                read_error(id, &e, ErrorCode::INVALID_PARAMS)
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
        _ => RpcError::method_not_found(method).reply(id),
    }
}

/// A failed `resources/read` or `prompts/get` under `code`, with `data.uri`
/// when the resource was not found.
fn read_error(id: &str, e: &resources::ReadError, code: ErrorCode) -> Reply {
    let err = RpcError::new(StatusCode::OK, code, e.message.clone(), None);
    match e.data() {
        Some(data) => err.with_data(data),
        None => err,
    }
    .reply(id)
}

/// The methods counted under their own name; any other is `other`.
const COUNTED_METHODS: &[&str] = &[
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "logging/setLevel",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "server/discover",
    "subscriptions/listen",
    "notifications/initialized",
    "notifications/cancelled",
];

fn metric_method(method: &str) -> &'static str {
    COUNTED_METHODS
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("other")
}

/// Checks `MCP-Protocol-Version` and `Mcp-Session-Id`; `Some` is the refusal to send.
/// A missing session id is accepted (see below); a foreign one is 404.
pub fn check_session_headers(state: &AppState, headers: &HeaderMap, id: &str) -> Option<Reply> {
    if let Some(v) = headers.get("mcp-protocol-version") {
        let v = v.to_str().unwrap_or("");
        if !supported_versions().any(|s| s.as_str() == v) {
            let list: Vec<&str> = supported_versions().map(ProtocolVersion::as_str).collect();
            return Some(
                RpcError::invalid_request(format!(
                    "Bad Request: unsupported MCP-Protocol-Version `{v}`; supported: {}",
                    list.join(", ")
                ))
                .reply(id),
            );
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
        Some(_) => Some(RpcError::unknown_session().reply(id)),
    }
}

fn initialize(id: &str, params: &Value) -> Reply {
    let requested = match params.get("protocolVersion") {
        Some(Value::String(v)) => v.as_str(),
        Some(_) => {
            return RpcError::invalid_params(
                "Invalid params: `protocolVersion` must be a string such as \"2025-06-18\"",
            )
            .reply(id);
        }
        None => {
            return RpcError::invalid_params("Invalid params: initialize needs `protocolVersion`")
                .reply(id);
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
        None => RpcError::invalid_params(format!(
            "Invalid params: `level` must be one of {}",
            LOG_LEVELS.join(", ")
        ))
        .reply(id),
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
    fn refusals_say_what_is_wrong_and_keep_a_readable_id() {
        let refusal = |body: &str| decode(body.as_bytes()).err().unwrap();
        let (e, id) = refusal("{not json");
        assert_eq!((e.error.code, id.as_str()), (ErrorCode::PARSE_ERROR, NO_ID));
        let (e, _) = refusal("[]");
        assert!(e.error.message.contains("batches"), "{}", e.error.message);
        let (e, id) = refusal(r#"{"jsonrpc":"1.0","id":7,"method":"ping"}"#);
        assert!(e.error.message.contains("`jsonrpc`"), "{}", e.error.message);
        assert_eq!(id, "7");
        let (e, id) = refusal(r#"{"jsonrpc":"2.0","id":"q","method":3}"#);
        assert!(e.error.message.contains("`method`"), "{}", e.error.message);
        assert_eq!(id, "\"q\"");
        let (e, id) = refusal(r#"{"jsonrpc":"2.0","id":{"x":1},"method":"ping"}"#);
        assert!(e.error.message.contains("`id`"), "{}", e.error.message);
        assert_eq!(id, NO_ID);
        let (e, id) = refusal(r#"{"jsonrpc":"2.0","id":4}"#);
        assert!(
            e.error.message.contains("needs `method`"),
            "{}",
            e.error.message
        );
        assert_eq!(id, "4");
    }

    #[test]
    fn requests_notifications_and_responses_decode() {
        let m = decode(br#"{"jsonrpc":"2.0","id":12,"method":"tools/list","params":{"a":1}}"#)
            .ok()
            .unwrap();
        assert_eq!(
            (m.id.as_deref(), m.method.as_deref()),
            (Some("12"), Some("tools/list"))
        );
        assert_eq!(m.params["a"], 1);
        let n = decode(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
            .ok()
            .unwrap();
        assert!(n.id.is_none() && n.params.is_null());
        let r = decode(br#"{"jsonrpc":"2.0","id":1,"result":{}}"#)
            .ok()
            .unwrap();
        assert!(r.method.is_none());
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
