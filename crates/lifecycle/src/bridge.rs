//! The restart-aware bridge: owns the listener (so the endpoint never moves),
//! the current server incarnation, the restart budget, and shutdown.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ralph_mcp_session::Session;
use tokio::sync::Mutex;

use crate::client::{self, ClientError};
use crate::error::LifecycleError;
use crate::incarnation::{Incarnation, log_tail, sweep_stale_session_files};
use crate::options::ServerOptions;

/// A crash this soon after start counts as a quick crash and backs off.
const QUICK_CRASH: Duration = Duration::from_secs(2);
/// Cap on the back-off between quick crashes.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

struct State {
    current: Option<Incarnation>,
    quick_crashes: u32,
    shut_down: bool,
}

/// What shutdown did.
#[derive(Debug, Default)]
pub struct ShutdownReport {
    /// Session files kept because the reap could not be proven.
    pub kept_session_files: Vec<PathBuf>,
}

/// A supervised server on a fixed endpoint.
pub struct Bridge {
    listener: TcpListener,
    addr: SocketAddr,
    endpoint: String,
    session: Session,
    workspace: PathBuf,
    options: ServerOptions,
    state: Mutex<State>,
    restarts: AtomicU32,
}

/// Binds 127.0.0.1, spawns the first server and preflights it.
pub async fn start_server(
    session: Session,
    workspace: &Path,
    options: ServerOptions,
) -> Result<Arc<Bridge>, LifecycleError> {
    let workspace = check_workspace(workspace)?;
    sweep_stale_session_files();
    let listener = bind_loopback(options.port)?;
    let addr = listener
        .local_addr()
        .map_err(|e| LifecycleError::Io("listener has no address".into(), e))?;
    let bridge = Arc::new(Bridge {
        endpoint: format!("http://{addr}/mcp"),
        addr,
        listener,
        session,
        workspace,
        options,
        state: Mutex::new(State {
            current: None,
            quick_crashes: 0,
            shut_down: false,
        }),
        restarts: AtomicU32::new(0),
    });
    {
        let mut state = bridge.state.lock().await;
        let inc = bridge.spawn_ready().await?;
        state.current = Some(inc);
    }
    Ok(bridge)
}

fn check_workspace(workspace: &Path) -> Result<PathBuf, LifecycleError> {
    let reason = |r: String| LifecycleError::Workspace {
        path: workspace.to_owned(),
        reason: r,
    };
    let canonical = std::fs::canonicalize(workspace).map_err(|e| reason(e.to_string()))?;
    if !canonical.is_dir() {
        return Err(reason("not a directory".into()));
    }
    std::fs::read_dir(&canonical).map_err(|e| reason(format!("cannot list it: {e}")))?;
    Ok(canonical)
}

/// Binds `127.0.0.1:port` with a deep backlog, so connections made while no
/// server is accepting wait instead of being refused.
fn bind_loopback(port: u16) -> Result<TcpListener, LifecycleError> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = TcpListener::bind(addr).map_err(|e| {
        LifecycleError::Io(
            format!("cannot bind {addr} (port taken? use port 0 for any free port)"),
            e,
        )
    })?;
    // std binds with a backlog of 128; raise it (the kernel caps it at somaxconn).
    // SAFETY: listen(2) on a socket we own.
    unsafe {
        use std::os::fd::AsRawFd;
        nix::libc::listen(listener.as_raw_fd(), 4096);
    }
    Ok(listener)
}

impl Bridge {
    /// The endpoint URL agents use; it never changes.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Restarts performed so far.
    pub fn restart_count(&self) -> u32 {
        self.restarts.load(Ordering::Relaxed)
    }

    /// The options in force.
    pub fn options(&self) -> &ServerOptions {
        &self.options
    }

    /// The current server's pid, if one is running.
    pub async fn server_pid(&self) -> Option<u32> {
        self.state.lock().await.current.as_ref().map(|i| i.pid)
    }

    /// A receiver that fires when the current incarnation exits.
    pub(crate) async fn exit_watch(
        &self,
    ) -> Option<tokio::sync::watch::Receiver<Option<std::process::ExitStatus>>> {
        self.state
            .lock()
            .await
            .current
            .as_ref()
            .map(|i| i.exited.clone())
    }

    /// One isolated probe of the endpoint.
    pub async fn probe(&self) -> Result<client::Handshake, ClientError> {
        client::probe(
            &self.endpoint,
            self.options.auth_token.as_deref(),
            &self.options.required_tools,
            self.options.probe_timeout,
        )
        .await
    }

