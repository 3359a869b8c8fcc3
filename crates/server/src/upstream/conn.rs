//! One upstream: a persistent rmcp client session, supervised.
//!
//! A task per upstream connects (child process over stdio, or Streamable HTTP),
//! lists its tools, and then waits for the session to end; when it does, the
//! upstream is marked down (its tools fail fast naming it and its state) and the
//! task reconnects after a back-off, within a restart budget. Stdio children run
//! in their own process group with a parent-death signal.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResult, CancelledNotificationParam,
    ClientRequest, GetPromptRequestParams, GetPromptResult, ProgressNotificationParam,
    ProgressToken, Prompt, ReadResourceRequestParams, ReadResourceResult, Resource, ServerResult,
    Tool,
};
use rmcp::service::{NotificationContext, PeerRequestOptions, RunningService};
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use tokio::sync::Notify;

use super::config::{HeaderSource, Transport, UpstreamSpec};
use crate::progress::ProgressSink;

/// An upstream's stderr log is rotated past this size.
pub const LOG_CAP: u64 = 8 * 1024 * 1024;

/// How upstreams are restarted.
pub const RESTART: ralph_mcp_process::RestartPolicy = ralph_mcp_process::RestartPolicy::DEFAULT;

/// An upstream moved to a new state (for log messages to clients).
#[derive(Debug, Clone)]
pub struct StateChange {
    /// The upstream.
    pub name: String,
    /// Its new state.
    pub state: State,
}

impl StateChange {
    /// The MCP log level the change is reported at.
    pub fn level(&self) -> &'static str {
        match self.state {
            State::Ready | State::Connecting => "info",
            State::Down(_) => "warning",
            State::Failed(_) => "error",
        }
    }

    /// What the log message says.
    pub fn message(&self) -> String {
        format!("upstream `{}` is {}", self.name, self.state)
    }
}

/// What an upstream tells the rest of the server: its lists changed, its state changed.
#[derive(Debug, Clone)]
pub struct Signals {
    /// Fired when its tools, resources or prompts change.
    pub changed: Arc<Notify>,
    /// Each state change.
    pub states: tokio::sync::broadcast::Sender<StateChange>,
}

/// Where an upstream is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Starting or reconnecting.
    Connecting,
    /// Serving.
    Ready,
    /// Lost; reconnecting after a back-off.
    Down(String),
    /// Given up (budget exhausted or unusable configuration).
    Failed(String),
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connecting => f.write_str("connecting"),
            Self::Ready => f.write_str("ready"),
            Self::Down(why) => write!(f, "down ({why}); reconnecting"),
            Self::Failed(why) => write!(f, "failed ({why})"),
        }
    }
}

/// Finds a stdio upstream's command the way `execvp` will: a path with a `/` must
/// be an executable file; a bare name must be one on `PATH` (the upstream's own
/// `PATH` when its `env` sets one).
pub fn find_command(command: &str, path: Option<&str>) -> Result<std::path::PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &std::path::Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if command.contains('/') {
        let p = std::path::PathBuf::from(command);
        return if executable(&p) {
            Ok(p)
        } else {
            Err(format!(
                "command `{command}` does not exist or is not executable; fix `command` in its [mcp_servers] entry"
            ))
        };
    }
    let search = path
        .map(str::to_owned)
        .or_else(|| std::env::var("PATH").ok())
        .unwrap_or_default();
    search
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| std::path::Path::new(d).join(command))
        .find(|p| executable(p))
        .ok_or_else(|| {
            format!(
                "command `{command}` is not on PATH; install it or give its full path in `command`"
            )
        })
}

/// Routes an upstream's progress notifications to the calls that asked for them.
#[derive(Default)]
struct ProgressRoutes {
    routes: Mutex<HashMap<ProgressToken, ProgressSink>>,
}

/// The rmcp client handler of one upstream.
#[derive(Clone)]
struct Handler {
    routes: Arc<ProgressRoutes>,
    list_changed: Arc<Notify>,
    resources_changed: Arc<Notify>,
    prompts_changed: Arc<Notify>,
}

