//! `ralph-mcp run`: start a supervised server, run the agent wired to it, and
//! tear everything down when the agent exits, supervision fails, or we are signalled.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use ralph_mcp_lifecycle::agent::{
    AgentEndpoint, AgentFiles, AgentKind, AgentProcess, agent_command,
};
use ralph_mcp_lifecycle::{ServerOptions, start_server};
use ralph_mcp_session::session::{SessionPayload, SessionSource};
use ralph_mcp_session::{CapabilitySet, Session, default_grants};
use tokio::signal::unix::{SignalKind, signal};

use crate::exit::{
    AGENT_NOT_STARTED as EXIT_AGENT_NOT_STARTED, OWN_FAILURE as EXIT_START_FAILED,
    SUPERVISION_FAILED as EXIT_SUPERVISION_FAILED,
};

/// Arguments of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Workspace the server serves.
    #[arg(long)]
    pub workspace: PathBuf,
    /// Port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Agent CLI to wire: claude, codex, opencode or generic.
    #[arg(long, default_value = "generic")]
    pub agent: AgentKind,
    /// Drain whose default grants the session gets: development, fix, review,
    /// analysis or commit (see --help's drain table).
    #[arg(long, default_value = "development", value_parser = drain_name)]
    pub drain: String,
    /// Extra capability (repeatable).
    #[arg(long = "capability", value_name = "C")]
    pub capabilities: Vec<String>,
    /// Allowed root (repeatable); without any, the workspace is the root.
    #[arg(long = "allowed-root", value_name = "P")]
    pub allowed_roots: Vec<PathBuf>,
    /// Restarts allowed before the run fails.
    #[arg(long, default_value_t = 20)]
    pub max_restarts: u32,
    /// Do not mint a bearer token.
    #[arg(long)]
    pub no_auth: bool,
    /// Provider of the model the agent runs (claude, anthropic, openai, gemini, …), which
    /// decides how media reaches it. Defaults from --agent: claude for claude, openai for codex.
    #[arg(long, value_name = "P")]
    pub model_provider: Option<String>,
    /// The model id, recorded in the session's model_identity.
    #[arg(long, value_name = "M")]
    pub model: Option<String>,
    /// Tool the preflight requires (repeatable; default read_file).
    #[arg(long = "require", value_name = "TOOL")]
    pub require: Vec<String>,
    /// Start the agent without waiting for configured upstream servers (by default
    /// `run` waits, up to the preflight timeout, until each is ready or has failed).
    #[arg(long)]
    pub no_wait_upstreams: bool,
    /// Keep no warm standby server. By default a second server waits, started
    /// and ready to accept, so a crashed or hung server is replaced without a
    /// start-up; this saves that idle process (under 1 MiB PSS) at that cost.
    #[arg(long)]
    pub no_standby: bool,
    /// Directory the agent runs in (default: the workspace, where the MCP tools work too).
    #[arg(long, value_name = "DIR")]
    pub agent_cwd: Option<PathBuf>,
    /// Write what ended the run to FILE as JSON (`ended_by`: agent, start_failed,
    /// agent_not_started, supervision_failed or signal; `exit_code`; `agent_exit_code`;
    /// `reason`), so a script can tell ralph-mcp's exit codes from the agent's.
    #[arg(long, value_name = "FILE")]
    pub status_file: Option<PathBuf>,
    /// The agent command.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// A drain `run` knows the grants of.
fn drain_name(raw: &str) -> Result<String, String> {
    if ralph_mcp_session::capability::is_known_drain(raw) {
        Ok(raw.to_owned())
    } else {
        Err(format!(
            "unknown drain; the drains and what each grants on top of the read-only base:\n{}",
            ralph_mcp_session::capability::describe_drains()
        ))
    }
}

fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

/// True when the workspace's `.agent/mcp.toml` or `RALPH_UPSTREAM_MCP_CONFIG`
/// names upstream servers (then every drain but commit may call their tools).
fn upstreams_configured(workspace: &std::path::Path) -> bool {
    use ralph_mcp_session::names::{UPSTREAM_CONFIG_ENV, agent_paths};
    let from_env = std::env::var(UPSTREAM_CONFIG_ENV)
        .ok()
        .and_then(|v| serde_json::from_str::<serde_json::Value>(&v).ok())
        .is_some_and(|v| v.as_array().is_some_and(|a| !a.is_empty()));
    let from_file = std::fs::read_to_string(
        workspace
            .join(agent_paths::DIR)
            .join(agent_paths::CONFIG_FILE),
    )
    .ok()
    .and_then(|text| text.parse::<toml::Table>().ok())
    .and_then(|t| {
        t.get("mcp_servers")
            .and_then(|s| s.as_table().map(|s| !s.is_empty()))
    })
    .unwrap_or(false);
    from_env || from_file
}