    /// Spawns a server and preflights it. Fails at once if the child exits.
    async fn spawn_ready(&self) -> Result<Incarnation, LifecycleError> {
        // A workspace that vanished must not be re-created by the log directory.
        check_workspace(&self.workspace)?;
        let mut inc = Incarnation::spawn(
            &self.session,
            &self.workspace,
            &self.listener,
            &self.options,
        )?;
        let deadline = tokio::time::Instant::now() + self.options.preflight_timeout;
        let token = self.options.auth_token.clone();
        let required = self.options.required_tools.clone();
        let endpoint = self.endpoint.clone();
        let preflight = async {
            let mut backoff = Duration::from_millis(5);
            let mut last: Option<ClientError> = None;
            loop {
                let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
                if remaining.is_zero() {
                    // Missing upstream tools say more than a bare timeout.
                    return Err(match last {
                        Some(e @ ClientError::MissingTools(_)) => e,
                        _ => ClientError::Timeout(self.options.preflight_timeout),
                    });
                }
                match client::probe(&endpoint, token.as_deref(), &required, remaining).await {
                    Ok(hs) => return Ok(hs),
                    Err(e) if e.is_retryable() => {
                        last = Some(e);
                        tokio::time::sleep(backoff.min(remaining)).await;
                        backoff = (backoff * 2).min(Duration::from_millis(100));
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        let outcome = tokio::select! {
            res = preflight => res.map_err(|source| LifecycleError::Preflight { endpoint: self.endpoint.clone(), source }),
            status = inc.wait_exit() => Err(LifecycleError::ExitedDuringPreflight {
                status: status.to_string(),
                log_tail: log_tail(&self.workspace, 2000),
            }),
        };
        match outcome {
            Ok(_) => Ok(inc),
            Err(e) => {
                if let Some(kept) = inc.stop(self.options.shutdown_grace).await {
                    tracing::warn!(file = %kept.display(), "kept a session file: the failed server could not be reaped");
                }
                Err(e)
            }
        }
    }

    /// Replaces the current server with a fresh, preflighted one. Serialised with
    /// shutdown: after shutdown it does nothing.
    pub async fn restart(&self, reason: &str) -> Result<(), LifecycleError> {
        let mut state = self.state.lock().await;
        if state.shut_down {
            return Err(LifecycleError::ShutDown);
        }
        let mut reason = reason.to_owned();
        loop {
            let used = self.restarts.load(Ordering::Relaxed);
            if used >= self.options.max_restarts {
                return Err(LifecycleError::BudgetExhausted {
                    reason,
                    restart_count: used,
                    max_restarts: self.options.max_restarts,
                });
            }
            if let Some(mut old) = state.current.take() {
                let quick = old.started.elapsed() < QUICK_CRASH;
                // A server being replaced is dead or hung: no long drain for it.
                let grace = self.options.shutdown_grace.min(Duration::from_millis(250));
                if let Some(kept) = old.stop(grace).await {
                    tracing::warn!(file = %kept.display(), "kept a session file: the old server could not be reaped");
                }
                state.quick_crashes = if quick { state.quick_crashes + 1 } else { 0 };
            } else {
                state.quick_crashes += 1;
            }
            // The first restart is immediate; repeated quick crashes back off.
            if state.quick_crashes > 1 {
                let exp = (state.quick_crashes - 2).min(16);
                let delay = (Duration::from_millis(50) * 2u32.pow(exp)).min(MAX_BACKOFF);
                tokio::time::sleep(delay).await;
            }
            self.restarts.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                restart = self.restart_count(),
                max = self.options.max_restarts,
                %reason,
                endpoint = %self.endpoint,
                "restarting MCP server"
            );
            match self.spawn_ready().await {
                Ok(inc) => {
                    state.current = Some(inc);
                    return Ok(());
                }
                Err(e) => {
                    reason = format!("failed to restart ({e})");
                    state.quick_crashes += 1;
                }
            }
        }
    }

    /// Checks the server: restarts it when it has exited or fails a probe.
    /// Returns true when a restart happened.
    pub async fn check_health_and_restart_if_needed(&self) -> Result<bool, LifecycleError> {
        let exited = {
            let state = self.state.lock().await;
            if state.shut_down {
                return Err(LifecycleError::ShutDown);
            }
            match &state.current {
                Some(inc) => inc.exit_status(),
                None => None,
            }
        };
        if let Some(status) = exited {
            self.restart(&format!("exited ({status})")).await?;
            return Ok(true);
        }
        match self.probe().await {
            Ok(_) => Ok(false),
            Err(e) => {
                self.restart(&format!("failed a probe ({e})")).await?;
                Ok(true)
            }
        }
    }

    /// Stops the server (SIGTERM, grace, SIGKILL, reap) and deletes its session
    /// file once the reap is proven. Later restarts do nothing.
    pub async fn shutdown(&self) -> ShutdownReport {
        let mut state = self.state.lock().await;
        state.shut_down = true;
        let mut report = ShutdownReport::default();
        if let Some(mut inc) = state.current.take()
            && let Some(kept) = inc.stop(self.options.shutdown_grace).await
        {
            tracing::warn!(file = %kept.display(), "kept the session file: the server could not be reaped");
            report.kept_session_files.push(kept);
        }
        report
    }
}
