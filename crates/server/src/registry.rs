//! The capability gate in front of the tools: which tools a session sees, the
//! cached `tools/list` reply, and dispatch of `tools/call`.

use std::borrow::Cow;
use std::sync::{Arc, RwLock};

use ralph_mcp_session::names::{canonical_tool_name, tool_alias};
use rmcp::model::CallToolResult;

use crate::progress::ProgressSink;
use crate::tools::catalog::{Runner, ToolDef, builtin_tools};
use crate::tools::{ToolContext, ToolError};
use crate::upstream::{Upstream, Upstreams};
use ralph_mcp_session::capability::{Capability, Requirement};

/// What `tools/call` found under a name.
pub enum Lookup {
    /// No such tool, under either name.
    Unknown,
    /// The tool exists but this session may not call it.
    Refused(ToolError),
    /// Callable.
    Found(Target),
}

/// What a callable name leads to.
#[derive(Clone)]
pub enum Target {
    /// A built-in tool (a cheap clone of its catalog row).
    Builtin(ToolDef),
    /// A tool of an upstream server, under its own name there.
    Upstream(Arc<Upstream>, String),
}

impl Target {
    /// The name used for metrics.
    pub fn metric_name(&self) -> String {
        match self {
            Self::Builtin(t) => t.name.to_owned(),
            Self::Upstream(up, tool) => up.spec.proxied_name(tool),
        }
    }
}

/// One built-in entry of `tools/list`: the tool's entry, and for an alias the
/// tool's name and the alias it is listed under instead.
type Listed = (Cow<'static, str>, Option<(&'static str, String)>);

/// The tools of one session.
pub struct Registry {
    tools: Vec<ToolDef>,
    visible: Vec<bool>,
    /// The built-in part of `tools/list` (raw names, then aliases): each
    /// tool's entry, and for an alias the tool's name and the alias it is
    /// listed under instead.
    builtin_listed: Vec<Listed>,
    list_json: RwLock<Arc<str>>,
    ctx: Arc<ToolContext>,
    upstreams: Upstreams,
    /// Whether the session may see and call upstream tools.
    upstream_visible: bool,
    /// Tells open GET streams and listeners that a list changed.
    list_changed: tokio::sync::broadcast::Sender<ListKind>,
}

/// Which list changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// `tools/list`.
    Tools,
    /// `resources/list`.
    Resources,
    /// `prompts/list`.
    Prompts,
}

impl ListKind {
    /// The notification method that announces the change.
    pub fn method(self) -> &'static str {
        match self {
            Self::Tools => "notifications/tools/list_changed",
            Self::Resources => "notifications/resources/list_changed",
            Self::Prompts => "notifications/prompts/list_changed",
        }
    }
}

impl Registry {
    /// Builds the registry for a session and serialises its `tools/list` result once.
    /// `list_aliases` adds each built-in tool again as `mcp__ralph__<name>`.
    pub fn new(ctx: Arc<ToolContext>, upstreams: Upstreams, list_aliases: bool) -> Self {
        let tools = builtin_tools();
        let visible: Vec<bool> = tools
            .iter()
            .map(|t| {
                t.requirement.is_met_by(&ctx.session.capabilities)
                    && !ctx.disabled.contains(&t.name)
            })
            .collect();
        let entries = crate::tools::listing::entries(&tools);
        let shown = || {
            tools
                .iter()
                .zip(&entries)
                .zip(&visible)
                .filter(|(_, v)| **v)
        };
        let mut builtin_listed: Vec<Listed> =
            shown().map(|((_, e), _)| (e.clone(), None)).collect();
        if list_aliases {
            builtin_listed.extend(
                shown().map(|((tool, e), _)| (e.clone(), Some((tool.name, tool_alias(tool.name))))),
            );
        }
        let upstream_visible =
            Requirement::One(Capability::UpstreamToolUse).is_met_by(&ctx.session.capabilities);
        let registry = Self {
            tools,
            visible,
            builtin_listed,
            list_json: RwLock::new(Arc::from("")),
            ctx,
            upstreams,
            upstream_visible,
            list_changed: tokio::sync::broadcast::channel(16).0,
        };
        registry.rebuild_list();
        registry
    }

