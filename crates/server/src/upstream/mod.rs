//! Upstream MCP servers proxied under this endpoint as `ralph_custom__<server>__<tool>`
//! (configured in the workspace) or `ralph_upstream__<server>__<tool>` (the agent's own
//! servers, which Ralph hands over as `origin: "agent_upstream"`).
//!
//! `config` validates and merges their definitions; `conn` keeps one supervised rmcp
//! client session per upstream; `normalize` fits their non-text content to the
//! session's media profile. The registry lists their tools after the built-in ones.

pub mod config;
pub mod conn;
pub mod normalize;

use std::sync::Arc;

use rmcp::model::Tool;
use tokio::sync::Notify;

pub use conn::{State, Upstream};

pub use ralph_mcp_session::names::is_upstream_tool as is_proxied;

/// All upstreams of one server.
#[derive(Debug, Default)]
pub struct Upstreams {
    list: Vec<Arc<Upstream>>,
    /// Fired when any upstream's tool list changes.
    pub changed: Arc<Notify>,
}

impl Upstreams {
    /// The upstreams of `specs`, not yet started; stdio children's stderr goes to
    /// `.agent/tmp/mcp-upstream-<name>.log` of `log_dir`.
    pub fn new(
        specs: Vec<config::UpstreamSpec>,
        log_dir: Option<Arc<crate::confine::AgentDir>>,
    ) -> Self {
        let changed = Arc::new(Notify::new());
        let list = specs
            .into_iter()
            .map(|s| Upstream::new(s, log_dir.clone(), changed.clone()))
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

    /// Lists the tools of Ralph's catalog for the upstreams it names, before any
    /// is reached.
    pub fn seed(&self, catalog: &crate::ralph::catalog::Catalog) {
        for up in &self.list {
            if let Some(entry) = catalog.get(&up.spec.name) {
                up.seed_tools(crate::ralph::catalog::tools_of(entry));
            }
        }
    }

    /// Ralph's catalog of what the upstreams list now.
    pub fn catalog(&self) -> crate::ralph::catalog::Catalog {
        self.list
            .iter()
            .map(|up| {
                (
                    up.spec.name.clone(),
                    crate::ralph::catalog::entry_of(&up.tools()),
                )
            })
            .collect()
    }

    /// True when none are configured.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Starts every upstream, in parallel, without waiting for any: the server
    /// serves its built-in tools at once and each upstream's tools appear when it
    /// is ready (`/health` says `degraded` until then).
    pub fn launch(&self) {
        for up in &self.list {
            up.launch();
        }
    }

    /// Each upstream's name and state.
    pub fn states(&self) -> Vec<(String, State)> {
        self.list
            .iter()
            .map(|up| (up.spec.name.clone(), up.state()))
            .collect()
    }

    /// Every proxied tool, in configuration order, with its proxied name. A name
    /// an upstream lists twice is refused after its first listing, with an error log.
    pub fn tools(&self) -> Vec<(String, Tool)> {
        let mut out: Vec<(String, Tool)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for up in &self.list {
            for mut t in up.tools() {
                let name = up.spec.proxied_name(&t.name);
                if !seen.insert(name.clone()) {
                    tracing::error!(tool = %name, "upstream `{}` lists `{}` twice; only the first is served", up.spec.name, t.name);
                    continue;
                }
                t.name = name.clone().into();
                out.push((name, t));
            }
        }
        out
    }

    /// The upstream and its own tool name behind a proxied name.
    pub fn find(&self, proxied: &str) -> Option<(Arc<Upstream>, String)> {
        self.list.iter().find_map(|up| {
            let tool = proxied
                .strip_prefix(up.spec.origin.prefix())?
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
    fn names_follow_the_origin() {
        let mut specs = config::from_json(
            r#"[{"name":"web","command":"x"},{"name":"mine","command":"x","origin":"custom"}]"#,
        )
        .unwrap();
        assert_eq!(specs[0].proxied_name("fetch"), "ralph_upstream__web__fetch");
        assert_eq!(specs[1].proxied_name("fetch"), "ralph_custom__mine__fetch");
        specs.extend(config::from_toml(&toml::from_str("[f]\ncommand = \"x\"").unwrap()).unwrap());
        assert_eq!(specs[2].proxied_name("t"), "ralph_custom__f__t");
        assert!(is_proxied("ralph_upstream__web__fetch") && !is_proxied("read_file"));
        let ups = Upstreams::default();
        assert!(ups.find("ralph_custom__web__fetch").is_none());
    }
}
