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

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use rmcp::model::{Prompt, Resource, Tool};
use tokio::sync::Notify;

pub use conn::{Signals, State, StateChange, Upstream};

pub use ralph_mcp_session::names::is_upstream_tool as is_proxied;

/// All upstreams of one server. The set changes when `.agent/mcp.toml` does
/// ([`Upstreams::apply`]); everything else reads a snapshot of it.
#[derive(Debug)]
pub struct Upstreams {
    list: RwLock<Vec<Arc<Upstream>>>,
    log_dir: Option<Arc<crate::confine::AgentDir>>,
    /// Set once [`Upstreams::launch`] ran: upstreams added later start at once.
    launched: AtomicBool,
    /// Why the last edit of the configuration was not applied, if it was not.
    config_error: RwLock<Option<String>>,
    /// Fired when any upstream's tools, resources or prompts change, or the set does.
    pub changed: Arc<Notify>,
    signals: Signals,
}

impl Upstreams {
    /// The upstreams of `specs`, not yet started; stdio children's stderr goes to
    /// `.agent/tmp/mcp-upstream-<name>.log` of `log_dir`.
    pub fn new(
        specs: Vec<config::UpstreamSpec>,
        log_dir: Option<Arc<crate::confine::AgentDir>>,
    ) -> Self {
        let changed = Arc::new(Notify::new());
        let signals = Signals {
            changed: changed.clone(),
            states: tokio::sync::broadcast::channel(64).0,
        };
        let list = specs
            .into_iter()
            .map(|s| Upstream::new(s, log_dir.clone(), &signals))
            .collect();
        Self {
            list: RwLock::new(list),
            log_dir,
            launched: AtomicBool::new(false),
            config_error: RwLock::new(None),
            changed,
            signals,
        }
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

    /// A snapshot of the current upstreams.
    pub fn all(&self) -> Vec<Arc<Upstream>> {
        self.list.read().map(|l| l.clone()).unwrap_or_default()
    }

    /// Makes the set of upstreams `specs`: an unchanged upstream keeps running,
    /// a new one starts, a removed one stops (its child with it), and a changed
    /// one is replaced. Returns the names (added, removed, restarted).
    pub fn apply(
        &self,
        specs: Vec<config::UpstreamSpec>,
    ) -> (Vec<String>, Vec<String>, Vec<String>) {
        let Ok(mut list) = self.list.write() else {
            return Default::default();
        };
        let (mut added, mut restarted) = (Vec::new(), Vec::new());
        let mut next = Vec::with_capacity(specs.len());
        for spec in specs {
            if let Some(same) = list.iter().find(|u| u.spec == spec) {
                next.push(same.clone());
                continue;
            }
            let previous = list.iter().find(|u| u.spec.name == spec.name).cloned();
            let up = Upstream::new(spec, self.log_dir.clone(), &self.signals);
            match previous {
                // A restarted upstream keeps listing its tools: a call made while it
                // reconnects waits for it instead of finding the tool gone.
                Some(old) => {
                    restarted.push(up.spec.name.clone());
                    up.seed_tools(old.tools());
                }
                None => added.push(up.spec.name.clone()),
            }
            if self.launched.load(Ordering::Acquire) {
                up.launch();
            }
            next.push(up);
        }
        let mut removed = Vec::new();
        for old in list.iter() {
            if !next.iter().any(|u| Arc::ptr_eq(u, old)) {
                old.stop();
                if !next.iter().any(|u| u.spec.name == old.spec.name) {
                    removed.push(old.spec.name.clone());
                }
            }
        }
        *list = next;
        drop(list);
        self.changed.notify_one();
        (added, removed, restarted)
    }

    /// Subscribes to upstream state changes.
    pub fn subscribe_states(&self) -> tokio::sync::broadcast::Receiver<StateChange> {
        self.signals.states.subscribe()
    }

    /// Records why an edit of the configuration was not applied (or clears it).
    pub fn set_config_error(&self, error: Option<String>) {
        if let Ok(mut slot) = self.config_error.write() {
            *slot = error;
        }
    }

    /// Why the last edit of the configuration was not applied.
    pub fn config_error(&self) -> Option<String> {
        self.config_error.read().ok().and_then(|e| e.clone())
    }

    /// Lists the tools of Ralph's catalog for the upstreams it names, before any
    /// is reached.
    pub fn seed(&self, catalog: &crate::ralph::catalog::Catalog) {
        for up in self.all() {
            if let Some(entry) = catalog.get(&up.spec.name) {
                up.seed_tools(crate::ralph::catalog::tools_of(entry));
            }
        }
    }

    /// Ralph's catalog of what the upstreams list now.
    pub fn catalog(&self) -> crate::ralph::catalog::Catalog {
        self.all()
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
        self.list.read().map_or(true, |l| l.is_empty())
    }

    /// Starts every upstream, in parallel, without waiting for any: the server
    /// serves its built-in tools at once and each upstream's tools appear when it
    /// is ready (`/health` says `degraded` until then).
    pub fn launch(&self) {
        self.launched.store(true, Ordering::Release);
        for up in self.all() {
            up.launch();
        }
    }

    /// Stops every upstream (their children with them).
    pub fn stop_all(&self) {
        for up in self.all() {
            up.stop();
        }
    }

    /// Each upstream's name and state.
    pub fn states(&self) -> Vec<(String, State)> {
        self.all()
            .iter()
            .map(|up| (up.spec.name.clone(), up.state()))
            .collect()
    }

    /// Every proxied tool, in configuration order, with its proxied name. A name
    /// an upstream lists twice is refused after its first listing, with an error log.
    pub fn tools(&self) -> Vec<(String, Tool)> {
        let mut out: Vec<(String, Tool)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for up in self.all() {
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

    /// Every upstream resource, its name prefixed like the upstream's tools
    /// (the URI is the upstream's own; the first upstream listing a URI serves it).
    pub fn resources(&self) -> Vec<Resource> {
        let mut out: Vec<Resource> = Vec::new();
        for up in self.all() {
            for mut r in up.resources() {
                if out.iter().any(|o| o.uri == r.uri) {
                    continue;
                }
                r.name = up.spec.proxied_name(&r.name);
                out.push(r);
            }
        }
        out
    }

    /// Every upstream prompt, named like the upstream's tools.
    pub fn prompts(&self) -> Vec<Prompt> {
        let mut out = Vec::new();
        for up in self.all() {
            for mut p in up.prompts() {
                p.name = up.spec.proxied_name(&p.name);
                out.push(p);
            }
        }
        out
    }

    /// The upstream serving resource `uri`.
    pub fn find_resource(&self, uri: &str) -> Option<Arc<Upstream>> {
        self.all()
            .into_iter()
            .find(|up| up.resources().iter().any(|r| r.uri == uri))
    }

    /// The upstream and its own prompt name behind a proxied prompt name.
    pub fn find_prompt(&self, proxied: &str) -> Option<(Arc<Upstream>, String)> {
        self.all().into_iter().find_map(|up| {
            let name = up.spec.unprefixed(proxied)?;
            let listed = up.prompts().iter().any(|p| p.name == name);
            listed.then(|| (up.clone(), name.to_owned()))
        })
    }

    /// The upstream and its own tool name behind a proxied name.
    pub fn find(&self, proxied: &str) -> Option<(Arc<Upstream>, String)> {
        self.all().into_iter().find_map(|up| {
            let tool = up.spec.unprefixed(proxied)?;
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
        let ups = Upstreams::new(Vec::new(), None);
        assert!(ups.find("ralph_custom__web__fetch").is_none());
    }
}