impl ClientHandler for Handler {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let sink = self
            .routes
            .routes
            .lock()
            .ok()
            .and_then(|r| r.get(&params.progress_token).cloned());
        if let Some(sink) = sink {
            sink.report(1, params.message.as_deref().unwrap_or(""));
        }
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.list_changed.notify_one();
    }

    async fn on_resource_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.resources_changed.notify_one();
    }

    async fn on_prompt_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.prompts_changed.notify_one();
    }
}

type Session = RunningService<RoleClient, Handler>;

/// One supervised upstream.
pub struct Upstream {
    /// Its definition.
    pub spec: UpstreamSpec,
    /// Where a stdio child's stderr is appended (`.agent/tmp/mcp-upstream-<name>.log`).
    log_dir: Option<Arc<crate::confine::AgentDir>>,
    state: RwLock<State>,
    tools: RwLock<Vec<Tool>>,
    resources: RwLock<Vec<Resource>>,
    prompts: RwLock<Vec<Prompt>>,
    peer: RwLock<Option<rmcp::Peer<RoleClient>>>,
    /// The supervising task, aborted by [`Upstream::stop`].
    task: Mutex<Option<tokio::task::AbortHandle>>,
    routes: Arc<ProgressRoutes>,
    /// Fired when this upstream's tool list changes.
    changed: Arc<Notify>,
    /// Told of each state change.
    states: tokio::sync::broadcast::Sender<StateChange>,
    restarts: std::sync::atomic::AtomicU32,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("name", &self.spec.name)
            .field("state", &self.state())
            .finish()
    }
}

/// Why a forwarded call failed before the upstream answered.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Not connected.
    #[error("upstream `{name}` is {state}; its tools fail until it is back")]
    Unavailable {
        /// Upstream.
        name: String,
        /// Its state.
        state: State,
    },
    /// No answer in time (a cancellation was sent upstream).
    #[error(
        "upstream `{name}` did not answer `{tool}` within {ms} ms; the call was cancelled upstream"
    )]
    Timeout {
        /// Upstream.
        name: String,
        /// Tool.
        tool: String,
        /// Timeout.
        ms: u128,
    },
    /// Protocol or transport failure.
    #[error("upstream `{name}` failed on `{tool}`: {message}")]
    Failed {
        /// Upstream.
        name: String,
        /// Tool.
        tool: String,
        /// What happened.
        message: String,
    },
}

impl Upstream {
    /// An upstream for `spec`, not yet started, reporting through `signals`.
    pub fn new(
        spec: UpstreamSpec,
        log_dir: Option<Arc<crate::confine::AgentDir>>,
        signals: &Signals,
    ) -> Arc<Self> {
        Arc::new(Self {
            spec,
            log_dir,
            state: RwLock::new(State::Connecting),
            tools: RwLock::new(Vec::new()),
            resources: RwLock::new(Vec::new()),
            prompts: RwLock::new(Vec::new()),
            peer: RwLock::new(None),
            task: Mutex::new(None),
            routes: Arc::new(ProgressRoutes::default()),
            changed: signals.changed.clone(),
            states: signals.states.clone(),
            restarts: Default::default(),
        })
    }

    /// Starts supervising it (needs a Tokio runtime).
    pub fn launch(self: &Arc<Self>) {
        let handle = tokio::spawn(self.clone().supervise());
        if let Ok(mut t) = self.task.lock() {
            *t = Some(handle.abort_handle());
        }
    }

    /// Stops it for good: the session is dropped (a stdio child is killed with
    /// it) and its tools, resources and prompts are no longer listed.
    pub fn stop(&self) {
        if let Some(task) = self.task.lock().ok().and_then(|mut t| t.take()) {
            task.abort();
        }
        if let Ok(mut p) = self.peer.write() {
            *p = None;
        }
        self.set_state(State::Failed("removed from the configuration".into()));
        if let Ok(mut r) = self.resources.write() {
            r.clear();
        }
        if let Ok(mut p) = self.prompts.write() {
            p.clear();
        }
        self.set_tools(Vec::new());
    }

