//! MCP 2026-07-28, the stateless ("modern") era, beside the handshake era.
//!
//! A request whose `_meta` names a modern protocol version (or that carries a
//! modern `MCP-Protocol-Version` header, or is `server/discover`) is served
//! without `initialize` and without a session: its `_meta` must carry the
//! protocol version and the client's capabilities, the `MCP-Protocol-Version`,
//! `Mcp-Method` and `Mcp-Name` headers must match the body, every result carries
//! `resultType` and the server's identity in `_meta`, list and read results
//! carry caching hints, and a method this era does not have is 404 / -32601.
//! `subscriptions/listen` replaces the GET stream for `tools/list_changed`.
//!
//! Contract: the 2026-07-28 specification's transport, versioning, discover,
//! caching and subscriptions pages.

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use rmcp::model::ErrorCode;
use serde_json::{Map, Value, json};

use crate::rpc::{self, Reply, RpcError};
use crate::state::AppState;

/// The modern versions this server serves.
pub const VERSIONS: &[&str] = &["2026-07-28"];

/// Methods of the handshake era that 2026-07-28 removed.
pub const REMOVED_METHODS: &[&str] = &[
    "initialize",
    "ping",
    "logging/setLevel",
    "resources/subscribe",
    "resources/unsubscribe",
];

/// `_meta` keys of the per-request protocol fields.
pub mod meta_key {
    /// The request's protocol version.
    pub const PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
    /// The client's capabilities.
    pub const CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
    /// The server's identity, in every result.
    pub const SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";
    /// The subscription a notification belongs to.
    pub const SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";
}

/// How long a client may keep a list or read result: the lists change only
/// when an upstream's does (and `tools/list_changed` says so), media handles never.
const TTL_MS_STABLE: u64 = 300_000;

/// Which era a request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// `initialize`, sessions, `MCP-Protocol-Version` up to 2025-11-25.
    Legacy,
    /// Per-request `_meta`, no handshake (2026-07-28).
    Modern,
}

/// Every version served: this era's, then the handshake era's.
pub fn all_versions() -> Vec<&'static str> {
    VERSIONS
        .iter()
        .copied()
        .chain(crate::dispatch::supported_versions().map(rmcp::model::ProtocolVersion::as_str))
        .collect()
}

fn is_legacy_version(v: &str) -> bool {
    crate::dispatch::supported_versions().any(|s| s.as_str() == v)
}

/// Decides the era from the body's `_meta`, the method and the version header.
pub fn era_of(method: &str, params: &Value, headers: &HeaderMap) -> Era {
    let meta_version = params
        .get("_meta")
        .and_then(|m| m.get(meta_key::PROTOCOL_VERSION));
    if let Some(v) = meta_version {
        return match v.as_str() {
            Some(v) if is_legacy_version(v) => Era::Legacy,
            _ => Era::Modern,
        };
    }
    if method == "server/discover" {
        return Era::Modern;
    }
    match headers
        .get("mcp-protocol-version")
        .and_then(|h| h.to_str().ok())
    {
        Some(h) if !is_legacy_version(h) => Era::Modern,
        _ => Era::Legacy,
    }
}

/// The refusals of this era (the error type itself is [`RpcError`]).
impl RpcError {
    /// A malformed request (`_meta` missing its required fields): 400 / -32602.
    pub fn malformed(message: String) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::INVALID_PARAMS,
            message,
            None,
        )
    }

    /// Headers that are missing, malformed or contradict the body: 400 / -32020.
    pub fn header_mismatch(message: String) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::HEADER_MISMATCH,
            format!("Header mismatch: {message}"),
            None,
        )
    }

    /// A version this server does not serve: 400 / -32022 with the versions it does.
    pub fn unsupported_version(requested: &str) -> Self {
        let supported = all_versions();
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::UNSUPPORTED_PROTOCOL_VERSION,
            format!(
                "Unsupported protocol version `{requested}`; supported: {}",
                supported.join(", ")
            ),
            Some(json!({ "supported": supported, "requested": requested })),
        )
    }

    /// A method this server does not serve in this era: 404 / -32601.
    pub fn method_not_found(method: &str) -> Self {
        let why = if REMOVED_METHODS.contains(&method) {
            "MCP 2026-07-28 removed it"
        } else {
            "this server does not serve it"
        };
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::METHOD_NOT_FOUND,
            format!("Method not found: `{method}` ({why})"),
            None,
        )
    }
}

