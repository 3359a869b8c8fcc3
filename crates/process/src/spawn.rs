//! Child processes of the server: one place that spawns them (own process group,
//! stdin from /dev/null, inherited `GIT_*`/token variables removed, the sandbox
//! shim in front when a [`Policy`] is given) and a bounded runner whose output is
//! captured up to a cap and whose whole job is killed on timeout or when the
//! caller's future is dropped.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use crate::sandbox::Policy;

/// What a bounded run produced.
#[derive(Debug)]
pub struct BoundedOutput {
    /// Exit status; `None` when the run timed out and was killed.
    pub status: Option<ExitStatus>,
    /// Captured stdout, at most the cap.
    pub stdout: Vec<u8>,
    /// Captured stderr, at most the cap.
    pub stderr: Vec<u8>,
    /// Total stdout bytes produced (including what was not kept).
    pub stdout_total: u64,
    /// Total stderr bytes produced.
    pub stderr_total: u64,
    /// The timeout fired.
    pub timed_out: bool,
    /// Wall time.
    pub elapsed: Duration,
}

impl BoundedOutput {
    /// True when some output was not kept.
    pub fn truncated(&self) -> bool {
        self.stdout_total > self.stdout.len() as u64 || self.stderr_total > self.stderr.len() as u64
    }

    /// The exit code, or -1 when killed by a signal or timeout.
    pub fn code(&self) -> i32 {
        self.status.and_then(|s| s.code()).unwrap_or(-1)
    }
}

/// Stops a child's whole job when dropped, unless disarmed: a cancelled call
/// never leaves processes behind. A shim-led job is told to stop (SIGTERM to the
/// shim, which kills every process of the job, then exits); a plain child's
/// process group is killed.
pub struct GroupGuard {
    pgid: Option<i32>,
    shim: bool,
}

impl GroupGuard {
    /// Guards the job led by `pid` (`shim`: it is the sandbox shim).
    pub fn new(pid: Option<u32>, shim: bool) -> Self {
        Self {
            pgid: pid.map(|p| p as i32),
            shim,
        }
    }

    /// Stops the job now.
    pub fn kill(&self) {
        if let Some(pgid) = self.pgid {
            if self.shim {
                let _ = nix::sys::signal::kill(Pid::from_raw(pgid), Signal::SIGTERM);
            } else {
                let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
            }
        }
    }

    /// Kills the leader's process group outright (a shim that did not stop).
    pub fn kill_hard(&self) {
        if let Some(pgid) = self.pgid {
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        }
    }

