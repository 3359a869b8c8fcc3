//! Running the server on a listener until SIGTERM, then draining.

use std::net::TcpListener as StdListener;
use std::path::Path;
use std::sync::Arc;

use ralph_mcp_session::Session;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

use crate::confine::AllowedRoots;
use crate::http::router;
use crate::ralph::handover::{Handover, PausableListener};
use crate::registry::Registry;
use crate::state::{AppState, ServerConfig};
use crate::tools::ToolContext;
use crate::upstream::Upstreams;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The workspace is missing or unreadable.
    #[error("workspace {path} is not usable: {source}")]
    Workspace {
        /// The workspace.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The listener could not be used.
    #[error("cannot serve on the listener: {0}")]
    Listener(std::io::Error),
    /// `.agent/mcp.toml` is invalid.
    #[error("invalid configuration: {0}")]
    Config(#[from] crate::config::ConfigError),
}

/// A server ready to run: the state is built and the tools are listed.
pub struct Server {
    state: Arc<AppState>,
    listener: StdListener,
    /// The text of `.agent/mcp.toml` the configuration was built from.
    config_text: Option<String>,
}

/// What a server serves, for the start-up banner.
#[derive(Debug, Clone)]
pub struct ServerSummary {
    /// Tools this session sees.
    pub tools: usize,
    /// A bearer token is required.
    pub auth: bool,
    /// Tool calls allowed at once.
    pub max_in_flight: usize,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Configured upstream servers, by name.
    pub upstreams: Vec<String>,
}

impl Server {
    /// Builds the server for `session` over `workspace` on an already-bound listener.
    pub fn new(
        session: Session,
        workspace: &Path,
        config: ServerConfig,
        listener: StdListener,
    ) -> Result<Self, ServeError> {
        let workspace_err = |source| ServeError::Workspace {
            path: workspace.display().to_string(),
            source,
        };
        let meta = std::fs::metadata(workspace).map_err(workspace_err)?;
        if !meta.is_dir() {
            return Err(workspace_err(std::io::Error::other("not a directory")));
        }
        std::fs::read_dir(workspace).map_err(workspace_err)?;
        let roots = AllowedRoots::new(workspace, session.payload.allowed_roots.as_deref())
            .map_err(workspace_err)?;
        let session_id = session.payload.session_id.clone();
        let ctx = ToolContext::new(Arc::new(session), roots).map_err(workspace_err)?;
        let (config_file, config_text) = crate::config::McpConfig::load(&ctx.agent)?;
        let ctx = Arc::new(ctx.with_config(&config_file));
        warn_about_the_sandbox(&ctx);
        let env = std::env::var(crate::upstream::config::UPSTREAM_CONFIG_ENV).ok();
        let specs = Upstreams::from_config(&config_file, env.as_deref()).map_err(|message| {
            crate::config::ConfigError {
                path: crate::config::McpConfig::path_in(ctx.roots.workspace()),
                message,
            }
        })?;
        let agent = ctx.agent.clone();
        let log_dir = Arc::new(agent.clone());
        let catalog = crate::ralph::catalog::from_env(
            std::env::var(crate::ralph::catalog::CATALOG_ENV)
                .ok()
                .as_deref(),
        )
        .map_err(|message| crate::config::ConfigError {
            path: std::path::PathBuf::from(crate::ralph::catalog::CATALOG_ENV),
            message,
        })?;
        let upstreams = Upstreams::new(specs, Some(log_dir));
        upstreams.seed(&catalog);
        let registry = Registry::new(ctx, upstreams, config.list_aliases);
        let relay = crate::ralph::relay::ActivityRelay::from_env(crate::secret::activity_relay)
            .map_err(|message| crate::config::ConfigError {
                path: std::path::PathBuf::from(crate::ralph::relay::ENDPOINT_ENV),
                message,
            })?;
        let mut state = AppState::new(config, registry, &session_id);
        state.activity_relay = relay;
        state.traces_endpoint =
            crate::telemetry::endpoint(config_file.audit.otlp_endpoint.as_deref());
        state.audit = crate::audit::Audit::start(agent, &config_file.audit, &session_id);
        state.dev_timebox = crate::ralph::wrapup::DevTimebox::from_env(|k| std::env::var(k).ok());
        let state = Arc::new(state);
        Ok(Self {
            state,
            listener,
            config_text,
        })
    }

    /// What the start-up banner reports.
    pub fn summary(&self) -> ServerSummary {
        let state = &self.state;
        ServerSummary {
            tools: state.registry.visible_names().len(),
            auth: state.config.auth_token.is_some(),
            max_in_flight: state.config.max_in_flight,
            max_body_bytes: state.config.max_body_bytes,
            upstreams: state
                .registry
                .upstreams()
                .states()
                .into_iter()
                .map(|(name, _)| name)
                .collect(),
        }
    }

    /// Serves until SIGTERM or SIGINT, then stops accepting and lets in-flight
    /// requests finish within the drain ceiling. `handover` carries what Ralph
    /// handed this process for a make-before-break replacement (nothing, outside Ralph).
    pub async fn run(self, mut handover: Handover) -> Result<(), ServeError> {
        self.listener
            .set_nonblocking(true)
            .map_err(ServeError::Listener)?;
        let listener = TcpListener::from_std(self.listener).map_err(ServeError::Listener)?;
        let mut term = signal(SignalKind::terminate()).map_err(ServeError::Listener)?;
        let mut int = signal(SignalKind::interrupt()).map_err(ServeError::Listener)?;
        // A standby waits, ready to accept, until its supervisor needs it.
        if let Some(gate) = handover.standby.take() {
            let release = tokio::select! {
                r = gate.wait() => r,
                _ = term.recv() => crate::standby::Release::Exit,
                _ = int.recv() => crate::standby::Release::Exit,
            };
            if release == crate::standby::Release::Exit {
                tracing::info!("standby released without being needed; exiting");
                return Ok(());
            }
            tracing::info!("standby promoted: serving");
        }
        // A candidate proves itself to Ralph before it accepts anything.
        handover.serve_readiness(&self.state);
        handover
            .wait_for_resume()
            .await
            .map_err(|e| ServeError::Listener(std::io::Error::other(e)))?;
        let mut listener = PausableListener::new(listener, handover.pause_file.take())
            .map_err(ServeError::Listener)?;
        self.state.registry.upstreams().launch();
        if let Some(url) = &self.state.traces_endpoint {
            match crate::telemetry::Traces::start(
                url,
                &self.state.registry.context().session.payload.session_id,
            ) {
                Ok(traces) => {
                    let _ = self.state.traces.set(traces);
                }
                Err(e) => {
                    tracing::warn!("OpenTelemetry traces are off: cannot export to {url}: {e}");
                }
            }
        }
        let follower = self.state.clone();
        let follow = tokio::spawn(async move { follower.registry.follow_upstreams().await });
        let app = router(self.state.clone());
        let activity = tokio::spawn(write_activity_forever(self.state.clone()));
        let sweep = tokio::spawn(sweep_temp_files_soon(self.state.registry.context().clone()));
        let watcher = tokio::spawn(watch_config(self.state.clone(), self.config_text));
        // Each connection is served by hyper's HTTP/1 server directly (no version
        // sniffing: this server speaks HTTP/1.1 only) and watched for the drain.
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        loop {
            tokio::select! {
                (stream, _) = axum::serve::Listener::accept(&mut listener) => {
                    let _ = stream.set_nodelay(true);
                    let service = hyper_util::service::TowerToHyperService::new(app.clone());
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                    let conn = graceful.watch(conn);
                    tokio::spawn(async move {
                        let _ = conn.await;
                    });
                }
                _ = term.recv() => break,
                _ = int.recv() => break,
            }
        }
        drop(listener);
        self.state.start_draining();
        tracing::info!("signal received; draining");
        let ceiling = self.state.config.drain_timeout;
        if tokio::time::timeout(ceiling, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                in_flight = self.state.in_flight(),
                "drain ceiling reached; exiting with requests still open"
            );
        }
        activity.abort();
        sweep.abort();
        watcher.abort();
        follow.abort();
        write_activity(&self.state);
        self.state.audit.flush_and_stop();
        if let Some(traces) = self.state.traces.get() {
            traces.shutdown();
        }
        self.state.registry.context().jobs.kill_all();
        Ok(())
    }
}

