//! Shared server state: configuration, the tool registry, metrics and limits.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use axum::http::HeaderValue;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::metrics::Metrics;
use crate::registry::Registry;

/// Limits and switches of one server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Bearer token required on `/mcp` and `/metrics` (from `MCP_AUTH_TOKEN`).
    pub auth_token: Option<String>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Tool calls allowed to run at once; the next gets 503.
    pub max_in_flight: usize,
    /// Skip the loopback Host check (the user asked to listen remotely).
    pub allow_remote: bool,
    /// Ceiling on the graceful drain after SIGTERM.
    pub drain_timeout: std::time::Duration,
    /// List every built-in tool a second time as `mcp__ralph__<name>`. Aliases
    /// are accepted on every call either way; Ralph's preflight needs them listed.
    pub list_aliases: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            auth_token: None,
            max_body_bytes: 16 * 1024 * 1024,
            max_in_flight: 32,
            allow_remote: false,
            drain_timeout: std::time::Duration::from_secs(5),
            list_aliases: true,
        }
    }
}

/// MCP log levels in severity order (RFC 5424 names).
pub const LOG_LEVELS: [&str; 8] = [
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
];

/// State shared by every request.
pub struct AppState {
    /// Limits and switches.
    pub config: ServerConfig,
    /// The session's tools.
    pub registry: Registry,
    /// Counters and histograms.
    pub metrics: Metrics,
    /// The `Mcp-Session-Id` this server answers to, derived from the session id.
    pub mcp_session_id: String,
    /// The same id as a header value.
    pub mcp_session_header: HeaderValue,
    /// Calls running now, cancellable by `notifications/cancelled`.
    pub calls: crate::cancel::InFlight,
    /// Ralph's development timebox, whose notice ends every result once due.
    pub dev_timebox: crate::ralph::wrapup::DevTimebox,
    /// Ralph's activity relay, told of every tool call (conflict resolution only).
    pub activity_relay: Option<crate::ralph::relay::ActivityRelay>,
    /// The audit trail of tool calls.
    pub audit: crate::audit::Audit,
    /// Where OpenTelemetry traces go, if anywhere (set once the runtime runs).
    pub traces_endpoint: Option<String>,
    /// The traces exporter, started by `serve` inside its runtime.
    pub traces: std::sync::OnceLock<crate::telemetry::Traces>,
    permits: Arc<Semaphore>,
    log_level: AtomicU8,
    draining: AtomicBool,
    drain_signal: tokio::sync::watch::Sender<bool>,
}

/// Derives the `Mcp-Session-Id` from the session's `session_id`, so every
/// incarnation serving the same session answers to the same id and clients
/// never have to re-initialize after a restart.
pub fn derive_mcp_session_id(session_id: &str) -> String {
    let digest = Sha256::digest(format!("ralph-mcp/mcp-session-id/v1\0{session_id}").as_bytes());
    hex::encode(&digest[..16])
}

impl AppState {
    /// Builds the state for a session's registry.
    pub fn new(config: ServerConfig, registry: Registry, session_id: &str) -> Self {
        let mcp_session_id = derive_mcp_session_id(session_id);
        let mcp_session_header =
            HeaderValue::from_str(&mcp_session_id).unwrap_or(HeaderValue::from_static("invalid"));
        let permits = Arc::new(Semaphore::new(config.max_in_flight.max(1)));
        Self {
            config,
            registry,
            metrics: Metrics::new(),
            mcp_session_id,
            mcp_session_header,
            calls: Default::default(),
            dev_timebox: Default::default(),
            activity_relay: None,
            audit: crate::audit::Audit::off(),
            traces_endpoint: None,
            traces: std::sync::OnceLock::new(),
            permits,
            log_level: AtomicU8::new(1),
            draining: AtomicBool::new(false),
            drain_signal: tokio::sync::watch::Sender::new(false),
        }
    }

    /// Takes a tool-call slot without waiting, or `None` when saturated.
    pub fn try_permit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }

    /// Tool calls running now.
    pub fn in_flight(&self) -> usize {
        self.config.max_in_flight.max(1) - self.permits.available_permits()
    }

    /// Sets the minimum level of log notifications.
    pub fn set_log_level(&self, idx: u8) {
        self.log_level.store(idx, Ordering::Relaxed);
    }

    /// The minimum log level set by `logging/setLevel` (a `LOG_LEVELS` index).
    pub fn log_level(&self) -> u8 {
        self.log_level.load(Ordering::Relaxed)
    }

    /// Marks the server as draining: `/health` answers 503.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
        self.drain_signal.send_replace(true);
    }

    /// Resolves once the server starts draining (long-lived streams end then).
    pub async fn drained(&self) {
        let mut rx = self.drain_signal.subscribe();
        let _ = rx.wait_for(|draining| *draining).await;
    }

    /// True once SIGTERM was received.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_id_is_stable_and_distinct() {
        assert_eq!(derive_mcp_session_id("a"), derive_mcp_session_id("a"));
        assert_ne!(derive_mcp_session_id("a"), derive_mcp_session_id("b"));
        assert!(
            derive_mcp_session_id("a")
                .chars()
                .all(|c| c.is_ascii_hexdigit())
        );
    }
}
