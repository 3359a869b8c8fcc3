//! Ralph's make-before-break replacement of a live server, from the server's side.
//!
//! Read from `ralph-workflow` 0.9.30: `ralph/mcp/server/_handover_protocol.py`,
//! `_fallback_standalone_server.py` and `lifecycle.py` (`_build_spawn_env`).
//! When Ralph replaces a server that is alive but not answering, it starts a
//! candidate on the same inherited listening socket with:
//! - `RALPH_MCP_BRIDGE_PARENT_SOCK`: one end of a private socketpair, over which
//!   Ralph sends newline-delimited JSON-RPC. `initialize` must answer with the
//!   candidate's pid, spawn id (`RALPH_MCP_STAGE_ID`), session id, broker-secret
//!   fingerprint and configuration fingerprint; `tools/list` with exactly what
//!   the endpoint would list, which Ralph hashes against its baseline.
//! - `RALPH_MCP_ACCEPT_RESUME_FILE`: the candidate accepts nothing until this
//!   file appears (Ralph creates it once the candidate is verified).
//!
//! Every server also gets `RALPH_MCP_ACCEPT_PAUSE_FILE`: when that file appears
//! the server stops accepting (it closes its copy of the listening socket, the
//! connections it has keep being served) and creates `<file>.ack`.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::state::AppState;

/// How long a candidate waits for Ralph's resume file (Ralph's own limit).
const RESUME_DEADLINE: Duration = Duration::from_secs(30);
/// How often the pause and resume files are looked for.
const FILE_POLL: Duration = Duration::from_millis(5);

/// What Ralph handed this process for a handover, read from the environment.
#[derive(Debug, Default)]
pub struct Handover {
    /// The private readiness channel, when this process is a candidate.
    pub parent_sock: Option<OwnedFd>,
    /// Ralph's id for this spawn.
    pub spawn_id: String,
    /// Ralph's digest of the configuration this spawn was started from.
    pub config_fingerprint: Option<String>,
    /// Accept nothing until this file exists.
    pub resume_file: Option<PathBuf>,
    /// Stop accepting once this file exists.
    pub pause_file: Option<PathBuf>,
    /// A warm standby's gate (`serve --standby-fd`, from `ralph-mcp run`'s
    /// supervisor, not Ralph): accept nothing until it opens.
    pub standby: Option<crate::standby::StandbyGate>,
}

/// Ralph's variable names.
pub mod env {
    /// The private socketpair end, by fd number.
    pub const PARENT_SOCK: &str = "RALPH_MCP_BRIDGE_PARENT_SOCK";
    /// The spawn id.
    pub const STAGE_ID: &str = "RALPH_MCP_STAGE_ID";
    /// The configuration fingerprint.
    pub const CONFIG_FINGERPRINT: &str = "RALPH_MCP_EFFECTIVE_CONFIG_FINGERPRINT";
    /// The resume file.
    pub const RESUME_FILE: &str = "RALPH_MCP_ACCEPT_RESUME_FILE";
    /// The pause file.
    pub const PAUSE_FILE: &str = "RALPH_MCP_ACCEPT_PAUSE_FILE";
}

