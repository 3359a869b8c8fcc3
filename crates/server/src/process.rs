//! Bounded child processes: each runs in its own process group with stdin from
//! /dev/null, its output is captured up to a cap, and on timeout (or when the
//! caller's future is dropped) the whole group is killed and reaped.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

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

/// Kills a process group when dropped, unless disarmed: a cancelled call never
/// leaves its children behind.
pub struct GroupGuard {
    pgid: Option<i32>,
}

impl GroupGuard {
    /// Guards the group led by `pid`.
    pub fn new(pid: Option<u32>) -> Self {
        Self {
            pgid: pid.map(|p| p as i32),
        }
    }

    /// Sends SIGKILL to the whole group now.
    pub fn kill(&self) {
        if let Some(pgid) = self.pgid {
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        }
    }

    /// The group is gone; nothing to do on drop.
    pub fn disarm(&mut self) {
        self.pgid = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

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

/// Runs `program args…` in `cwd` with a timeout and an output cap.
pub async fn run_bounded(
    program: &str,
    args: &[String],
    cwd: &Path,
    envs: &[(&str, &str)],
    timeout: Duration,
    cap: usize,
) -> std::io::Result<BoundedOutput> {
    let started = Instant::now();
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn()?;
    let mut guard = GroupGuard::new(child.id());
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
            let _ = child.wait().await;
            (None, true)
        }
    };
    // The leader is reaped; kill any grandchildren still holding the pipes open.
    guard.kill();
    guard.disarm();
    let (stdout, stdout_total) = out_task.await.unwrap_or_default();
    let (stderr, stderr_total) = err_task.await.unwrap_or_default();
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
