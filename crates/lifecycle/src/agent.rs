//! Wiring an agent CLI to the endpoint, and running it in its own process group.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use ralph_mcp_session::names::{
    AGENT_AUTH_TOKEN_ENV, AGENT_LABEL_SCOPE_ENV, ENDPOINT_ENV, RUN_ID_ENV, SERVER_NAME,
};
use serde_json::json;
use tokio::process::{Child, Command};

use crate::error::LifecycleError;

/// Which agent CLI is being wired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentKind {
    /// Claude Code: `--mcp-config FILE --strict-mcp-config`.
    Claude,
    /// Codex: a per-run `CODEX_HOME` with `[mcp_servers.ralph]`.
    Codex,
    /// OpenCode: `OPENCODE_CONFIG_CONTENT`.
    OpenCode,
    /// Anything else: environment variables only.
    Generic,
}

impl std::str::FromStr for AgentKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "claude" | "claude-code" => Ok(Self::Claude),
            "codex" => Ok(Self::Codex),
            "opencode" => Ok(Self::OpenCode),
            "generic" => Ok(Self::Generic),
            other => Err(format!(
                "unknown agent `{other}`; use claude, codex, opencode or generic"
            )),
        }
    }
}

/// What the agent needs to reach the server.
#[derive(Debug, Clone)]
pub struct AgentEndpoint {
    /// The endpoint URL.
    pub url: String,
    /// The bearer token, when auth is on.
    pub token: Option<String>,
    /// The run id.
    pub run_id: String,
    /// The label scope.
    pub label_scope: String,
}

/// The Claude Code `--mcp-config` document.
pub fn claude_config(ep: &AgentEndpoint) -> serde_json::Value {
    let mut server = json!({"type": "http", "url": ep.url});
    if let Some(t) = &ep.token {
        server["headers"] = json!({"Authorization": format!("Bearer {t}")});
    }
    json!({"mcpServers": {SERVER_NAME: server}})
}

/// The Codex `config.toml`: the user's own configuration (model, provider, other
/// MCP servers) with `[mcp_servers.ralph]` added or replaced. The token travels by
/// environment variable; tool calls are pre-approved (`default_tools_approval_mode`),
/// since headless `codex exec` refuses any call that needs approval.
pub fn codex_config_merged(ep: &AgentEndpoint, user: Option<&str>) -> String {
    let mut table: toml::Table = match user.map(str::parse::<toml::Table>) {
        Some(Ok(t)) => t,
        Some(Err(e)) => {
            tracing::warn!(error = %e, "the user's Codex config.toml does not parse; the run uses ralph-mcp's server block alone");
            toml::Table::new()
        }
        None => toml::Table::new(),
    };
    let mut server = toml::Table::new();
    server.insert("url".into(), toml::Value::String(ep.url.clone()));
    if ep.token.is_some() {
        server.insert(
            "bearer_token_env_var".into(),
            toml::Value::String(AGENT_AUTH_TOKEN_ENV.into()),
        );
    }
    server.insert(
        "default_tools_approval_mode".into(),
        toml::Value::String("approve".into()),
    );
    let servers = table
        .entry("mcp_servers")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if !servers.is_table() {
        *servers = toml::Value::Table(toml::Table::new());
    }
    if let Some(servers) = servers.as_table_mut() {
        servers.insert(SERVER_NAME.into(), toml::Value::Table(server));
    }
    toml::to_string(&table).unwrap_or_default()
}

/// The Codex `config.toml` with only ralph-mcp's server block.
pub fn codex_config(ep: &AgentEndpoint) -> String {
    codex_config_merged(ep, None)
}

