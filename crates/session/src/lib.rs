//! Session data shared by the ralph-mcp server and lifecycle.
//!
//! Pure data: the session payload, capabilities and drains (all described in
//! `docs/reference.md`), and the names that form the contract with Ralph
//! Workflow. No network, no processes.

pub mod capability;
pub mod media;
pub mod names;
pub mod session;

pub use capability::{Capability, CapabilitySet, Requirement, default_grants};
pub use session::{Session, SessionError, SessionSource};
