//! One server process: spawned on the shared listener with its own session
//! file, watched for exit, and stopped group-wide.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::TcpListener;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use ralph_mcp_session::Session;
use ralph_mcp_session::names::{AUTH_TOKEN_ENV, SESSION_FILE_ENV, SESSION_JSON_ENV};
use tokio::process::Command;
use tokio::sync::watch;

use crate::error::LifecycleError;
use crate::options::ServerOptions;

/// Prefix of session files under `$TMPDIR`.
pub const SESSION_FILE_PREFIX: &str = "ralph-mcp-session-";

/// A running (or exited) server process.
pub struct Incarnation {
    /// Its pid, which is also its process-group id.
    pub pid: u32,
    /// When it was spawned.
    pub started: Instant,
    /// Its session file (deleted once the process is reaped).
    pub session_file: Option<PathBuf>,
    /// Becomes `Some(status)` when the process has exited and been reaped.
    pub exited: watch::Receiver<Option<ExitStatus>>,
    /// A standby's gate: the write end of the pipe it waits on (`serve
    /// --standby-fd`). One byte promotes it; closing it lets it exit.
    gate: Option<OwnedFd>,
}

/// The server log is rotated (to `mcp-server.log.1`, replacing the one before)
/// when a new server starts and it has grown past this.
pub const SERVER_LOG_CAP: u64 = 8 * 1024 * 1024;

