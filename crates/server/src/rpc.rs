//! The JSON-RPC envelope: error codes, the reply a request gets, and bodies
//! serialised into one buffer. Everything that answers a request (dispatch,
//! resources, the HTTP layers) builds its reply here, so nothing circles.

use axum::http::StatusCode;
use serde_json::Value;

use crate::progress;

/// JSON-RPC error codes, taken from rmcp's `ErrorCode` so none is copied by hand.
pub mod code {
    use rmcp::model::ErrorCode;

    const fn of(c: ErrorCode) -> i64 {
        c.0 as i64
    }

    /// Invalid JSON.
    pub const PARSE_ERROR: i64 = of(ErrorCode::PARSE_ERROR);
    /// Not a valid JSON-RPC request.
    pub const INVALID_REQUEST: i64 = of(ErrorCode::INVALID_REQUEST);
    /// No such method.
    pub const METHOD_NOT_FOUND: i64 = of(ErrorCode::METHOD_NOT_FOUND);
    /// Bad params (including unknown tools).
    pub const INVALID_PARAMS: i64 = of(ErrorCode::INVALID_PARAMS);
    /// Internal error.
    pub const INTERNAL_ERROR: i64 = of(ErrorCode::INTERNAL_ERROR);
    /// No such resource (MCP up to 2025-11-25; 2026-07-28 uses `INVALID_PARAMS`).
    pub const RESOURCE_NOT_FOUND: i64 = of(ErrorCode::RESOURCE_NOT_FOUND);
    /// The client cancelled the request (MCP's `RequestCancelled`; rmcp names no constant).
    pub const REQUEST_CANCELLED: i64 = -32800;
    /// Implementation-defined (the legacy sub-range): saturated, unauthorized,
    /// unknown session.
    pub const SERVER_ERROR: i64 = -32001;
}

/// What to send back.
pub enum Reply {
    /// A JSON body.
    Json {
        /// HTTP status.
        status: StatusCode,
        /// The serialised JSON-RPC message.
        body: String,
        /// Attach `Mcp-Session-Id` (initialize).
        with_session: bool,
    },
    /// 202 for notifications and client responses.
    Accepted,
    /// An SSE stream: each item is one JSON-RPC message; the last is the response.
    Stream(tokio::sync::mpsc::Receiver<progress::Event>),
}

/// The id of a reply to a message whose id could not be read: the `id` member is
/// then left out, as the schema wants (it has no `null` id).
pub const NO_ID: &str = "";

/// `"id":<id>,` for a reply, or nothing when the id is unknown.
fn id_member(id: &str) -> String {
    if id == NO_ID {
        String::new()
    } else {
        format!(r#""id":{id},"#)
    }
}

/// Serialises a JSON-RPC error; `id` is already JSON (a number or a quoted string) or [`NO_ID`].
pub fn error_body(id: &str, code: i64, message: &str) -> String {
    let msg = serde_json::to_string(message).unwrap_or_else(|_| "\"error\"".into());
    let id = id_member(id);
    format!(r#"{{"jsonrpc":"2.0",{id}"error":{{"code":{code},"message":{msg}}}}}"#)
}

/// A JSON-RPC error with `data`.
pub fn error_with_data(id: &str, code: i64, message: &str, data: Value) -> String {
    let msg = serde_json::to_string(message).unwrap_or_else(|_| "\"error\"".into());
    let id = id_member(id);
    format!(r#"{{"jsonrpc":"2.0",{id}"error":{{"code":{code},"message":{msg},"data":{data}}}}}"#)
}

/// A JSON-RPC result; `result` is already JSON.
pub fn result_body(id: &str, result: &str) -> String {
    let mut s = String::with_capacity(result.len() + id.len() + 32);
    s.push_str(r#"{"jsonrpc":"2.0","id":"#);
    s.push_str(id);
    s.push_str(r#","result":"#);
    s.push_str(result);
    s.push('}');
    s
}

/// An error reply.
pub fn err(status: StatusCode, id: &str, code: i64, message: &str) -> Reply {
    Reply::Json {
        status,
        body: error_body(id, code, message),
        with_session: false,
    }
}

/// A result reply.
pub fn ok(id: &str, result: &str, with_session: bool) -> Reply {
    Reply::Json {
        status: StatusCode::OK,
        body: result_body(id, result),
        with_session,
    }
}