/// The user's own Codex home: `$CODEX_HOME`, else `~/.codex`.
fn user_codex_home() -> Option<PathBuf> {
    std::env::var_os("CODEX_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".codex")))
}

/// Puts Claude's wiring where the Claude CLI reads it: before a `--` that ends its
/// options (after it the flags would become prompt text), else at the end.
pub fn with_claude_flags(argv: &[String], config: &Path) -> Vec<String> {
    let flags = [
        "--mcp-config".to_owned(),
        config.display().to_string(),
        "--strict-mcp-config".to_owned(),
    ];
    let mut out = argv.to_vec();
    let at = out
        .iter()
        .skip(1)
        .position(|a| a == "--")
        .map_or(out.len(), |p| p + 1);
    out.splice(at..at, flags);
    out
}

/// The OpenCode config content.
pub fn opencode_config(ep: &AgentEndpoint) -> serde_json::Value {
    let mut server = json!({"type": "remote", "url": ep.url, "enabled": true});
    if let Some(t) = &ep.token {
        server["headers"] = json!({"Authorization": format!("Bearer {t}")});
    }
    json!({"$schema": "https://opencode.ai/config.json", "mcp": {SERVER_NAME: server}})
}

/// The per-run directory of agent wiring (Claude's config file, Codex's home),
/// under `<workspace>/.agent/tmp/`, not `$TMPDIR` (Codex refuses to put helper
/// binaries in a temp dir). Removed on drop; a run killed before that is swept
/// by the next run ([`sweep_run_dirs`]).
#[derive(Debug, Default)]
pub struct AgentFiles {
    dir: Option<PathBuf>,
}

impl AgentFiles {
    /// A fresh `run-<supervisor pid>-<run id>` directory (0700) under `tmp`.
    pub fn create(tmp: &Path, run_id: &str) -> Result<Self, LifecycleError> {
        std::fs::create_dir_all(tmp)
            .map_err(|e| LifecycleError::Io(format!("cannot create {}", tmp.display()), e))?;
        let dir = tmp.join(format!("{RUN_DIR_PREFIX}{}-{run_id}", std::process::id()));
        std::fs::create_dir(&dir)
            .map_err(|e| LifecycleError::Io(format!("cannot create {}", dir.display()), e))?;
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
        Ok(Self { dir: Some(dir) })
    }

    fn dir(&self) -> Result<&Path, LifecycleError> {
        self.dir.as_deref().ok_or_else(|| {
            LifecycleError::Io(
                "no per-run directory for the agent's configuration".into(),
                std::io::Error::from(std::io::ErrorKind::NotFound),
            )
        })
    }
}

impl Drop for AgentFiles {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Prefix of the per-run directories.
pub const RUN_DIR_PREFIX: &str = "run-";

/// Removes per-run directories under `tmp` whose supervisor is gone.
pub fn sweep_run_dirs(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(RUN_DIR_PREFIX)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        let alive = nix::sys::signal::kill(Pid::from_raw(pid), None).is_ok();
        if !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn private_file(dir: &Path, name: &str, content: &[u8]) -> Result<PathBuf, LifecycleError> {
    let path = dir.join(name);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| LifecycleError::Io(format!("cannot create {}", path.display()), e))?;
    f.write_all(content)
        .map_err(|e| LifecycleError::Io(format!("cannot write {}", path.display()), e))?;
    Ok(path)
}

/// Builds the agent's command: its argv plus the wiring for `kind`.
pub fn agent_command(
    kind: AgentKind,
    argv: &[String],
    ep: &AgentEndpoint,
    files: &mut AgentFiles,
) -> Result<Command, LifecycleError> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| LifecycleError::Workspace {
            path: PathBuf::new(),
            reason: "no agent command given after `--`".into(),
        })?;
    // The agent runs under the containment shim: when it exits, is killed, or the
    // run ends (even by SIGKILL of `run`), every process it started goes with it.
    let _ = (program, args);
    let mut agent_argv = argv.to_vec();
    let mut env: Vec<(String, String)> = Vec::new();
    match kind {
        AgentKind::Claude => {
            let doc = serde_json::to_vec_pretty(&claude_config(ep)).unwrap_or_default();
            let path = private_file(files.dir()?, "claude-mcp.json", &doc)?;
            agent_argv = with_claude_flags(&agent_argv, &path);
        }
        AgentKind::Codex => {
            let home = files.dir()?.join("codex-home");
            std::fs::create_dir(&home)
                .map_err(|e| LifecycleError::Io("cannot create CODEX_HOME".into(), e))?;
            let _ = std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700));
            let user_home = user_codex_home();
            let user_config = user_home
                .as_ref()
                .and_then(|h| std::fs::read_to_string(h.join("config.toml")).ok());
            std::fs::write(
                home.join("config.toml"),
                codex_config_merged(ep, user_config.as_deref()),
            )
            .map_err(|e| LifecycleError::Io("cannot write CODEX_HOME/config.toml".into(), e))?;
            // Keep the user's Codex login working under the per-run home.
            if let Some(auth) = user_home.map(|h| h.join("auth.json"))
                && auth.exists()
            {
                let _ = std::os::unix::fs::symlink(&auth, home.join("auth.json"));
            }
            env.push(("CODEX_HOME".into(), home.display().to_string()));
        }
        AgentKind::OpenCode => {
            env.push((
                "OPENCODE_CONFIG_CONTENT".into(),
                opencode_config(ep).to_string(),
            ));
        }
        AgentKind::Generic => {}
    }
    let mut cmd = match ralph_mcp_process::sandbox::shim_exe() {
        Ok(shim) => {
            let policy = ralph_mcp_process::sandbox::Policy::contain_only(we_hold_the_terminal());
            let mut c = Command::new(shim);
            c.args(ralph_mcp_process::sandbox::shim_args(&policy, &agent_argv));
            c
        }
        Err(_) => {
            let mut c = Command::new(&agent_argv[0]);
            c.args(&agent_argv[1..]);
            c
        }
    };
    cmd.env(ENDPOINT_ENV, &ep.url)
        .env(RUN_ID_ENV, &ep.run_id)
        .env(AGENT_LABEL_SCOPE_ENV, &ep.label_scope);
    match &ep.token {
        Some(t) => cmd.env(AGENT_AUTH_TOKEN_ENV, t),
        None => cmd.env_remove(AGENT_AUTH_TOKEN_ENV),
    };
    cmd.envs(env);
    Ok(cmd)
}