/// Makes `<workspace>/.agent` with a `.gitignore` of `*`, so ralph-mcp's own
/// files never show in the user's `git status`.
fn ensure_agent_dir(workspace: &Path) -> Result<(), LifecycleError> {
    use ralph_mcp_session::names::agent_paths;
    let dir = workspace.join(agent_paths::DIR);
    match std::fs::create_dir(&dir) {
        Ok(()) => {
            let _ = std::fs::write(dir.join(".gitignore"), "*\n");
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(LifecycleError::Io(
            format!("cannot create {}", dir.display()),
            e,
        )),
    }
}

/// Moves a log past [`SERVER_LOG_CAP`] aside.
fn rotate_log(path: &Path) {
    if std::fs::metadata(path).is_ok_and(|m| m.len() > SERVER_LOG_CAP) {
        let mut old = path.as_os_str().to_owned();
        old.push(".1");
        let _ = std::fs::rename(path, old);
    }
}

/// `<workspace>/.agent/tmp/mcp-server.log`.
pub fn server_log_path(workspace: &Path) -> PathBuf {
    use ralph_mcp_session::names::agent_paths;
    workspace
        .join(agent_paths::DIR)
        .join(agent_paths::TMP)
        .join(agent_paths::SERVER_LOG_FILE)
}

/// Writes the session as `$TMPDIR/ralph-mcp-session-<pid>-XXXX.json`, mode 0600.
/// The supervisor's pid in the name lets a later run remove files left by a
/// supervisor that was killed.
pub fn write_session_file(session: &Session) -> Result<PathBuf, LifecycleError> {
    let mut file = tempfile::Builder::new()
        .prefix(&format!("{SESSION_FILE_PREFIX}{}-", std::process::id()))
        .suffix(".json")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile()
        .map_err(|e| LifecycleError::Io("cannot create the session file".into(), e))?;
    // No fsync: the server reads it at once, and it means nothing after a reboot.
    file.write_all(session.to_json().as_bytes())
        .map_err(|e| LifecycleError::Io("cannot write the session file".into(), e))?;
    let (_, path) = file
        .keep()
        .map_err(|e| LifecycleError::Io("cannot keep the session file".into(), e.error))?;
    Ok(path)
}

/// Removes session files in `$TMPDIR` whose supervisor process no longer exists.
pub fn sweep_stale_session_files() {
    let Ok(dir) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(rest) = name
            .to_str()
            .and_then(|n| n.strip_prefix(SESSION_FILE_PREFIX))
        else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        let alive = nix::sys::signal::kill(Pid::from_raw(pid), None).is_ok();
        if !alive {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

impl Incarnation {
    /// Spawns `ralph-mcp serve --listen-fd N` for `session`; with `standby`,
    /// as a warm standby that serves once [`Self::promote`]d.
    pub fn spawn(
        session: &Session,
        workspace: &Path,
        listener: &TcpListener,
        options: &ServerOptions,
        standby: bool,
    ) -> Result<Self, LifecycleError> {
        let log_path = server_log_path(workspace);
        ensure_agent_dir(workspace)?;
        if let Some(dir) = log_path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| LifecycleError::Io(format!("cannot create {}", dir.display()), e))?;
        }
        rotate_log(&log_path);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&log_path)
            .map_err(|e| LifecycleError::Io(format!("cannot open {}", log_path.display()), e))?;
        let log_err = log
            .try_clone()
            .map_err(|e| LifecycleError::Io("cannot duplicate the log handle".into(), e))?;
        let session_file = write_session_file(session)?;
        let fd = listener.as_raw_fd();
        let gate = if standby {
            Some(
                nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| {
                    LifecycleError::Io("cannot make the standby pipe".into(), e.into())
                })?,
            )
        } else {
            None
        };
        let gate_fd = gate.as_ref().map(|(read, _)| read.as_raw_fd());
        let mut cmd = Command::new(&options.binary);
        cmd.arg("serve")
            .arg("--listen-fd")
            .arg(fd.to_string())
            .arg("--workspace")
            .arg(workspace)
            .args(&options.extra_serve_args)
            .args(gate_fd.map(|g| format!("--standby-fd={g}")))
            .env(SESSION_FILE_ENV, &session_file)
            .env_remove(SESSION_JSON_ENV)
            .env_remove("LISTEN_FDS")
            .env_remove("LISTEN_PID")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .kill_on_drop(false);
        // Its token comes by the variable set below, after hardening.
        ralph_mcp_process::spawn::harden(&mut cmd, ralph_mcp_process::spawn::Tokens::Keep);
        match &options.auth_token {
            Some(t) => cmd.env(AUTH_TOKEN_ENV, t),
            None => cmd.env_remove(AUTH_TOKEN_ENV),
        };
        for (k, v) in &options.extra_env {
            cmd.env(k, v);
        }
        // SAFETY: only async-signal-safe calls (fcntl) run between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                // Let the child inherit the listener (and a standby its gate):
                // clear close-on-exec in the child only.
                for fd in std::iter::once(fd).chain(gate_fd) {
                    let flags = nix::libc::fcntl(fd, nix::libc::F_GETFD);
                    if flags < 0
                        || nix::libc::fcntl(fd, nix::libc::F_SETFD, flags & !nix::libc::FD_CLOEXEC)
                            < 0
                    {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| {
            let _ = std::fs::remove_file(&session_file);
            LifecycleError::Io(format!("cannot start {}", options.binary.display()), e)
        })?;
        let pid = child.id().unwrap_or(0);
        let (tx, rx) = watch::channel(None);
        tokio::spawn(async move {
            let status = child.wait().await;
            let _ = tx.send(status.ok().or_else(|| Some(exit_status_unknown())));
        });
        Ok(Self {
            pid,
            started: Instant::now(),
            session_file: Some(session_file),
            exited: rx,
            // The read end is the child's now; only the write end stays here.
            gate: gate.map(|(_, write)| write),
        })
    }

    /// Tells a standby to start accepting. Fails when it is no longer there
    /// to hear it (it exited) or is not a standby.
    pub fn promote(&mut self) -> std::io::Result<()> {
        let gate = self
            .gate
            .take()
            .ok_or_else(|| std::io::Error::other("not a standby"))?;
        if self.exit_status().is_some() {
            return Err(std::io::Error::other("the standby has exited"));
        }
        match nix::unistd::write(&gate, b"g") {
            Ok(1) => {
                self.started = Instant::now();
                Ok(())
            }
            Ok(_) => Err(std::io::Error::other("the standby's gate took nothing")),
            Err(e) => Err(e.into()),
        }
    }

    /// The exit status, once reaped.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        *self.exited.borrow()
    }

    /// Waits until the process has exited and been reaped.
    pub async fn wait_exit(&mut self) -> ExitStatus {
        loop {
            if let Some(s) = *self.exited.borrow_and_update() {
                return s;
            }
            if self.exited.changed().await.is_err() {
                return self.exit_status().unwrap_or_else(exit_status_unknown);
            }
        }
    }

    /// SIGTERM to the group, up to `grace`, then SIGKILL; waits for the reap.
    /// Deletes the session file only when the reap is proven. Returns the
    /// session file that had to be kept, if any.
    pub async fn stop(&mut self, grace: Duration) -> Option<PathBuf> {
        // A standby sees its gate close and exits by itself.
        self.gate = None;
        let pgid = Pid::from_raw(self.pid as i32);
        if self.exit_status().is_none() {
            let _ = killpg(pgid, Signal::SIGTERM);
            if tokio::time::timeout(grace, self.wait_exit()).await.is_err() {
                let _ = killpg(pgid, Signal::SIGKILL);
            }
        }
        let reaped = tokio::time::timeout(Duration::from_secs(5), self.wait_exit())
            .await
            .is_ok();
        // Anything the server left in its group goes too.
        let _ = killpg(pgid, Signal::SIGKILL);
        match self.session_file.take() {
            Some(path) if reaped => {
                let _ = std::fs::remove_file(&path);
                None
            }
            other => other,
        }
    }
}

impl Drop for Incarnation {
    /// An incarnation dropped without [`Incarnation::stop`] (a preflight
    /// interrupted by shutdown) is killed with its group, and its session file
    /// removed at once: the server read it at start and can never run again.
    fn drop(&mut self) {
        let Some(path) = self.session_file.take() else {
            return;
        };
        let _ = killpg(Pid::from_raw(self.pid as i32), Signal::SIGKILL);
        let _ = std::fs::remove_file(path);
    }
}

fn exit_status_unknown() -> ExitStatus {
    use std::os::unix::process::ExitStatusExt;
    ExitStatus::from_raw(0xff00)
}

/// The last `max` bytes of the server log, for error messages.
pub fn log_tail(workspace: &Path, max: u64) -> String {
    let path = server_log_path(workspace);
    let Ok(mut f) = std::fs::File::open(&path) else {
        return String::new();
    };
    let len = f.metadata().map_or(0, |m| m.len());
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(max)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).trim().to_owned()
}