/// A header's value as text, `Err` when it holds bytes a header may not.
fn header<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, RpcError> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(RpcError::header_mismatch(format!(
            "`{name}` is given more than once"
        )));
    }
    first
        .to_str()
        .map(|v| Some(v.trim_matches([' ', '\t'])))
        .map_err(|_| RpcError::header_mismatch(format!("`{name}` holds invalid characters")))
}

/// Decodes the `=?base64?…?=` sentinel form; plain values are returned as they are.
pub fn decode_header_value(raw: &str) -> Result<String, RpcError> {
    match raw
        .strip_prefix("=?base64?")
        .and_then(|r| r.strip_suffix("?="))
    {
        None => Ok(raw.to_owned()),
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| {
                RpcError::header_mismatch(format!("`{raw}` is not valid base64-encoded UTF-8"))
            }),
    }
}

/// Checks a modern request's `_meta` and headers; the first problem found is the refusal.
pub fn check_request(headers: &HeaderMap, method: &str, params: &Value) -> Result<(), RpcError> {
    let meta = params
        .get("_meta")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            RpcError::malformed(format!(
                "Invalid params: `params._meta` is required in MCP 2026-07-28, with `{}` and `{}`",
                meta_key::PROTOCOL_VERSION,
                meta_key::CLIENT_CAPABILITIES
            ))
        })?;
    let version = meta
        .get(meta_key::PROTOCOL_VERSION)
        .and_then(Value::as_str)
        .ok_or_else(|| {
            RpcError::malformed(format!(
                "Invalid params: `_meta[\"{}\"]` (a version string) is required",
                meta_key::PROTOCOL_VERSION
            ))
        })?;
    if !meta
        .get(meta_key::CLIENT_CAPABILITIES)
        .is_some_and(Value::is_object)
    {
        return Err(RpcError::malformed(format!(
            "Invalid params: `_meta[\"{}\"]` (an object) is required",
            meta_key::CLIENT_CAPABILITIES
        )));
    }
    match header(headers, "mcp-protocol-version")? {
        None => {
            return Err(RpcError::header_mismatch(
                "the MCP-Protocol-Version header is required".into(),
            ));
        }
        Some(h) if h != version => {
            return Err(RpcError::header_mismatch(format!(
                "MCP-Protocol-Version header `{h}` does not match the body's `{version}`"
            )));
        }
        Some(_) => {}
    }
    if !VERSIONS.contains(&version) {
        return Err(RpcError::unsupported_version(version));
    }
    match header(headers, "mcp-method")? {
        None => {
            return Err(RpcError::header_mismatch(
                "the Mcp-Method header is required".into(),
            ));
        }
        Some(h) if h != method => {
            return Err(RpcError::header_mismatch(format!(
                "Mcp-Method header `{h}` does not match the body's `{method}`"
            )));
        }
        Some(_) => {}
    }
    let named = match method {
        "tools/call" | "prompts/get" => params.get("name"),
        "resources/read" => params.get("uri"),
        _ => return Ok(()),
    };
    let body_name = named.and_then(Value::as_str);
    match (header(headers, "mcp-name")?, body_name) {
        (None, _) => Err(RpcError::header_mismatch(format!(
            "the Mcp-Name header is required for {method}"
        ))),
        (Some(h), Some(body)) => {
            let decoded = decode_header_value(h)?;
            if decoded == body {
                Ok(())
            } else {
                Err(RpcError::header_mismatch(format!(
                    "Mcp-Name header `{decoded}` does not match the body's `{body}`"
                )))
            }
        }
        // No name in the body: the method's own validation names the problem.
        (Some(_), None) => Ok(()),
    }
}

/// Cache hints for a cacheable result.
#[derive(Debug, Clone, Copy)]
pub struct Cache {
    /// Freshness, in milliseconds.
    pub ttl_ms: u64,
}

