//! The JSON-RPC envelope: error codes, the reply a request gets, and bodies
//! serialised into one buffer. Everything that answers a request (dispatch,
//! resources, the HTTP layers) builds its reply here, so nothing circles.

use std::borrow::Cow;

use axum::http::StatusCode;
use rmcp::model::{ErrorCode, ErrorData};
use serde_json::Value;

use crate::progress;

/// The JSON-RPC error codes rmcp's `ErrorCode` does not name (every other
/// code comes from it, so none is copied by hand).
pub mod code {
    use rmcp::model::ErrorCode;

    /// The client cancelled the request (MCP's `RequestCancelled`).
    pub const REQUEST_CANCELLED: ErrorCode = ErrorCode(-32800);
    /// Implementation-defined (the legacy sub-range): saturated, unauthorized,
    /// unknown session.
    pub const SERVER_ERROR: ErrorCode = ErrorCode(-32001);
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

/// A result reply.
pub fn ok(id: &str, result: &str, with_session: bool) -> Reply {
    Reply::Json {
        status: StatusCode::OK,
        body: result_body(id, result),
        with_session,
    }
}

/// A refused or failed request: its HTTP status and rmcp's JSON-RPC error, in
/// one place. Every error reply (dispatch, `tools/call`, resources, the HTTP
/// layers) is one of these; era-specific refusals are built in `modern.rs`.
#[derive(Debug, Clone)]
pub struct RpcError {
    /// The HTTP status the reply goes out with.
    pub status: StatusCode,
    /// The JSON-RPC error object.
    pub error: ErrorData,
}

impl RpcError {
    /// Any error.
    pub fn new(
        status: StatusCode,
        code: ErrorCode,
        message: impl Into<Cow<'static, str>>,
        data: Option<Value>,
    ) -> Self {
        Self {
            status,
            error: ErrorData::new(code, message, data),
        }
    }

    /// A body that is not JSON: 400 / -32700.
    pub fn parse_error(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::PARSE_ERROR,
            message,
            None,
        )
    }

    /// JSON that is not a JSON-RPC message we take (or a request the transport
    /// refuses): 400 / -32600.
    pub fn invalid_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::INVALID_REQUEST,
            message,
            None,
        )
    }

    /// A request understood, with params that are not: 200 / -32602.
    pub fn invalid_params(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::OK, ErrorCode::INVALID_PARAMS, message, None)
    }

    /// A method the handshake era does not have: 200 / -32601.
    pub fn unknown_method(method: &str) -> Self {
        Self::new(
            StatusCode::OK,
            ErrorCode::METHOD_NOT_FOUND,
            format!("Method not found: `{method}`"),
            None,
        )
    }

    /// Something went wrong on our side: 200 / -32603.
    pub fn internal(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::OK, ErrorCode::INTERNAL_ERROR, message, None)
    }

    /// Every tool-call slot is taken: 503 / -32001, at once.
    pub fn saturated() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            code::SERVER_ERROR,
            "server saturated: try again later",
            None,
        )
    }

    /// An `Mcp-Session-Id` this server did not issue: 404 / -32001.
    pub fn unknown_session() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            code::SERVER_ERROR,
            "Session not found: this Mcp-Session-Id was not issued by this server; initialize again",
            None,
        )
    }

    /// The client cancelled the call: 200 / -32800.
    pub fn cancelled(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::OK, code::REQUEST_CANCELLED, message, None)
    }

    /// Refused before dispatch by an HTTP rule (Host, Origin, bearer, method,
    /// size): `status` with `code`.
    pub fn refused(status: StatusCode, code: i64, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(status, ErrorCode(code as i32), message, None)
    }

    /// The same error with `data`.
    pub fn with_data(mut self, data: Value) -> Self {
        self.error.data = Some(data);
        self
    }

    /// The JSON-RPC message; `id` is already JSON (a number or a quoted
    /// string), or [`NO_ID`] when the request's id is unknown (then omitted).
    pub fn body(&self, id: &str) -> String {
        let error = serde_json::to_string(&self.error)
            .unwrap_or_else(|_| r#"{"code":-32603,"message":"error"}"#.into());
        if id == NO_ID {
            format!(r#"{{"jsonrpc":"2.0","error":{error}}}"#)
        } else {
            format!(r#"{{"jsonrpc":"2.0","id":{id},"error":{error}}}"#)
        }
    }

    /// The reply for request `id` (see [`Self::body`]).
    pub fn reply(self, id: &str) -> Reply {
        Reply::Json {
            body: self.body(id),
            status: self.status,
            with_session: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_body_is_valid_json_with_or_without_an_id() {
        let e =
            RpcError::invalid_request("a \"quoted\" msg").with_data(serde_json::json!({"k": 1}));
        let v: Value = serde_json::from_str(&e.body("7")).unwrap();
        assert_eq!(v["id"], 7);
        assert_eq!(v["error"]["code"], -32600);
        assert_eq!(v["error"]["message"], "a \"quoted\" msg");
        assert_eq!(v["error"]["data"]["k"], 1);
        let v: Value = serde_json::from_str(&e.body(NO_ID)).unwrap();
        assert!(
            v.get("id").is_none(),
            "an unknown id is left out, never null"
        );
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn statuses_follow_the_kind_of_error() {
        assert_eq!(RpcError::parse_error("x").status, StatusCode::BAD_REQUEST);
        assert_eq!(RpcError::invalid_params("x").status, StatusCode::OK);
        assert_eq!(
            RpcError::saturated().status,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(RpcError::unknown_session().status, StatusCode::NOT_FOUND);
        assert_eq!(RpcError::cancelled("x").error.code.0, -32800);
        assert_eq!(
            RpcError::unknown_method("m").error.code,
            ErrorCode::METHOD_NOT_FOUND
        );
    }

    #[test]
    fn result_bodies_are_valid_json() {
        let v: Value = serde_json::from_str(&result_body("\"x\"", "{}")).unwrap();
        assert_eq!(v["id"], "x");
    }
}