fn build_session(args: &RunArgs, run_id: &str) -> Result<Session> {
    let mut caps: CapabilitySet =
        default_grants(&args.drain, upstreams_configured(&args.workspace));
    let (extra, unknown) =
        CapabilitySet::parse_tokens(args.capabilities.iter().map(String::as_str));
    if let Some(bad) = unknown.first() {
        anyhow::bail!(
            "--capability {bad}: {}",
            ralph_mcp_session::capability::UnknownCapability(bad.clone())
        );
    }
    for c in extra.iter() {
        caps.insert(c);
    }
    if let Some(missing) = args.allowed_roots.iter().find(|p| !p.is_dir()) {
        anyhow::bail!(
            "--allowed-root {}: no such directory; every path under it would be refused. Create it or drop the flag",
            missing.display()
        );
    }
    let allowed_roots = if args.allowed_roots.is_empty() {
        None
    } else {
        Some(
            args.allowed_roots
                .iter()
                .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
                .collect(),
        )
    };
    let payload = SessionPayload {
        session_id: format!("ralph-mcp-run-{run_id}"),
        run_id: run_id.to_owned(),
        drain: args.drain.clone(),
        capabilities: caps.to_dotted(),
        allowed_roots,
        model_identity: model_identity(args),
        ..SessionPayload::default()
    };
    Ok(Session::from_payload(payload, SessionSource::Standalone)?)
}

fn transport_of(agent: &AgentKind) -> &'static str {
    match agent {
        AgentKind::Claude => "claude",
        AgentKind::Codex => "codex",
        AgentKind::OpenCode => "opencode",
        AgentKind::Generic => "generic",
    }
}

/// The session's `model_identity`: who will read media results.
fn model_identity(args: &RunArgs) -> Option<serde_json::Value> {
    let transport = transport_of(&args.agent);
    let provider = args.model_provider.clone().or(match args.agent {
        AgentKind::Claude => Some("claude".into()),
        AgentKind::Codex => Some("openai".into()),
        _ => None,
    })?;
    Some(serde_json::json!({
        "provider": provider,
        "model_id": args.model,
        "transport": transport,
    }))
}

/// What ended a run, for `--status-file`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EndedBy {
    Agent,
    StartFailed,
    AgentNotStarted,
    SupervisionFailed,
    Signal,
}

impl EndedBy {
    fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::StartFailed => "start_failed",
            Self::AgentNotStarted => "agent_not_started",
            Self::SupervisionFailed => "supervision_failed",
            Self::Signal => "signal",
        }
    }
}

/// How a run ended.
struct Ending {
    code: u8,
    by: EndedBy,
    agent_code: Option<i32>,
    reason: String,
}

impl Ending {
    fn new(code: u8, by: EndedBy, reason: impl Into<String>) -> Self {
        Self {
            code,
            by,
            agent_code: None,
            reason: reason.into(),
        }
    }
}

/// Writes `--status-file` atomically (temp file, then rename).
fn write_status(path: &std::path::Path, ending: &Ending) -> std::io::Result<()> {
    let body = serde_json::json!({
        "ended_by": ending.by.as_str(),
        "exit_code": ending.code,
        "agent_exit_code": ending.agent_code,
        "reason": ending.reason,
    });
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("status"),
        std::process::id()
    ));
    std::fs::write(&tmp, format!("{body}\n"))?;
    std::fs::rename(&tmp, path)
}

/// Runs `run`; returns the process exit code.
pub async fn run(args: RunArgs) -> Result<u8> {
    let status_file = args.status_file.clone();
    let ending = match run_inner(args).await {
        Ok(e) => e,
        Err(e) => {
            if let Some(p) = &status_file {
                let _ = write_status(
                    p,
                    &Ending::new(EXIT_START_FAILED, EndedBy::StartFailed, format!("{e:#}")),
                );
            }
            return Err(e);
        }
    };
    if let Some(p) = &status_file
        && let Err(e) = write_status(p, &ending)
    {
        eprintln!(
            "ralph-mcp run: cannot write --status-file {}: {e}",
            p.display()
        );
    }
    Ok(ending.code)
}