/// A running agent in its own process group.
pub struct AgentProcess {
    child: Child,
    pgid: Pid,
    /// The terminal was handed to the agent's group and must be taken back.
    owns_terminal: bool,
}

/// True when stdin is a terminal whose foreground process group is ours, so the
/// agent (in its own group) must be made the foreground group to read from it.
fn we_hold_the_terminal() -> bool {
    let stdin = std::io::stdin();
    nix::unistd::isatty(&stdin).unwrap_or(false)
        && nix::unistd::tcgetpgrp(&stdin).ok() == Some(nix::unistd::getpgrp())
}

/// Makes `pgrp` the terminal's foreground group. A process outside the foreground
/// group must ignore SIGTTOU to do this; only async-signal-safe calls are made.
fn hand_terminal_to(pgrp: nix::libc::pid_t) {
    // SAFETY: signal and tcsetpgrp (an ioctl) are async-signal-safe.
    unsafe {
        let old = nix::libc::signal(nix::libc::SIGTTOU, nix::libc::SIG_IGN);
        nix::libc::tcsetpgrp(0, pgrp);
        nix::libc::signal(nix::libc::SIGTTOU, old);
    }
}

impl AgentProcess {
    /// Spawns the agent in its own group, dying with this process.
    /// When `run` owns the terminal, the agent's group becomes its foreground
    /// group (set in the child before exec and in the parent, as shells do, so
    /// neither order can leave the agent stopped by SIGTTIN), and the terminal is
    /// taken back when the agent ends.
    pub fn spawn(mut cmd: Command) -> std::io::Result<Self> {
        let owns_terminal = we_hold_the_terminal();
        // The agent keeps the token it was handed on purpose.
        ralph_mcp_process::spawn::harden(&mut cmd, ralph_mcp_process::spawn::Tokens::Keep);
        cmd.kill_on_drop(true);
        // SAFETY: hand_terminal_to only makes async-signal-safe calls.
        unsafe {
            cmd.pre_exec(move || {
                if owns_terminal {
                    hand_terminal_to(nix::libc::getpid());
                }
                Ok(())
            });
        }
        let child = cmd.spawn()?;
        let pgid = Pid::from_raw(child.id().unwrap_or(0) as i32);
        if owns_terminal {
            hand_terminal_to(pgid.as_raw());
        }
        Ok(Self {
            child,
            pgid,
            owns_terminal,
        })
    }

