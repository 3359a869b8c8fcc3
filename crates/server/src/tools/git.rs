//! Read-only git tools: `git_status`, `git_diff`, `git_log`, `git_show`. Each git
//! runs bounded (own process group, timeout, output cap) with pagers, external
//! diff helpers and text conversion switched off.

use std::sync::Arc;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use super::{ToolContext, ToolError, ToolResult, text_result};
use crate::process::run_bounded;

/// Timeout of one git process.
pub const GIT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_OUTPUT_CAP: usize = 200_000;

fn raw() -> String {
    "raw".into()
}
fn default_diff_bytes() -> usize {
    50_000
}
fn default_count() -> u32 {
    10
}

/// Options every git invocation gets, before the subcommand.
const GIT_SAFETY: &[&str] = &[
    "--no-pager",
    "-c",
    "core.pager=cat",
    "-c",
    "color.ui=never",
    "-c",
    "core.quotePath=false",
    "-c",
    "diff.external=",
    "-c",
    "core.fsmonitor=false",
];

/// Flags `git_diff` refuses: they write files, read files outside the
/// repository, or run external helpers.
fn refused_diff_flag(arg: &str) -> Option<&'static str> {
    let a = arg.to_ascii_lowercase();
    if a == "-o" || a.starts_with("--output") {
        return Some("writes output to a file");
    }
    if a.starts_with("--ext-diff") || a.starts_with("--textconv") {
        return Some("runs an external helper");
    }
    if a == "--no-index" {
        return Some("compares arbitrary files outside the repository");
    }
    if arg.starts_with("-O") {
        return Some("reads an order file from an arbitrary path");
    }
    None
}

async fn run_git(
    ctx: &ToolContext,
    cwd: Option<&str>,
    args: Vec<String>,
    cap: usize,
) -> ToolResult {
    let dir = match cwd {
        Some(c) => ctx.roots.resolve_existing(c)?,
        None => ctx.roots.workspace().to_path_buf(),
    };
    if !dir.is_dir() {
        return Err(ToolError::failed(format!(
            "cwd `{}` is not a directory",
            cwd.unwrap_or(".")
        )));
    }
    let mut full: Vec<String> = GIT_SAFETY.iter().map(|s| s.to_string()).collect();
    full.extend(args);
    let out = run_bounded(
        "git",
        &full,
        &dir,
        &[
            ("GIT_TERMINAL_PROMPT", "0"),
            ("GIT_OPTIONAL_LOCKS", "0"),
            ("GIT_PAGER", "cat"),
            ("PAGER", "cat"),
            ("GIT_EXTERNAL_DIFF", ""),
        ],
        GIT_TIMEOUT,
        cap,
    )
    .await
    .map_err(|e| ToolError::failed(format!("cannot run git: {e}; is git installed?")))?;
    if out.timed_out {
        return Err(ToolError::failed(format!(
            "git timed out after {:?} and was killed",
            GIT_TIMEOUT
        )));
    }
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.stdout_total > out.stdout.len() as u64 {
        text.push_str(&format!(
            "\n[output truncated: {} of {} bytes shown; narrow the request or raise max_bytes]\n",
            out.stdout.len(),
            out.stdout_total
        ));
    }
    if out.code() != 0 {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(ToolError::failed(format!(
            "git exited with status {}: {}",
            out.code(),
            err.trim()
        )));
    }
    Ok(text_result(text))
}

fn check_format(tool: &str, format: &str, allowed: &[&str]) -> Result<(), ToolError> {
    if allowed.contains(&format) {
        return Ok(());
    }
    Err(ToolError::InvalidArgs {
        tool: tool.into(),
        message: format!("field `format`: expected one of {allowed:?}, got {format:?}"),
    })
}

/// Arguments of `git_status`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct StatusArgs {
    /// `raw` (git's own text) or `compact` (porcelain with branch).
    #[serde(default = "raw")]
    #[schemars(default = "raw")]
    pub format: String,
    /// Directory inside the workspace to run in (default: the workspace root).
    pub cwd: Option<String>,
}

/// `git_status`.
pub async fn git_status(ctx: Arc<ToolContext>, args: StatusArgs) -> ToolResult {
    check_format("git_status", &args.format, &["raw", "compact"])?;
    let cmd = if args.format == "compact" {
        vec!["status".into(), "--porcelain=v1".into(), "--branch".into()]
    } else {
        vec!["status".into()]
    };
    run_git(&ctx, args.cwd.as_deref(), cmd, DEFAULT_OUTPUT_CAP).await
}

