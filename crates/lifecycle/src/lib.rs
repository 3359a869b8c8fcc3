//! The lifecycle of a ralph-mcp server: the client used for preflight and probes.

pub mod client;
