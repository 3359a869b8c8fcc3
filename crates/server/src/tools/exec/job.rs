//! The job table: each job is the sandbox shim running one command, watched by a
//! task that enforces the stall window and the ceiling and publishes the outcome.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::watch;

use super::capture::{SpillAt, Stream, capture};
use crate::process::GroupGuard;
use crate::progress::ProgressSink;
use crate::tools::{ToolContext, ToolError, json_result};

/// Jobs kept at once (running or finished and unclaimed).
pub const MAX_JOBS: usize = 32;

/// How a job ended.
#[derive(Debug, Clone)]
pub struct ExecOutcome {
    exit_code: Option<i32>,
    signal: Option<i32>,
    timed_out: bool,
    /// Which limit stopped it: `"stall"` or `"max_runtime"`.
    stopped_by: Option<&'static str>,
    limits: Limits,
    sandbox: Value,
    cancelled: bool,
    elapsed: Duration,
    stdout: Stream,
    stderr: Stream,
    argv: Vec<String>,
}

impl ExecOutcome {
    fn failed(&self) -> bool {
        self.timed_out || self.cancelled || self.exit_code != Some(0)
    }

    pub(super) fn to_result(
        &self,
        format: &str,
        job_id: Option<&str>,
    ) -> rmcp::model::CallToolResult {
        let mut v = json!({
            "exit_code": self.exit_code,
            "timed_out": self.timed_out,
            "duration_ms": self.elapsed.as_millis() as u64,
            "command": self.argv,
        });
        if let Some(sig) = self.signal {
            v["signal"] = json!(sig);
        }
        v["timeout_ms"] = json!(self.limits.stall.as_millis() as u64);
        v["max_runtime_ms"] = json!(self.limits.max_runtime.as_millis() as u64);
        v["sandbox"] = self.sandbox.clone();
        if self.cancelled {
            v["cancelled"] = json!(true);
        }
        if let Some(id) = job_id {
            v["job_id"] = json!(id);
        }
        self.stdout.report("stdout", format, &mut v);
        self.stderr.report("stderr", format, &mut v);
        if self.timed_out {
            v["stopped_by"] = json!(self.stopped_by);
            v["note"] = json!(match self.stopped_by {
                Some("stall") => format!(
                    "the command printed nothing for timeout_ms ({} ms) and was stopped with every process it started; raise timeout_ms for commands that are quiet for long",
                    self.limits.stall.as_millis()
                ),
                _ => format!(
                    "the command ran past max_runtime_ms ({} ms) and was stopped with every process it started",
                    self.limits.max_runtime.as_millis()
                ),
            });
        }
        let mut result = json_result(v);
        if self.failed() {
            result.is_error = Some(true);
        }
        result
    }
}

/// Where a job's outcome appears once it has ended.
pub(super) type OutcomeWatch = watch::Receiver<Option<Arc<ExecOutcome>>>;

/// A running or finished job.
pub(super) struct Job {
    pub(super) outcome: OutcomeWatch,
    pub(super) guard: Arc<Mutex<GroupGuard>>,
    pub(super) cancelled: Arc<std::sync::atomic::AtomicBool>,
    pub(super) format: String,
}

/// Detached jobs of one server. Dropping it kills every job's process group.
#[derive(Default)]
pub struct Jobs {
    pub(super) table: Mutex<HashMap<String, Job>>,
    next: AtomicU64,
}

impl std::fmt::Debug for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Jobs")
    }
}

impl Jobs {
    /// Kills every job (server shutdown).
    pub fn kill_all(&self) {
        if let Ok(table) = self.table.lock() {
            for job in table.values() {
                if let Ok(g) = job.guard.lock() {
                    g.kill();
                }
            }
        }
    }
}

/// The two limits of a job.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// No output for this long stops the job.
    pub stall: Duration,
    /// The job never runs longer than this.
    pub max_runtime: Duration,
}

