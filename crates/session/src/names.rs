//! Names that form the contract with Ralph Workflow: environment variables and tool aliases.

/// Path of the session file the server reads (wins over [`SESSION_JSON_ENV`]).
pub const SESSION_FILE_ENV: &str = "RALPH_MCP_SESSION_FILE";
/// Inline session JSON.
pub const SESSION_JSON_ENV: &str = "RALPH_MCP_SESSION_JSON";
/// Bearer token that switches on auth in the server.
pub const AUTH_TOKEN_ENV: &str = "MCP_AUTH_TOKEN";
/// Endpoint URL handed to the agent.
pub const ENDPOINT_ENV: &str = "RALPH_MCP_ENDPOINT";
/// Run id handed to the agent.
pub const RUN_ID_ENV: &str = "RALPH_MCP_RUN_ID";
/// Label scope handed to the agent.
pub const AGENT_LABEL_SCOPE_ENV: &str = "RALPH_AGENT_LABEL_SCOPE";
/// Bearer token handed to the agent when auth is on.
pub const AGENT_AUTH_TOKEN_ENV: &str = "RALPH_MCP_AUTH_TOKEN";
/// Preflight budget for the lifecycle, in milliseconds.
pub const PREFLIGHT_TIMEOUT_ENV: &str = "RALPH_MCP_PREFLIGHT_TIMEOUT_MS";
/// Bound on one probe, in milliseconds.
pub const PROBE_TIMEOUT_ENV: &str = "RALPH_MCP_PROBE_TIMEOUT_MS";
/// Interval between supervision probes, in milliseconds.
pub const SUPERVISION_INTERVAL_ENV: &str = "RALPH_MCP_SUPERVISION_INTERVAL_MS";
/// Upstream MCP servers as a JSON list.
pub const UPSTREAM_CONFIG_ENV: &str = "RALPH_UPSTREAM_MCP_CONFIG";

/// Where ralph-mcp keeps its own files inside a workspace, and their names:
/// the contract with Ralph's pipeline (which reads them) in one place.
pub mod agent_paths {
    /// The directory, relative to the workspace.
    pub const DIR: &str = ".agent";
    /// Scratch files: logs, the activity record, exec spills, the media store.
    pub const TMP: &str = "tmp";
    /// `report_progress` events, one `<run_id>.jsonl` per run.
    pub const PROGRESS: &str = "progress";
    /// `declare_complete` records, one `<run_id>.json` per run.
    pub const COMPLETION: &str = "completion";
    /// Replayed media, below [`TMP`].
    pub const MEDIA: &str = "tmp/media";
    /// The activity record, in [`TMP`].
    pub const ACTIVITY_FILE: &str = "mcp-activity.json";
    /// The server's log under `ralph-mcp run`, in [`TMP`].
    pub const SERVER_LOG_FILE: &str = "mcp-server.log";
    /// The workspace configuration, directly in [`DIR`].
    pub const CONFIG_FILE: &str = "mcp.toml";
}

/// The MCP server name agents know us by.
pub const SERVER_NAME: &str = "ralph";
/// Prefix of the Claude-style alias every tool is also listed under.
pub const ALIAS_PREFIX: &str = "mcp__ralph__";

/// Prefix of tools proxied from an upstream configured in the workspace.
pub const CUSTOM_UPSTREAM_PREFIX: &str = "ralph_custom__";
/// Prefix of tools proxied from the agent's own servers (Ralph's `agent_upstream`).
pub const AGENT_UPSTREAM_PREFIX: &str = "ralph_upstream__";

/// True when `name` (raw or alias) has the shape of a proxied upstream tool's name.
pub fn is_upstream_tool(name: &str) -> bool {
    let raw = canonical_tool_name(name);
    raw.starts_with(CUSTOM_UPSTREAM_PREFIX) || raw.starts_with(AGENT_UPSTREAM_PREFIX)
}

/// Strips the `mcp__ralph__` alias prefix, if present.
pub fn canonical_tool_name(name: &str) -> &str {
    name.strip_prefix(ALIAS_PREFIX).unwrap_or(name)
}

/// The `mcp__ralph__<name>` alias of a tool.
pub fn tool_alias(name: &str) -> String {
    format!("{ALIAS_PREFIX}{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_round_trips() {
        assert_eq!(canonical_tool_name(&tool_alias("read_file")), "read_file");
        assert_eq!(canonical_tool_name("read_file"), "read_file");
    }
}
