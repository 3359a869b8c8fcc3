//! Options of a supervised server, and the lifecycle's environment variables.

use std::path::PathBuf;
use std::time::Duration;

use ralph_mcp_session::names::{
    PREFLIGHT_TIMEOUT_ENV, PROBE_TIMEOUT_ENV, SUPERVISION_INTERVAL_ENV,
};

/// How to start and supervise a server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The `ralph-mcp` executable to run as `serve`.
    pub binary: PathBuf,
    /// Port to bind on 127.0.0.1; 0 lets the kernel choose.
    pub port: u16,
    /// Tools preflight and probes require (raw names or aliases).
    pub required_tools: Vec<String>,
    /// Restarts allowed over the bridge's life.
    pub max_restarts: u32,
    /// Budget for one preflight.
    pub preflight_timeout: Duration,
    /// Bound on one probe.
    pub probe_timeout: Duration,
    /// Interval between supervision probes.
    pub supervision_interval: Duration,
    /// Consecutive failed probes that mean a restart.
    pub failed_probes_before_restart: u32,
    /// Bearer token the server requires (passed by environment, never argv).
    pub auth_token: Option<String>,
    /// Grace between SIGTERM and SIGKILL at shutdown.
    pub shutdown_grace: Duration,
    /// Extra arguments for `serve` (e.g. `--agent-transport`).
    pub extra_serve_args: Vec<String>,
    /// Extra environment for the server.
    pub extra_env: Vec<(String, String)>,
    /// Keep a warm standby server (started, waiting to accept) so a crashed or
    /// hung server is replaced without a start-up: costs one idle process.
    pub standby: bool,
}

impl ServerOptions {
    /// The restart policy: the default one, with `max_restarts` as its budget.
    pub fn restart_policy(&self) -> ralph_mcp_process::RestartPolicy {
        ralph_mcp_process::RestartPolicy::DEFAULT.with_budget(self.max_restarts)
    }

    /// Defaults, with timeouts read from the environment (invalid values warn
    /// and fall back).
    pub fn from_env(binary: PathBuf) -> Self {
        Self::from_env_with(binary, |k| std::env::var(k).ok())
    }

    /// As [`Self::from_env`], reading variables through `get`.
    pub fn from_env_with(binary: PathBuf, get: impl Fn(&str) -> Option<String>) -> Self {
        Self {
            binary,
            port: 0,
            required_tools: vec!["read_file".into()],
            max_restarts: 20,
            preflight_timeout: env_ms(&get, PREFLIGHT_TIMEOUT_ENV, 30_000, 1),
            probe_timeout: env_ms(&get, PROBE_TIMEOUT_ENV, 5_000, 1),
            supervision_interval: env_ms(&get, SUPERVISION_INTERVAL_ENV, 2_000, 100),
            failed_probes_before_restart: 3,
            auth_token: None,
            shutdown_grace: Duration::from_secs(5),
            extra_serve_args: Vec::new(),
            extra_env: Vec::new(),
            standby: true,
        }
    }
}

/// Reads a millisecond duration; invalid or too-small values warn and use the default.
pub fn env_ms(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default_ms: u64,
    min_ms: u64,
) -> Duration {
    match get(name) {
        None => Duration::from_millis(default_ms),
        Some(raw) => match raw.trim().parse::<u64>() {
            Ok(v) if v >= min_ms => Duration::from_millis(v),
            _ => {
                tracing::warn!(
                    "{name}={raw:?} is not a whole number of milliseconds >= {min_ms}; using the default {default_ms}"
                );
                Duration::from_millis(default_ms)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_values_fall_back_to_defaults() {
        let opts = ServerOptions::from_env_with("x".into(), |k| match k {
            PREFLIGHT_TIMEOUT_ENV => Some("soon".into()),
            PROBE_TIMEOUT_ENV => Some("250".into()),
            SUPERVISION_INTERVAL_ENV => Some("5".into()),
            _ => None,
        });
        assert_eq!(opts.preflight_timeout, Duration::from_millis(30_000));
        assert_eq!(opts.probe_timeout, Duration::from_millis(250));
        assert_eq!(opts.supervision_interval, Duration::from_millis(2_000));
    }
}
