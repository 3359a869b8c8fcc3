//! Upstream MCP servers proxied under this endpoint as `ralph_custom__<server>__<tool>`.
//!
//! `config` validates and merges their definitions; `conn` keeps one supervised rmcp
//! client session per upstream; `normalize` fits their non-text content to the
//! session's media profile. The registry lists their tools after the built-in ones.

pub mod config;
pub mod conn;
pub mod normalize;

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::Tool;
use tokio::sync::Notify;

pub use conn::{CallError, State, Upstream};

/// Prefix of every proxied tool name.
pub const PREFIX: &str = "ralph_custom__";

/// The proxied name of `tool` on `server`.
pub fn proxied_name(server: &str, tool: &str) -> String {
    format!("{PREFIX}{server}__{tool}")
}

/// All upstreams of one server.
#[derive(Debug, Default)]
pub struct Upstreams {
    list: Vec<Arc<Upstream>>,
    /// Fired when any upstream's tool list changes.
    pub changed: Arc<Notify>,
}

impl Upstreams {
    /// The upstreams of `specs`, not yet started.
    pub fn new(specs: Vec<config::UpstreamSpec>) -> Self {
        let changed = Arc::new(Notify::new());
        let list = specs
            .into_iter()
            .map(|s| Upstream::new(s, changed.clone()))
            .collect();
        Self { list, changed }
    }

    /// Reads `[mcp_servers]` from the workspace's mcp.toml and `RALPH_UPSTREAM_MCP_CONFIG`.
    pub fn from_config(
        file: &crate::config::McpConfig,
        env: Option<&str>,
    ) -> Result<Vec<config::UpstreamSpec>, String> {
        let from_file = config::from_toml(&file.mcp_servers)?;
        let from_env = match env {
            Some(text) if !text.trim().is_empty() => config::from_json(text)?,
            _ => Vec::new(),
        };
        Ok(config::merge(from_file, from_env))
    }

    /// True when none are configured.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Starts every upstream and waits (each bounded by its startup timeout) until its first
    /// connection attempt has settled, then refuses duplicate proxied names.
    pub async fn settle(&self) -> Result<(), String> {
        for up in &self.list {
            up.launch();
        }
        for up in &self.list {
            up.wait_settled(up.spec.startup_timeout + Duration::from_millis(500))
                .await;
            if up.state() != State::Ready {
                tracing::warn!(upstream = %up.spec.name, state = %up.state(), "upstream not ready at start; its tools appear once it is");
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (name, _) in self.tools() {
            if !seen.insert(name.clone()) {
                return Err(format!(
                    "two upstream tools would both be called `{name}`; rename one or use `exclude_tools`"
                ));
            }
        }
        Ok(())
    }

    /// Every proxied tool, in configuration order, with its proxied name.
    pub fn tools(&self) -> Vec<(String, Tool)> {
        let mut out = Vec::new();
        for up in &self.list {
            for mut t in up.tools() {
                let name = proxied_name(&up.spec.name, &t.name);
                t.name = name.clone().into();
                out.push((name, t));
            }
        }
        out
    }

    /// The upstream and its own tool name behind a proxied name.
    pub fn find(&self, proxied: &str) -> Option<(Arc<Upstream>, String)> {
        let rest = proxied.strip_prefix(PREFIX)?;
        self.list.iter().find_map(|up| {
            let tool = rest
                .strip_prefix(up.spec.name.as_str())?
                .strip_prefix("__")?;
            let listed = up.tools().iter().any(|t| t.name == tool);
            (listed && up.spec.exposes(tool)).then(|| (up.clone(), tool.to_owned()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxied_names_round_trip() {
        assert_eq!(proxied_name("web", "fetch"), "ralph_custom__web__fetch");
        let ups = Upstreams::default();
        assert!(ups.find("ralph_custom__web__fetch").is_none());
    }
}