async fn run_inner(args: RunArgs) -> Result<Ending> {
    let run_id = random_hex(8);
    let session = build_session(&args, &run_id)?;
    let token = (!args.no_auth).then(|| random_hex(32));
    let binary = std::env::current_exe()?;
    let mut options = ServerOptions::from_env(binary);
    options.port = args.port;
    options.standby = !args.no_standby;
    options.max_restarts = args.max_restarts;
    options.auth_token = token.clone();
    if !args.require.is_empty() {
        options.required_tools = args.require.clone();
    }
    let agent_transport = transport_of(&args.agent);
    // Agents get each tool once; the aliases stay callable.
    options.extra_serve_args = vec![
        "--agent-transport".into(),
        agent_transport.into(),
        "--no-list-aliases".into(),
    ];

    // Signals are caught from the start. One that arrives during start-up lets the
    // start finish (it is bounded by the preflight timeout), then tears down, so no
    // half-started server or session file is abandoned.
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut signalled: Option<u8> = None;
    let upstream_wait = options.preflight_timeout;
    let waiting_for = format!(
        "ralph-mcp run: waiting for the MCP server to pass its preflight (requires {}; gives up after {} s)",
        options.required_tools.join(", "),
        options.preflight_timeout.as_secs()
    );
    let start = start_server(session, &args.workspace, options);
    tokio::pin!(start);
    let mut patience = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_secs(2),
        Duration::from_secs(10),
    );
    let started = loop {
        tokio::select! {
            res = &mut start => break res,
            _ = patience.tick() => eprintln!("{waiting_for}"),
            _ = term.recv() => signalled = Some(143),
            _ = int.recv() => signalled = Some(130),
        }
    };
    let bridge = match started {
        Ok(b) => b,
        Err(e) => {
            eprintln!("ralph-mcp run: cannot start the MCP server: {e}");
            return Ok(match signalled {
                Some(code) => Ending::new(code, EndedBy::Signal, "signalled during start-up"),
                None => Ending::new(EXIT_START_FAILED, EndedBy::StartFailed, e.to_string()),
            });
        }
    };
    let mut supervisor = match bridge.supervise() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ralph-mcp run: {e}");
            return Ok(Ending::new(
                EXIT_START_FAILED,
                EndedBy::StartFailed,
                e.to_string(),
            ));
        }
    };
    if let Some(code) = signalled {
        supervisor.shutdown().await;
        return Ok(Ending::new(
            code,
            EndedBy::Signal,
            "signalled during start-up",
        ));
    }
    // Upstream tools arrive before the agent: some agents (Codex) never re-read
    // the tool list. Each upstream that is not there gets one line saying why.
    if !args.no_wait_upstreams && upstreams_configured(&args.workspace) {
        let wait =
            ralph_mcp_lifecycle::client::wait_for_upstreams(bridge.endpoint(), upstream_wait);
        let not_ready = tokio::select! {
            r = wait => r,
            _ = term.recv() => {
                supervisor.shutdown().await;
                return Ok(Ending::new(143, EndedBy::Signal, "SIGTERM"));
            }
            _ = int.recv() => {
                supervisor.shutdown().await;
                return Ok(Ending::new(130, EndedBy::Signal, "SIGINT"));
            }
        };
        for (name, state) in not_ready {
            eprintln!(
                "ralph-mcp run: upstream `{name}` is not available ({state}); the agent starts without its tools"
            );
        }
    }
    let endpoint = AgentEndpoint {
        url: bridge.endpoint().to_owned(),
        token,
        run_id: run_id.clone(),
        label_scope: format!("ralph-mcp-run-{run_id}"),
    };
    let agent_tmp = args
        .workspace
        .join(ralph_mcp_session::names::agent_paths::DIR)
        .join(ralph_mcp_session::names::agent_paths::TMP);
    ralph_mcp_lifecycle::agent::sweep_run_dirs(&agent_tmp);
    let mut files = match AgentFiles::create(&agent_tmp, &run_id) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("ralph-mcp run: {e}");
            supervisor.shutdown().await;
            return Ok(Ending::new(
                EXIT_START_FAILED,
                EndedBy::StartFailed,
                e.to_string(),
            ));
        }
    };
    let mut cmd = match agent_command(args.agent, &args.command, &endpoint, &mut files) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ralph-mcp run: {e}");
            supervisor.shutdown().await;
            return Ok(Ending::new(
                EXIT_AGENT_NOT_STARTED,
                EndedBy::AgentNotStarted,
                e.to_string(),
            ));
        }
    };
    // The agent works where the tools work unless told otherwise.
    let agent_cwd = args.agent_cwd.as_ref().unwrap_or(&args.workspace);
    if !agent_cwd.is_dir() {
        eprintln!(
            "ralph-mcp run: the agent's working directory {} does not exist",
            agent_cwd.display()
        );
        supervisor.shutdown().await;
        return Ok(Ending::new(
            EXIT_AGENT_NOT_STARTED,
            EndedBy::AgentNotStarted,
            format!("working directory {} does not exist", agent_cwd.display()),
        ));
    }
    cmd.current_dir(agent_cwd);
    let mut agent = match AgentProcess::spawn(cmd) {
        Ok(a) => a,
        Err(e) => {
            eprintln!(
                "ralph-mcp run: cannot start agent `{}`: {e}",
                args.command[0]
            );
            supervisor.shutdown().await;
            return Ok(Ending::new(
                EXIT_AGENT_NOT_STARTED,
                EndedBy::AgentNotStarted,
                format!("cannot start `{}`: {e}", args.command[0]),
            ));
        }
    };
    tracing::info!(endpoint = %bridge.endpoint(), "agent started");
    let grace = Duration::from_secs(5);
    let mut ending = tokio::select! {
        status = agent.wait() => {
            let agent_code = match status {
                Ok(s) => Some(s.code().unwrap_or_else(|| {
                    128 + std::os::unix::process::ExitStatusExt::signal(&s).unwrap_or(0)
                })),
                Err(_) => None,
            };
            let code = agent_code.map_or(1, |c| u8::try_from(c & 0xff).unwrap_or(1));
            let mut e = Ending::new(code, EndedBy::Agent, "the agent exited");
            e.agent_code = agent_code;
            e
        }
        err = supervisor.failed() => {
            agent.stop(grace).await;
            let line = err.to_string().lines().next().unwrap_or_default().to_owned();
            eprintln!(
                "ralph-mcp run: supervision failed after {} restart(s): {line}",
                supervisor.restart_count(),
            );
            Ending::new(EXIT_SUPERVISION_FAILED, EndedBy::SupervisionFailed, line)
        }
        _ = term.recv() => { agent.stop(grace).await; Ending::new(143, EndedBy::Signal, "SIGTERM") }
        _ = int.recv() => { agent.stop(grace).await; Ending::new(130, EndedBy::Signal, "SIGINT") }
    };
    let report = supervisor.shutdown().await;
    for kept in report.kept_session_files {
        eprintln!(
            "ralph-mcp run: kept session file {} because the server could not be reaped",
            kept.display()
        );
    }
    drop(files);
    if ending.by == EndedBy::Agent && ending.reason.is_empty() {
        ending.reason = "the agent exited".into();
    }
    Ok(ending)
}