/// A result of this era: `resultType`, the server's identity in `_meta`, and
/// cache hints when given, spliced in front of the members of `result` (a JSON
/// object without `_meta` or `resultType` of its own).
pub fn decorate(result: &str, cache: Option<Cache>) -> String {
    let mut out = String::with_capacity(result.len() + 160);
    out.push_str(r#"{"resultType":"complete","_meta":{""#);
    out.push_str(meta_key::SERVER_INFO);
    out.push_str(r#"":{"name":"ralph-mcp","version":""#);
    out.push_str(env!("CARGO_PKG_VERSION"));
    out.push_str(r#""}}"#);
    if let Some(c) = cache {
        out.push_str(&format!(r#","ttlMs":{},"cacheScope":"private""#, c.ttl_ms));
    }
    let rest = result.trim_start().strip_prefix('{').unwrap_or("}");
    if !rest.trim_start().starts_with('}') {
        out.push(',');
    }
    out.push_str(rest);
    out
}

/// The `_meta` a result built as a struct carries: the server's identity.
pub fn server_info_meta() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        meta_key::SERVER_INFO.into(),
        json!({"name": "ralph-mcp", "version": env!("CARGO_PKG_VERSION")}),
    );
    m
}

/// How fresh a `tools/list` stays: while upstreams can change it, clients are
/// told to ask again each time (they also get `tools/list_changed`).
pub fn tools_cache(state: &AppState) -> Cache {
    Cache {
        ttl_ms: if state.registry.upstreams().is_empty() {
            TTL_MS_STABLE
        } else {
            0
        },
    }
}

/// Stable results: templates, discovery.
pub const STABLE: Cache = Cache {
    ttl_ms: TTL_MS_STABLE,
};
/// Results that change as the agent works (the media list).
pub const VOLATILE: Cache = Cache { ttl_ms: 0 };

/// `server/discover`: versions, capabilities, identity, instructions.
pub fn discover() -> String {
    let supported = all_versions();
    let result = json!({
        "supportedVersions": supported,
        "capabilities": capabilities(),
        "instructions": crate::dispatch::INSTRUCTIONS,
    });
    decorate(&result.to_string(), Some(STABLE))
}

/// What this server does in this era: tools, resources and prompts (their lists
/// change as upstreams and `.agent/mcp.toml` do), and log messages for a
/// `tools/call` whose `_meta` asks for them.
pub fn capabilities() -> Value {
    json!({
        "tools": { "listChanged": true },
        "resources": { "listChanged": true },
        "prompts": { "listChanged": true },
        "logging": {},
    })
}

/// `subscriptions/listen`: acknowledges the part of the filter this server
/// honours (`toolsListChanged`, `resourcesListChanged`, `promptsListChanged`),
/// then streams those list changes tagged with the subscription id until the
/// client closes the stream or the server drains.
pub fn listen(state: &Arc<AppState>, id: &str, params: &Value) -> Reply {
    use crate::registry::ListKind;
    let filter = params.get("notifications");
    let asked = |field: &str| {
        filter
            .and_then(|n| n.get(field))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    let wanted: Vec<(ListKind, &str)> = [
        (ListKind::Tools, "toolsListChanged"),
        (ListKind::Resources, "resourcesListChanged"),
        (ListKind::Prompts, "promptsListChanged"),
    ]
    .into_iter()
    .filter(|(_, field)| asked(field))
    .collect();
    let sub_id: Value = serde_json::from_str(id).unwrap_or(Value::Null);
    let tag = json!({ meta_key::SUBSCRIPTION_ID: sub_id });
    let honoured: Map<String, Value> = wanted
        .iter()
        .map(|(_, field)| ((*field).to_owned(), Value::Bool(true)))
        .collect();
    let ack = json!({
        "jsonrpc": "2.0",
        "method": "notifications/subscriptions/acknowledged",
        "params": { "_meta": tag, "notifications": honoured },
    })
    .to_string();
    let (tx, rx) = tokio::sync::mpsc::channel(crate::progress::BUFFER);
    let mut changes = state.registry.subscribe_list_changed();
    let state = state.clone();
    let id = id.to_owned();
    tokio::spawn(async move {
        if tx
            .send(crate::progress::Event {
                json: ack,
                last: false,
            })
            .await
            .is_err()
        {
            return;
        }
        let changed = |kind: ListKind| {
            json!({
                "jsonrpc": "2.0",
                "method": kind.method(),
                "params": { "_meta": tag },
            })
            .to_string()
        };
        loop {
            let kind = tokio::select! {
                () = tx.closed() => return,
                () = state.drained() => break,
                got = changes.recv() => match got {
                    Ok(kind) => kind,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => ListKind::Tools,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                },
            };
            if wanted.iter().any(|(k, _)| *k == kind) {
                let ev = crate::progress::Event {
                    json: changed(kind),
                    last: false,
                };
                if tx.send(ev).await.is_err() {
                    return;
                }
            }
        }
        // The server ends the subscription: a result says it ended gracefully.
        let done = rpc::result_body(
            &id,
            &format!(
                r#"{{"resultType":"complete","_meta":{}}}"#,
                json!({ meta_key::SUBSCRIPTION_ID: sub_id })
            ),
        );
        let _ = tx
            .send(crate::progress::Event {
                json: done,
                last: true,
            })
            .await;
    });
    Reply::Stream(rx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn params(name: &str) -> Value {
        json!({"name": name, "_meta": {
            meta_key::PROTOCOL_VERSION: "2026-07-28",
            meta_key::CLIENT_CAPABILITIES: {},
        }})
    }

    fn code_of(r: Result<(), RpcError>) -> Option<i32> {
        r.err().map(|e| e.error.code.0)
    }

    #[test]
    fn eras_follow_meta_then_method_then_header() {
        let none = HeaderMap::new();
        assert_eq!(era_of("tools/list", &params("x"), &none), Era::Modern);
        assert_eq!(era_of("tools/list", &json!({}), &none), Era::Legacy);
        assert_eq!(era_of("server/discover", &json!({}), &none), Era::Modern);
        let legacy = headers(&[("mcp-protocol-version", "2025-06-18")]);
        assert_eq!(era_of("tools/list", &json!({}), &legacy), Era::Legacy);
        let modern = headers(&[("mcp-protocol-version", "2026-07-28")]);
        assert_eq!(era_of("ping", &json!({}), &modern), Era::Modern);
    }

    #[test]
    fn headers_must_match_the_body() {
        let good = headers(&[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "read_file"),
        ]);
        assert!(check_request(&good, "tools/call", &params("read_file")).is_ok());
        assert_eq!(
            code_of(check_request(&good, "tools/call", &params("other"))),
            Some(-32020)
        );
        let encoded = headers(&[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "=?base64?cmVhZF9maWxl?="),
        ]);
        assert!(check_request(&encoded, "tools/call", &params("read_file")).is_ok());
        let no_name = headers(&[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
        ]);
        assert_eq!(
            code_of(check_request(&no_name, "tools/call", &params("read_file"))),
            Some(-32020)
        );
        assert_eq!(
            code_of(check_request(
                &good,
                "tools/call",
                &json!({"name": "read_file"})
            )),
            Some(-32602)
        );
    }

    #[test]
    fn an_unserved_version_lists_the_served_ones() {
        let h = headers(&[("mcp-protocol-version", "1999-01-01")]);
        let mut p = params("x");
        p["_meta"][meta_key::PROTOCOL_VERSION] = json!("1999-01-01");
        let e = check_request(&h, "tools/list", &p).unwrap_err();
        assert_eq!(e.error.code.0, -32022);
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        let data = e.error.data.unwrap();
        assert!(
            data["supported"]
                .as_array()
                .unwrap()
                .contains(&json!("2026-07-28"))
        );
    }

    #[test]
    fn decorated_results_stay_valid_json() {
        for body in [r#"{}"#, r#"{"tools":[]}"#, r#" { "a" : 1 }"#] {
            for cache in [None, Some(STABLE)] {
                let v: Value = serde_json::from_str(&decorate(body, cache)).unwrap();
                assert_eq!(v["resultType"], "complete");
                assert_eq!(v["_meta"][meta_key::SERVER_INFO]["name"], "ralph-mcp");
                assert_eq!(v.get("ttlMs").is_some(), cache.is_some());
            }
        }
    }
}
