//! Child processes of ralph-mcp, in one place: where every spawn gets its process
//! group, stdin, environment scrubbing and kill-on-drop ([`spawn`]), and the
//! sandbox shim that contains a job and everything it starts ([`sandbox`]).
//! The server's `exec` and git, and the lifecycle's agent, all go through here.

pub mod owner;
pub mod restart;
pub mod sandbox;
pub mod spawn;

pub use restart::RestartPolicy;
