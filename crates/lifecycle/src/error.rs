//! The lifecycle's errors. Each message says what failed and what to look at.

use std::path::PathBuf;

use crate::client::ClientError;

/// Why starting, supervising or stopping a server failed.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// An I/O step failed (bind, spawn, session file, log).
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
    /// The workspace cannot be served.
    #[error("workspace {path} is not usable: {reason}")]
    Workspace {
        /// The workspace.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The server process exited before it became ready.
    #[error("MCP server exited during preflight ({status}); last log lines:\n{log_tail}")]
    ExitedDuringPreflight {
        /// How it exited.
        status: String,
        /// The end of `.agent/tmp/mcp-server.log`.
        log_tail: String,
    },
    /// The preflight handshake failed (protocol error, missing tools, timeout).
    #[error("MCP server preflight failed on {endpoint}: {source}")]
    Preflight {
        /// The endpoint.
        endpoint: String,
        /// What the client saw.
        #[source]
        source: ClientError,
    },
    /// The restart budget ran out.
    #[error(
        "MCP server {reason} and the restart budget ({max_restarts}) is exhausted after {restart_count} restart(s)"
    )]
    BudgetExhausted {
        /// What happened last.
        reason: String,
        /// Restarts performed.
        restart_count: u32,
        /// The budget.
        max_restarts: u32,
    },
    /// The bridge was already shut down.
    #[error("the MCP server bridge is shut down")]
    ShutDown,
}

impl LifecycleError {
    /// Restarts performed when the error happened (for budget errors).
    pub fn restart_count(&self) -> Option<u32> {
        match self {
            Self::BudgetExhausted { restart_count, .. } => Some(*restart_count),
            _ => None,
        }
    }
}