    /// Re-serialises `tools/list`: the built-in tools, then the upstream tools.
    fn rebuild_list(&self) {
        let size: usize = self.builtin_listed.iter().map(|(e, _)| e.len() + 32).sum();
        let mut json = String::with_capacity(size + 16);
        json.push_str(r#"{"tools":["#);
        for (i, (entry, alias)) in self.builtin_listed.iter().enumerate() {
            if i > 0 {
                json.push(',');
            }
            match alias {
                None => json.push_str(entry),
                Some((name, alias)) => {
                    crate::tools::listing::write_renamed(&mut json, entry, name, alias);
                }
            }
        }
        if self.upstream_visible {
            for (_, tool) in self.upstreams.tools() {
                if let Ok(entry) = serde_json::to_string(&tool) {
                    if json.len() > r#"{"tools":["#.len() {
                        json.push(',');
                    }
                    json.push_str(&entry);
                }
            }
        }
        json.push_str("]}");
        let json: Arc<str> = json.into();
        if let Ok(mut slot) = self.list_json.write() {
            *slot = json;
        }
    }

    /// Follows upstream changes forever: re-serialises `tools/list` and tells
    /// subscribers which of the tool, resource and prompt lists changed. Run by
    /// the server once it has a runtime.
    pub async fn follow_upstreams(&self) {
        let fingerprint = |s: &Self| {
            (
                s.list_result_json(),
                serde_json::to_string(&s.upstream_resources()).unwrap_or_default(),
                serde_json::to_string(&s.upstream_prompts()).unwrap_or_default(),
            )
        };
        let mut last = fingerprint(self);
        loop {
            self.upstreams.changed.notified().await;
            self.rebuild_list();
            let now = fingerprint(self);
            for (changed, kind) in [
                (now.0 != last.0, ListKind::Tools),
                (now.1 != last.1, ListKind::Resources),
                (now.2 != last.2, ListKind::Prompts),
            ] {
                if changed {
                    let _ = self.list_changed.send(kind);
                }
            }
            if now.0 != last.0 {
                self.publish_catalog();
            }
            last = now;
        }
    }

    /// The upstream resources this session may see (gated like upstream tools).
    pub fn upstream_resources(&self) -> Vec<rmcp::model::Resource> {
        if self.upstream_visible {
            self.upstreams.resources()
        } else {
            Vec::new()
        }
    }

    /// The upstream prompts this session may see (gated like upstream tools).
    pub fn upstream_prompts(&self) -> Vec<rmcp::model::Prompt> {
        if self.upstream_visible {
            self.upstreams.prompts()
        } else {
            Vec::new()
        }
    }

    /// True when this session may use upstream tools, resources and prompts.
    pub fn upstream_visible(&self) -> bool {
        self.upstream_visible
    }

    /// Writes `.agent/mcp/parent_catalog.json` for Ralph, which hands it to the
    /// next server so that one lists the upstream tools at once.
    fn publish_catalog(&self) {
        use crate::ralph::catalog;
        let json = catalog::to_json(&self.upstreams.catalog());
        if let Err(e) = self.ctx.agent.write_atomic(
            catalog::CATALOG_DIR,
            catalog::CATALOG_FILE,
            json.as_bytes(),
        ) {
            tracing::debug!(error = %e, "cannot publish the upstream tool catalog");
        }
    }

    /// Subscribes to list changes.
    pub fn subscribe_list_changed(&self) -> tokio::sync::broadcast::Receiver<ListKind> {
        self.list_changed.subscribe()
    }

    /// The upstreams.
    pub fn upstreams(&self) -> &Upstreams {
        &self.upstreams
    }

    /// The context tools run in.
    pub fn context(&self) -> &Arc<ToolContext> {
        &self.ctx
    }

