//! `exec`, `unsafe_exec`/`raw_exec`, `exec_wait` and `exec_cancel`.
//!
//! Every command runs in its own process group with stdin from /dev/null, in the
//! workspace root, without the server's bearer token in its environment. A job
//! task owns the child: it captures a bounded head and tail of each stream,
//! spills everything to `.agent/tmp/ralph-exec-*.txt` once a stream outgrows the
//! inline limit, kills the whole group at the timeout, and reaps it. A call that
//! outlives the soft reply budget detaches and returns a `job_id`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::sync::watch;

use super::exec_policy::{PolicyLevel, check_argv, check_script, needs_shell};
use super::{ToolContext, ToolError, ToolResult, json_result};
use crate::process::GroupGuard;
use crate::progress::ProgressSink;

/// Default timeout, as in Ralph.
pub const DEFAULT_TIMEOUT_MS: u64 = 90_000;
/// Largest timeout accepted.
pub const MAX_TIMEOUT_MS: u64 = 300_000;
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
            v["note"] = json!("the command hit its timeout; its whole process group was killed");
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

fn exec_dir(ctx: &ToolContext) -> PathBuf {
    if let Some(root) = ctx
        .session
        .payload
        .exec_spill_roots
        .as_ref()
        .and_then(|r| r.first())
    {
        return root.clone();
    }
    ctx.roots.workspace().join(".agent").join("tmp")
}

/// Removes the oldest spill files until the total is under the cap.
fn prune_spills(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(std::time::SystemTime, u64, PathBuf)> = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("ralph-exec-"))
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            Some((m.modified().ok()?, m.len(), e.path()))
        })
        .collect();
    files.sort();
    let mut total: u64 = files.iter().map(|f| f.1).sum();
    for (_, len, path) in files {
        if total <= SPILL_TOTAL_CAP {
            break;
        }
        if std::fs::remove_file(&path).is_ok() {
            total -= len;
        }
    }
}

