//! The ralph-mcp server: Streamable HTTP transport, MCP dispatch, the capability
//! gate and the workspace tools.
//!
//! Data flows `http` (layers: Host/Origin, bearer, body cap) → `dispatch`
//! (JSON-RPC, session and protocol headers, backpressure) → `registry`
//! (capability gate) → `tools` (confined by `confine`; commands through
//! [`ralph_mcp_process`]).
//!
//! This crate knows nothing of supervision: it serves one session on a listener
//! it is handed, and exits on SIGTERM. Its surface is [`Server`] (with
//! [`ServerConfig`] and the [`ServerSummary`] the CLI's banner prints), the
//! [`Handover`] state Ralph's make-before-break replacement hands a server, the
//! [`secret`] handling of the bearer token and broker secret, and the sandbox
//! shim re-exported for the binary's hidden subcommand; everything else is private.

mod audit;
mod call;
mod cancel;
mod config;
mod confine;
mod dispatch;
mod http;
mod json_text;
mod media_store;
mod metrics;
mod modern;
mod progress;
mod ralph;
mod registry;
mod resources;
mod rpc;
pub mod secret;
mod serve;
pub mod standby;
mod state;
mod telemetry;
mod tls;
mod tools;
mod upstream;

#[cfg(test)]
mod http_status_tests;

pub use ralph::handover::Handover;
pub use ralph_mcp_process::sandbox;
use ralph_mcp_process::spawn as process;
pub use serve::{ServeError, Server, ServerSummary};
pub use state::ServerConfig;

/// The Markdown reference of every built-in tool (`ralph-mcp tools`).
pub fn tool_reference_markdown() -> String {
    tools::reference::markdown()
}
