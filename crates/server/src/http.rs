//! The HTTP surface: `/mcp` (Streamable HTTP, JSON replies), `/health`, `/metrics`,
//! and the cross-cutting layers in front of them (Host/Origin, bearer auth).

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use subtle::ConstantTimeEq;

use crate::dispatch;
use crate::progress::Event;
use crate::rpc::{self, Reply};
use crate::state::{AppState, LOG_LEVELS};

/// Builds the router with its layers.
pub fn router(state: Arc<AppState>) -> Router {
    let mcp = Router::new()
        .route(
            "/mcp",
            get(get_mcp).post(post_mcp).delete(method_not_allowed),
        )
        .route("/metrics", get(metrics))
        .route_layer(Gate::layer(state.clone(), Check::Bearer));
    Router::new()
        .route("/health", get(health))
        .merge(mcp)
        .layer(Gate::layer(state.clone(), Check::HostAndOrigin))
        .with_state(state)
}

/// The response for a request refused at the HTTP layer (its id is unknown
/// there, so the error carries none).
pub fn rpc_error_response(error: &rpc::RpcError) -> Response {
    json_response(error.status, error.body(rpc::NO_ID), None)
}

fn json_response(status: StatusCode, body: String, session: Option<&HeaderValue>) -> Response {
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(id) = session {
        res.headers_mut().insert("mcp-session-id", id.clone());
    }
    res
}

fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The host part of a `Host` header value or an origin's authority.
fn host_of(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        // [v6]:port
        return rest.split(']').next().unwrap_or(rest);
    }
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

/// What a [`Gate`] checks before the request goes on.
#[derive(Clone, Copy)]
enum Check {
    /// The loopback `Host` (unless remote serving was allowed) and `Origin` checks (403).
    HostAndOrigin,
    /// The bearer token (401).
    Bearer,
}

/// A layer that answers a request itself when a [`Check`] refuses it and passes
/// it on untouched otherwise: synchronous checks, no boxed future per request.
#[derive(Clone)]
struct Gate<S> {
    inner: S,
    state: Arc<AppState>,
    check: Check,
}

impl Gate<()> {
    fn layer(
        state: Arc<AppState>,
        check: Check,
    ) -> impl tower::Layer<axum::routing::Route, Service = Gate<axum::routing::Route>> + Clone {
        tower::layer::layer_fn(move |inner| Gate {
            inner,
            state: state.clone(),
            check,
        })
    }
}

impl<S> tower::Service<Request> for Gate<S>
where
    S: tower::Service<Request, Response = Response, Error = std::convert::Infallible>,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = futures_util::future::Either<
        std::future::Ready<Result<Response, std::convert::Infallible>>,
        S::Future,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let refusal = match self.check {
            Check::HostAndOrigin => host_and_origin_refusal(&self.state, &req),
            Check::Bearer => bearer_refusal(&self.state, &req),
        };
        match refusal {
            Some(res) => futures_util::future::Either::Left(std::future::ready(Ok(res))),
            None => futures_util::future::Either::Right(self.inner.call(req)),
        }
    }
}

/// 403 for a non-loopback `Host` (unless remote serving was allowed) or `Origin`.
fn host_and_origin_refusal(state: &AppState, req: &Request) -> Option<Response> {
    if !state.config.allow_remote {
        let host_ok = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .is_none_or(|h| is_loopback_host(host_of(h)));
        if !host_ok {
            return Some(rpc_error_response(&rpc::RpcError::refused(
                StatusCode::FORBIDDEN,
                -32000,
                "Forbidden: the Host header is not a loopback name; this server only answers requests addressed to localhost",
            )));
        }
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let ok = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://").map(|(_, rest)| rest))
            .map(|authority| authority.split('/').next().unwrap_or(authority))
            .is_some_and(|authority| is_loopback_host(host_of(authority)));
        if !ok {
            return Some(rpc_error_response(&rpc::RpcError::refused(
                StatusCode::FORBIDDEN,
                -32000,
                "Forbidden: Origin is not a loopback origin (DNS-rebinding protection)",
            )));
        }
    }
    None
}

