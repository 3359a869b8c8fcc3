//! The bridge: owns the listener (so the endpoint never moves) and knows how to
//! start a server on it and prove it ready ([`Spawner`]); the [`Supervisor`]
//! owns the running server, its restarts and its shutdown.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use ralph_mcp_process::RestartPolicy;
use ralph_mcp_session::Session;

use crate::client::{self, ClientError};
use crate::error::LifecycleError;
use crate::incarnation::{Incarnation, log_tail, sweep_stale_session_files};
use crate::options::ServerOptions;
use crate::supervisor::{Served, Spawner, Supervisor};

/// A supervised server on a fixed endpoint.
pub struct Bridge {
    listener: TcpListener,
    addr: SocketAddr,
    endpoint: String,
    session: Session,
    workspace: PathBuf,
    options: ServerOptions,
    /// The first server, proven ready, until a supervisor takes it.
    first: std::sync::Mutex<Option<Incarnation>>,
    /// A warm standby (with `options.standby`): the next start promotes it.
    standby: std::sync::Mutex<Option<Standby>>,
    /// Set once the bridge is shutting down: no new standby after that.
    retired: AtomicBool,
    /// This bridge, for the task that starts a standby after a start.
    me: Weak<Bridge>,
    /// Standbys that died while waiting, in a row (a promotion resets it).
    standby_deaths: AtomicU32,
}

/// A standby server and what it started from.
struct Standby {
    server: Incarnation,
    /// `.agent/mcp.toml` as it was when the standby read it: a standby that
    /// would serve an older configuration is not promoted.
    config: Option<Vec<u8>>,
}

/// How long after a start the next standby is started, so its start-up never
/// competes with the first requests to the server that just started, nor with
/// other runs starting at the same time on a small machine.
const STANDBY_DELAY: Duration = Duration::from_secs(1);

/// Standbys that may die in a row while waiting before the bridge stops
/// starting new ones (until the next restart promotes or starts a server).
const STANDBY_DEATHS: u32 = 3;

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
    let bridge = Arc::new_cyclic(|me| Bridge {
        endpoint: format!("http://{addr}/mcp"),
        addr,
        listener,
        session,
        workspace,
        options,
        first: std::sync::Mutex::new(None),
        standby: std::sync::Mutex::new(None),
        retired: AtomicBool::new(false),
        me: me.clone(),
        standby_deaths: AtomicU32::new(0),
    });
    let first = bridge.spawn_ready().await?;
    *bridge
        .first
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(first);
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

    /// The options in force.
    pub fn options(&self) -> &ServerOptions {
        &self.options
    }

    /// Starts supervising the first server (see [`start_server`]).
    pub fn supervise(self: &Arc<Self>) -> Result<Supervisor, LifecycleError> {
        let first = self
            .first
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
            .ok_or(LifecycleError::ShutDown)?;
        Ok(Supervisor::spawn(self.clone(), first))
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
        let mut inc = match self.take_standby().await {
            Some(standby) => standby,
            None => Incarnation::spawn(
                &self.session,
                &self.workspace,
                &self.listener,
                &self.options,
                false,
            )?,
        };
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
            Ok(_) => {
                self.start_standby_soon();
                Ok(inc)
            }
            Err(e) => {
                if let Some(kept) = inc.stop(self.options.shutdown_grace).await {
                    tracing::warn!(file = %kept.display(), "kept a session file: the failed server could not be reaped");
                }
                Err(e)
            }
        }
    }
}

impl Bridge {
    /// The standby, promoted, when there is one that can serve: alive and
    /// started from the configuration in force. One that cannot is stopped.
    async fn take_standby(&self) -> Option<Incarnation> {
        let taken = self
            .standby
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let Standby { mut server, config } = taken?;
        let why = if config != self.read_config() {
            "the configuration changed since it started".to_owned()
        } else {
            match server.promote() {
                Ok(()) => {
                    self.standby_deaths.store(0, Ordering::Release);
                    tracing::info!(pid = server.pid, "promoted the standby server");
                    return Some(server);
                }
                Err(e) => e.to_string(),
            }
        };
        tracing::info!(pid = server.pid, reason = %why, "not promoting the standby server; starting a new one");
        server.stop(self.options.shutdown_grace).await;
        None
    }

    /// `.agent/mcp.toml` now (`None` when it cannot be read).
    fn read_config(&self) -> Option<Vec<u8>> {
        use ralph_mcp_session::names::agent_paths;
        std::fs::read(
            self.workspace
                .join(agent_paths::DIR)
                .join(agent_paths::CONFIG_FILE),
        )
        .ok()
    }

