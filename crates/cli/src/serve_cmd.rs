//! `ralph-mcp serve`: find the listener, load the session, print the banner, serve.

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::os::fd::{FromRawFd, RawFd};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use ralph_mcp_server::{Server, ServerConfig};
use ralph_mcp_session::Session;

/// Arguments of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to bind. Anything but loopback needs --allow-remote.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to bind (0 lets the kernel choose; the banner shows the result).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Workspace root; relative tool paths resolve against it.
    #[arg(long, default_value = ".")]
    pub workspace: PathBuf,
    /// The agent CLI transport (claude, codex, opencode, …); shapes media delivery.
    #[arg(long)]
    pub agent_transport: Option<String>,
    /// Serve on this inherited, already-listening socket instead of binding.
    #[arg(long, value_name = "FD")]
    pub listen_fd: Option<RawFd>,
    /// Start as a warm standby: do everything up to accepting, then wait for
    /// one byte on this inherited pipe before serving (end of file: exit).
    /// `run`'s supervisor keeps a standby this way so a crash costs no start-up.
    #[arg(long, value_name = "FD")]
    pub standby_fd: Option<RawFd>,
    /// Allow binding (and answering Host headers) beyond loopback.
    #[arg(long)]
    pub allow_remote: bool,
    /// Tool calls allowed at once (at least 1); the next one gets 503 at once.
    #[arg(long, default_value_t = 32, value_parser = at_least_one)]
    pub max_in_flight: usize,
    /// Largest request body accepted, in bytes (at least 1024).
    #[arg(long, default_value_t = 16 * 1024 * 1024, value_parser = body_limit)]
    pub max_body_bytes: usize,
    /// Ceiling on the graceful drain after SIGTERM, in milliseconds.
    #[arg(long, default_value_t = 5000)]
    pub drain_timeout_ms: u64,
    /// List each tool once, without its `mcp__ralph__<name>` alias (aliases are
    /// still accepted on calls). `run` passes this; Ralph's preflight needs the aliases listed.
    #[arg(long)]
    pub no_list_aliases: bool,
}

/// A count that must be at least 1.
pub fn at_least_one(raw: &str) -> Result<usize, String> {
    match raw.parse::<usize>() {
        Ok(0) => Err("0 would refuse every call; give at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{e}; give a whole number")),
    }
}

/// A body limit large enough for any MCP request.
fn body_limit(raw: &str) -> Result<usize, String> {
    match raw.parse::<usize>() {
        Ok(n) if n < 1024 => Err(format!(
            "{n} bytes is too small for any MCP request; give at least 1024"
        )),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{e}; give a number of bytes")),
    }
}