    /// The `tools/list` result object, serialised once per change.
    pub fn list_result_json(&self) -> Arc<str> {
        self.list_json
            .read()
            .map_or_else(|_| Arc::from(r#"{"tools":[]}"#), |j| j.clone())
    }

    /// Names of the tools this session sees (without aliases).
    pub fn visible_names(&self) -> Vec<&'static str> {
        self.tools
            .iter()
            .zip(&self.visible)
            .filter(|(_, v)| **v)
            .map(|(t, _)| t.name)
            .collect()
    }

    /// Finds a tool by raw name or `mcp__ralph__` alias and applies the gate.
    pub fn lookup(&self, name: &str) -> Lookup {
        let canonical = canonical_tool_name(name);
        if crate::upstream::is_proxied(canonical) {
            let Some((up, tool)) = self.upstreams.find(canonical) else {
                return Lookup::Unknown;
            };
            if !self.upstream_visible {
                return Lookup::Refused(ToolError::CapabilityRefused {
                    tool: canonical.into(),
                    missing: Capability::UpstreamToolUse.to_string(),
                    drain: self.ctx.session.payload.drain.clone(),
                });
            }
            return Lookup::Found(Target::Upstream(up, tool));
        }
        let Some(idx) = self.tools.iter().position(|t| t.name == canonical) else {
            return Lookup::Unknown;
        };
        let tool = &self.tools[idx];
        if !self.visible[idx] {
            return Lookup::Refused(ToolError::CapabilityRefused {
                tool: tool.name.into(),
                missing: tool.requirement.to_string(),
                drain: self.ctx.session.payload.drain.clone(),
            });
        }
        Lookup::Found(Target::Builtin(tool.clone()))
    }

    /// Runs a tool that passed the gate. Every failure, including a panic inside
    /// the handler, comes back as an `isError` result.
    /// `progress` becomes the handler's [`ProgressSink::current`].
    pub async fn call(
        &self,
        target: Target,
        args: serde_json::Value,
        progress: Option<ProgressSink>,
    ) -> CallToolResult {
        let tool = match target {
            Target::Builtin(tool) => tool,
            Target::Upstream(up, tool) => {
                return self.call_upstream(&up, &tool, args, progress).await;
            }
        };
        let ctx = self.ctx.clone();
        let name = tool.name;
        let outcome = match tool.runner {
            Runner::Blocking { run, inline_if } if inline_if(&args) => {
                // Cheap and bounded: no hand-off to the pool; a panic is still caught.
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    ProgressSink::sync_scope(progress, || run(&ctx, args))
                }))
                .map_err(|_| "the handler panicked".to_owned())
            }
            Runner::Blocking { run, .. } => tokio::task::spawn_blocking(move || {
                ProgressSink::sync_scope(progress, || run(&ctx, args))
            })
            .await
            .map_err(|e| e.to_string()),
            Runner::Async(f) => {
                // Aborted with the caller (cancellation, disconnect), not left running.
                let task = tokio::spawn(ProgressSink::scope(progress, f(ctx, args)));
                AbortOnDrop(Some(task.abort_handle()))
                    .wait(task)
                    .await
                    .map_err(|e| e.to_string())
            }
        };
        match outcome {
            Ok(Ok(result)) => result,
            Ok(Err(err)) => err.into_result(),
            Err(join) => {
                tracing::error!(tool = name, error = %join, "tool handler failed unexpectedly");
                ToolError::failed(format!(
                    "tool `{name}` failed unexpectedly; the server is still serving, try again or report this"
                ))
                .into_result()
            }
        }
    }

    async fn call_upstream(
        &self,
        up: &Upstream,
        tool: &str,
        args: serde_json::Value,
        progress: Option<ProgressSink>,
    ) -> CallToolResult {
        let arguments = match args {
            serde_json::Value::Null => None,
            serde_json::Value::Object(m) => Some(m),
            _ => {
                return ToolError::InvalidArgs {
                    tool: up.spec.proxied_name(tool),
                    message: "`arguments` must be a JSON object".into(),
                }
                .into_result();
            }
        };
        match ProgressSink::scope(progress, up.call(tool, arguments)).await {
            Ok(mut result) => {
                crate::upstream::normalize::normalize(&self.ctx, &up.spec.name, &mut result);
                result
            }
            Err(e) => ToolError::failed(e.to_string()).into_result(),
        }
    }
}

/// Aborts a spawned task when the future awaiting it is dropped.
struct AbortOnDrop(Option<tokio::task::AbortHandle>);

impl AbortOnDrop {
    async fn wait<T>(
        mut self,
        task: tokio::task::JoinHandle<T>,
    ) -> Result<T, tokio::task::JoinError> {
        let out = task.await;
        self.0 = None;
        out
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take() {
            handle.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::confine::AllowedRoots;
    use ralph_mcp_session::Session;

    fn registry(list_aliases: bool) -> (tempfile::TempDir, Registry) {
        let dir = tempfile::tempdir().unwrap();
        let session = Session::standalone("registry-test".into());
        let roots = AllowedRoots::new(dir.path(), None).unwrap();
        let ctx = Arc::new(ToolContext::new(Arc::new(session), roots).unwrap());
        let reg = Registry::new(ctx, Upstreams::new(Vec::new(), None), list_aliases);
        (dir, reg)
    }

    fn listed_names(reg: &Registry) -> Vec<String> {
        let v: serde_json::Value = serde_json::from_str(&reg.list_result_json()).unwrap();
        v["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn aliases_are_listed_only_when_asked_and_always_callable() {
        let (_d, with) = registry(true);
        let (_e, without) = registry(false);
        let all = listed_names(&with);
        let once = listed_names(&without);
        assert!(all.iter().any(|n| n == "mcp__ralph__read_file"));
        assert!(!once.iter().any(|n| n.starts_with("mcp__ralph__")));
        assert_eq!(all.len(), 2 * once.len());
        let mut dedup = once.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(dedup.len(), once.len(), "a tool is listed twice: {once:?}");
        assert!(matches!(
            without.lookup("mcp__ralph__read_file"),
            Lookup::Found(_)
        ));
    }
}