    /// The job is gone; nothing to do on drop.
    pub fn disarm(&mut self) {
        self.pgid = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// How long a told-to-stop shim gets before its group is killed outright.
pub const SHIM_STOP_GRACE: Duration = Duration::from_secs(5);
/// How long output readers get after the job ended (a pipe held by something
/// that escaped would otherwise hold the call).
pub const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// Reads everything from `reader`, keeping at most `cap` bytes, so the child never
/// blocks on a full pipe.
async fn drain_capped<R: AsyncRead + Unpin>(mut reader: R, cap: usize) -> (Vec<u8>, u64) {
    let mut kept = Vec::new();
    let mut total: u64 = 0;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                total += n as u64;
                let room = cap.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    (kept, total)
}

/// Variables that describe the process they were given to (Ralph's owner pid and
/// inherited listening socket), removed from every child's environment.
pub const PER_PROCESS_ENV: [&str; 2] = ["RALPH_MCP_OWNER_PID", "RALPH_MCP_INHERITED_FD"];

/// Whether a child may see the bearer tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tokens {
    /// Remove `MCP_AUTH_TOKEN` and `RALPH_MCP_AUTH_TOKEN` from its environment.
    Scrub,
    /// Leave them (the agent, which is handed its token on purpose).
    Keep,
}

/// The hardening every child of ralph-mcp gets, in one place: its own process
/// group (so it can be signalled as a whole and never takes the terminal's
/// signals meant for us), SIGKILL when the spawning process dies (checked
/// against the race where it already has), and, unless `tokens` says otherwise,
/// no bearer token in its environment. Callers add stdio and their own
/// `pre_exec` steps.
pub fn harden(cmd: &mut Command, tokens: Tokens) -> &mut Command {
    harden_std(cmd.as_std_mut(), tokens);
    cmd
}

/// [`harden`] for a synchronous `std::process::Command`.
pub fn harden_std(cmd: &mut std::process::Command, tokens: Tokens) -> &mut std::process::Command {
    use std::os::unix::process::CommandExt;
    if tokens == Tokens::Scrub {
        cmd.env_remove(ralph_mcp_session::names::AUTH_TOKEN_ENV)
            .env_remove(ralph_mcp_session::names::AGENT_AUTH_TOKEN_ENV);
    }
    // These name this process's owner and socket; a child is neither.
    for var in PER_PROCESS_ENV {
        cmd.env_remove(var);
    }
    let parent = std::process::id();
    cmd.process_group(0);
    // SAFETY: die_with_parent makes only async-signal-safe calls.
    unsafe {
        cmd.pre_exec(move || die_with_parent(parent));
    }
    cmd
}

/// Builds the command for `argv` in `cwd`: through the sandbox shim when
/// `policy` is given, in its own process group, stdin from /dev/null, stdout and
/// stderr piped, without the bearer token, killed when dropped.
pub fn command(argv: &[String], cwd: &Path, policy: Option<&Policy>) -> std::io::Result<Command> {
    let mut cmd = match policy {
        Some(policy) => {
            let mut c = Command::new(crate::sandbox::shim_exe()?);
            c.args(crate::sandbox::shim_args(policy, argv));
            c
        }
        None => {
            let mut c = Command::new(&argv[0]);
            c.args(&argv[1..]);
            c
        }
    };
    harden(&mut cmd, Tokens::Scrub);
    cmd.current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A shim is told to stop (its guard), never SIGKILLed on drop: it must live
        // long enough to kill the job it leads.
        .kill_on_drop(policy.is_none());
    Ok(cmd)
}

/// Runs `program args…` in `cwd` with a timeout and an output cap; `remove`
/// names inherited variables to drop, `envs` the ones to set.
#[allow(clippy::too_many_arguments)]
pub async fn run_bounded(
    program: &str,
    args: &[String],
    cwd: &Path,
    remove: &[std::ffi::OsString],
    envs: &[(&str, &str)],
    policy: Option<&Policy>,
    timeout: Duration,
    cap: usize,
) -> std::io::Result<BoundedOutput> {
    let started = Instant::now();
    let mut argv = vec![program.to_owned()];
    argv.extend(args.iter().cloned());
    let mut cmd = command(&argv, cwd, policy)?;
    for k in remove {
        cmd.env_remove(k);
    }
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn()?;
    let mut guard = GroupGuard::new(child.id(), policy.is_some());
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let out_task = tokio::spawn(async move {
        match stdout {
            Some(s) => drain_capped(s, cap).await,
            None => (Vec::new(), 0),
        }
    });
    let err_task = tokio::spawn(async move {
        match stderr {
            Some(s) => drain_capped(s, cap).await,
            None => (Vec::new(), 0),
        }
    });
    let (status, timed_out) = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(status) => (Some(status?), false),
        Err(_) => {
            guard.kill();
            if tokio::time::timeout(SHIM_STOP_GRACE, child.wait())
                .await
                .is_err()
            {
                guard.kill_hard();
                let _ = child.wait().await;
            }
            (None, true)
        }
    };
    // The leader is reaped; anything still in its group goes too.
    guard.kill_hard();
    guard.disarm();
    let (stdout, stdout_total) = bounded_join(out_task).await;
    let (stderr, stderr_total) = bounded_join(err_task).await;
    Ok(BoundedOutput {
        status,
        stdout,
        stderr,
        stdout_total,
        stderr_total,
        timed_out,
        elapsed: started.elapsed(),
    })
}

/// Joins an output reader, giving up after [`DRAIN_GRACE`].
pub async fn bounded_join<T: Default + Send + 'static>(task: tokio::task::JoinHandle<T>) -> T {
    let abort = task.abort_handle();
    match tokio::time::timeout(DRAIN_GRACE, task).await {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => {
            abort.abort();
            T::default()
        }
    }
}

/// Asks the kernel to SIGKILL this process when its parent dies, and exits at
/// once if the parent is already gone. Call only between fork and exec.
pub fn die_with_parent(parent: u32) -> std::io::Result<()> {
    // SAFETY: prctl and getppid are async-signal-safe.
    unsafe {
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::getppid() as u32 != parent {
            libc::_exit(1);
        }
    }
    Ok(())
}
