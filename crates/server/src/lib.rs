//! The ralph-mcp server: Streamable HTTP transport, MCP dispatch, the capability
//! gate and the workspace tools.
//!
//! Data flows `http` (layers: Host/Origin, bearer, body cap) → `dispatch`
//! (JSON-RPC, session and protocol headers, backpressure) → `registry`
//! (capability gate) → `tools` (confined by `confine`).
//!
//! This crate knows nothing of supervision: it serves one session on a listener
//! it is handed, and exits on SIGTERM.

pub mod cancel;
pub mod config;
pub mod confine;
pub mod dispatch;
pub mod http;
pub mod media_store;
pub mod metrics;
pub mod progress;
pub mod registry;
pub mod resources;
pub mod secret;
pub mod serve;
pub mod state;
pub mod tools;
pub mod upstream;

pub use ralph_mcp_process::sandbox;
pub use ralph_mcp_process::spawn as process;
pub use serve::{ServeError, Server};
pub use state::ServerConfig;