/// 401 unless the request carries the server's bearer token (when it has one).
fn bearer_refusal(state: &AppState, req: &Request) -> Option<Response> {
    if let Some(expected) = &state.config.auth_token {
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map_or("", str::trim);
        let ok: bool = presented.as_bytes().ct_eq(expected.as_bytes()).into();
        if !ok {
            let mut res = rpc_error_response(&rpc::RpcError::refused(
                StatusCode::UNAUTHORIZED,
                -32001,
                "Unauthorized: send `Authorization: Bearer <token>` with the token the server was started with (its MCP_AUTH_TOKEN; agents under `ralph-mcp run` get it as RALPH_MCP_AUTH_TOKEN, which `ralph-mcp call` and `probe` read too)",
            ));
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return Some(res);
        }
    }
    None
}

async fn method_not_allowed(method: Method) -> Response {
    let mut res = rpc_error_response(&rpc::RpcError::refused(
        StatusCode::METHOD_NOT_ALLOWED,
        -32000,
        format!(
            "{method} /mcp is not supported: this server answers POST (JSON, or SSE for calls that ask for progress) and keeps no server-initiated stream"
        ),
    ));
    res.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    res
}

/// `GET /mcp`: a stream of server notifications (`notifications/tools/list_changed`
/// and its resource and prompt siblings, as upstreams and `.agent/mcp.toml`
/// change) for a client that accepts `text/event-stream` and names our session;
/// 405 otherwise.
async fn get_mcp(
    State(state): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let wants_stream = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    if !wants_stream {
        return method_not_allowed(method).await;
    }
    if let Some(refusal) = dispatch::check_session_headers(&state, &headers, rpc::NO_ID) {
        return reply_response(&state, refusal);
    }
    let changes = state.registry.subscribe_list_changed();
    let upstream_states = state.registry.upstreams().subscribe_states();
    let events = futures_util::stream::unfold(
        (state, changes, upstream_states),
        |(state, mut changes, mut upstream_states)| async move {
            use tokio::sync::broadcast::error::RecvError;
            loop {
                if state.is_draining() {
                    return None;
                }
                let tick = tokio::time::sleep(std::time::Duration::from_secs(1));
                let text = tokio::select! {
                    got = changes.recv() => {
                        let kind = match got {
                            Ok(kind) => kind,
                            Err(RecvError::Lagged(_)) => crate::registry::ListKind::Tools,
                            Err(RecvError::Closed) => return None,
                        };
                        format!(
                            "event: message\ndata: {{\"jsonrpc\":\"2.0\",\"method\":\"{}\"}}\n\n",
                            kind.method()
                        )
                    }
                    // An upstream's state change, as a log message at or above the
                    // level the client set with `logging/setLevel`.
                    got = upstream_states.recv() => {
                        let Ok(change) = got else { continue };
                        let level = change.level();
                        let idx = LOG_LEVELS.iter().position(|l| *l == level).unwrap_or(0);
                        if (idx as u8) < state.log_level() {
                            continue;
                        }
                        let note = serde_json::json!({
                            "jsonrpc": "2.0",
                            "method": "notifications/message",
                            "params": {"level": level, "logger": "ralph-mcp/upstream", "data": change.message()},
                        });
                        format!("event: message\ndata: {note}\n\n")
                    }
                    () = tick => continue,
                };
                return Some((
                    Ok::<_, std::convert::Infallible>(text),
                    (state, changes, upstream_states),
                ));
            }
        },
    );
    event_stream(events)
}

async fn post_mcp(State(state): State<Arc<AppState>>, req: Request) -> Response {
    // The request taken whole: a `HeaderMap` extractor would copy every header.
    let (parts, body) = req.into_parts();
    let headers = parts.headers;
    let limit = state.config.max_body_bytes;
    let bytes: Bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => {
            return rpc_error_response(&rpc::RpcError::refused(
                StatusCode::PAYLOAD_TOO_LARGE,
                -32600,
                format!("request body exceeds the {limit}-byte limit; send smaller requests"),
            ));
        }
    };
    let reply = dispatch::handle(&state, &headers, &bytes).await;
    reply_response(&state, reply)
}