impl Handover {
    /// Reads the handover variables through `get`. A parent socket that is not
    /// an open descriptor is an error: Ralph would wait for an answer that never comes.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let non_empty = |k: &str| get(k).filter(|v| !v.is_empty());
        let parent_sock = match non_empty(env::PARENT_SOCK) {
            None => None,
            Some(raw) => {
                let fd: RawFd = raw.trim().parse().map_err(|_| {
                    format!(
                        "{}={raw:?} is not a file descriptor number",
                        env::PARENT_SOCK
                    )
                })?;
                // SAFETY: fcntl(F_GETFD) only inspects the descriptor.
                if fd < 0 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
                    return Err(format!(
                        "{}={fd} is not an open descriptor",
                        env::PARENT_SOCK
                    ));
                }
                // SAFETY: the descriptor is open and was handed to this process for
                // this channel alone; nothing else takes ownership of it.
                Some(unsafe { OwnedFd::from_raw_fd(fd) })
            }
        };
        Ok(Self {
            parent_sock,
            spawn_id: non_empty(env::STAGE_ID).unwrap_or_default(),
            config_fingerprint: non_empty(env::CONFIG_FINGERPRINT),
            resume_file: non_empty(env::RESUME_FILE).map(PathBuf::from),
            pause_file: non_empty(env::PAUSE_FILE).map(PathBuf::from),
            standby: None,
        })
    }

    /// Starts answering Ralph on the private channel, if there is one.
    pub fn serve_readiness(&mut self, state: &Arc<AppState>) {
        let Some(fd) = self.parent_sock.take() else {
            return;
        };
        let identity = Identity {
            spawn_id: self.spawn_id.clone(),
            session_id: state.registry.context().session.payload.session_id.clone(),
            broker_fingerprint: crate::secret::broker_secret().map(broker_fingerprint),
            config_fingerprint: self.config_fingerprint.clone(),
        };
        let state = state.clone();
        let spawned = std::thread::Builder::new()
            .name("ralph-readiness".into())
            .spawn(move || {
                if let Err(e) = answer(UnixStream::from(fd), &identity, &state) {
                    tracing::debug!(error = %e, "the private readiness channel ended");
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot answer Ralph's readiness channel");
        }
    }

    /// Waits for the resume file when this process is a candidate; `Err` when
    /// it did not come in time.
    pub async fn wait_for_resume(&self) -> Result<(), String> {
        let Some(path) = &self.resume_file else {
            return Ok(());
        };
        if tokio::time::timeout(RESUME_DEADLINE, appears(path))
            .await
            .is_err()
        {
            return Err(format!(
                "the resume file {} did not appear within {}s",
                path.display(),
                RESUME_DEADLINE.as_secs()
            ));
        }
        Ok(())
    }

    /// Resolves once the pause file exists (never, without one).
    pub async fn paused(path: Option<PathBuf>) {
        match path {
            Some(p) => appears(&p).await,
            None => std::future::pending().await,
        }
    }
}

/// Creates `<pause>.ack`, telling Ralph this server no longer accepts.
pub fn acknowledge_pause(pause: &Path) {
    let mut name = pause.file_name().unwrap_or_default().to_os_string();
    name.push(".ack");
    if let Err(e) = std::fs::write(pause.with_file_name(name), b"ACK\n") {
        tracing::warn!(error = %e, "cannot acknowledge the handover pause");
    }
}

async fn appears(path: &Path) {
    while !path.exists() {
        tokio::time::sleep(FILE_POLL).await;
    }
}

/// Ralph's fingerprint of the broker secret: SHA-256 of its first 8 characters, hex.
pub fn broker_fingerprint(secret: &str) -> String {
    let head: String = secret.chars().take(8).collect();
    Sha256::digest(head.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

struct Identity {
    spawn_id: String,
    session_id: String,
    broker_fingerprint: Option<String>,
    config_fingerprint: Option<String>,
}

/// Answers line-delimited JSON-RPC until Ralph closes the channel.
fn answer(stream: UnixStream, who: &Identity, state: &AppState) -> std::io::Result<()> {
    let mut out = stream.try_clone()?;
    for line in BufReader::new(stream).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let Ok(req) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let reply = reply_to(&req, who, state);
        out.write_all(format!("{reply}\n").as_bytes())?;
    }
    Ok(())
}

fn reply_to(req: &Value, who: &Identity, state: &AppState) -> Value {
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    let result = match req.get("method").and_then(Value::as_str) {
        Some("initialize") => json!({
            "protocolVersion": "2024-11-05",
            "serverInfo": {"name": "ralph-mcp", "version": env!("CARGO_PKG_VERSION")},
            "pid": std::process::id(),
            "spawn_id": who.spawn_id,
            "session_id": who.session_id,
            "broker_secret_fingerprint": who.broker_fingerprint,
            "effective_config_fingerprint": who.config_fingerprint,
        }),
        // Exactly what the endpoint lists, so Ralph's hash of it matches its baseline.
        Some("tools/list") => serde_json::from_str(&state.registry.list_result_json())
            .unwrap_or_else(|_| json!({"tools": []})),
        _ => json!({}),
    };
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// The server's listener: accepts until the pause file appears, then closes its
/// copy of the socket (so the candidate alone accepts), acknowledges, and accepts
/// nothing more; connections already accepted keep being served.
pub struct PausableListener {
    inner: Option<tokio::net::TcpListener>,
    addr: std::net::SocketAddr,
    pause: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
    pause_file: Option<PathBuf>,
}

impl PausableListener {
    /// Wraps `inner`, watching `pause_file` when there is one.
    pub fn new(
        inner: tokio::net::TcpListener,
        pause_file: Option<PathBuf>,
    ) -> std::io::Result<Self> {
        Ok(Self {
            addr: inner.local_addr()?,
            inner: Some(inner),
            pause: Box::pin(Handover::paused(pause_file.clone())),
            pause_file,
        })
    }
}

impl axum::serve::Listener for PausableListener {
    type Io = tokio::net::TcpStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Some(listener) = self.inner.as_mut() else {
                return std::future::pending().await;
            };
            tokio::select! {
                conn = axum::serve::Listener::accept(listener) => return conn,
                () = &mut self.pause => {
                    self.inner = None;
                    if let Some(p) = &self.pause_file {
                        acknowledge_pause(p);
                    }
                    tracing::info!("handover: stopped accepting; the replacement takes new connections");
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_matches_ralphs() {
        // python3 -c "import hashlib;print(hashlib.sha256('sekrit-value'[:8].encode()).hexdigest())"
        assert_eq!(
            broker_fingerprint("sekrit-value"),
            "d051b26938954f33b6d015dabd7374e211cc1035f870e8967e306df38378489d"
        );
    }

    #[test]
    fn a_parent_socket_that_is_not_open_is_refused() {
        let env = |k: &str| (k == env::PARENT_SOCK).then(|| "987654".to_owned());
        assert!(Handover::from_env(env).is_err());
        let env = |k: &str| (k == env::PARENT_SOCK).then(|| "x".to_owned());
        assert!(Handover::from_env(env).is_err());
        assert!(Handover::from_env(|_| None).unwrap().parent_sock.is_none());
    }
}
