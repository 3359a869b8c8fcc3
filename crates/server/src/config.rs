//! `<workspace>/.agent/mcp.toml`: Ralph's MCP configuration file.
//!
//! Sections are validated strictly (an unknown key inside a known section is an
//! error that names it); Ralph's other sections are accepted so existing files
//! keep working. Errors name the file and the key.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Default `[media] max_inline_bytes`: 5 MiB.
pub const DEFAULT_MAX_INLINE_BYTES: u64 = 5 * 1024 * 1024;

/// The `[media]` section.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MediaConfig {
    /// Accepted for compatibility and ignored: media tools cannot be disabled.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Largest file delivered inline (bytes, greater than 0).
    #[serde(default = "default_max_inline")]
    pub max_inline_bytes: u64,
}

fn yes() -> bool {
    true
}

fn default_max_inline() -> u64 {
    DEFAULT_MAX_INLINE_BYTES
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_inline_bytes: DEFAULT_MAX_INLINE_BYTES,
        }
    }
}

/// The `[exec]` section: the sandbox around `exec`, `unsafe_exec` and `raw_exec`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ExecConfig {
    /// `"required"`, `"best-effort"` (default) or `"off"`.
    #[serde(default)]
    pub sandbox: crate::sandbox::Mode,
    /// Let commands open TCP connections and listen (default: no network).
    #[serde(default)]
    pub network: bool,
    /// More trees commands may read (absolute paths).
    #[serde(default)]
    pub read_paths: Vec<PathBuf>,
    /// More trees commands may write (absolute paths).
    #[serde(default)]
    pub write_paths: Vec<PathBuf>,
}

/// The top-level tables the file may hold.
pub const KNOWN_TABLES: &[&str] = &[
    "media",
    "exec",
    "audit",
    "mcp_servers",
    "web_search",
    "web_visit",
];

/// The parsed file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpConfig {
    /// `[media]`.
    #[serde(default)]
    pub media: MediaConfig,
    /// `[exec]`.
    #[serde(default)]
    pub exec: ExecConfig,
    /// `[audit]`.
    #[serde(default)]
    pub audit: crate::audit::AuditConfig,
    /// `[mcp_servers.*]`: upstream servers, kept as written.
    #[serde(default)]
    pub mcp_servers: toml::Table,
    /// Ralph's `[web_search]`: `web_search`'s backends.
    #[serde(default)]
    pub web_search: crate::tools::web::WebSearchConfig,
    /// Ralph's `[web_visit]`: `visit_url` and `download_url`.
    #[serde(default)]
    pub web_visit: crate::tools::web::WebVisitConfig,
}

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong, naming the key.
    pub message: String,
}

/// The largest `mcp.toml` read.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

impl McpConfig {
    /// Where the file lives for `workspace`.
    pub fn path_in(workspace: &Path) -> PathBuf {
        workspace
            .join(ralph_mcp_session::names::agent_paths::DIR)
            .join(ralph_mcp_session::names::agent_paths::CONFIG_FILE)
    }

