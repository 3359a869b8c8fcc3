//! The built-in tools and the pieces every tool shares: the context a call runs
//! in, argument decoding, and the one mapping from tool errors to `isError` results.

pub mod artifact;
pub mod catalog;
pub mod coord;
pub mod exec;
pub mod exec_policy;
pub mod explore;
pub mod fsio;
pub mod git;
pub mod grep;
pub mod hints;
pub mod list;
pub mod listing;
pub mod media;
pub mod output;
pub mod read;
pub mod reference;
pub mod tracked;
pub mod walk;
pub mod web;
pub mod write;

use std::sync::Arc;

use rmcp::model::{CallToolResult, ContentBlock as Content};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::confine::ops::PathLocks;
use crate::confine::{AgentDir, AllowedRoots, PathError};
use ralph_mcp_session::Session;

/// Everything a tool call may look at. Built once per server.
#[derive(Debug)]
pub struct ToolContext {
    /// The session being served.
    pub session: Arc<Session>,
    /// Where paths may lead.
    pub roots: AllowedRoots,
    /// For parallel-worker sessions: the only places mutations may land
    /// (explicit allowed roots and the worker artifact directory), held open as
    /// roots of their own so a write is confined beneath them by the kernel.
    pub write_roots: Option<AllowedRoots>,
    /// The server's own files under `.agent/`.
    pub agent: AgentDir,
    /// Serialises mutations of one path.
    pub locks: PathLocks,
    /// Which files git tracks.
    pub tracked: tracked::TrackedFiles,
    /// Detached exec jobs.
    pub jobs: exec::Jobs,
    /// Replay storage for media not delivered inline.
    pub media: crate::media_store::MediaStore,
    /// How each media modality reaches the session's model.
    pub media_profile: ralph_mcp_session::media::MediaProfile,
    /// Largest media file delivered inline (`[media] max_inline_bytes`).
    pub max_inline_bytes: u64,
    /// The `[exec]` sandbox settings.
    pub exec: crate::config::ExecConfig,
    /// The `[web_search]` and `[web_visit]` settings and clients.
    pub web: web::Web,
    /// Tools the configuration turns off (not listed, not callable).
    pub disabled: Vec<&'static str>,
    /// The explore index (built on first use).
    pub explore: explore::Explore,
}

impl ToolContext {
    /// Builds the context for a session over its confined roots.
    pub fn new(session: Arc<Session>, roots: AllowedRoots) -> std::io::Result<Self> {
        let write_roots = if session.is_parallel_worker() {
            let mut list: Vec<std::path::PathBuf> = Vec::new();
            if let Some(explicit) = &session.payload.allowed_roots {
                list.extend(explicit.iter().cloned());
            }
            if let Some(dir) = &session.payload.worker_artifact_dir {
                let _ = std::fs::create_dir_all(dir);
                list.push(dir.clone());
            }
            Some(AllowedRoots::new(roots.workspace(), Some(&list))?)
        } else {
            None
        };
        let media_profile = ralph_mcp_session::media::MediaProfile::new(
            session.payload.model_identity.as_ref(),
            session.payload.capability_profile.as_ref(),
        );
        let agent = AgentDir::new(roots.workspace())?;
        let media = crate::media_store::MediaStore::new(agent.clone());
        Ok(Self {
            session,
            roots,
            write_roots,
            agent,
            locks: PathLocks::default(),
            tracked: tracked::TrackedFiles::default(),
            jobs: exec::Jobs::default(),
            media,
            media_profile,
            max_inline_bytes: crate::config::DEFAULT_MAX_INLINE_BYTES,
            exec: crate::config::ExecConfig::default(),
            web: web::Web::default(),
            disabled: Vec::new(),
            explore: explore::Explore::default(),
        })
    }

    /// Applies the workspace's configuration (`[media]`, `[exec]`, `[web_*]`).
    pub fn with_config(mut self, config: &crate::config::McpConfig) -> Self {
        self.max_inline_bytes = config.media.max_inline_bytes;
        self.exec = config.exec.clone();
        self.web = web::Web::new(config.web_search.clone(), config.web_visit.clone());
        if !config.web_search.enabled {
            self.disabled.push("web_search");
        }
        if !config.web_visit.enabled {
            self.disabled.extend(["visit_url", "download_url"]);
        }
        self
    }

    /// The trees this session may read: the allowed roots and the workspace.
    fn readable(&self) -> Vec<std::path::PathBuf> {
        let mut read: Vec<std::path::PathBuf> = self.roots.roots().map(Into::into).collect();
        read.push(self.roots.workspace().to_path_buf());
        read
    }