/// Writes `<workspace>/.agent/tmp/mcp-activity.json`: tool calls seen (failed
/// ones too) and the time of the last.
fn write_activity(state: &AppState) {
    let session = &state.registry.context().session.payload;
    let record = serde_json::json!({
        "session_id": session.session_id,
        "run_id": session.run_id,
        "pid": std::process::id(),
        "tool_calls": state.metrics.activity_total(),
        "last_call_unix_ms": state.metrics.last_call_unix_ms(),
    });
    let agent = &state.registry.context().agent;
    if let Err(e) = agent.replace_ephemeral(
        ralph_mcp_session::names::agent_paths::TMP,
        ralph_mcp_session::names::agent_paths::ACTIVITY_FILE,
        record.to_string().as_bytes(),
    ) {
        tracing::debug!(error = %e, "cannot write the activity record");
    }
}

/// How long after start the first activity record waits: its atomic replace (a
/// blocking-pool thread, a temp file, and a rename over the last record, which
/// makes ext4 start writing the new file back) would otherwise compete with the
/// first requests for the CPU.
const FIRST_ACTIVITY_DELAY: std::time::Duration = std::time::Duration::from_millis(100);

async fn write_activity_forever(state: Arc<AppState>) {
    tokio::time::sleep(FIRST_ACTIVITY_DELAY).await;
    let mut seen = u64::MAX;
    loop {
        let now = state.metrics.activity_total();
        if now != seen {
            seen = now;
            let s = state.clone();
            let _ = tokio::task::spawn_blocking(move || write_activity(&s)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// How long after start the temp-file sweep waits, so its walk of the roots
/// never competes with the first requests (a supervisor's preflight among them).
const SWEEP_DELAY: std::time::Duration = std::time::Duration::from_secs(1);

/// Removes temp files that interrupted atomic writes left beneath the roots
/// (older than a minute, so a write in progress elsewhere is never touched),
/// on the blocking pool, [`SWEEP_DELAY`] after start.
async fn sweep_temp_files_soon(ctx: Arc<ToolContext>) {
    tokio::time::sleep(SWEEP_DELAY).await;
    let _ = tokio::task::spawn_blocking(move || {
        for root in ctx.roots.roots() {
            let Ok(fd) = rustix::fs::open(
                root,
                rustix::fs::OFlags::RDONLY
                    | rustix::fs::OFlags::DIRECTORY
                    | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            ) else {
                continue;
            };
            let mut budget = 200_000;
            crate::confine::ops::sweep_temp_files(
                std::os::fd::AsFd::as_fd(&fd),
                std::time::Duration::from_secs(60),
                &mut budget,
                0,
            );
        }
    })
    .await;
}

/// Says loudly when commands will run without a kernel sandbox.
fn warn_about_the_sandbox(ctx: &ToolContext) {
    let support = crate::sandbox::Support::probe();
    match ctx.exec.sandbox {
        crate::sandbox::Mode::Off => tracing::warn!(
            "[exec] sandbox = \"off\": commands run without a Landlock domain (containment and the deny-list still apply)"
        ),
        crate::sandbox::Mode::BestEffort if !support.filesystem => tracing::warn!(
            "this kernel has no Landlock: exec commands run with containment and the deny-list only; set [exec] sandbox = \"required\" to refuse them instead"
        ),
        crate::sandbox::Mode::Required if !support.filesystem => tracing::warn!(
            "this kernel has no Landlock and [exec] sandbox = \"required\": every command will be refused"
        ),
        _ => {}
    }
}

/// How often `.agent/mcp.toml` is looked at for edits.
const CONFIG_POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// Applies edits of `.agent/mcp.toml` to the upstreams while the server runs:
/// added ones start, removed ones stop, changed ones restart, and clients hear
/// `tools/list_changed`. An edit that does not parse or validate changes
/// nothing; the reason goes to the log and to `/health` until a good edit.
async fn watch_config(state: Arc<AppState>, mut last: Option<String>) {
    let ctx = state.registry.context().clone();
    let file = ralph_mcp_session::names::agent_paths::CONFIG_FILE;
    let read = move || match ctx.agent.read("", file, crate::config::MAX_FILE_BYTES) {
        Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        Err(_) => None,
    };
    loop {
        tokio::time::sleep(CONFIG_POLL).await;
        let now = read();
        if now == last {
            continue;
        }
        last.clone_from(&now);
        let upstreams = state.registry.upstreams();
        let parsed = match &now {
            None => Ok(crate::config::McpConfig::default()),
            Some(text) => crate::config::McpConfig::parse(text),
        };
        let env = std::env::var(crate::upstream::config::UPSTREAM_CONFIG_ENV).ok();
        match parsed.and_then(|cfg| Upstreams::from_config(&cfg, env.as_deref())) {
            Ok(specs) => {
                let (added, removed, restarted) = upstreams.apply(specs);
                upstreams.set_config_error(None);
                tracing::info!(
                    ?added,
                    ?removed,
                    ?restarted,
                    "applied the edited .agent/mcp.toml"
                );
            }
            Err(message) => {
                let why = format!(
                    ".agent/mcp.toml: {message}; the last good configuration stays in effect"
                );
                tracing::warn!("{why}");
                upstreams.set_config_error(Some(why));
            }
        }
    }
}
