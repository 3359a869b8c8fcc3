//! `exec`, `unsafe_exec`/`raw_exec`, `exec_wait` and `exec_cancel`: the
//! arguments and handlers. Every command runs as a job ([`job`]) under the
//! sandbox shim, in the workspace root, without the server's bearer token; its
//! output is captured ([`capture`]). A call that outlives the soft reply budget
//! detaches and returns a `job_id`; until then, dropping the call stops the job.

mod capture;
mod job;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use job::{CancelOnDrop, running, start_job, wait_outcome, with_job};
pub use job::{Jobs, Limits};

use super::exec_policy::{PolicyLevel, check_argv, check_script, needs_shell};
use super::{ToolContext, ToolError, ToolResult};

/// Default stall window (`timeout_ms`): no output for this long stops the job, as in Ralph.
pub const DEFAULT_TIMEOUT_MS: u64 = 90_000;
/// Default ceiling on a job's whole run (`max_runtime_ms`): one hour.
pub const DEFAULT_MAX_RUNTIME_MS: u64 = 60 * 60 * 1000;
/// Largest `timeout_ms` or `max_runtime_ms` accepted: four hours.
pub const MAX_TIMEOUT_MS: u64 = 4 * 60 * 60 * 1000;
/// Largest `exec_wait` wait.
pub const MAX_WAIT_MS: u64 = 300_000;
/// The soft reply budget: `RALPH_MCP_EXEC_SOFT_BUDGET_MS`, default 45 s.
pub fn soft_budget() -> Duration {
    std::env::var("RALPH_MCP_EXEC_SOFT_BUDGET_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(Duration::from_secs(45), Duration::from_millis)
}

/// `command` as a string or an array.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum CommandArg {
    /// A shell-like line.
    Line(String),
    /// An argv.
    Argv(Vec<String>),
}

/// A millisecond count given as a number or a numeric string.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Millis {
    /// A number.
    Number(u64),
    /// A numeric string.
    Text(String),
}

fn millis_of(
    tool: &str,
    field: &str,
    t: Option<Millis>,
    default: u64,
) -> Result<Duration, ToolError> {
    let ms = match t {
        None => default,
        Some(Millis::Number(n)) => n,
        Some(Millis::Text(s)) => s
            .trim()
            .parse::<u64>()
            .map_err(|_| ToolError::InvalidArgs {
                tool: tool.into(),
                message: format!(
                    "field `{field}`: expected a whole number of milliseconds, got {s:?}"
                ),
            })?,
    };
    if ms == 0 {
        return Err(ToolError::InvalidArgs {
            tool: tool.into(),
            message: format!("field `{field}` must be greater than 0"),
        });
    }
    if ms > MAX_TIMEOUT_MS {
        return Err(ToolError::InvalidArgs {
            tool: tool.into(),
            message: format!(
                "field `{field}` is {ms} ms, more than the {MAX_TIMEOUT_MS} ms (4 h) maximum"
            ),
        });
    }
    Ok(Duration::from_millis(ms))
}

/// `timeout_ms` (stall window) and `max_runtime_ms` (ceiling).
fn limits_of(
    tool: &str,
    timeout: Option<Millis>,
    max_runtime: Option<Millis>,
) -> Result<Limits, ToolError> {
    let stall = millis_of(tool, "timeout_ms", timeout, DEFAULT_TIMEOUT_MS)?;
    let max_runtime = millis_of(tool, "max_runtime_ms", max_runtime, DEFAULT_MAX_RUNTIME_MS)?;
    Ok(Limits { stall, max_runtime })
}

fn raw() -> String {
    "raw".into()
}

/// Arguments of `exec`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecArgs {
    /// The command: a line (split like a POSIX shell; run through `sh -c` when it
    /// uses shell operators) or an argv array.
    pub command: Option<CommandArg>,
    /// The command as an argv array (instead of `command`).
    pub argv: Option<Vec<String>>,
    /// Extra arguments appended to the command.
    #[serde(default)]
    pub args: Vec<String>,
    /// Stall window in milliseconds (default 90000): no output for this long stops the job and every process it started.
    pub timeout_ms: Option<Millis>,
    /// Ceiling on the whole run in milliseconds (default 3600000 = 1 h, at most 14400000 = 4 h).
    pub max_runtime_ms: Option<Millis>,
    /// `raw` (head and tail of each stream) or `summary` (exit code and short tails).
    #[serde(default = "raw")]
    #[schemars(default = "raw")]
    pub format: String,
}

fn build_argv(args: &ExecArgs) -> Result<(Vec<String>, Option<String>), ToolError> {
    let bad = |m: &str| ToolError::InvalidArgs {
        tool: "exec".into(),
        message: m.into(),
    };
    let (mut argv, script) = match (&args.argv, &args.command) {
        (Some(v), _) => (v.clone(), None),
        (None, Some(CommandArg::Argv(v))) => (v.clone(), None),
        (None, Some(CommandArg::Line(line))) => {
            if line.trim().is_empty() {
                return Err(bad("field `command` is empty; pass the command to run"));
            }
            if needs_shell(line) {
                let mut script = line.clone();
                for a in &args.args {
                    script.push(' ');
                    script.push_str(
                        &shlex::try_quote(a)
                            .map_or_else(|_| a.clone(), std::borrow::Cow::into_owned),
                    );
                }
                return Ok((vec!["sh".into(), "-c".into(), script.clone()], Some(script)));
            }
            let words =
                shlex::split(line).ok_or_else(|| bad("field `command` has unbalanced quotes"))?;
            (words, None)
        }
        (None, None) => return Err(bad("missing field `command` (a string or an array)")),
    };
    argv.extend(args.args.iter().cloned());
    if argv.is_empty() || argv[0].is_empty() {
        return Err(bad("the command is empty; pass the program to run"));
    }
    Ok((argv, script))
}