    /// The sandbox of an `exec` job: writes beneath the write roots (and the
    /// job's own `TMPDIR`), reads beneath what the session may read, network
    /// only when `[exec] network = true`.
    pub fn exec_sandbox(&self) -> crate::sandbox::Policy {
        let roots = self.write_roots.as_ref().unwrap_or(&self.roots);
        let mut write: Vec<std::path::PathBuf> = roots.roots().map(Into::into).collect();
        write.extend(self.exec.write_paths.iter().cloned());
        let mut read = self.readable();
        read.extend(self.exec.read_paths.iter().cloned());
        crate::sandbox::Policy {
            mode: self.exec.sandbox,
            read,
            write,
            network: self.exec.network,
            tmp_parent: Some(std::env::temp_dir()),
            interactive: false,
        }
    }

    /// A read-only sandbox (git): reads beneath what the session may read, no
    /// writes, no network, always on when the kernel has Landlock.
    pub fn read_only_sandbox(&self) -> crate::sandbox::Policy {
        crate::sandbox::Policy {
            mode: match self.exec.sandbox {
                crate::sandbox::Mode::Off => crate::sandbox::Mode::BestEffort,
                other => other,
            },
            read: self.readable(),
            write: Vec::new(),
            network: false,
            tmp_parent: None,
            interactive: false,
        }
    }
}

/// The result of a tool handler.
pub type ToolResult = Result<CallToolResult, ToolError>;

/// A failed tool call. Every variant becomes an `isError` result whose text says
/// what went wrong and what to do instead.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// Arguments did not match the tool's input schema.
    #[error("invalid arguments for `{tool}`: {message}")]
    InvalidArgs {
        /// The tool.
        tool: String,
        /// What was wrong, naming the field.
        message: String,
    },
    /// The session lacks the capability.
    #[error(
        "tool `{tool}` needs capability `{missing}`, which this session (drain `{drain}`) does not hold; ask the orchestrator for a session that grants it"
    )]
    CapabilityRefused {
        /// The tool.
        tool: String,
        /// The missing capability.
        missing: String,
        /// The session's drain.
        drain: String,
    },
    /// The path was refused or missing.
    #[error(transparent)]
    Path(#[from] PathError),
    /// Anything else, already phrased for the agent.
    #[error("{0}")]
    Failed(String),
}

impl ToolError {
    /// A failure with a message for the agent.
    pub fn failed(msg: impl Into<String>) -> Self {
        Self::Failed(msg.into())
    }

    /// Renders the error as an `isError` tool result.
    pub fn into_result(self) -> CallToolResult {
        CallToolResult::error(vec![Content::text(self.to_string())])
    }
}

/// Decodes tool arguments into `A`, naming the offending field on failure.
/// A missing `arguments` object counts as `{}`.
pub fn parse_args<A: DeserializeOwned>(tool: &str, args: Value) -> Result<A, ToolError> {
    let args = match args {
        Value::Null => Value::Object(Default::default()),
        Value::Object(_) => args,
        other => {
            return Err(ToolError::InvalidArgs {
                tool: tool.into(),
                message: format!(
                    "`arguments` must be a JSON object, got {}",
                    json_kind(&other)
                ),
            });
        }
    };
    serde_path_to_error::deserialize(args).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner().to_string();
        let message = if path == "." || path.is_empty() {
            inner
        } else {
            format!("field `{path}`: {inner}")
        };
        ToolError::InvalidArgs {
            tool: tool.into(),
            message,
        }
    })
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A successful result holding plain text.
pub fn text_result(text: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![Content::text(text.into())])
}

/// A successful result holding one JSON document as text. For a tool that
/// declares an output schema (see `output`), the reply also carries that text,
/// verbatim, as `structuredContent` (written by `call.rs`, never re-serialised).
pub fn json_result(value: Value) -> CallToolResult {
    CallToolResult::success(vec![Content::text(value.to_string())])
}

/// A result holding one text block, `isError` when `error`.
pub fn text_or_error(text: impl Into<String>, error: bool) -> CallToolResult {
    let content = vec![Content::text(text.into())];
    if error {
        CallToolResult::error(content)
    } else {
        CallToolResult::success(content)
    }
}

/// Refuses with a clear message unless exactly one of the named option groups is used.
pub fn exclusive_groups(tool: &str, groups: &[(&str, bool)]) -> Result<(), ToolError> {
    let used: Vec<&str> = groups
        .iter()
        .filter(|(_, on)| *on)
        .map(|(n, _)| *n)
        .collect();
    if used.len() > 1 {
        return Err(ToolError::InvalidArgs {
            tool: tool.into(),
            message: format!(
                "{} are mutually exclusive; use only one of them",
                used.join(" and ")
            ),
        });
    }
    Ok(())
}