/// Refuses sessions that could only serve nothing: no id, no capabilities, or
/// allowed roots none of which exist. Roots that do not exist are warned about.
fn check_session(session: &Session) -> Result<()> {
    let where_ = &session.source;
    if session.payload.session_id.trim().is_empty() {
        bail!(
            "the session from {where_} has no session_id; give it one, e.g. {{\"session_id\":\"s1\",\"drain\":\"development\",\"capabilities\":[\"workspace.read\"]}}"
        );
    }
    if session.capabilities.is_empty() {
        bail!(
            "the session from {where_} grants no capabilities, so every tool would be hidden; list them in \"capabilities\" (e.g. \"workspace.read\"), see docs/reference.md"
        );
    }
    if let Some(roots) = &session.payload.allowed_roots {
        let missing: Vec<_> = roots.iter().filter(|r| !r.is_dir()).collect();
        for r in &missing {
            tracing::warn!(root = %r.display(), "allowed root does not exist or is not a directory; it is skipped");
        }
        if !roots.is_empty() && missing.len() == roots.len() {
            bail!(
                "none of the session's allowed_roots exists ({}); every path would be refused. Create them or fix the session",
                roots
                    .iter()
                    .map(|r| r.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    if !session.payload.drain.is_empty()
        && session.payload.drain != "standalone"
        && !ralph_mcp_session::capability::is_known_drain(&session.payload.drain)
    {
        tracing::warn!(
            drain = %session.payload.drain,
            "unknown drain; the session's capabilities decide what it may do. Known drains:\n{}",
            ralph_mcp_session::capability::describe_drains()
        );
    }
    Ok(())
}

/// The socket the server will accept on, and how it was obtained.
fn acquire_listener(args: &ServeArgs) -> Result<(TcpListener, &'static str)> {
    if let Some(fd) = args.listen_fd {
        return Ok((
            adopt_fd(fd).with_context(|| format!("--listen-fd {fd}"))?,
            "listen-fd",
        ));
    }
    // Ralph binds the port itself and names the inherited socket here; a value
    // that does not name a listening socket fails closed rather than binding anew.
    if let Some(raw) = std::env::var(INHERITED_FD_ENV)
        .ok()
        .filter(|v| !v.is_empty())
    {
        let fd: RawFd = raw.trim().parse().map_err(|_| {
            anyhow::anyhow!("{INHERITED_FD_ENV}={raw:?} is not a file descriptor number")
        })?;
        return Ok((
            adopt_fd(fd).with_context(|| format!("{INHERITED_FD_ENV}={fd}"))?,
            "inherited-fd",
        ));
    }
    let pid_matches = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        .is_some_and(|p| p == std::process::id());
    let fds = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(0);
    if pid_matches && fds >= 1 {
        return Ok((
            adopt_fd(3).context("systemd LISTEN_FDS socket (fd 3)")?,
            "systemd",
        ));
    }
    let ip: IpAddr = match args.host.as_str() {
        "localhost" => IpAddr::from([127, 0, 0, 1]),
        h => h
            .parse()
            .with_context(|| format!("--host {h} is not an IP address; use 127.0.0.1"))?,
    };
    if !ip.is_loopback() && !args.allow_remote {
        bail!(
            "refusing to listen on non-loopback address {ip}: the tools give access to the workspace; pass --allow-remote if you really mean it"
        );
    }
    let addr = SocketAddr::new(ip, args.port);
    let listener = TcpListener::bind(addr).with_context(|| {
        format!("cannot bind {addr} (is the port already taken? use --port 0 for any free port)")
    })?;
    Ok((listener, "bound"))
}

fn adopt_fd(fd: RawFd) -> Result<TcpListener> {
    if fd < 0 {
        bail!("file descriptor {fd} is negative");
    }
    // Check the descriptor is an open, listening TCP socket before adopting it.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let accepting = nix::sys::socket::getsockopt(&borrowed, nix::sys::socket::sockopt::AcceptConn)
        .with_context(|| format!("file descriptor {fd} is not an open socket"))?;
    if !accepting {
        bail!("socket {fd} is not listening");
    }
    // SAFETY: the descriptor is an open listening socket that this process
    // inherited for exactly this purpose, and nothing else owns it.
    let listener = unsafe { TcpListener::from_raw_fd(fd) };
    listener
        .local_addr()
        .with_context(|| format!("file descriptor {fd} is not a TCP socket"))?;
    Ok(listener)
}

/// Ralph's name for a listening socket it bound and passed down.
const INHERITED_FD_ENV: &str = ralph_mcp_process::spawn::PER_PROCESS_ENV[1];
/// Ralph's pid, when Ralph spawned this server; the server ends with it.
const OWNER_PID_ENV: &str = ralph_mcp_process::spawn::PER_PROCESS_ENV[0];

/// Starts the owner watch when Ralph named itself as the owner.
fn watch_owner() -> Result<()> {
    let Some(raw) = std::env::var(OWNER_PID_ENV).ok().filter(|v| !v.is_empty()) else {
        return Ok(());
    };
    let owner: u32 = raw
        .trim()
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| anyhow::anyhow!("{OWNER_PID_ENV}={raw:?} is not a process id"))?;
    ralph_mcp_process::owner::exit_when_owner_exits(owner)
        .with_context(|| format!("cannot watch the owning process {owner}"))
}

/// Runs `serve` to completion.
pub fn run(args: ServeArgs) -> Result<()> {
    // Built first: its worker threads start on the other cores while this one
    // builds the server, instead of after it (a cold start's critical path).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(64)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    watch_owner()?;
    let (mut session, standalone) = match Session::from_env_with(|k| std::env::var(k).ok())? {
        Some(s) => (s, false),
        None => (
            Session::standalone(format!("standalone-{:016x}", rand::random::<u64>())),
            true,
        ),
    };
    check_session(&session)?;
    // The CLI the server was started for bounds media delivery when the
    // session's model_identity does not name one.
    if let (Some(transport), Some(serde_json::Value::Object(identity))) = (
        args.agent_transport.as_deref(),
        session.payload.model_identity.as_mut(),
    ) {
        identity
            .entry("transport")
            .or_insert_with(|| transport.into());
    }
    for token in &session.unknown_capabilities {
        tracing::warn!(capability = %token, "session names an unknown capability; it grants nothing");
    }
    let (listener, how) = acquire_listener(&args)?;
    let mut handover = ralph_mcp_server::Handover::from_env(|k| std::env::var(k).ok())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(fd) = args.standby_fd {
        handover.standby = Some(
            ralph_mcp_server::standby::StandbyGate::adopt(fd)
                .with_context(|| format!("--standby-fd {fd}"))?,
        );
    }
    let local = listener
        .local_addr()
        .context("listener has no local address")?;
    if !local.ip().is_loopback() && !args.allow_remote {
        bail!(
            "the inherited socket listens on {local}, which is not loopback; pass --allow-remote to serve on it"
        );
    }
    let auth_token = ralph_mcp_server::secret::bearer().map(str::to_owned);
    let config = ServerConfig {
        auth_token,
        max_body_bytes: args.max_body_bytes,
        max_in_flight: args.max_in_flight,
        allow_remote: args.allow_remote,
        drain_timeout: Duration::from_millis(args.drain_timeout_ms),
        list_aliases: !args.no_list_aliases,
    };
    let workspace = args.workspace.clone();
    let source = session.source.to_string();
    let drain = session.payload.drain.clone();
    let caps = session.capabilities.len();
    let session_id = session.payload.session_id.clone();
    let server = Server::new(session, &workspace, config, listener)?;
    let summary = server.summary();
    if standalone {
        // Said once everything else has worked, so it never precedes an unrelated error.
        tracing::warn!(
            "no RALPH_MCP_SESSION_FILE or RALPH_MCP_SESSION_JSON: serving a STANDALONE session with EVERY capability (session_id {session_id})"
        );
    }
    // One write: stderr is unbuffered, and a formatted eprintln! writes each piece.
    let banner = format!(
        "ralph-mcp {} {} http://{local}/mcp ({how}) pid={} workspace={} session={source} session_id={session_id} drain={drain} capabilities={caps} tools={} auth={} max_in_flight={} max_body_bytes={} transport={} upstreams={}",
        env!("CARGO_PKG_VERSION"),
        if args.standby_fd.is_some() {
            "standing by for"
        } else {
            "serving"
        },
        std::process::id(),
        workspace.display(),
        summary.tools,
        if summary.auth { "bearer" } else { "off" },
        summary.max_in_flight,
        summary.max_body_bytes,
        args.agent_transport.as_deref().unwrap_or("unknown"),
        if summary.upstreams.is_empty() {
            "-".to_owned()
        } else {
            summary.upstreams.join(",")
        },
    );
    let _ = std::io::Write::write_all(&mut std::io::stderr(), format!("{banner}\n").as_bytes());
    let result = rt.block_on(server.run(handover));
    // A tool call still stuck in a blocking syscall must not hold the exit: the
    // drain ceiling has passed, so the process ends now.
    rt.shutdown_timeout(Duration::from_millis(200));
    result?;
    Ok(())
}
