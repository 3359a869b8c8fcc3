//! `exec`, `unsafe_exec`/`raw_exec`, `exec_wait` and `exec_cancel`.
//!
//! Every command runs in its own process group with stdin from /dev/null, in the
//! workspace root, without the server's bearer token in its environment. A job
//! task owns the child: it captures a bounded head and tail of each stream,
//! spills everything to `.agent/tmp/ralph-exec-*.txt` once a stream outgrows the
//! inline limit, kills the whole group at the timeout, and reaps it. A call that
//! outlives the soft reply budget detaches and returns a `job_id`.

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use super::exec_policy::{PolicyLevel, check_argv, check_script, needs_shell};
use super::{ToolContext, ToolError, ToolResult, json_result};
use crate::process::GroupGuard;
use crate::progress::ProgressSink;

/// Default stall window (`timeout_ms`): no output for this long stops the job, as in Ralph.
pub const DEFAULT_TIMEOUT_MS: u64 = 90_000;
/// Default ceiling on a job's whole run (`max_runtime_ms`): one hour.
pub const DEFAULT_MAX_RUNTIME_MS: u64 = 60 * 60 * 1000;
/// Largest `timeout_ms` or `max_runtime_ms` accepted: four hours.
pub const MAX_TIMEOUT_MS: u64 = 4 * 60 * 60 * 1000;
/// Largest `exec_wait` wait.
pub const MAX_WAIT_MS: u64 = 300_000;
/// Bytes of each stream returned inline before spilling.
pub const INLINE_LIMIT: usize = 64 * 1024;
/// Bytes of head and of tail returned for a spilled stream.
pub const HEAD_TAIL: usize = 8 * 1024;
/// Largest spill file per stream.
pub const SPILL_FILE_CAP: u64 = 1024 * 1024 * 1024;
/// Spill files are pruned (oldest first) to this total.
pub const SPILL_TOTAL_CAP: u64 = 2 * 1024 * 1024 * 1024;
/// Jobs kept at once (running or finished and unclaimed).
pub const MAX_JOBS: usize = 32;