/// Runs a command through a job and answers within the soft budget.
async fn run_job(
    ctx: Arc<ToolContext>,
    argv: Vec<String>,
    limits: Limits,
    format: String,
) -> ToolResult {
    if !["raw", "summary"].contains(&format.as_str()) {
        return Err(ToolError::InvalidArgs {
            tool: "exec".into(),
            message: format!("field `format`: expected \"raw\" or \"summary\", got {format:?}"),
        });
    }
    let (id, mut rx) = start_job(&ctx, argv.clone(), limits, format.clone())?;
    // Until the call detaches with a job_id, dropping it (client cancellation,
    // disconnect, shutdown) stops the job and everything it started.
    let mut cancel_on_drop = CancelOnDrop {
        ctx: Some(ctx.clone()),
        id: id.clone(),
    };
    let waited = wait_outcome(&mut rx, soft_budget()).await;
    cancel_on_drop.ctx = None;
    match waited {
        Some(outcome) => {
            if let Ok(mut t) = ctx.jobs.table.lock() {
                t.remove(&id);
            }
            Ok(outcome.to_result(&format, None))
        }
        None => Ok(running(&id, &argv)),
    }
}

/// `exec`.
pub async fn exec(ctx: Arc<ToolContext>, mut args: ExecArgs) -> ToolResult {
    let limits = limits_of("exec", args.timeout_ms.take(), args.max_runtime_ms.take())?;
    let (argv, script) = build_argv(&args)?;
    let verdict = match &script {
        Some(s) => check_script(s, PolicyLevel::Bounded),
        None => check_argv(&argv, PolicyLevel::Bounded),
    };
    verdict.map_err(|why| ToolError::failed(format!("command refused by policy: {why}")))?;
    run_job(ctx, argv, limits, args.format).await
}

/// Arguments of `unsafe_exec` / `raw_exec`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawExecArgs {
    /// A shell script, run with `sh -c`.
    pub command: String,
    /// Stall window in milliseconds (default 90000): no output for this long stops the job.
    pub timeout_ms: Option<Millis>,
    /// Ceiling on the whole run in milliseconds (default 3600000 = 1 h, at most 14400000 = 4 h).
    pub max_runtime_ms: Option<Millis>,
}

/// `unsafe_exec` / `raw_exec`: `sh -c` with only the VCS-write rule.
pub async fn raw_exec(ctx: Arc<ToolContext>, args: RawExecArgs) -> ToolResult {
    let limits = limits_of("unsafe_exec", args.timeout_ms, args.max_runtime_ms)?;
    if args.command.trim().is_empty() {
        return Err(ToolError::InvalidArgs {
            tool: "unsafe_exec".into(),
            message: "field `command` is empty; pass the shell script to run".into(),
        });
    }
    check_script(&args.command, PolicyLevel::VcsOnly)
        .map_err(|why| ToolError::failed(format!("command refused by policy: {why}")))?;
    run_job(
        ctx,
        vec!["sh".into(), "-c".into(), args.command],
        limits,
        "raw".into(),
    )
    .await
}

fn default_wait() -> u64 {
    45_000
}

/// Arguments of `exec_wait`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitArgs {
    /// The job id returned by exec.
    pub job_id: String,
    /// How long to wait, in milliseconds (default 45000).
    #[serde(default = "default_wait")]
    #[schemars(default = "default_wait")]
    pub wait_ms: u64,
}

/// `exec_wait`.
pub async fn exec_wait(ctx: Arc<ToolContext>, args: WaitArgs) -> ToolResult {
    let (mut rx, format) = with_job(&ctx, &args.job_id, |job| {
        (job.outcome.clone(), job.format.clone())
    })?;
    let budget = Duration::from_millis(args.wait_ms.min(MAX_WAIT_MS));
    match wait_outcome(&mut rx, budget).await {
        Some(outcome) => {
            if let Ok(mut t) = ctx.jobs.table.lock() {
                t.remove(&args.job_id);
            }
            Ok(outcome.to_result(&format, Some(&args.job_id)))
        }
        None => Ok(running(&args.job_id, &[])),
    }
}

/// Arguments of `exec_cancel`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelArgs {
    /// The job id returned by exec.
    pub job_id: String,
}

/// `exec_cancel`: kills the job's whole process group and reports its end.
pub async fn exec_cancel(ctx: Arc<ToolContext>, args: CancelArgs) -> ToolResult {
    let mut rx = with_job(&ctx, &args.job_id, |job| {
        job.cancelled.store(true, Ordering::Relaxed);
        if let Ok(g) = job.guard.lock() {
            g.kill();
        }
        job.outcome.clone()
    })?;
    let outcome = wait_outcome(&mut rx, Duration::from_secs(15)).await;
    if let Ok(mut t) = ctx.jobs.table.lock() {
        t.remove(&args.job_id);
    }
    match outcome {
        Some(o) => Ok(o.to_result("summary", Some(&args.job_id))),
        None => Err(ToolError::failed(format!(
            "job `{}` was signalled but has not ended yet",
            args.job_id
        ))),
    }
}
