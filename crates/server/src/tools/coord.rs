//! Coordination tools: `report_progress`, `declare_complete`, `read_env`.

use std::time::{SystemTime, UNIX_EPOCH};

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::{ToolContext, ToolError, ToolResult, text_result};
use crate::confine::agent_dir::append_line;

use crate::ralph;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A run id safe to use as a file name.
pub(crate) fn file_key(run_id: &str) -> String {
    let cleaned: String = run_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() {
        "unknown-run".into()
    } else {
        cleaned
    }
}

/// Arguments of `report_progress`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgressArgs {
    /// Short status, e.g. "tests passing, fixing lint".
    pub status: String,
    /// Optional detail.
    pub note: Option<String>,
}

/// `report_progress`: appends an event to `.agent/progress/<run_id>.jsonl`.
pub fn report_progress(ctx: &ToolContext, args: ProgressArgs) -> ToolResult {
    if args.status.trim().is_empty() {
        return Err(ToolError::InvalidArgs {
            tool: "report_progress".into(),
            message: "field `status` is empty; say what is happening".into(),
        });
    }
    let event = json!({
        "run_id": ctx.session.payload.run_id,
        "session_id": ctx.session.payload.session_id,
        "status": args.status,
        "note": args.note,
        "unix_ms": now_ms(),
    });
    let line = format!("{event}\n");
    let name = format!("{}.jsonl", file_key(&ctx.session.payload.run_id));
    ctx.agent
        .append(ralph_mcp_session::names::agent_paths::PROGRESS, &name)
        // One write of one line: concurrent appends never interleave.
        .and_then(|f| append_line(f, line.as_bytes()))
        .map_err(|e| {
            ToolError::failed(format!("cannot record progress under .agent/progress: {e}"))
        })?;
    Ok(text_result(ralph::progress_text(
        &args.status,
        args.note.as_deref().unwrap_or(""),
        now_ms() / 1000,
    )))
}

/// Arguments of `declare_complete`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteArgs {
    /// What was done.
    pub summary: Option<String>,
    /// Set when the work is only partly done: why.
    pub partial_reason: Option<String>,
}

/// `declare_complete`: writes `.agent/completion/<run_id>.json` (the full
/// record) and Ralph's sentinel `.agent/completion_seen_<run_id>.json`, each
/// atomically and durably; fails with `isError` when either cannot be written,
/// so a completion is never claimed without the evidence Ralph checks.
pub fn declare_complete(ctx: &ToolContext, args: CompleteArgs) -> ToolResult {
    let run_id = &ctx.session.payload.run_id;
    let key = file_key(run_id);
    let name = format!("{key}.json");
    let path = ctx
        .agent
        .path(ralph_mcp_session::names::agent_paths::COMPLETION)
        .join(&name);
    let unix_ms = now_ms();
    let record = json!({
        "run_id": run_id,
        "session_id": ctx.session.payload.session_id,
        "drain": ctx.session.payload.drain,
        "status": if args.partial_reason.is_some() { "partial" } else { "complete" },
        "summary": args.summary,
        "partial_reason": args.partial_reason,
        "unix_ms": unix_ms,
    });
    let bytes = serde_json::to_vec_pretty(&record).unwrap_or_default();
    let not_recorded = |what: &std::path::Path, e: std::io::Error| {
        ToolError::failed(format!(
            "completion was NOT recorded: cannot write {}: {e}; fix the problem and call declare_complete again",
            ctx.roots.display(what)
        ))
    };
    ctx.agent
        .write_atomic(
            ralph_mcp_session::names::agent_paths::COMPLETION,
            &name,
            &bytes,
        )
        .map_err(|e| not_recorded(&path, e))?;
    // Ralph reads `.agent/state.db` first; a row it cleared for a reused run id
    // would hide the file below, so the row is written too (best effort: the file
    // is Ralph's fallback).
    let hmac = crate::secret::broker_secret().map(|s| ralph::sentinel_hmac(s, run_id));
    if let Err(e) = super::artifact::receipts::write_completion(&ctx.agent, run_id, hmac.as_deref())
    {
        tracing::warn!(
            "completion not recorded in .agent/state.db ({e}); Ralph reads the sentinel file instead"
        );
    }
    let sentinel = ralph::sentinel_file_name(&key);
    ctx.agent
        .write_atomic(
            "",
            &sentinel,
            ralph::sentinel_payload(run_id, crate::secret::broker_secret()).as_bytes(),
        )
        .map_err(|e| not_recorded(&ctx.agent.path("").join(&sentinel), e))?;
    Ok(text_result(ralph::completion_text(
        &ctx.session.payload.session_id,
        args.summary.as_deref().unwrap_or(ralph::NO_SUMMARY),
        args.partial_reason.as_deref(),
        unix_ms / 1000,
    )))
}

/// Arguments of `read_env`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadEnvArgs {
    /// Variable name.
    pub name: String,
}

/// True when a variable's name marks it as a secret.
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "TOKEN",
        "SECRET",
        "KEY",
        "PASSWORD",
        "PASSWD",
        "CREDENTIAL",
        "AUTH",
    ]
    .iter()
    .any(|w| upper.contains(w))
}

/// `read_env`: the value, or `[redacted]` for secrets.
pub fn read_env(ctx: &ToolContext, args: ReadEnvArgs) -> ToolResult {
    let _ = ctx;
    if args.name.is_empty() || args.name.contains('=') || args.name.contains('\0') {
        return Err(ToolError::InvalidArgs {
            tool: "read_env".into(),
            message: "field `name`: expected an environment variable name such as PATH".into(),
        });
    }
    let value = std::env::var_os(&args.name);
    let bearer = crate::secret::bearer();
    let text = match value {
        None => format!("{} is not set", args.name),
        Some(v) => {
            let v = v.to_string_lossy().into_owned();
            let holds_token = bearer.is_some_and(|t| v.contains(t));
            if is_secret_name(&args.name) || holds_token {
                format!(
                    "{}=[redacted: secret values are not readable through MCP]",
                    args.name
                )
            } else {
                format!("{}={v}", args.name)
            }
        }
    };
    Ok(text_result(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_are_recognised() {
        for n in [
            "MCP_AUTH_TOKEN",
            "GITHUB_TOKEN",
            "aws_secret_access_key",
            "DB_PASSWORD",
            "OPENAI_API_KEY",
        ] {
            assert!(is_secret_name(n), "{n}");
        }
        for n in ["PATH", "HOME", "LANG"] {
            assert!(!is_secret_name(n), "{n}");
        }
    }

    #[test]
    fn run_ids_become_safe_file_names() {
        assert_eq!(file_key("../../etc/passwd"), "______etc_passwd");
        assert_eq!(file_key(""), "unknown-run");
    }
}

/// Arguments of `coordinate`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CoordinateArgs {
    /// The coordination action, e.g. `claim` or `release`.
    pub action: String,
    /// The work unit it concerns.
    pub work_unit_id: Option<String>,
    /// Anything the action carries.
    pub payload: Option<serde_json::Map<String, serde_json::Value>>,
}

/// `coordinate`: Ralph's (deprecated) work-unit coordination event, acknowledged
/// with Ralph's text; nothing in the workspace changes.
pub fn coordinate(ctx: &ToolContext, args: CoordinateArgs) -> ToolResult {
    let payload = args.payload.map(serde_json::Value::Object);
    Ok(text_result(ralph::coordination_text(
        &args.action,
        &ctx.session.payload.session_id,
        now_ms() / 1000,
        args.work_unit_id.as_deref(),
        payload.as_ref(),
    )))
}
