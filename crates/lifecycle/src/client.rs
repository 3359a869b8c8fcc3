//! A minimal MCP client over Streamable HTTP (JSON replies), used for preflight,
//! probes and the `probe`/`call` subcommands. One TCP connection per handshake,
//! so a probe never shares state with the agent's session.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;

/// The protocol version our own client asks for; the oldest one, as Ralph's preflight does,
/// so any server that speaks MCP can answer.
pub const CLIENT_PROTOCOL_VERSION: &str = "2024-11-05";

/// Why a handshake or call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing accepted the connection (retryable during preflight).
    #[error("cannot connect to {endpoint}: {source}")]
    Connect {
        /// The endpoint.
        endpoint: String,
        /// The socket error.
        source: std::io::Error,
    },
    /// The endpoint URL is not `http://host:port/path`.
    #[error("invalid endpoint URL `{0}`: expected http://127.0.0.1:PORT/mcp")]
    BadEndpoint(String),
    /// The server answered with a non-success HTTP status.
    #[error("HTTP {status} from {method}: {body}")]
    Http {
        /// The JSON-RPC method.
        method: String,
        /// The status.
        status: u16,
        /// The body, cut short.
        body: String,
    },
    /// The server answered with a JSON-RPC error or an unreadable body.
    #[error("{method} failed: {message}")]
    Protocol {
        /// The JSON-RPC method.
        method: String,
        /// What was wrong.
        message: String,
    },
    /// Required tools are not listed.
    #[error("required tools missing from tools/list: {0:?}")]
    MissingTools(Vec<String>),
    /// The whole exchange took longer than allowed.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The connection broke mid-exchange.
    #[error("connection to {endpoint} failed: {message}")]
    Transport {
        /// The endpoint.
        endpoint: String,
        /// What happened.
        message: String,
    },
}

impl ClientError {
    /// True for errors worth retrying during preflight: not listening yet, or
    /// required upstream tools (`ralph_custom__*`, `ralph_upstream__*`) not listed yet because their
    /// upstream is still starting.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Connect { .. } => true,
            Self::MissingTools(missing) => missing
                .iter()
                .all(|t| ralph_mcp_session::names::is_upstream_tool(t)),
            _ => false,
        }
    }
}

/// A parsed `http://host:port/path` endpoint.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `host:port`.
    pub authority: String,
    /// `/mcp`.
    pub path: String,
    /// The URL as given.
    pub url: String,
}

impl Endpoint {
    /// Parses an endpoint URL.
    pub fn parse(url: &str) -> Result<Self, ClientError> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| ClientError::BadEndpoint(url.into()))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/mcp"),
        };
        if authority.is_empty() || !authority.contains(':') {
            return Err(ClientError::BadEndpoint(url.into()));
        }
        Ok(Self {
            authority: authority.into(),
            path: path.into(),
            url: url.into(),
        })
    }
}

/// One connection to an MCP server.
pub struct McpConnection {
    endpoint: Endpoint,
    token: Option<String>,
    sender: http1::SendRequest<Full<Bytes>>,
    session_id: Option<String>,
    next_id: u64,
}

/// What a successful handshake learned.
#[derive(Debug, Clone)]
pub struct Handshake {
    /// The `Mcp-Session-Id` the server issued.
    pub session_id: Option<String>,
    /// The negotiated protocol version.
    pub protocol_version: String,
    /// Every tool name listed.
    pub tools: Vec<String>,
    /// How long the exchange took.
    pub latency: Duration,
}

impl McpConnection {
    /// Opens a TCP connection (with `TCP_NODELAY`) to the endpoint.
    pub async fn connect(url: &str, token: Option<&str>) -> Result<Self, ClientError> {
        let endpoint = Endpoint::parse(url)?;
        let stream = TcpStream::connect(&endpoint.authority)
            .await
            .map_err(|source| ClientError::Connect {
                endpoint: url.into(),
                source,
            })?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) =
            http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| ClientError::Transport {
                    endpoint: url.into(),
                    message: e.to_string(),
                })?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Self {
            endpoint,
            token: token.map(str::to_owned),
            sender,
            session_id: None,
            next_id: 1,
        })
    }

    /// Posts one JSON-RPC message; returns the result of a request, or `Null` for a notification.
    pub async fn rpc(
        &mut self,
        method: &str,
        params: Value,
        notify: bool,
    ) -> Result<Value, ClientError> {
        let mut msg = json!({"jsonrpc": "2.0", "method": method, "params": params});
        if !notify {
            msg["id"] = json!(self.next_id);
            self.next_id += 1;
        }
        let mut req = Request::post(&self.endpoint.path)
            .header("host", &self.endpoint.authority)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        if let Some(t) = &self.token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if let Some(s) = &self.session_id {
            req = req.header("mcp-session-id", s);
        }
        let req = req
            .body(Full::new(Bytes::from(msg.to_string())))
            .map_err(|e| ClientError::Protocol {
                method: method.into(),
                message: e.to_string(),
            })?;
        let res = self
            .sender
            .send_request(req)
            .await
            .map_err(|e| ClientError::Transport {
                endpoint: self.endpoint.url.clone(),
                message: e.to_string(),
            })?;
        let status = res.status();
        if let Some(sid) = res
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
        {
            self.session_id = Some(sid.to_owned());
        }
        let is_sse = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let body = res
            .into_body()
            .collect()
            .await
            .map_err(|e| ClientError::Transport {
                endpoint: self.endpoint.url.clone(),
                message: e.to_string(),
            })?
            .to_bytes();
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            return Err(ClientError::Http {
                method: method.into(),
                status: status.as_u16(),
                body: text.chars().take(500).collect(),
            });
        }
        if notify {
            return Ok(Value::Null);
        }
        let value = if is_sse {
            last_sse_message(&body)
        } else {
            serde_json::from_slice::<Value>(&body).ok()
        }
        .ok_or_else(|| ClientError::Protocol {
            method: method.into(),
            message: "reply is not JSON".into(),
        })?;
        if let Some(err) = value.get("error") {
            return Err(ClientError::Protocol {
                method: method.into(),
                message: err.to_string(),
            });
        }
        value
            .get("result")
            .cloned()
            .ok_or_else(|| ClientError::Protocol {
                method: method.into(),
                message: "reply has no result".into(),
            })
    }

    /// `initialize` → `notifications/initialized` → `tools/list`.
    pub async fn handshake(&mut self) -> Result<Handshake, ClientError> {
        let started = Instant::now();
        let init = self
            .rpc(
                "initialize",
                json!({
                    "protocolVersion": CLIENT_PROTOCOL_VERSION,
                    "capabilities": {},
                    "clientInfo": {"name": "ralph-mcp-lifecycle", "version": env!("CARGO_PKG_VERSION")},
                }),
                false,
            )
            .await?;
        self.rpc("notifications/initialized", json!({}), true)
            .await?;
        let list = self.rpc("tools/list", json!({}), false).await?;
        let tools = list
            .get("tools")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.get("name").and_then(Value::as_str).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Handshake {
            session_id: self.session_id.clone(),
            protocol_version: init
                .get("protocolVersion")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            tools,
            latency: started.elapsed(),
        })
    }

    /// Calls a tool (after [`Self::handshake`]).
    pub async fn call_tool(&mut self, name: &str, arguments: Value) -> Result<Value, ClientError> {
        self.rpc(
            "tools/call",
            json!({"name": name, "arguments": arguments}),
            false,
        )
        .await
    }
}