/// Arguments of `git_diff`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct DiffArgs {
    /// Extra arguments to `git diff`, e.g. ["--cached"] or ["HEAD~1", "--", "src"].
    #[serde(default)]
    pub args: Vec<String>,
    /// `raw` (the patch) or `summary` (`--stat`).
    #[serde(default = "raw")]
    #[schemars(default = "raw")]
    pub format: String,
    /// Most bytes of output to return (default 50000).
    #[serde(default = "default_diff_bytes")]
    #[schemars(default = "default_diff_bytes")]
    pub max_bytes: usize,
    /// Directory inside the workspace to run in.
    pub cwd: Option<String>,
}

/// `git_diff`.
pub async fn git_diff(ctx: Arc<ToolContext>, args: DiffArgs) -> ToolResult {
    check_format("git_diff", &args.format, &["raw", "summary"])?;
    for a in &args.args {
        if let Some(why) = refused_diff_flag(a) {
            return Err(ToolError::failed(format!(
                "git_diff refuses `{a}`: it {why}; git tools are read-only"
            )));
        }
    }
    let mut cmd: Vec<String> = vec![
        "diff".into(),
        "--no-ext-diff".into(),
        "--no-textconv".into(),
        "--no-color".into(),
    ];
    if args.format == "summary" {
        cmd.push("--stat".into());
    }
    cmd.extend(args.args);
    run_git(
        &ctx,
        args.cwd.as_deref(),
        cmd,
        args.max_bytes.clamp(1, 10_000_000),
    )
    .await
}

/// Arguments of `git_log`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct LogArgs {
    /// Number of commits (default 10, at most 1000).
    #[serde(default = "default_count")]
    #[schemars(default = "default_count")]
    pub count: u32,
    /// `raw` (full log) or `compact` (one line per commit).
    #[serde(default = "raw")]
    #[schemars(default = "raw")]
    pub format: String,
    /// Directory inside the workspace to run in.
    pub cwd: Option<String>,
}

/// `git_log`.
pub async fn git_log(ctx: Arc<ToolContext>, args: LogArgs) -> ToolResult {
    check_format("git_log", &args.format, &["raw", "compact"])?;
    let mut cmd: Vec<String> = vec![
        "log".into(),
        format!("-n{}", args.count.clamp(1, 1000)),
        "--no-color".into(),
    ];
    if args.format == "compact" {
        cmd.push("--oneline".into());
    }
    run_git(&ctx, args.cwd.as_deref(), cmd, DEFAULT_OUTPUT_CAP).await
}

/// Arguments of `git_show`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ShowArgs {
    /// The commit, tag or `rev:path` to show.
    #[serde(rename = "ref")]
    pub reference: String,
    /// `raw` (with patch) or `summary` (`--stat`).
    #[serde(default = "raw")]
    #[schemars(default = "raw")]
    pub format: String,
    /// Directory inside the workspace to run in.
    pub cwd: Option<String>,
}

/// `git_show`.
pub async fn git_show(ctx: Arc<ToolContext>, args: ShowArgs) -> ToolResult {
    check_format("git_show", &args.format, &["raw", "summary", "compact"])?;
    if args.reference.is_empty() || args.reference.starts_with('-') {
        return Err(ToolError::InvalidArgs {
            tool: "git_show".into(),
            message:
                "field `ref`: expected a revision such as HEAD or a commit hash, not an option"
                    .into(),
        });
    }
    let mut cmd: Vec<String> = vec![
        "show".into(),
        "--no-ext-diff".into(),
        "--no-textconv".into(),
        "--no-color".into(),
    ];
    if args.format != "raw" {
        cmd.push("--stat".into());
    }
    cmd.push("--end-of-options".into());
    cmd.push(args.reference);
    run_git(&ctx, args.cwd.as_deref(), cmd, DEFAULT_OUTPUT_CAP).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_writing_and_helper_flags_are_refused() {
        for a in [
            "--output=/tmp/x",
            "--output",
            "-o",
            "--ext-diff",
            "--textconv",
            "--no-index",
            "-O/etc/order",
        ] {
            assert!(refused_diff_flag(a).is_some(), "{a}");
        }
        for a in ["--cached", "HEAD~1", "--stat", "--", "src/main.rs", "-U5"] {
            assert!(refused_diff_flag(a).is_none(), "{a}");
        }
    }
}
