//! The capability gate in front of the tools: which tools a session sees, the
//! cached `tools/list` reply, and dispatch of `tools/call`.

use std::sync::Arc;

use ralph_mcp_session::names::{canonical_tool_name, tool_alias};
use rmcp::model::{CallToolResult, Tool};

use crate::progress::ProgressSink;
use crate::tools::catalog::{Runner, ToolDef, builtin_tools};
use crate::tools::{ToolContext, ToolError};

/// What `tools/call` found under a name.
pub enum Lookup<'a> {
    /// No such tool, under either name.
    Unknown,
    /// The tool exists but this session may not call it.
    Refused(ToolError),
    /// Callable.
    Found(&'a ToolDef),
}

/// The tools of one session.
pub struct Registry {
    tools: Vec<ToolDef>,
    visible: Vec<bool>,
    list_json: Arc<str>,
    ctx: Arc<ToolContext>,
}

impl Registry {
    /// Builds the registry for a session and serialises its `tools/list` result once.
    pub fn new(ctx: Arc<ToolContext>) -> Self {
        let tools = builtin_tools();
        let visible: Vec<bool> = tools
            .iter()
            .map(|t| t.requirement.is_met_by(&ctx.session.capabilities))
            .collect();
        let mut listed: Vec<Tool> = Vec::new();
        for (tool, _) in tools.iter().zip(&visible).filter(|(_, v)| **v) {
            listed.push(Tool::new(
                tool.name,
                tool.description,
                tool.input_schema.clone(),
            ));
        }
        for (tool, _) in tools.iter().zip(&visible).filter(|(_, v)| **v) {
            listed.push(Tool::new(
                tool_alias(tool.name),
                tool.description,
                tool.input_schema.clone(),
            ));
        }
        let list_json: Arc<str> = serde_json::to_string(&serde_json::json!({ "tools": listed }))
            .unwrap_or_else(|_| r#"{"tools":[]}"#.into())
            .into();
        Self {
            tools,
            visible,
            list_json,
            ctx,
        }
    }

    /// The context tools run in.
    pub fn context(&self) -> &Arc<ToolContext> {
        &self.ctx
    }

    /// The `tools/list` result object, serialised once per session.
    pub fn list_result_json(&self) -> &Arc<str> {
        &self.list_json
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
    pub fn lookup(&self, name: &str) -> Lookup<'_> {
        let canonical = canonical_tool_name(name);
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
        Lookup::Found(tool)
    }

    /// Runs a tool that passed the gate. Every failure, including a panic inside
    /// the handler, comes back as an `isError` result.
    /// `progress` becomes the handler's [`ProgressSink::current`].
    pub async fn call(
        &self,
        tool: &ToolDef,
        args: serde_json::Value,
        progress: Option<ProgressSink>,
    ) -> CallToolResult {
        let ctx = self.ctx.clone();
        let name = tool.name;
        let outcome = match tool.runner {
            Runner::Blocking(f) => {
                tokio::task::spawn_blocking(move || {
                    ProgressSink::sync_scope(progress, || f(&ctx, args))
                })
                .await
            }
            Runner::Async(f) => tokio::spawn(ProgressSink::scope(progress, f(ctx, args))).await,
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
}