/// The soft reply budget: `RALPH_MCP_EXEC_SOFT_BUDGET_MS`, default 45 s.
pub fn soft_budget() -> Duration {
    std::env::var("RALPH_MCP_EXEC_SOFT_BUDGET_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(Duration::from_secs(45), Duration::from_millis)
}

/// One captured stream.
#[derive(Debug, Default, Clone)]
struct Stream {
    head: Vec<u8>,
    tail: std::collections::VecDeque<u8>,
    total: u64,
    spill: Option<PathBuf>,
    spill_error: Option<String>,
}

impl Stream {
    fn text(&self) -> Value {
        let head = String::from_utf8_lossy(&self.head).into_owned();
        if self.spill.is_none() && self.total as usize <= INLINE_LIMIT {
            return json!(head);
        }
        let tail: Vec<u8> = self.tail.iter().copied().collect();
        let cut = head.len().min(HEAD_TAIL);
        json!(format!(
            "{}\n[… {} bytes omitted; full output in {} …]\n{}",
            String::from_utf8_lossy(&self.head[..cut]),
            self.total.saturating_sub((cut + tail.len()) as u64),
            self.spill
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| format!(
                    "nowhere: {}",
                    self.spill_error.clone().unwrap_or_default()
                )),
            String::from_utf8_lossy(&tail)
        ))
    }
}

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

    fn to_result(&self, format: &str, job_id: Option<&str>) -> rmcp::model::CallToolResult {
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
        let mut add = |name: &str, s: &Stream| {
            v[format!("{name}_bytes")] = json!(s.total);
            if let Some(p) = &s.spill {
                v[format!("{name}_spill_path")] = json!(p.display().to_string());
            }
            if format == "summary" {
                let tail: Vec<u8> = if s.spill.is_some() {
                    s.tail.iter().copied().collect()
                } else {
                    s.head.iter().rev().take(2048).rev().copied().collect()
                };
                v[format!("{name}_tail")] = json!(String::from_utf8_lossy(&tail));
            } else {
                v[name] = s.text();
            }
        };
        add("stdout", &self.stdout);
        add("stderr", &self.stderr);
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
type OutcomeWatch = watch::Receiver<Option<Arc<ExecOutcome>>>;

/// A running or finished job.
struct Job {
    outcome: OutcomeWatch,
    guard: Arc<Mutex<GroupGuard>>,
    cancelled: Arc<std::sync::atomic::AtomicBool>,
    format: String,
}

/// Detached jobs of one server. Dropping it kills every job's process group.
#[derive(Default)]
pub struct Jobs {
    table: Mutex<HashMap<String, Job>>,
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

/// Where a stream's spill file goes: the session's `exec_spill_roots` (set by the
/// orchestrator), else `.agent/tmp` through the workspace's [`AgentDir`].
#[derive(Clone)]
struct SpillAt {
    ctx: Arc<ToolContext>,
    name: String,
}

impl SpillAt {
    fn explicit_dir(&self) -> Option<PathBuf> {
        self.ctx
            .session
            .payload
            .exec_spill_roots
            .as_ref()
            .and_then(|r| r.first())
            .cloned()
    }

    /// The path shown to the agent.
    fn path(&self) -> PathBuf {
        match self.explicit_dir() {
            Some(dir) => dir.join(&self.name),
            None => self.ctx.agent.path("tmp").join(&self.name),
        }
    }

    /// Creates the spill file (exclusively), pruning old spills first.
    fn open(&self) -> std::io::Result<std::fs::File> {
        match self.explicit_dir() {
            Some(dir) => {
                std::fs::create_dir_all(&dir)?;
                prune_spills_at(&dir);
                std::fs::OpenOptions::new()
                    .create_new(true)
                    .write(true)
                    .open(dir.join(&self.name))
            }
            None => {
                if let Ok(dir) = self.ctx.agent.dir("tmp", true) {
                    prune_spills(dir.as_fd());
                }
                self.ctx.agent.create_new("tmp", &self.name)
            }
        }
    }
}

/// Removes the oldest spill files in an orchestrator-given directory until the total is under the cap.
fn prune_spills_at(dir: &Path) {
    if let Ok(fd) = rustix::fs::open(
        dir,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    ) {
        prune_spills(fd.as_fd());
    }
}

/// Removes the oldest spill files in `dir` until the total is under the cap.
fn prune_spills(dir: std::os::fd::BorrowedFd<'_>) {
    let Ok(names) = crate::confine::ops::read_names(dir) else {
        return;
    };
    let mut files: Vec<(i64, u64, std::ffi::OsString)> = names
        .into_iter()
        .filter(|n| n.to_string_lossy().starts_with("ralph-exec-"))
        .filter_map(|n| {
            let st = crate::confine::ops::entry_type(dir, &n).ok()??;
            Some((st.st_mtime, u64::try_from(st.st_size).unwrap_or(0), n))
        })
        .collect();
    files.sort();
    let mut total: u64 = files.iter().map(|f| f.1).sum();
    for (_, len, name) in files {
        if total <= SPILL_TOTAL_CAP {
            break;
        }
        if rustix::fs::unlinkat(dir, name.as_os_str(), rustix::fs::AtFlags::empty()).is_ok() {
            total -= len;
        }
    }
}

async fn capture<R: AsyncRead + Unpin>(
    mut reader: R,
    spill_at: SpillAt,
    progress: Option<(ProgressSink, &'static str)>,
    last_output: Arc<Mutex<Instant>>,
) -> Stream {
    let mut s = Stream::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut spill: Option<tokio::fs::File> = None;
    let mut spilled: u64 = 0;
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &buf[..n];
        if let Ok(mut t) = last_output.lock() {
            *t = Instant::now();
        }
        if let Some((sink, stream)) = &progress {
            sink.report(
                n as u64,
                &format!("[{stream}] {}", String::from_utf8_lossy(chunk)),
            );
        }
        s.total += n as u64;
        let room = INLINE_LIMIT.saturating_sub(s.head.len());
        s.head.extend_from_slice(&chunk[..n.min(room)]);
        for &b in chunk.iter().skip(n.saturating_sub(HEAD_TAIL)) {
            if s.tail.len() == HEAD_TAIL {
                s.tail.pop_front();
            }
            s.tail.push_back(b);
        }
        if s.total as usize > INLINE_LIMIT && spill.is_none() && s.spill_error.is_none() {
            let opened = {
                let at = spill_at.clone();
                tokio::task::spawn_blocking(move || at.open())
                    .await
                    .unwrap_or_else(|e| Err(std::io::Error::other(e)))
            };
            match opened.map(tokio::fs::File::from_std) {
                Ok(mut f) => {
                    // Every earlier byte is in the head (the total was under the
                    // limit until this chunk), so the file gets head-so-far + chunk.
                    let before = (s.total - n as u64) as usize;
                    let ok = f.write_all(&s.head[..before]).await.is_ok()
                        && f.write_all(chunk).await.is_ok();
                    if ok {
                        spilled = s.total;
                        s.spill = Some(spill_at.path());
                        spill = Some(f);
                    } else {
                        s.spill_error = Some("write failed".into());
                    }
                }
                Err(e) => s.spill_error = Some(e.to_string()),
            }
            continue;
        }
        if let Some(f) = spill.as_mut()
            && spilled < SPILL_FILE_CAP
        {
            if f.write_all(chunk).await.is_err() {
                spill = None;
            }
            spilled += n as u64;
        }
    }
    if let Some(mut f) = spill {
        let _ = f.flush().await;
    }
    s
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
fn start_job(
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

async fn wait_outcome(rx: &mut OutcomeWatch, budget: Duration) -> Option<Arc<ExecOutcome>> {
    let fut = rx.wait_for(Option::is_some);
    match tokio::time::timeout(budget, fut).await {
        Ok(Ok(v)) => v.clone(),
        _ => None,
    }
}

fn running(id: &str, argv: &[String]) -> rmcp::model::CallToolResult {
    json_result(json!({
        "job_id": id,
        "status": "running",
        "command": argv,
        "note": "the command is still running; call exec_wait with this job_id for its result, or exec_cancel to stop it",
    }))
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
                            .map(|c| c.into_owned())
                            .unwrap_or_else(|_| a.clone()),
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

/// Stops a job when the call that started it goes away before detaching.
struct CancelOnDrop {
    ctx: Option<Arc<ToolContext>>,
    id: String,
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
pub struct WaitArgs {
    /// The job id returned by exec.
    pub job_id: String,
    /// How long to wait, in milliseconds (default 45000).
    #[serde(default = "default_wait")]
    #[schemars(default = "default_wait")]
    pub wait_ms: u64,
}

fn unknown_job(id: &str) -> ToolError {
    ToolError::failed(format!(
        "unknown job_id `{id}`: it never existed, was already collected, or the server restarted"
    ))
}

/// Runs `f` on job `id` under the table lock.
fn with_job<T>(ctx: &ToolContext, id: &str, f: impl FnOnce(&Job) -> T) -> Result<T, ToolError> {
    let table = ctx
        .jobs
        .table
        .lock()
        .map_err(|_| ToolError::failed("job table unavailable"))?;
    table.get(id).map(f).ok_or_else(|| unknown_job(id))
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
