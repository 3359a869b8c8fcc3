//! The built-in tools and the pieces every tool shares: the context a call runs
//! in, argument decoding, and the one mapping from tool errors to `isError` results.

pub mod atomic;
pub mod catalog;
pub mod coord;
pub mod exec;
pub mod exec_policy;
pub mod git;
pub mod grep;
pub mod list;
pub mod media;
pub mod read;
pub mod tracked;
pub mod walk;
pub mod write;

use std::sync::Arc;

use rmcp::model::{CallToolResult, ContentBlock as Content};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::paths::{AllowedRoots, PathError};
use ralph_mcp_session::Session;

/// Everything a tool call may look at. Built once per server.
#[derive(Debug)]
pub struct ToolContext {
    /// The session being served.
    pub session: Arc<Session>,
    /// Where paths may lead.
    pub roots: AllowedRoots,
    /// For parallel-worker sessions: the only places mutations may land
    /// (explicit allowed roots and the worker artifact directory).
    pub worker_write_roots: Vec<std::path::PathBuf>,
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
}

impl ToolContext {
    /// Builds the context for a session over its confined roots.
    pub fn new(session: Arc<Session>, roots: AllowedRoots) -> Self {
        let mut worker_write_roots: Vec<std::path::PathBuf> = Vec::new();
        if let Some(explicit) = &session.payload.allowed_roots {
            worker_write_roots.extend(
                explicit
                    .iter()
                    .filter_map(|p| std::fs::canonicalize(p).ok()),
            );
        }
        if let Some(dir) = &session.payload.worker_artifact_dir {
            let _ = std::fs::create_dir_all(dir);
            worker_write_roots.extend(std::fs::canonicalize(dir).ok());
        }
        let media_profile = ralph_mcp_session::media::MediaProfile::new(
            session.payload.model_identity.as_ref(),
            session.payload.capability_profile.as_ref(),
        );
        let media = crate::media_store::MediaStore::new(roots.workspace().join(".agent/tmp/media"));
        Self {
            session,
            roots,
            worker_write_roots,
            tracked: tracked::TrackedFiles::default(),
            jobs: exec::Jobs::default(),
            media,
            media_profile,
            max_inline_bytes: crate::config::DEFAULT_MAX_INLINE_BYTES,
        }
    }

    /// Applies the workspace's `[media]` configuration.
    pub fn with_media_config(mut self, media: &crate::config::MediaConfig) -> Self {
        self.max_inline_bytes = media.max_inline_bytes;
        self
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

/// A successful result holding one JSON document as text. (No `structuredContent`
/// copy: no tool declares an output schema, and the copy would double every reply.)
pub fn json_result(value: Value) -> CallToolResult {
    CallToolResult::success(vec![Content::text(value.to_string())])
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