async fn capture<R: AsyncRead + Unpin>(
    mut reader: R,
    spill_path: PathBuf,
    progress: Option<(ProgressSink, &'static str)>,
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
            match open_spill(&spill_path).await {
                Ok(mut f) => {
                    // Every earlier byte is in the head (the total was under the
                    // limit until this chunk), so the file gets head-so-far + chunk.
                    let before = (s.total - n as u64) as usize;
                    let ok = f.write_all(&s.head[..before]).await.is_ok()
                        && f.write_all(chunk).await.is_ok();
                    if ok {
                        spilled = s.total;
                        s.spill = Some(spill_path.clone());
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

async fn open_spill(path: &Path) -> std::io::Result<tokio::fs::File> {
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await?;
        prune_spills(dir);
    }
    tokio::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .open(path)
        .await
}

/// Starts a job; returns its id and outcome receiver.
fn start_job(
    ctx: &ToolContext,
    argv: Vec<String>,
    timeout: Duration,
    format: String,
) -> Result<(String, OutcomeWatch), ToolError> {
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
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .current_dir(ctx.roots.workspace())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove(ralph_mcp_session::names::AUTH_TOKEN_ENV)
        .env_remove(ralph_mcp_session::names::AGENT_AUTH_TOKEN_ENV)
        .process_group(0)
        .kill_on_drop(true);
    // SAFETY: prctl is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            nix::libc::prctl(nix::libc::PR_SET_PDEATHSIG, nix::libc::SIGKILL, 0, 0, 0);
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| {
        ToolError::failed(format!(
            "cannot start `{}`: {e}; check the command name and that it is installed",
            argv[0]
        ))
    })?;
    let guard = Arc::new(Mutex::new(GroupGuard::new(child.id())));
    let cancelled = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (tx, rx) = watch::channel(None);
    let dir = exec_dir(ctx);
    let stamp = format!("{}-{}", std::process::id(), seq);
    // Output streams to the caller as progress notifications when it asked for them.
    let sink = ProgressSink::current();
    let out_task = tokio::spawn(capture(
        child.stdout.take().expect("stdout is piped"),
        dir.join(format!("ralph-exec-{stamp}.stdout.txt")),
        sink.clone().map(|s| (s, "stdout")),
    ));
    let err_task = tokio::spawn(capture(
        child.stderr.take().expect("stderr is piped"),
        dir.join(format!("ralph-exec-{stamp}.stderr.txt")),
        sink.map(|s| (s, "stderr")),
    ));
    let job_guard = guard.clone();
    let job_cancelled = cancelled.clone();
    let job_argv = argv.clone();
    tokio::spawn(async move {
        let started = Instant::now();
        let (status, timed_out) = match tokio::time::timeout(timeout, child.wait()).await {
            Ok(s) => (s.ok(), false),
            Err(_) => {
                if let Ok(g) = job_guard.lock() {
                    g.kill();
                }
                (child.wait().await.ok(), true)
            }
        };
        // The leader is gone; take any grandchildren with it so the pipes close.
        if let Ok(mut g) = job_guard.lock() {
            g.kill();
            g.disarm();
        }
        let stdout = out_task.await.unwrap_or_default();
        let stderr = err_task.await.unwrap_or_default();
        use std::os::unix::process::ExitStatusExt;
        let outcome = ExecOutcome {
            exit_code: status.and_then(|s| s.code()),
            signal: status.and_then(|s| s.signal()),
            timed_out,
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

fn timeout_of(tool: &str, t: Option<Millis>) -> Result<Duration, ToolError> {
    let ms = match t {
        None => DEFAULT_TIMEOUT_MS,
        Some(Millis::Number(n)) => n,
        Some(Millis::Text(s)) => s
            .trim()
            .parse::<u64>()
            .map_err(|_| ToolError::InvalidArgs {
                tool: tool.into(),
                message: format!(
                    "field `timeout_ms`: expected a whole number of milliseconds, got {s:?}"
                ),
            })?,
    };
    if ms == 0 {
        return Err(ToolError::InvalidArgs {
            tool: tool.into(),
            message: "field `timeout_ms` must be greater than 0".into(),
        });
    }
    Ok(Duration::from_millis(ms.min(MAX_TIMEOUT_MS)))
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
    /// Timeout in milliseconds (default 90000, at most 300000). The whole process tree is killed then.
    pub timeout_ms: Option<Millis>,
    /// Alias of timeout_ms.
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
    timeout: Duration,
    format: String,
) -> ToolResult {
    if !["raw", "summary"].contains(&format.as_str()) {
        return Err(ToolError::InvalidArgs {
            tool: "exec".into(),
            message: format!("field `format`: expected \"raw\" or \"summary\", got {format:?}"),
        });
    }
    let (id, mut rx) = start_job(&ctx, argv.clone(), timeout, format.clone())?;
    match wait_outcome(&mut rx, soft_budget()).await {
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
    let timeout = timeout_of(
        "exec",
        args.timeout_ms.take().or(args.max_runtime_ms.take()),
    )?;
    let (argv, script) = build_argv(&args)?;
    let verdict = match &script {
        Some(s) => check_script(s, PolicyLevel::Bounded),
        None => check_argv(&argv, PolicyLevel::Bounded),
    };
    verdict.map_err(|why| ToolError::failed(format!("command refused by policy: {why}")))?;
    run_job(ctx, argv, timeout, args.format).await
}

/// Arguments of `unsafe_exec` / `raw_exec`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct RawExecArgs {
    /// A shell script, run with `sh -c`.
    pub command: String,
    /// Timeout in milliseconds (default 90000, at most 300000).
    pub timeout_ms: Option<Millis>,
    /// Alias of timeout_ms.
    pub max_runtime_ms: Option<Millis>,
}

/// `unsafe_exec` / `raw_exec`: `sh -c` with only the VCS-write rule.
pub async fn raw_exec(ctx: Arc<ToolContext>, args: RawExecArgs) -> ToolResult {
    let timeout = timeout_of("unsafe_exec", args.timeout_ms.or(args.max_runtime_ms))?;
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
        timeout,
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
    let budget = Duration::from_millis(args.wait_ms.min(MAX_TIMEOUT_MS));
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
    let outcome = wait_outcome(&mut rx, Duration::from_secs(10)).await;
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
