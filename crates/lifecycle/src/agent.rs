//! Wiring an agent CLI to the endpoint, and running it in its own process group.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
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
use crate::incarnation::die_with_parent;

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

/// The Codex `config.toml` section; the token travels by environment variable.
pub fn codex_config(ep: &AgentEndpoint) -> String {
    let mut table = toml::Table::new();
    let mut server = toml::Table::new();
    server.insert("url".into(), toml::Value::String(ep.url.clone()));
    if ep.token.is_some() {
        server.insert(
            "bearer_token_env_var".into(),
            toml::Value::String(AGENT_AUTH_TOKEN_ENV.into()),
        );
    }
    let mut servers = toml::Table::new();
    servers.insert(SERVER_NAME.into(), toml::Value::Table(server));
    table.insert("mcp_servers".into(), toml::Value::Table(servers));
    toml::to_string(&table).unwrap_or_default()
}

/// The OpenCode config content.
pub fn opencode_config(ep: &AgentEndpoint) -> serde_json::Value {
    let mut server = json!({"type": "remote", "url": ep.url, "enabled": true});
    if let Some(t) = &ep.token {
        server["headers"] = json!({"Authorization": format!("Bearer {t}")});
    }
    json!({"$schema": "https://opencode.ai/config.json", "mcp": {SERVER_NAME: server}})
}

/// Files created for the agent, removed on drop.
#[derive(Debug, Default)]
pub struct AgentFiles {
    paths: Vec<PathBuf>,
    dirs: Vec<tempfile::TempDir>,
}

impl Drop for AgentFiles {
    fn drop(&mut self) {
        for p in &self.paths {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn private_file(prefix: &str, suffix: &str, content: &[u8]) -> Result<PathBuf, LifecycleError> {
    let mut f = tempfile::Builder::new()
        .prefix(prefix)
        .suffix(suffix)
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile()
        .map_err(|e| LifecycleError::Io("cannot create the agent config file".into(), e))?;
    f.write_all(content)
        .map_err(|e| LifecycleError::Io("cannot write the agent config file".into(), e))?;
    let (_, path) = f
        .keep()
        .map_err(|e| LifecycleError::Io("cannot keep the agent config file".into(), e.error))?;
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
    let mut cmd = match ralph_mcp_process::sandbox::shim_exe() {
        Ok(shim) => {
            let policy = ralph_mcp_process::sandbox::Policy::contain_only(we_hold_the_terminal());
            let mut c = Command::new(shim);
            c.args(ralph_mcp_process::sandbox::shim_args(&policy, argv));
            c
        }
        Err(_) => {
            let mut c = Command::new(program);
            c.args(args);
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
    match kind {
        AgentKind::Claude => {
            let doc = serde_json::to_vec_pretty(&claude_config(ep)).unwrap_or_default();
            let path = private_file("ralph-mcp-claude-", ".json", &doc)?;
            cmd.arg("--mcp-config")
                .arg(&path)
                .arg("--strict-mcp-config");
            files.paths.push(path);
        }
        AgentKind::Codex => {
            let dir = tempfile::Builder::new()
                .prefix("ralph-mcp-codex-home-")
                .tempdir()
                .map_err(|e| LifecycleError::Io("cannot create CODEX_HOME".into(), e))?;
            let _ = std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700));
            std::fs::write(dir.path().join("config.toml"), codex_config(ep))
                .map_err(|e| LifecycleError::Io("cannot write CODEX_HOME/config.toml".into(), e))?;
            // Keep the user's Codex login working under the per-run home.
            let user_home = std::env::var_os("CODEX_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".codex")));
            if let Some(auth) = user_home.map(|h| h.join("auth.json"))
                && auth.exists()
            {
                let _ = std::os::unix::fs::symlink(&auth, dir.path().join("auth.json"));
            }
            cmd.env("CODEX_HOME", dir.path());
            files.dirs.push(dir);
        }
        AgentKind::OpenCode => {
            cmd.env("OPENCODE_CONFIG_CONTENT", opencode_config(ep).to_string());
        }
        AgentKind::Generic => {}
    }
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
        let parent = std::process::id();
        let owns_terminal = we_hold_the_terminal();
        cmd.process_group(0).kill_on_drop(true);
        // SAFETY: die_with_parent and hand_terminal_to only make async-signal-safe calls.
        unsafe {
            cmd.pre_exec(move || {
                if owns_terminal {
                    hand_terminal_to(nix::libc::getpid());
                }
                die_with_parent(parent)
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
    fn opencode_config_is_remote() {
        assert_eq!(opencode_config(&ep())["mcp"]["ralph"]["type"], "remote");
    }
}
