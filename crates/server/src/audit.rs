//! The audit trail: one JSON line per tool call in `.agent/audit.jsonl` — when,
//! which tool, a SHA-256 digest of its arguments (never the arguments
//! themselves, which may hold secrets or whole files), how it ended, how long it
//! took and how many bytes the reply carried. Lines are handed to one writer
//! thread through a bounded channel, so a call never waits on the disk (a full
//! channel drops the line and counts it); the file moves to `audit.jsonl.1` when
//! it passes `[audit] max_bytes`.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::confine::AgentDir;

/// The file, in `.agent/`.
pub const FILE: &str = "audit.jsonl";
/// Default `[audit] max_bytes`: 16 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 16 * 1024 * 1024;
/// Lines waiting for the writer before new ones are dropped.
const QUEUE: usize = 4096;

/// The `[audit]` section of `mcp.toml`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// Write the trail (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Size at which the file is rotated (bytes, greater than 0).
    #[serde(default = "default_max")]
    pub max_bytes: u64,
    /// Where to export OpenTelemetry traces (OTLP/HTTP, e.g. `http://127.0.0.1:4318`).
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
}

fn yes() -> bool {
    true
}

fn default_max() -> u64 {
    DEFAULT_MAX_BYTES
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_bytes: DEFAULT_MAX_BYTES,
            otlp_endpoint: None,
        }
    }
}

/// How a call ended, as written in the trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Answered without `isError`.
    Ok,
    /// Answered with `isError`.
    Error,
    /// Refused before it ran (capability, unknown tool, saturation, relay).
    Refused,
    /// Cancelled by the client.
    Cancelled,
}

impl Outcome {
    /// The word written for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error",
            Self::Refused => "refused",
            Self::Cancelled => "cancelled",
        }
    }
}

/// The trail's writer handle; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Audit {
    tx: Option<SyncSender<Entry>>,
    dropped: Arc<AtomicU64>,
}

/// One call, as handed to the writer thread (which formats it, off the call path).
#[derive(Debug)]
struct Entry {
    at: std::time::SystemTime,
    session: String,
    tool: String,
    args_sha256: String,
    outcome: Outcome,
    duration: Duration,
    bytes: usize,
}

impl Entry {
    fn line(&self) -> String {
        let at: chrono::DateTime<chrono::Utc> = self.at.into();
        let mut line = serde_json::json!({
            "ts": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "session": self.session,
            "tool": self.tool,
            "args_sha256": self.args_sha256,
            "outcome": self.outcome.as_str(),
            "duration_ms": (self.duration.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
            "bytes": self.bytes,
        })
        .to_string();
        line.push('\n');
        line
    }
}

/// The digest written for a call's arguments.
pub fn digest(args: &serde_json::Value) -> String {
    let bytes = serde_json::to_vec(args).unwrap_or_default();
    hex::encode(Sha256::digest(&bytes))
}

impl Audit {
    /// A trail that records nothing.
    pub fn off() -> Self {
        Self::default()
    }

    /// True when calls are recorded.
    pub fn is_on(&self) -> bool {
        self.tx.is_some()
    }

    /// Starts the writer thread for `.agent/audit.jsonl`.
    pub fn start(agent: AgentDir, config: &AuditConfig) -> Self {
        if !config.enabled {
            return Self::off();
        }
        let (tx, rx) = sync_channel::<Entry>(QUEUE);
        let cap = config.max_bytes;
        let spawned = std::thread::Builder::new()
            .name("ralph-mcp-audit".into())
            .spawn(move || {
                let mut file: Option<(std::io::BufWriter<std::fs::File>, u64)> = None;
                let open = |agent: &AgentDir| match agent.append_log("", FILE, cap) {
                    Ok(f) => {
                        let len = f.metadata().map_or(0, |m| m.len());
                        Some((std::io::BufWriter::new(f), len))
                    }
                    Err(e) => {
                        tracing::warn!("the audit trail cannot be written: {e}");
                        None
                    }
                };
                while let Ok(first) = rx.recv() {
                    // This line and whatever else is queued, then one flush.
                    for entry in
                        std::iter::once(first).chain(std::iter::from_fn(|| rx.try_recv().ok()))
                    {
                        let line = entry.line();
                        if file.is_none() {
                            file = open(&agent);
                        }
                        let Some((w, len)) = file.as_mut() else {
                            continue;
                        };
                        let _ = w.write_all(line.as_bytes());
                        *len += line.len() as u64;
                        if *len > cap {
                            let _ = w.flush();
                            file = open(&agent);
                        }
                    }
                    if let Some((w, _)) = file.as_mut() {
                        let _ = w.flush();
                    }
                }
            });
        match spawned {
            Ok(_) => Self {
                tx: Some(tx),
                dropped: Arc::default(),
            },
            Err(e) => {
                tracing::warn!("the audit trail is off: cannot start its writer: {e}");
                Self::off()
            }
        }
    }

    /// Records one call.
    pub fn record(
        &self,
        session: &str,
        tool: &str,
        args_sha256: &str,
        outcome: Outcome,
        duration: Duration,
        bytes: usize,
    ) {
        let Some(tx) = &self.tx else {
            return;
        };
        let entry = Entry {
            at: std::time::SystemTime::now(),
            session: session.to_owned(),
            tool: tool.to_owned(),
            args_sha256: args_sha256.to_owned(),
            outcome,
            duration,
            bytes,
        };
        if let Err(TrySendError::Full(_)) = tx.try_send(entry) {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(
                    dropped = n,
                    "audit lines dropped: the writer cannot keep up"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_call_and_rotation_past_the_cap() {
        let ws = tempfile::tempdir().unwrap();
        let agent = AgentDir::new(&std::fs::canonicalize(ws.path()).unwrap()).unwrap();
        let audit = Audit::start(
            agent,
            &AuditConfig {
                enabled: true,
                max_bytes: 2000,
                otlp_endpoint: None,
            },
        );
        let d = digest(&serde_json::json!({"path": "a"}));
        for _ in 0..40 {
            audit.record(
                "s",
                "read_file",
                &d,
                Outcome::Ok,
                Duration::from_micros(1500),
                12,
            );
        }
        let dir = ws.path().join(".agent");
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        let mut waited = 0;
        while read("audit.jsonl.1").is_empty() && waited < 500 {
            std::thread::sleep(Duration::from_millis(10));
            waited += 1;
        }
        let rotated = read("audit.jsonl.1");
        assert!(!rotated.is_empty(), "rotated");
        let line: serde_json::Value =
            serde_json::from_str(rotated.lines().last().unwrap()).unwrap();
        assert_eq!(line["tool"], "read_file");
        assert_eq!(line["outcome"], "ok");
        assert_eq!(line["duration_ms"], 1.5);
        assert_eq!(line["args_sha256"].as_str().unwrap().len(), 64);
        assert!(rotated.len() as u64 <= 2000 + 300);
    }
}
