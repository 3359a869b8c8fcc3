//! Read-only git tools: `git_status`, `git_diff`, `git_log`, `git_show`. Each git
//! runs bounded (own process group, timeout, output cap) with pagers, external
//! diff helpers and text conversion switched off.

use std::path::{Path, PathBuf};
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

/// A repository that lies inside the workspace (or the allowed root holding the
/// cwd), with what git may show of it.
#[derive(Debug)]
pub struct Repo {
    /// Where git runs.
    pub cwd: PathBuf,
    /// The work tree's top.
    pub top: PathBuf,
    /// The git directory (a `.git` directory, or where a gitfile inside the
    /// roots points, which must itself be inside them).
    pub git_dir: PathBuf,
    /// Set when the allowed roots do not cover the whole work tree: the only
    /// paths (relative to `top`) whose content git may show.
    pub limit_to: Option<Vec<PathBuf>>,
}

impl Repo {
    /// The pathspecs that keep git's output inside the roots (empty when it need not).
    fn pathspecs(&self) -> Vec<String> {
        self.limit_to
            .iter()
            .flatten()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    ":(top)".to_owned()
                } else {
                    format!(":(top,literal){}", p.display())
                }
            })
            .collect()
    }

    /// Refuses a path (relative to `top`) that the roots do not cover.
    fn check_path(&self, rel_to_top: &Path, shown: &str) -> Result<(), ToolError> {
        match &self.limit_to {
            Some(allowed) if !allowed.iter().any(|a| rel_to_top.starts_with(a)) => {
                Err(ToolError::failed(format!(
                    "`{shown}` is outside the allowed roots; git tools show only paths inside them"
                )))
            }
            _ => Ok(()),
        }
    }
}

/// Finds the repository for `cwd` without leaving the workspace (or the allowed
/// root that holds `cwd`): a `.git` directory, or a gitfile whose target is
/// inside the workspace or an allowed root. A `.git` symlink is refused.
pub fn find_repo(ctx: &ToolContext, cwd: Option<&str>) -> Result<Repo, ToolError> {
    let raw = cwd.unwrap_or(".");
    let (_, located) = ctx.open_dir(raw)?;
    let cwd = located.abs();
    let ws = ctx.roots.workspace();
    let boundary: &Path = if cwd.starts_with(ws) {
        ws
    } else {
        located.root.path()
    };
    let inside = |p: &Path| p.starts_with(ws) || ctx.roots.contains(p);
    for dir in cwd.ancestors() {
        if !dir.starts_with(boundary) {
            break;
        }
        let dot_git = dir.join(".git");
        let Ok(meta) = std::fs::symlink_metadata(&dot_git) else {
            continue;
        };
        let git_dir = if meta.is_dir() {
            dot_git
        } else if meta.is_file() {
            let text = std::fs::read_to_string(&dot_git).unwrap_or_default();
            let target = text
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("gitdir:"))
                .map(str::trim)
                .ok_or_else(|| {
                    ToolError::failed(format!(
                        "{} is a file but not a gitfile (`gitdir: <path>`)",
                        ctx.roots.display(&dot_git)
                    ))
                })?;
            let target = crate::confine::normalize_lexically(&dir.join(target));
            let canonical = std::fs::canonicalize(&target).unwrap_or(target.clone());
            if !inside(&target) || !inside(&canonical) {
                return Err(ToolError::failed(format!(
                    "{} points git at {}, outside the workspace and the allowed roots; git tools only read repositories inside them",
                    ctx.roots.display(&dot_git),
                    target.display()
                )));
            }
            canonical
        } else {
            return Err(ToolError::failed(format!(
                "{} is a symlink or special file; git tools only use a real .git directory or gitfile inside the workspace",
                ctx.roots.display(&dot_git)
            )));
        };
        let covered = ctx.roots.roots().any(|r| dir.starts_with(r));
        let limit_to = if covered {
            None
        } else {
            Some(
                ctx.roots
                    .roots()
                    .filter_map(|r| r.strip_prefix(dir).ok().map(Path::to_path_buf))
                    .collect(),
            )
        };
        return Ok(Repo {
            cwd: cwd.clone(),
            top: dir.to_path_buf(),
            git_dir,
            limit_to,
        });
    }
    Err(ToolError::failed(format!(
        "`{raw}` is not inside a git repository within {}; git tools do not look above it",
        boundary.display()
    )))
}

