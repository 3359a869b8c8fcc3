//! The HTTP status table, row by row, against the real router in process: every
//! refusal carries a JSON-RPC body, and `initialize`/`tools/list` never wait for
//! tool-call slots.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use crate::confine::AllowedRoots;
use crate::registry::Registry;
use crate::state::{AppState, ServerConfig};
use crate::tools::ToolContext;
use crate::upstream::Upstreams;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use ralph_mcp_session::Session;
use serde_json::{Value, json};
use tower::ServiceExt;

const TOKEN: &str = "router-test-token";

struct Fixture {
    _dir: tempfile::TempDir,
    state: Arc<AppState>,
    app: axum::Router,
}

fn fixture(max_in_flight: usize) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let session = Session::standalone("router-test".into());
    let roots = AllowedRoots::new(dir.path(), None).unwrap();
    let ctx = Arc::new(ToolContext::new(Arc::new(session), roots).unwrap());
    let registry = Registry::new(ctx, Upstreams::new(Vec::new(), None), true);
    let config = ServerConfig {
        auth_token: Some(TOKEN.into()),
        max_body_bytes: 4096,
        max_in_flight,
        ..ServerConfig::default()
    };
    let state = Arc::new(AppState::new(config, registry, "router-test"));
    Fixture {
        _dir: dir,
        app: crate::http::router(state.clone()),
        state,
    }
}

fn post() -> http::request::Builder {
    Request::post("/mcp")
        .header("host", "127.0.0.1:9")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("authorization", format!("Bearer {TOKEN}"))
}

async fn send(app: &axum::Router, req: Request<Body>) -> (StatusCode, Value, Option<String>) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let sid = res
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, body, sid)
}

fn rpc(method: &str, params: Value) -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string()
}

async fn session(app: &axum::Router) -> String {
    let init = rpc(
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}),
    );
    let (status, _, sid) = send(app, post().body(Body::from(init)).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    sid.expect("initialize answers with a session id")
}

fn assert_rpc_error(body: &Value, code: i64) {
    assert_eq!(body["jsonrpc"], "2.0", "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
}

#[tokio::test]
async fn status_400_for_a_body_that_is_not_json() {
    let f = fixture(4);
    let (status, body, _) = send(&f.app, post().body(Body::from("{not json")).unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_rpc_error(&body, -32700);
}

#[tokio::test]
async fn status_401_without_the_bearer_token() {
    let f = fixture(4);
    let req = Request::post("/mcp")
        .header("host", "127.0.0.1:9")
        .header("content-type", "application/json")
        .body(Body::from(rpc("ping", json!({}))))
        .unwrap();
    let (status, body, _) = send(&f.app, req).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_rpc_error(&body, -32001);
}

#[tokio::test]
async fn status_403_for_a_foreign_host_or_origin() {
    let f = fixture(4);
    let req = Request::post("/mcp")
        .header("host", "evil.example:80")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Body::from(rpc("ping", json!({}))))
        .unwrap();
    assert_eq!(send(&f.app, req).await.0, StatusCode::FORBIDDEN);
    let req = post()
        .header("origin", "http://evil.example")
        .body(Body::from(rpc("ping", json!({}))))
        .unwrap();
    let (status, body, _) = send(&f.app, req).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["jsonrpc"], "2.0", "{body}");
}

#[tokio::test]
async fn status_404_for_a_session_that_is_not_ours() {
    let f = fixture(4);
    let req = post()
        .header("mcp-session-id", "not-this-one")
        .body(Body::from(rpc("tools/list", json!({}))))
        .unwrap();
    let (status, body, _) = send(&f.app, req).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["jsonrpc"], "2.0", "{body}");
}

#[tokio::test]
async fn status_405_for_delete_and_for_get_that_takes_no_stream() {
    let f = fixture(4);
    let req = Request::delete("/mcp")
        .header("host", "127.0.0.1:9")
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .unwrap();
    let (status, body, _) = send(&f.app, req).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["jsonrpc"], "2.0", "{body}");
    let req = Request::get("/mcp")
        .header("host", "127.0.0.1:9")
        .header("accept", "application/json")
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&f.app, req).await.0, StatusCode::METHOD_NOT_ALLOWED);
    // A client that takes a stream gets the notification stream (its body never
    // ends, so only the head is looked at).
    let req = Request::get("/mcp")
        .header("host", "127.0.0.1:9")
        .header("accept", "text/event-stream")
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .unwrap();
    let res = f.app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
}

#[tokio::test]
async fn status_413_for_a_body_over_the_cap() {
    let f = fixture(4);
    let big = rpc("ping", json!({"pad": "x".repeat(8192)}));
    let (status, body, _) = send(&f.app, post().body(Body::from(big)).unwrap()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["jsonrpc"], "2.0", "{body}");
}

#[tokio::test]
async fn status_503_for_a_saturated_tool_call_while_list_and_ping_still_answer() {
    let f = fixture(1);
    let sid = session(&f.app).await;
    // The only slot is taken by a call in progress.
    let _busy = f.state.try_permit().expect("one free slot");
    let call = rpc(
        "tools/call",
        json!({"name": "list_allowed_roots", "arguments": {}}),
    );
    let req = post()
        .header("mcp-session-id", &sid)
        .body(Body::from(call))
        .unwrap();
    let (status, body, _) = send(&f.app, req).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_rpc_error(&body, -32001);
    for method in ["tools/list", "ping"] {
        let req = post()
            .header("mcp-session-id", &sid)
            .body(Body::from(rpc(method, json!({}))))
            .unwrap();
        let (status, body, _) = send(&f.app, req).await;
        assert_eq!(status, StatusCode::OK, "{method}: {body}");
        assert!(body.get("result").is_some(), "{method}: {body}");
    }
}

#[tokio::test]
async fn health_needs_no_token_and_reports_the_sandbox() {
    let f = fixture(4);
    let req = Request::get("/health")
        .header("host", "127.0.0.1:9")
        .body(Body::empty())
        .unwrap();
    let (status, body, _) = send(&f.app, req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "healthy");
    assert!(body["sandbox"]["mode"].is_string());
}

#[tokio::test]
async fn malformed_tool_call_params_are_invalid_params_with_the_id() {
    let f = fixture(4);
    let sid = session(&f.app).await;
    for params in [
        json!("read_file"),
        json!({"arguments": {}}),
        json!({"name": 7}),
        json!({"name": "read_file", "arguments": ["README.md"]}),
    ] {
        let req = post()
            .header("mcp-session-id", &sid)
            .body(Body::from(rpc("tools/call", params.clone())))
            .unwrap();
        let (status, body, _) = send(&f.app, req).await;
        assert_eq!(status, StatusCode::OK, "{params}: {body}");
        assert_rpc_error(&body, -32602);
        assert!(body.get("id").is_some_and(|id| !id.is_null()), "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("`name`") && message.contains("`arguments`"),
            "{message}"
        );
    }
}
