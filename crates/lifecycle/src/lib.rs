//! The lifecycle of a ralph-mcp server: bind the endpoint once, spawn `serve` on
//! it, preflight, supervise and restart within a budget, and tear down without a
//! trace.
//!
//! ```no_run
//! # async fn demo(session: ralph_mcp_session::Session) -> Result<(), ralph_mcp_lifecycle::LifecycleError> {
//! use ralph_mcp_lifecycle::{ServerOptions, start_server};
//! let options = ServerOptions::from_env(std::env::current_exe().unwrap());
//! let bridge = start_server(session, std::path::Path::new("."), options).await?;
//! println!("agent endpoint: {}", bridge.endpoint());
//! let supervisor = bridge.supervise()?;
//! // … run the agent …
//! let report = supervisor.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! This crate talks to the server only through its command line and HTTP.

pub mod agent;
pub mod bridge;
pub mod client;
pub mod error;
pub mod incarnation;
pub mod options;
pub mod supervisor;

pub use bridge::{Bridge, start_server};
pub use error::LifecycleError;
pub use options::ServerOptions;
pub use supervisor::{RestartReason, ShutdownReport, Supervisor};