    /// Takes the terminal back for `run` once the agent is gone.
    fn reclaim_terminal(&mut self) {
        if std::mem::take(&mut self.owns_terminal) {
            hand_terminal_to(nix::unistd::getpgrp().as_raw());
        }
    }

    /// Waits for the agent to exit.
    pub async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        let status = self.child.wait().await;
        self.reclaim_terminal();
        status
    }

    /// SIGTERM to the agent's group, up to `grace`, then SIGKILL; reaps.
    pub async fn stop(&mut self, grace: Duration) {
        if let Ok(Some(_)) = self.child.try_wait() {
            let _ = killpg(self.pgid, Signal::SIGKILL);
            return;
        }
        let _ = killpg(self.pgid, Signal::SIGTERM);
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            let _ = killpg(self.pgid, Signal::SIGKILL);
            let _ = self.child.wait().await;
        }
        let _ = killpg(self.pgid, Signal::SIGKILL);
        self.reclaim_terminal();
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        self.reclaim_terminal();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep() -> AgentEndpoint {
        AgentEndpoint {
            url: "http://127.0.0.1:1/mcp".into(),
            token: Some("tok".into()),
            run_id: "r".into(),
            label_scope: "r".into(),
        }
    }

    #[test]
    fn claude_config_carries_url_and_header() {
        let c = claude_config(&ep());
        assert_eq!(c["mcpServers"]["ralph"]["url"], "http://127.0.0.1:1/mcp");
        assert_eq!(
            c["mcpServers"]["ralph"]["headers"]["Authorization"],
            "Bearer tok"
        );
    }

    #[test]
    fn codex_config_uses_an_env_var_for_the_token() {
        let t: toml::Table = codex_config(&ep()).parse().unwrap();
        let s = &t["mcp_servers"]["ralph"];
        assert_eq!(s["url"].as_str(), Some("http://127.0.0.1:1/mcp"));
        assert_eq!(
            s["bearer_token_env_var"].as_str(),
            Some(AGENT_AUTH_TOKEN_ENV)
        );
        assert!(!codex_config(&ep()).contains("tok\""));
    }

    #[test]
    fn codex_keeps_the_users_configuration_and_preapproves_our_tools() {
        let user = "model = \"o4\"\n[mcp_servers.other]\ncommand = \"x\"\n[mcp_servers.ralph]\nurl = \"old\"\n";
        let t: toml::Table = codex_config_merged(&ep(), Some(user)).parse().unwrap();
        assert_eq!(t["model"].as_str(), Some("o4"));
        assert_eq!(t["mcp_servers"]["other"]["command"].as_str(), Some("x"));
        let ours = &t["mcp_servers"]["ralph"];
        assert_eq!(ours["url"].as_str(), Some("http://127.0.0.1:1/mcp"));
        assert_eq!(
            ours["default_tools_approval_mode"].as_str(),
            Some("approve")
        );
    }

    #[test]
    fn claude_flags_go_before_a_double_dash() {
        let argv: Vec<String> = ["claude", "-p", "--", "fix it"]
            .iter()
            .map(ToString::to_string)
            .collect();
        let out = with_claude_flags(&argv, Path::new("/c.json"));
        assert_eq!(
            out,
            [
                "claude",
                "-p",
                "--mcp-config",
                "/c.json",
                "--strict-mcp-config",
                "--",
                "fix it"
            ]
        );
        let argv: Vec<String> = ["claude", "-p", "hi"]
            .iter()
            .map(ToString::to_string)
            .collect();
        let out = with_claude_flags(&argv, Path::new("/c.json"));
        assert_eq!(out.last().map(String::as_str), Some("--strict-mcp-config"));
    }

    #[test]
    fn opencode_config_is_remote() {
        assert_eq!(opencode_config(&ep())["mcp"]["ralph"]["type"], "remote");
    }
}