fn last_sse_message(body: &[u8]) -> Option<Value> {
    let text = std::str::from_utf8(body).ok()?;
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .rfind(|v| v.get("result").is_some() || v.get("error").is_some())
}

/// Checks that every required tool is listed, under its raw name or its `mcp__ralph__` alias.
pub fn missing_tools(listed: &[String], required: &[String]) -> Vec<String> {
    required
        .iter()
        .filter(|req| {
            let raw = ralph_mcp_session::names::canonical_tool_name(req);
            let alias = ralph_mcp_session::names::tool_alias(raw);
            !listed.iter().any(|t| t == raw || *t == alias)
        })
        .cloned()
        .collect()
}

/// `GET /health` of the server behind `url` (an `…/mcp` endpoint), as JSON.
pub async fn health(url: &str, timeout: Duration) -> Result<Value, ClientError> {
    let work = async {
        let mut conn = McpConnection::connect(url, None).await?;
        let req = Request::get("/health")
            .header("host", &conn.endpoint.authority)
            .body(Full::new(Bytes::new()))
            .map_err(|e| ClientError::Protocol {
                method: "GET /health".into(),
                message: e.to_string(),
            })?;
        let res = conn
            .sender
            .send_request(req)
            .await
            .map_err(|e| ClientError::Transport {
                endpoint: url.into(),
                message: e.to_string(),
            })?;
        let body = res
            .into_body()
            .collect()
            .await
            .map_err(|e| ClientError::Transport {
                endpoint: url.into(),
                message: e.to_string(),
            })?
            .to_bytes();
        serde_json::from_slice(&body).map_err(|e| ClientError::Protocol {
            method: "GET /health".into(),
            message: e.to_string(),
        })
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| ClientError::Timeout(timeout))?
}

/// The configured upstreams that are not ready, once every one is either ready
/// or has given up starting (`failed`), or when `deadline` passes: `(name,
/// state)` pairs, empty when all are ready.
pub async fn wait_for_upstreams(url: &str, deadline: Duration) -> Vec<(String, String)> {
    let until = tokio::time::Instant::now() + deadline;
    loop {
        let states: Vec<(String, String)> = match health(url, Duration::from_secs(2)).await {
            Ok(h) => h["upstreams"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|u| {
                            (
                                u["name"].as_str().unwrap_or_default().to_owned(),
                                u["state"].as_str().unwrap_or_default().to_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        let not_ready: Vec<(String, String)> =
            states.into_iter().filter(|(_, st)| st != "ready").collect();
        let settled = not_ready.iter().all(|(_, st)| st.starts_with("failed"));
        if settled || tokio::time::Instant::now() >= until {
            return not_ready;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One fresh, isolated handshake bounded by `timeout`, requiring `required` tools.
pub async fn probe(
    url: &str,
    token: Option<&str>,
    required: &[String],
    timeout: Duration,
) -> Result<Handshake, ClientError> {
    let work = async {
        let mut conn = McpConnection::connect(url, token).await?;
        let hs = conn.handshake().await?;
        let missing = missing_tools(&hs.tools, required);
        if !missing.is_empty() {
            return Err(ClientError::MissingTools(missing));
        }
        Ok(hs)
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| ClientError::Timeout(timeout))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse() {
        let e = Endpoint::parse("http://127.0.0.1:8080/mcp").unwrap();
        assert_eq!(e.authority, "127.0.0.1:8080");
        assert_eq!(e.path, "/mcp");
        assert!(Endpoint::parse("https://x:1/mcp").is_err());
        assert!(Endpoint::parse("http:///mcp").is_err());
    }

    #[test]
    fn aliases_satisfy_requirements() {
        let listed = vec!["mcp__ralph__read_file".to_owned(), "grep_files".to_owned()];
        assert!(missing_tools(&listed, &["read_file".into()]).is_empty());
        assert!(missing_tools(&listed, &["mcp__ralph__grep_files".into()]).is_empty());
        assert_eq!(
            missing_tools(&listed, &["write_file".into()]),
            vec!["write_file"]
        );
    }
}