/// Arguments of `agent-config`.
#[derive(Debug, Args)]
pub struct AgentConfigArgs {
    /// Agent CLI: claude, codex, opencode or generic.
    #[arg(long)]
    pub agent: AgentKind,
    /// Endpoint URL.
    #[arg(long)]
    pub endpoint: String,
    /// Bearer token to include (Claude/OpenCode inline it; Codex names the env var).
    #[arg(long)]
    pub token: Option<String>,
}

/// Prints the snippet an agent needs.
pub fn agent_config(args: AgentConfigArgs) -> Result<u8> {
    use ralph_mcp_lifecycle::agent::{claude_config, codex_config, opencode_config};
    let ep = AgentEndpoint {
        url: args.endpoint,
        token: args.token,
        run_id: String::new(),
        label_scope: String::new(),
    };
    match args.agent {
        AgentKind::Claude => println!("{}", serde_json::to_string_pretty(&claude_config(&ep))?),
        AgentKind::Codex => print!("{}", codex_config(&ep)),
        AgentKind::OpenCode => println!("{}", serde_json::to_string_pretty(&opencode_config(&ep))?),
        AgentKind::Generic => {
            println!("RALPH_MCP_ENDPOINT={}", ep.url);
            if let Some(t) = &ep.token {
                println!("RALPH_MCP_AUTH_TOKEN={t}");
            }
        }
    }
    Ok(0)
}