    /// Its resources, as the upstream lists them.
    pub fn resources(&self) -> Vec<Resource> {
        self.resources.read().map(|r| r.clone()).unwrap_or_default()
    }

    /// Its prompts, as the upstream lists them.
    pub fn prompts(&self) -> Vec<Prompt> {
        self.prompts.read().map(|p| p.clone()).unwrap_or_default()
    }

    fn ready_peer(&self) -> Result<rmcp::Peer<RoleClient>, CallError> {
        let peer = self.peer.read().ok().and_then(|p| p.clone());
        match (peer, self.state()) {
            (Some(peer), State::Ready) => Ok(peer),
            _ => Err(CallError::Unavailable {
                name: self.spec.name.clone(),
                state: self.state(),
            }),
        }
    }

    /// Asks the upstream something within its timeout; `what` names the request in errors.
    async fn ask<T>(
        &self,
        what: String,
        request: impl Future<Output = Result<T, rmcp::service::ServiceError>>,
    ) -> Result<T, CallError> {
        match tokio::time::timeout(self.spec.timeout, request).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(CallError::Failed {
                name: self.spec.name.clone(),
                tool: what,
                message: e.to_string(),
            }),
            Err(_) => Err(CallError::Timeout {
                name: self.spec.name.clone(),
                tool: what,
                ms: self.spec.timeout.as_millis(),
            }),
        }
    }

    /// Reads one of its resources.
    pub async fn read_resource(&self, uri: &str) -> Result<ReadResourceResult, CallError> {
        let peer = self.ready_peer()?;
        let read = peer.read_resource(ReadResourceRequestParams::new(uri.to_owned()));
        self.ask(format!("resources/read {uri}"), read).await
    }

    /// Gets one of its prompts.
    pub async fn get_prompt(
        &self,
        name: &str,
        arguments: Option<serde_json::Map<String, serde_json::Value>>,
    ) -> Result<GetPromptResult, CallError> {
        let peer = self.ready_peer()?;
        let mut params = GetPromptRequestParams::new(name.to_owned());
        params.arguments = arguments;
        self.ask(format!("prompts/get {name}"), peer.get_prompt(params))
            .await
    }

    /// Lists its resources and prompts when it has them (an upstream without the
    /// capability has none; a failing listing is logged and leaves none).
    async fn refresh_resources(&self, peer: &rmcp::Peer<RoleClient>) {
        let caps = peer.peer_info().map(|i| i.capabilities.clone());
        let has = |f: fn(&rmcp::model::ServerCapabilities) -> bool| caps.as_ref().is_some_and(f);
        let resources = if has(|c| c.resources.is_some()) {
            peer.list_all_resources().await.unwrap_or_else(|e| {
                tracing::warn!(upstream = %self.spec.name, error = %e, "resources/list failed");
                Vec::new()
            })
        } else {
            Vec::new()
        };
        if let Ok(mut r) = self.resources.write() {
            *r = resources;
        }
        self.changed.notify_one();
    }

    async fn refresh_prompts(&self, peer: &rmcp::Peer<RoleClient>) {
        let has = peer
            .peer_info()
            .is_some_and(|i| i.capabilities.prompts.is_some());
        let prompts = if has {
            peer.list_all_prompts().await.unwrap_or_else(|e| {
                tracing::warn!(upstream = %self.spec.name, error = %e, "prompts/list failed");
                Vec::new()
            })
        } else {
            Vec::new()
        };
        if let Ok(mut p) = self.prompts.write() {
            *p = prompts;
        }
        self.changed.notify_one();
    }

    /// Its state now.
    pub fn state(&self) -> State {
        self.state.read().map_or(State::Connecting, |s| s.clone())
    }

    /// Its exposed tools (upstream names), after the allow and deny lists.
    pub fn tools(&self) -> Vec<Tool> {
        self.tools.read().map(|t| t.clone()).unwrap_or_default()
    }

    fn set_state(&self, s: State) {
        let changed = match self.state.write() {
            Ok(mut st) if *st != s => {
                *st = s.clone();
                true
            }
            _ => false,
        };
        if changed {
            let _ = self.states.send(StateChange {
                name: self.spec.name.clone(),
                state: s,
            });
        }
    }

    /// Lists `tools` before the upstream is reached (Ralph's catalog from the last
    /// server): calls made meanwhile wait for the first connection.
    pub fn seed_tools(&self, tools: Vec<Tool>) {
        self.set_tools(self.filter(tools));
    }

    fn set_tools(&self, tools: Vec<Tool>) {
        if let Ok(mut t) = self.tools.write() {
            *t = tools;
        }
        self.changed.notify_one();
    }

    async fn supervise(self: Arc<Self>) {
        let mut quick_crashes = 0u32;
        // A command that is not there will not appear by retrying: fail at once, by name.
        if let Transport::Stdio { command, env, .. } = &self.spec.transport
            && let Err(why) = find_command(command, env.get("PATH").map(String::as_str))
        {
            tracing::error!(upstream = %self.spec.name, "{why}");
            self.set_state(State::Failed(why));
            return;
        }
        loop {
            let started = Instant::now();
            match self.connect().await {
                Ok(session) => {
                    self.set_state(State::Ready);
                    let reason = self.serve_until_closed(session).await;
                    if let Ok(mut p) = self.peer.write() {
                        *p = None;
                    }
                    tracing::warn!(upstream = %self.spec.name, %reason, "upstream session ended");
                    self.set_state(State::Down(reason));
                }
                Err(e) => {
                    tracing::warn!(upstream = %self.spec.name, error = %e, "upstream failed to start");
                    self.set_state(State::Down(e));
                }
            }
            let used = self
                .restarts
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                + 1;
            if used > RESTART.budget {
                let why = format!("gave up after {} restarts", RESTART.budget);
                self.set_state(State::Failed(why));
                self.set_tools(Vec::new());
                return;
            }
            quick_crashes = if RESTART.is_quick(started.elapsed()) {
                quick_crashes + 1
            } else {
                0
            };
            tokio::time::sleep(RESTART.delay(quick_crashes)).await;
            self.set_state(State::Connecting);
        }
    }

    /// Refreshes tools, resources and prompts on their `list_changed` until the
    /// session ends; returns why it ended.
    async fn serve_until_closed(&self, session: Session) -> String {
        let refresh = session.service().list_changed.clone();
        let resources = session.service().resources_changed.clone();
        let prompts = session.service().prompts_changed.clone();
        let peer = session.peer().clone();
        let waiting = session.waiting();
        tokio::pin!(waiting);
        loop {
            tokio::select! {
                end = &mut waiting => {
                    return match end {
                        Ok(reason) => format!("{reason:?}"),
                        Err(e) => e.to_string(),
                    };
                }
                () = refresh.notified() => {
                    match peer.list_all_tools().await {
                        Ok(tools) => self.set_tools(self.filter(tools)),
                        Err(e) => tracing::warn!(upstream = %self.spec.name, error = %e, "tools/list after list_changed failed"),
                    }
                }
                () = resources.notified() => self.refresh_resources(&peer).await,
                () = prompts.notified() => self.refresh_prompts(&peer).await,
            }
        }
    }

    /// Copies a child's stderr into `.agent/tmp/mcp-upstream-<name>.log`, moving
    /// the log to `<name>.1` whenever it passes [`LOG_CAP`], so an upstream that
    /// writes without end never holds more than two caps of disk. Without a log
    /// directory (or when the log cannot be opened) the output is read and dropped,
    /// so the child never blocks on a full pipe.
    fn pipe_stderr(&self, stderr: tokio::process::ChildStderr) {
        let agent = self.log_dir.clone();
        let name = format!("mcp-upstream-{}.log", self.spec.name);
        let upstream = self.spec.name.clone();
        tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            let tmp = ralph_mcp_session::names::agent_paths::TMP;
            let open = |agent: &crate::confine::AgentDir| match agent
                .append_log(tmp, &name, LOG_CAP)
            {
                Ok(f) => {
                    let len = f.metadata().map_or(0, |m| m.len());
                    Some((f, len))
                }
                Err(e) => {
                    tracing::warn!(upstream = %upstream, error = %e, "cannot open the upstream log; its stderr is discarded");
                    None
                }
            };
            let mut log = agent.as_deref().and_then(open);
            let mut stderr = stderr;
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = match stderr.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let Some((file, len)) = log.as_mut() else {
                    continue;
                };
                if std::io::Write::write_all(file, &buf[..n]).is_err() {
                    continue;
                }
                *len += n as u64;
                if *len > LOG_CAP {
                    log = agent.as_deref().and_then(open);
                }
            }
        });
    }

    fn filter(&self, tools: Vec<Tool>) -> Vec<Tool> {
        tools
            .into_iter()
            .filter(|t| self.spec.exposes(&t.name))
            .collect()
    }

    async fn connect(&self) -> Result<Session, String> {
        let handler = Handler {
            routes: self.routes.clone(),
            list_changed: Arc::new(Notify::new()),
            resources_changed: Arc::new(Notify::new()),
            prompts_changed: Arc::new(Notify::new()),
        };
        let limit = self.spec.startup_timeout;
        let attempt = async {
            let session: Session = match &self.spec.transport {
                Transport::Stdio { command, args, env } => {
                    let mut cmd = tokio::process::Command::new(command);
                    cmd.args(args).envs(env).kill_on_drop(true);
                    crate::process::harden(&mut cmd, crate::process::Tokens::Scrub);
                    let (transport, stderr) = rmcp::transport::TokioChildProcess::builder(cmd)
                        .stderr(std::process::Stdio::piped())
                        .spawn()
                        .map_err(|e| format!("cannot start `{command}`: {e}"))?;
                    if let Some(stderr) = stderr {
                        self.pipe_stderr(stderr);
                    }
                    handler
                        .clone()
                        .serve(transport)
                        .await
                        .map_err(|e| format!("handshake failed: {e}"))?
                }
                Transport::Http {
                    url,
                    headers,
                    ca_files,
                } => {
                    let mut map = HashMap::new();
                    for (name, source) in headers {
                        let value = match source {
                            HeaderSource::Literal(v) => v.clone(),
                            HeaderSource::Env { env, prefix } => {
                                let v = std::env::var(env).map_err(|_| {
                                    format!(
                                        "header `{name}` reads env var `{env}`, which is not set"
                                    )
                                })?;
                                format!("{prefix}{v}")
                            }
                        };
                        let hn = http::HeaderName::try_from(name.as_str())
                            .map_err(|e| format!("header name `{name}`: {e}"))?;
                        let hv = http::HeaderValue::try_from(value)
                            .map_err(|e| format!("header `{name}` value: {e}"))?;
                        map.insert(hn, hv);
                    }
                    let config = rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(url.as_str())
                        .custom_headers(map);
                    let client = crate::tls::builder(ca_files)?
                        .build()
                        .map_err(|e| format!("HTTP client: {}", crate::tls::describe(&e)))?;
                    let transport = rmcp::transport::StreamableHttpClientTransport::with_client(
                        client.clone(),
                        config,
                    );
                    match handler.clone().serve(transport).await {
                        Ok(session) => session,
                        Err(e) => {
                            // rmcp keeps only the text of a transport error; ask once more
                            // with the same client for the cause (a certificate problem, a
                            // refused connection) so the message names it.
                            let cause = match client.get(url.as_str()).send().await {
                                Err(probe) => format!(" ({})", crate::tls::describe(&probe)),
                                Ok(_) => String::new(),
                            };
                            return Err(format!("handshake with {url} failed: {e}{cause}"));
                        }
                    }
                }
            };
            let tools = session
                .peer()
                .list_all_tools()
                .await
                .map_err(|e| format!("tools/list failed: {e}"))?;
            Ok::<_, String>((session, tools))
        };
        let (session, tools) = tokio::time::timeout(limit, attempt).await.map_err(|_| {
            format!(
                "not ready within startup_timeout_ms ({} ms)",
                limit.as_millis()
            )
        })??;
        let peer = session.peer().clone();
        self.refresh_resources(&peer).await;
        self.refresh_prompts(&peer).await;
        if let Ok(mut p) = self.peer.write() {
            *p = Some(peer);
        }
        self.set_tools(self.filter(tools));
        Ok(session)
    }

    /// Forwards a call: arguments as given, the upstream's timeout, progress
    /// relayed to the current [`ProgressSink`], and a cancellation sent upstream
    /// when the call times out or its caller goes away.
    pub async fn call(
        &self,
        tool: &str,
        arguments: Option<serde_json::Map<String, serde_json::Value>>,
    ) -> Result<CallToolResult, CallError> {
        // Listed from a catalog before the first connection: wait for it, within
        // the start-up budget. A lost connection (Down) still fails at once.
        let deadline = tokio::time::Instant::now() + self.spec.startup_timeout;
        while self.state() == State::Connecting && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let peer = self.ready_peer()?;
        let failed = |message: String| CallError::Failed {
            name: self.spec.name.clone(),
            tool: tool.to_owned(),
            message,
        };
        let mut params = CallToolRequestParams::new(tool.to_owned());
        params.arguments = arguments;
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
        let handle = peer
            .send_request_with_option(request, PeerRequestOptions::with_timeout(self.spec.timeout))
            .await
            .map_err(|e| failed(e.to_string()))?;
        let token = handle.progress_token.clone();
        if let Some(sink) = ProgressSink::current()
            && let Ok(mut r) = self.routes.routes.lock()
        {
            r.insert(token.clone(), sink);
        }
        let guard = CancelOnDrop {
            peer: Some(peer.clone()),
            id: handle.id.clone(),
        };
        let outcome = handle.await_response().await;
        guard.disarm();
        if let Ok(mut r) = self.routes.routes.lock() {
            r.remove(&token);
        }
        match outcome {
            Ok(ServerResult::CallToolResult(r)) => Ok(r),
            Ok(other) => Err(failed(format!("unexpected reply {other:?}"))),
            Err(rmcp::service::ServiceError::Timeout { .. }) => Err(CallError::Timeout {
                name: self.spec.name.clone(),
                tool: tool.to_owned(),
                ms: self.spec.timeout.as_millis(),
            }),
            Err(rmcp::service::ServiceError::McpError(e)) => Err(failed(e.message.to_string())),
            Err(e) => Err(failed(e.to_string())),
        }
    }
}

/// Sends `notifications/cancelled` upstream if dropped before disarmed.
struct CancelOnDrop {
    peer: Option<rmcp::Peer<RoleClient>>,
    id: rmcp::model::RequestId,
}

impl CancelOnDrop {
    fn disarm(mut self) {
        self.peer = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(peer) = self.peer.take() {
            let id = self.id.clone();
            tokio::spawn(async move {
                let _ = peer
                    .notify_cancelled(CancelledNotificationParam::new(
                        Some(id),
                        Some("the caller went away".into()),
                    ))
                    .await;
            });
        }
    }
}

#[cfg(test)]
mod find_command_tests {
    use super::find_command;

    #[test]
    fn commands_are_found_like_execvp_finds_them() {
        assert!(find_command("sh", Some("/usr/bin:/bin")).is_ok());
        let err = find_command("surely-not-a-command-xyz", Some("/usr/bin:/bin")).unwrap_err();
        assert!(
            err.contains("`surely-not-a-command-xyz` is not on PATH"),
            "{err}"
        );
        let err = find_command("/nonexistent/bin/x", None).unwrap_err();
        assert!(err.contains("does not exist"), "{err}");
        assert!(find_command("/bin/sh", None).is_ok());
    }
}
