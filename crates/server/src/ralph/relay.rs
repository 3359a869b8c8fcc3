//! Ralph's activity relay: during conflict resolution Ralph watches the agent's
//! liveness through the server's tool calls, so before each `tools/call` runs
//! the server reports it to Ralph and waits for the acknowledgement.
//!
//! Read from `ralph-workflow` 0.9.30: `ralph/mcp/server/_activity_relay*.py`.
//! Ralph sets `RALPH_MCP_ACTIVITY_RELAY_ENDPOINT` (`127.0.0.1:PORT`) and
//! `RALPH_MCP_ACTIVITY_RELAY_CREDENTIAL`. Each event is one TCP connection:
//! `{"credential":…,"sequence":N,"tool_name":…}\n` out, one JSON object line
//! (at most 4096 bytes) back, which must say `"ok": true`. A failed delivery
//! latches: that call and every later one is refused with -32070, which Ralph
//! reads as a supervision failure rather than an idle agent.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The endpoint variable.
pub const ENDPOINT_ENV: &str = "RALPH_MCP_ACTIVITY_RELAY_ENDPOINT";
/// The credential variable.
pub const CREDENTIAL_ENV: &str = "RALPH_MCP_ACTIVITY_RELAY_CREDENTIAL";
/// The JSON-RPC code of a refused call.
pub const RELAY_ERROR_CODE: rmcp::model::ErrorCode = rmcp::model::ErrorCode(-32070);
const IO_TIMEOUT: Duration = Duration::from_secs(1);
const MAX_ACK_BYTES: usize = 4096;

/// The sender, when Ralph asked for one.
#[derive(Debug)]
pub struct ActivityRelay {
    endpoint: String,
    credential: String,
    /// The next sequence number; held across a delivery so events go in order.
    sequence: tokio::sync::Mutex<u64>,
    error: std::sync::Mutex<Option<String>>,
}

impl ActivityRelay {
    /// Reads the relay controls; `Ok(None)` outside conflict resolution, `Err`
    /// when only one of the two is set or the endpoint is not private loopback.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, String> {
        let (endpoint, credential) = (get(ENDPOINT_ENV), get(CREDENTIAL_ENV));
        let (endpoint, credential) = match (endpoint, credential) {
            (None, None) => return Ok(None),
            (Some(e), Some(c)) if !e.is_empty() && !c.is_empty() => (e, c),
            _ => {
                return Err(format!(
                    "{ENDPOINT_ENV} and {CREDENTIAL_ENV} must be set together (Ralph's activity relay)"
                ));
            }
        };
        let port_ok = endpoint
            .strip_prefix("127.0.0.1:")
            .and_then(|p| p.parse::<u16>().ok())
            .is_some_and(|p| p > 0);
        if !port_ok {
            return Err(format!(
                "{ENDPOINT_ENV}={endpoint:?} is not a private relay endpoint (127.0.0.1:PORT)"
            ));
        }
        Ok(Some(Self {
            endpoint,
            credential,
            sequence: tokio::sync::Mutex::new(1),
            error: std::sync::Mutex::new(None),
        }))
    }

    /// The latched failure, if a delivery has failed.
    pub fn health_error(&self) -> Option<String> {
        self.error.lock().ok().and_then(|e| e.clone())
    }

    /// Reports one call of `tool` and waits for Ralph's acknowledgement.
    pub async fn emit(&self, tool: &str) -> Result<(), String> {
        if let Some(e) = self.health_error() {
            return Err(e);
        }
        let mut seq = self.sequence.lock().await;
        let event = json!({"credential": self.credential, "sequence": *seq, "tool_name": tool});
        let outcome = tokio::time::timeout(IO_TIMEOUT * 2, self.deliver(event)).await;
        let ack = match outcome {
            Ok(Ok(ack)) => ack,
            Ok(Err(e)) => return Err(self.latch(format!("activity relay sender: {e}"))),
            Err(_) => return Err(self.latch("activity relay sender: timed out".into())),
        };
        if ack.get("ok") != Some(&Value::Bool(true)) {
            let why = ack.get("error").and_then(Value::as_str).map_or_else(
                || "activity relay acknowledgement rejected".to_owned(),
                str::to_owned,
            );
            return Err(self.latch(why));
        }
        *seq += 1;
        Ok(())
    }

    async fn deliver(&self, event: Value) -> std::io::Result<Value> {
        let mut conn = tokio::time::timeout(
            IO_TIMEOUT,
            tokio::net::TcpStream::connect(self.endpoint.as_str()),
        )
        .await
        .map_err(|_| std::io::Error::other("connect timed out"))??;
        let mut line = event.to_string().into_bytes();
        line.push(b'\n');
        conn.write_all(&line).await?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        while !buf.contains(&b'\n') {
            let n = conn.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() > MAX_ACK_BYTES {
                return Err(std::io::Error::other("oversized relay acknowledgement"));
            }
        }
        let (ack, rest) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (&buf[..i], &buf[i + 1..]),
            None => return Err(std::io::Error::other("malformed relay framing")),
        };
        if !rest.is_empty() {
            return Err(std::io::Error::other("malformed relay framing"));
        }
        match serde_json::from_slice::<Value>(ack) {
            Ok(v @ Value::Object(_)) => Ok(v),
            _ => Err(std::io::Error::other(
                "relay acknowledgement is not a JSON object",
            )),
        }
    }

    fn latch(&self, why: String) -> String {
        let message = if why.starts_with("SUPERVISION_INFRASTRUCTURE_FAILURE") {
            why
        } else {
            format!("SUPERVISION_INFRASTRUCTURE_FAILURE: {why}")
        };
        if let Ok(mut e) = self.error.lock() {
            e.get_or_insert_with(|| message.clone());
        }
        message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn controls_come_in_pairs_on_loopback() {
        assert!(ActivityRelay::from_env(env(&[])).unwrap().is_none());
        assert!(ActivityRelay::from_env(env(&[(ENDPOINT_ENV, "127.0.0.1:9")])).is_err());
        assert!(
            ActivityRelay::from_env(env(&[(ENDPOINT_ENV, "10.0.0.1:9"), (CREDENTIAL_ENV, "c")]))
                .is_err()
        );
        assert!(
            ActivityRelay::from_env(env(&[(ENDPOINT_ENV, "127.0.0.1:9"), (CREDENTIAL_ENV, "c")]))
                .unwrap()
                .is_some()
        );
    }
}
