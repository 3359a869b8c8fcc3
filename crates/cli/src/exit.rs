//! ralph-mcp's own exit codes, chosen so that a script can tell them from an
//! agent's (and documented in `--help` and the README).

/// The command line is wrong (clap's usage errors).
pub const USAGE: u8 = 2;
/// `run`: supervision gave up (restart budget spent).
pub const SUPERVISION_FAILED: u8 = 124;
/// ralph-mcp itself failed: bad configuration or session, the server could not start.
pub const OWN_FAILURE: u8 = 125;
/// `run`: the agent command could not be started.
pub const AGENT_NOT_STARTED: u8 = 127;