    /// Starts a standby [`STANDBY_DELAY`] from now, unless standbys are off,
    /// the bridge is shutting down, or one is there already.
    fn start_standby_soon(&self) {
        if !self.options.standby || self.retired.load(Ordering::Acquire) {
            return;
        }
        let me = self.me.clone();
        tokio::spawn(async move {
            tokio::time::sleep(STANDBY_DELAY).await;
            if let Some(bridge) = me.upgrade() {
                bridge.start_standby().await;
            }
        });
    }

    async fn start_standby(&self) {
        let present = || {
            self.standby
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .is_some()
        };
        if self.retired.load(Ordering::Acquire) || present() {
            return;
        }
        let config = self.read_config();
        let mut server = match Incarnation::spawn(
            &self.session,
            &self.workspace,
            &self.listener,
            &self.options,
            true,
        ) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot start a standby server; a restart will start from nothing");
                return;
            }
        };
        {
            let mut slot = self
                .standby
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if !self.retired.load(Ordering::Acquire) && slot.is_none() {
                let pid = server.pid;
                let exited = server.exited.clone();
                *slot = Some(Standby { server, config });
                drop(slot);
                self.replace_standby_if_it_dies(pid, exited);
                return;
            }
        }
        server.stop(self.options.shutdown_grace).await;
    }

    /// Watches a waiting standby: one that exits while it waits (killed, or
    /// the binary broke) is replaced after a second, up to
    /// [`STANDBY_DEATHS`] times in a row; a promotion resets the count.
    fn replace_standby_if_it_dies(
        &self,
        pid: u32,
        mut exited: tokio::sync::watch::Receiver<Option<std::process::ExitStatus>>,
    ) {
        let me = self.me.clone();
        tokio::spawn(async move {
            let Ok(status) = exited.wait_for(Option::is_some).await.map(|s| *s) else {
                return;
            };
            let Some(bridge) = me.upgrade() else {
                return;
            };
            let dead = {
                let mut slot = bridge
                    .standby
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                match slot.as_ref() {
                    // Still waiting in the slot: it died as a standby.
                    Some(s) if s.server.pid == pid => slot.take(),
                    // Promoted (it is the server now) or already replaced.
                    _ => None,
                }
            };
            let Some(mut dead) = dead else {
                return;
            };
            dead.server.stop(Duration::ZERO).await;
            let deaths = bridge.standby_deaths.fetch_add(1, Ordering::AcqRel) + 1;
            if deaths >= STANDBY_DEATHS {
                tracing::warn!(
                    pid,
                    ?status,
                    deaths,
                    "the standby server keeps exiting; running without one until the next restart"
                );
                return;
            }
            tracing::warn!(
                pid,
                ?status,
                "the standby server exited while waiting; starting another"
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
            bridge.start_standby().await;
        });
    }

    /// Stops the standby, if any, and starts no other (at shutdown). Returns a
    /// session file that had to be kept because the reap could not be proven.
    pub async fn retire_standby(&self) -> Option<PathBuf> {
        self.retired.store(true, Ordering::Release);
        let taken = self
            .standby
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let mut standby = taken?;
        standby.server.stop(self.options.shutdown_grace).await
    }
}

impl Served for Incarnation {
    fn started(&self) -> std::time::Instant {
        self.started
    }

    fn exit_watch(&self) -> tokio::sync::watch::Receiver<Option<std::process::ExitStatus>> {
        self.exited.clone()
    }

    async fn stop(&mut self, grace: Duration) -> Option<PathBuf> {
        Incarnation::stop(self, grace).await
    }
}

impl Spawner for Bridge {
    type Server = Incarnation;

    async fn start(&self) -> Result<Incarnation, LifecycleError> {
        self.spawn_ready().await
    }

    async fn probe(&self) -> Result<(), String> {
        Bridge::probe(self)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn policy(&self) -> RestartPolicy {
        self.options.restart_policy()
    }

    fn interval(&self) -> Duration {
        self.options.supervision_interval
    }

    fn failed_probes_before_restart(&self) -> u32 {
        self.options.failed_probes_before_restart
    }

    fn replace_grace(&self) -> Duration {
        // A server being replaced is dead or hung: no long drain for it.
        self.options.shutdown_grace.min(Duration::from_millis(250))
    }

    fn shutdown_grace(&self) -> Duration {
        self.options.shutdown_grace
    }

    async fn retire(&self) -> Option<PathBuf> {
        self.retire_standby().await
    }
}