    /// Reads the workspace's file through `agent`; a missing file is the default
    /// configuration. Also returns the text read (`None` for a missing file), so a
    /// watcher can tell later edits from what was applied.
    pub fn load(agent: &crate::confine::AgentDir) -> Result<(Self, Option<String>), ConfigError> {
        let path = Self::path_in(agent.workspace());
        let read = agent
            .read(
                "",
                ralph_mcp_session::names::agent_paths::CONFIG_FILE,
                MAX_FILE_BYTES,
            )
            .and_then(|bytes| String::from_utf8(bytes).map_err(std::io::Error::other));
        match read {
            Ok(text) => match Self::parse(&text) {
                Ok(config) => Ok((config, Some(text))),
                Err(message) => Err(ConfigError { path, message }),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((Self::default(), None)),
            Err(e) => Err(ConfigError {
                path,
                message: format!("cannot read: {e}"),
            }),
        }
    }

    /// Parses and validates the text of a file.
    pub fn parse(text: &str) -> Result<Self, String> {
        let table: toml::Table =
            toml::from_str(text).map_err(|e| e.to_string().trim().to_owned())?;
        if let Some(unknown) = table.keys().find(|k| !KNOWN_TABLES.contains(&k.as_str())) {
            let closest = KNOWN_TABLES
                .iter()
                .max_by(|a, b| {
                    strsim::jaro_winkler(unknown, a).total_cmp(&strsim::jaro_winkler(unknown, b))
                })
                .filter(|k| strsim::jaro_winkler(unknown, k) > 0.8);
            return Err(format!(
                "unknown table `[{unknown}]`{}; the tables are {}",
                closest.map_or(String::new(), |k| format!(" (did you mean `[{k}]`?)")),
                KNOWN_TABLES
                    .iter()
                    .map(|k| format!("[{k}]"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let cfg: Self = toml::from_str(text).map_err(|e| e.to_string().trim().to_owned())?;
        crate::tools::web::config::check(&cfg.web_search, &cfg.web_visit)?;
        if cfg.audit.max_bytes == 0 {
            return Err("key `audit.max_bytes` must be greater than 0".into());
        }
        if cfg.media.max_inline_bytes == 0 {
            return Err("key `media.max_inline_bytes` must be greater than 0".into());
        }
        for p in cfg.exec.read_paths.iter().chain(&cfg.exec.write_paths) {
            if !p.is_absolute() {
                return Err(format!(
                    "key `exec.read_paths`/`exec.write_paths`: `{}` is not absolute; give absolute paths",
                    p.display()
                ));
            }
        }
        if !cfg.media.enabled {
            tracing::warn!(
                "[media] enabled = false is accepted and ignored: the media tools stay available"
            );
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_ralph_sections_are_accepted() {
        let cfg =
            McpConfig::parse("[web_search]\nbackend = \"ddgs\"\n[web_visit]\nenabled = true\n")
                .unwrap();
        assert_eq!(cfg.media, MediaConfig::default());
        let cfg = McpConfig::parse("[media]\nmax_inline_bytes = 1024\n").unwrap();
        assert_eq!(cfg.media.max_inline_bytes, 1024);
    }

    #[test]
    fn unknown_media_key_and_bad_values_name_the_key() {
        let err = McpConfig::parse("[media]\nmax_inline = 3\n").unwrap_err();
        assert!(err.contains("max_inline"), "{err}");
        let err = McpConfig::parse("[media]\nmax_inline_bytes = 0\n").unwrap_err();
        assert!(err.contains("media.max_inline_bytes"), "{err}");
        let err = McpConfig::parse("[media]\nmax_inline_bytes = \"big\"\n").unwrap_err();
        assert!(err.contains("max_inline_bytes"), "{err}");
    }

    #[test]
    fn an_unknown_table_is_named_with_the_closest_known_one() {
        let err = McpConfig::parse("[mcp_server.x]\ncommand = \"y\"\n").unwrap_err();
        assert!(
            err.contains("`[mcp_server]`") && err.contains("did you mean `[mcp_servers]`"),
            "{err}"
        );
        let err = McpConfig::parse("[zzz]\n").unwrap_err();
        assert!(
            err.contains("`[zzz]`") && !err.contains("did you mean"),
            "{err}"
        );
    }

    #[test]
    fn exec_settings_parse_and_relative_paths_are_refused() {
        let cfg = McpConfig::parse("[exec]\nsandbox = \"required\"\nnetwork = true\n").unwrap();
        assert_eq!(cfg.exec.sandbox, crate::sandbox::Mode::Required);
        assert!(cfg.exec.network);
        let err = McpConfig::parse("[exec]\nwrite_paths = [\"rel\"]\n").unwrap_err();
        assert!(err.contains("not absolute"), "{err}");
        let err = McpConfig::parse("[exec]\nsandbox = \"maybe\"\n").unwrap_err();
        assert!(err.contains("sandbox") || err.contains("maybe"), "{err}");
    }
}