fn reply_response(state: &AppState, reply: Reply) -> Response {
    match reply {
        Reply::Json {
            status,
            body,
            with_session,
        } => json_response(
            status,
            body,
            with_session.then_some(&state.mcp_session_header),
        ),
        Reply::Accepted => StatusCode::ACCEPTED.into_response(),
        Reply::Stream(rx) => sse_response(rx),
    }
}

/// A `text/event-stream` response over `events` (each item one complete SSE event).
fn event_stream<S>(events: S) -> Response
where
    S: futures_util::Stream<Item = Result<String, std::convert::Infallible>> + Send + 'static,
{
    let mut res = Body::from_stream(events).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}

/// Each message becomes one SSE `message` event; the stream ends with the response.
/// Output that keeps flowing after the response (a detached job) is not sent.
fn sse_response(rx: tokio::sync::mpsc::Receiver<Event>) -> Response {
    let events = futures_util::stream::unfold(Some(rx), |rx| async move {
        let mut rx = rx?;
        let event = rx.recv().await?;
        let text = format!("event: message\ndata: {}\n\n", event.json);
        let rest = (!event.last).then_some(rx);
        Some((Ok::<_, std::convert::Infallible>(text), rest))
    });
    event_stream(events)
}

/// How long `/health` waits for a blocking-pool worker before it reports the
/// server unhealthy (tool calls could not run either, so the supervisor restarts it).
const DISPATCH_PROBE: std::time::Duration = std::time::Duration::from_secs(2);

async fn health(State(state): State<Arc<AppState>>) -> Response {
    let draining = state.is_draining();
    let dispatch_ok = tokio::time::timeout(DISPATCH_PROBE, tokio::task::spawn_blocking(|| ()))
        .await
        .is_ok_and(|r| r.is_ok());
    let status = if draining || !dispatch_ok {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let upstreams = state.registry.upstreams().states();
    let starting: Vec<&str> = upstreams
        .iter()
        .filter(|(_, st)| *st != crate::upstream::State::Ready)
        .map(|(name, _)| name.as_str())
        .collect();
    let config_error = state.registry.upstreams().config_error();
    let label = match (
        draining,
        dispatch_ok,
        starting.is_empty() && config_error.is_none(),
    ) {
        (true, _, _) => "draining",
        (false, false, _) => "unhealthy",
        (false, true, true) => "healthy",
        (false, true, false) => "degraded",
    };
    let ctx = state.registry.context();
    let body = serde_json::json!({
        "status": label,
        "tools": state.registry.visible_names().len(),
        "in_flight": state.in_flight(),
        "tool_calls": state.metrics.activity_total(),
        "version": env!("CARGO_PKG_VERSION"),
        "pid": std::process::id(),
        "upstreams": upstreams
            .iter()
            .map(|(name, st)| serde_json::json!({"name": name, "state": st.to_string()}))
            .collect::<Vec<_>>(),
        "degraded_upstreams": starting,
        "config_error": config_error,
        "dispatch": if dispatch_ok { "ok" } else { "no tool-call worker free within 2 s" },
        "sandbox": crate::sandbox::report(&ctx.exec_sandbox()),
        "path_resolver": crate::confine::beneath::resolver_name(),
        "activity_relay": state.activity_relay.as_ref().map(|r| r.health_error().unwrap_or_else(|| "ok".into())),
    });
    json_response(status, body.to_string(), None)
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let mut res = Response::new(Body::from(state.metrics.render()));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_recognised() {
        for h in [
            "localhost:8080",
            "127.0.0.1:1",
            "[::1]:9",
            "127.0.0.2",
            "LOCALHOST",
        ] {
            assert!(is_loopback_host(host_of(h)), "{h}");
        }
        for h in [
            "evil.example.com",
            "evil.example.com:80",
            "10.0.0.1:5",
            "[2001:db8::1]:3",
            "localhost.evil.com",
        ] {
            assert!(!is_loopback_host(host_of(h)), "{h}");
        }
    }
}
