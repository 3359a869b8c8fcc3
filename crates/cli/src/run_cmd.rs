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

/// Exit code when the server could not be started (bad workspace, port taken, preflight).
pub const EXIT_START_FAILED: u8 = 3;
/// Exit code when supervision gave up (restart budget exhausted).
pub const EXIT_SUPERVISION_FAILED: u8 = 4;
/// Exit code when the agent command could not be started.
pub const EXIT_AGENT_NOT_STARTED: u8 = 127;

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
    /// Drain whose default grants the session gets.
    #[arg(long, default_value = "development")]
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
    /// The agent command.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

fn build_session(args: &RunArgs, run_id: &str) -> Result<Session> {
    let mut caps: CapabilitySet = default_grants(&args.drain, false);
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

/// Runs `run`; returns the process exit code.
pub async fn run(args: RunArgs) -> Result<u8> {
    let run_id = random_hex(8);
    let session = build_session(&args, &run_id)?;
    let token = (!args.no_auth).then(|| random_hex(32));
    let binary = std::env::current_exe()?;
    let mut options = ServerOptions::from_env(binary);
    options.port = args.port;
    options.max_restarts = args.max_restarts;
    options.auth_token = token.clone();
    if !args.require.is_empty() {
        options.required_tools = args.require.clone();
    }
    let agent_transport = transport_of(&args.agent);
    options.extra_serve_args = vec!["--agent-transport".into(), agent_transport.into()];

    // Signals are caught from the start. One that arrives during start-up lets the
    // start finish (it is bounded by the preflight timeout), then tears down, so no
    // half-started server or session file is abandoned.
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut signalled: Option<u8> = None;
    let start = start_server(session, &args.workspace, options);
    tokio::pin!(start);
    let started = loop {
        tokio::select! {
            res = &mut start => break res,
            _ = term.recv() => signalled = Some(143),
            _ = int.recv() => signalled = Some(130),
        }
    };
    let bridge = match started {
        Ok(b) => b,
        Err(e) => {
            eprintln!("ralph-mcp run: cannot start the MCP server: {e}");
            return Ok(signalled.unwrap_or(EXIT_START_FAILED));
        }
    };
    let mut supervisor = match bridge.supervise() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ralph-mcp run: {e}");
            return Ok(EXIT_START_FAILED);
        }
    };
    if let Some(code) = signalled {
        supervisor.shutdown().await;
        return Ok(code);
    }
    let endpoint = AgentEndpoint {
        url: bridge.endpoint().to_owned(),
        token,
        run_id: run_id.clone(),
        label_scope: format!("ralph-mcp-run-{run_id}"),
    };
    let mut files = AgentFiles::default();
    let cmd = match agent_command(args.agent, &args.command, &endpoint, &mut files) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ralph-mcp run: {e}");
            supervisor.shutdown().await;
            return Ok(EXIT_AGENT_NOT_STARTED);
        }
    };
    let mut agent = match AgentProcess::spawn(cmd) {
        Ok(a) => a,
        Err(e) => {
            eprintln!(
                "ralph-mcp run: cannot start agent `{}`: {e}",
                args.command[0]
            );
            supervisor.shutdown().await;
            return Ok(EXIT_AGENT_NOT_STARTED);
        }
    };
    tracing::info!(endpoint = %bridge.endpoint(), "agent started");
    let grace = Duration::from_secs(5);
    let code = tokio::select! {
        status = agent.wait() => {
            match status {
                Ok(s) => s.code().map_or_else(|| 128 + std::os::unix::process::ExitStatusExt::signal(&s).unwrap_or(0) as u8, |c| c as u8),
                Err(_) => 1,
            }
        }
        err = supervisor.failed() => {
            agent.stop(grace).await;
            eprintln!(
                "ralph-mcp run: supervision failed after {} restart(s): {}",
                supervisor.restart_count(),
                err.to_string().lines().next().unwrap_or_default()
            );
            EXIT_SUPERVISION_FAILED
        }
        _ = term.recv() => { agent.stop(grace).await; 143 }
        _ = int.recv() => { agent.stop(grace).await; 130 }
    };
    let report = supervisor.shutdown().await;
    for kept in report.kept_session_files {
        eprintln!(
            "ralph-mcp run: kept session file {} because the server could not be reaped",
            kept.display()
        );
    }
    drop(files);
    Ok(code)
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