/// Starts a job; returns its id and outcome receiver.
pub(super) fn start_job(
    ctx: &Arc<ToolContext>,
    argv: Vec<String>,
    limits: Limits,
    format: String,
) -> Result<(String, OutcomeWatch), ToolError> {
    let policy = ctx.exec_sandbox();
    if policy.mode == crate::sandbox::Mode::Required && !crate::sandbox::Support::probe().filesystem
    {
        return Err(ToolError::failed(
            "commands are refused: [exec] sandbox = \"required\" in .agent/mcp.toml, and this kernel has no Landlock; enable Landlock or set sandbox = \"best-effort\"",
        ));
    }
    let mut table = ctx
        .jobs
        .table
        .lock()
        .map_err(|_| ToolError::failed("job table unavailable"))?;
    // Forget finished jobs beyond the bound, oldest id first.
    if table.len() >= MAX_JOBS {
        let mut done: Vec<String> = table
            .iter()
            .filter(|(_, j)| j.outcome.borrow().is_some())
            .map(|(k, _)| k.clone())
            .collect();
        done.sort();
        for k in done.into_iter().take(table.len() + 1 - MAX_JOBS) {
            table.remove(&k);
        }
        if table.len() >= MAX_JOBS {
            return Err(ToolError::failed(format!(
                "{MAX_JOBS} jobs are already running; wait for one (exec_wait) or cancel one (exec_cancel)"
            )));
        }
    }
    let seq = ctx.jobs.next.fetch_add(1, Ordering::Relaxed);
    let id = format!("job-{}-{seq}", std::process::id());
    let mut cmd = crate::process::command(&argv, ctx.roots.workspace(), Some(&policy))
        .map_err(|e| ToolError::failed(format!("cannot start the sandbox: {e}")))?;
    let mut child = cmd.spawn().map_err(|e| {
        ToolError::failed(format!(
            "cannot start `{}`: {e}; check the command name and that it is installed",
            argv[0]
        ))
    })?;
    let guard = Arc::new(Mutex::new(GroupGuard::new(child.id(), true)));
    let cancelled = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (tx, rx) = watch::channel(None);
    let stamp = format!("{}-{}", std::process::id(), seq);
    let last_output = Arc::new(Mutex::new(Instant::now()));
    // Output streams to the caller as progress notifications when it asked for them.
    let sink = ProgressSink::current();
    if let Some(s) = &sink
        && policy.mode != crate::sandbox::Mode::Off
        && !crate::sandbox::Support::probe().filesystem
    {
        s.log(
            "warning",
            "sandbox",
            "this kernel has no Landlock: the command runs with containment and the deny-list only",
        );
    } else if let Some(s) = &sink
        && policy.mode == crate::sandbox::Mode::Off
    {
        s.log(
            "warning",
            "sandbox",
            "[exec] sandbox = \"off\": the command runs without a Landlock domain",
        );
    }
    let out_task = tokio::spawn(capture(
        child.stdout.take().expect("stdout is piped"),
        SpillAt {
            ctx: ctx.clone(),
            name: format!("ralph-exec-{stamp}.stdout.txt"),
        },
        sink.clone().map(|s| (s, "stdout")),
        last_output.clone(),
    ));
    let err_task = tokio::spawn(capture(
        child.stderr.take().expect("stderr is piped"),
        SpillAt {
            ctx: ctx.clone(),
            name: format!("ralph-exec-{stamp}.stderr.txt"),
        },
        sink.map(|s| (s, "stderr")),
        last_output.clone(),
    ));
    let job_guard = guard.clone();
    let job_cancelled = cancelled.clone();
    let job_argv = argv.clone();
    let sandbox = crate::sandbox::report(&policy);
    tokio::spawn(async move {
        let started = Instant::now();
        let mut stopped_by: Option<&'static str> = None;
        let status = loop {
            let quiet = last_output.lock().map(|t| t.elapsed()).unwrap_or_default();
            let left_stall = limits.stall.saturating_sub(quiet);
            let left_run = limits.max_runtime.saturating_sub(started.elapsed());
            if left_run.is_zero() {
                stopped_by = Some("max_runtime");
                break None;
            }
            if left_stall.is_zero() {
                stopped_by = Some("stall");
                break None;
            }
            let nap = left_stall.min(left_run);
            tokio::select! {
                s = child.wait() => break s.ok(),
                () = tokio::time::sleep(nap) => {}
            }
        };
        let status = match status {
            Some(s) => Some(s),
            None => {
                // Tell the shim to stop the whole job; kill it outright if it cannot.
                if let Ok(g) = job_guard.lock() {
                    g.kill();
                }
                match tokio::time::timeout(crate::process::SHIM_STOP_GRACE, child.wait()).await {
                    Ok(s) => s.ok(),
                    Err(_) => {
                        if let Ok(g) = job_guard.lock() {
                            g.kill_hard();
                        }
                        child.wait().await.ok()
                    }
                }
            }
        };
        if let Ok(mut g) = job_guard.lock() {
            g.kill_hard();
            g.disarm();
        }
        let stdout = crate::process::bounded_join(out_task).await;
        let stderr = crate::process::bounded_join(err_task).await;
        use std::os::unix::process::ExitStatusExt;
        // The shim re-raises the command's fatal signal; 128+n exit codes from it
        // are reported as that signal too.
        let outcome = ExecOutcome {
            exit_code: status.and_then(|s| s.code()),
            signal: status.and_then(|s| s.signal()),
            timed_out: stopped_by.is_some(),
            stopped_by,
            limits,
            sandbox,
            cancelled: job_cancelled.load(Ordering::Relaxed),
            elapsed: started.elapsed(),
            stdout,
            stderr,
            argv: job_argv,
        };
        let _ = tx.send(Some(Arc::new(outcome)));
    });
    table.insert(
        id.clone(),
        Job {
            outcome: rx.clone(),
            guard,
            cancelled,
            format,
        },
    );
    Ok((id, rx))
}

pub(super) async fn wait_outcome(
    rx: &mut OutcomeWatch,
    budget: Duration,
) -> Option<Arc<ExecOutcome>> {
    let fut = rx.wait_for(Option::is_some);
    match tokio::time::timeout(budget, fut).await {
        Ok(Ok(v)) => v.clone(),
        _ => None,
    }
}

pub(super) fn running(id: &str, argv: &[String]) -> rmcp::model::CallToolResult {
    json_result(json!({
        "job_id": id,
        "status": "running",
        "command": argv,
        "note": "the command is still running; call exec_wait with this job_id for its result, or exec_cancel to stop it",
    }))
}

/// Stops a job when the call that started it goes away before detaching.
pub(super) struct CancelOnDrop {
    pub(super) ctx: Option<Arc<ToolContext>>,
    pub(super) id: String,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(ctx) = self.ctx.take() {
            let _ = with_job(&ctx, &self.id, |job| {
                job.cancelled.store(true, Ordering::Relaxed);
                if let Ok(g) = job.guard.lock() {
                    g.kill();
                }
            });
        }
    }
}

fn unknown_job(id: &str) -> ToolError {
    ToolError::failed(format!(
        "unknown job_id `{id}`: it never existed, was already collected, or the server restarted"
    ))
}

/// Runs `f` on job `id` under the table lock.
pub(super) fn with_job<T>(
    ctx: &ToolContext,
    id: &str,
    f: impl FnOnce(&Job) -> T,
) -> Result<T, ToolError> {
    let table = ctx
        .jobs
        .table
        .lock()
        .map_err(|_| ToolError::failed("job table unavailable"))?;
    table.get(id).map(f).ok_or_else(|| unknown_job(id))
}