/// The environment for a git child: every inherited `GIT_*` variable removed,
/// the repository named explicitly, discovery fenced.
pub fn git_env(repo: &Repo) -> (Vec<std::ffi::OsString>, Vec<(String, String)>) {
    let remove: Vec<std::ffi::OsString> = std::env::vars_os()
        .map(|(k, _)| k)
        .filter(|k| k.to_string_lossy().starts_with("GIT_"))
        .collect();
    let ceiling = repo.top.parent().unwrap_or(&repo.top);
    let set = vec![
        ("GIT_DIR".into(), repo.git_dir.display().to_string()),
        ("GIT_WORK_TREE".into(), repo.top.display().to_string()),
        (
            "GIT_CEILING_DIRECTORIES".into(),
            ceiling.display().to_string(),
        ),
        ("GIT_TERMINAL_PROMPT".into(), "0".into()),
        ("GIT_OPTIONAL_LOCKS".into(), "0".into()),
        ("GIT_PAGER".into(), "cat".into()),
        ("PAGER".into(), "cat".into()),
        ("GIT_EXTERNAL_DIFF".into(), String::new()),
        ("GIT_CONFIG_NOSYSTEM".into(), "1".into()),
    ];
    (remove, set)
}

async fn run_git(ctx: &ToolContext, repo: &Repo, args: Vec<String>, cap: usize) -> ToolResult {
    let mut full: Vec<String> = GIT_SAFETY.iter().map(ToString::to_string).collect();
    full.extend(args);
    let (remove, set) = git_env(repo);
    let envs: Vec<(&str, &str)> = set.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let out = run_bounded(
        "git",
        &full,
        &repo.cwd,
        &remove,
        &envs,
        Some(&ctx.read_only_sandbox()),
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

/// Splits git arguments at `--`: options and revisions, then paths.
fn split_pathspecs(args: &[String]) -> (&[String], &[String]) {
    match args.iter().position(|a| a == "--") {
        Some(i) => (&args[..i], &args[i + 1..]),
        None => (args, &[]),
    }
}

/// Checks a `rev:path` argument's path against the roots.
fn check_rev_path(repo: &Repo, arg: &str) -> Result<(), ToolError> {
    if arg.starts_with('-') {
        return Ok(());
    }
    let Some((_, path)) = arg.split_once(':') else {
        return Ok(());
    };
    let rel_cwd = repo.cwd.strip_prefix(&repo.top).unwrap_or(Path::new(""));
    let joined = if path.starts_with("./") || path.starts_with("../") {
        Path::new("/").join(rel_cwd).join(path)
    } else {
        Path::new("/").join(path)
    };
    let normal = crate::confine::normalize_lexically(&joined);
    repo.check_path(normal.strip_prefix("/").unwrap_or(&normal), arg)
}

/// Checks user pathspecs against the roots; returns the pathspecs to pass.
fn limited_pathspecs(repo: &Repo, given: &[String]) -> Result<Vec<String>, ToolError> {
    if repo.limit_to.is_none() {
        return Ok(given.to_vec());
    }
    if given.is_empty() {
        return Ok(repo.pathspecs());
    }
    let rel_cwd = repo.cwd.strip_prefix(&repo.top).unwrap_or(Path::new(""));
    for p in given {
        if p.starts_with(':') {
            return Err(ToolError::failed(format!(
                "pathspec magic `{p}` is not accepted when the allowed roots are narrower than the repository; pass plain paths"
            )));
        }
        let normal = crate::confine::normalize_lexically(&Path::new("/").join(rel_cwd).join(p));
        repo.check_path(normal.strip_prefix("/").unwrap_or(&normal), p)?;
    }
    Ok(given.iter().map(|p| format!(":(literal){p}")).collect())
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
#[serde(deny_unknown_fields)]
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
    let repo = find_repo(&ctx, args.cwd.as_deref())?;
    let mut cmd = cmd;
    let specs = repo.pathspecs();
    if !specs.is_empty() {
        cmd.push("--".into());
        cmd.extend(specs);
    }
    run_git(&ctx, &repo, cmd, DEFAULT_OUTPUT_CAP).await
}

/// Arguments of `git_diff`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
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
    let repo = find_repo(&ctx, args.cwd.as_deref())?;
    let (opts, paths) = split_pathspecs(&args.args);
    for a in opts {
        check_rev_path(&repo, a)?;
    }
    let paths = limited_pathspecs(&repo, paths)?;
    cmd.extend(opts.iter().cloned());
    if !paths.is_empty() {
        cmd.push("--".into());
        cmd.extend(paths);
    }
    run_git(&ctx, &repo, cmd, args.max_bytes.clamp(1, 10_000_000)).await
}

/// Arguments of `git_log`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
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
    let repo = find_repo(&ctx, args.cwd.as_deref())?;
    let specs = repo.pathspecs();
    if !specs.is_empty() {
        cmd.push("--".into());
        cmd.extend(specs);
    }
    run_git(&ctx, &repo, cmd, DEFAULT_OUTPUT_CAP).await
}

/// Arguments of `git_show`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
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
    let repo = find_repo(&ctx, args.cwd.as_deref())?;
    check_rev_path(&repo, &args.reference)?;
    cmd.push("--end-of-options".into());
    cmd.push(args.reference);
    let specs = repo.pathspecs();
    if !specs.is_empty() {
        cmd.push("--".into());
        cmd.extend(specs);
    }
    run_git(&ctx, &repo, cmd, DEFAULT_OUTPUT_CAP).await
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
