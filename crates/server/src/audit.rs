//! The audit trail: one JSON line per tool call in `.agent/audit.jsonl` — when,
//! which tool, a SHA-256 digest of its arguments (never the arguments
//! themselves, which may hold secrets or whole files), how it ended, how long it
//! took and how many bytes the reply carried. A call only appends its record to
//! an in-memory batch; one writer thread formats and writes the batch every
//! [`FLUSH_EVERY`] (sooner when it grows large), so a call never waits on the
//! disk or wakes a thread. A batch past [`BACKLOG`] records drops new ones and
//! counts them. The file moves to `audit.jsonl.1` when it passes
//! `[audit] max_bytes`.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::confine::AgentDir;

/// The file, in `.agent/`.
pub const FILE: &str = "audit.jsonl";
/// Default `[audit] max_bytes`: 16 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 16 * 1024 * 1024;
/// How often the writer writes what has gathered.
pub const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// Records a batch may hold before new ones are dropped.
pub const BACKLOG: usize = 65_536;
/// A batch this large wakes the writer at once.
const WAKE_AT: usize = 4096;

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

/// The SHA-256 of a call's arguments (as compact JSON).
pub type ArgsDigest = [u8; 32];

/// The digest written for a call's arguments.
pub fn digest(args: &serde_json::Value) -> ArgsDigest {
    let bytes = serde_json::to_vec(args).unwrap_or_default();
    Sha256::digest(&bytes).into()
}

/// One call, as recorded on the call path.
#[derive(Debug)]
struct Entry {
    at: SystemTime,
    tool: String,
    args: ArgsDigest,
    outcome: Outcome,
    duration: Duration,
    bytes: usize,
}

impl Entry {
    /// Appends the record's line: one JSON object, members in name order, written
    /// straight into `out` (no JSON tree per record; the writer formats every call).
    fn write_line(&self, session: &str, out: &mut Vec<u8>) {
        use crate::json_text::push_json_str;
        let at: chrono::DateTime<chrono::Utc> = self.at.into();
        let mut hex = [0u8; 64];
        let _ = hex::encode_to_slice(self.args, &mut hex);
        out.extend_from_slice(br#"{"args_sha256":""#);
        out.extend_from_slice(&hex);
        out.extend_from_slice(br#"","bytes":"#);
        let _ = serde_json::to_writer(&mut *out, &self.bytes);
        out.extend_from_slice(br#","duration_ms":"#);
        let ms = (self.duration.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0;
        let _ = serde_json::to_writer(&mut *out, &ms);
        out.extend_from_slice(br#","outcome":""#);
        out.extend_from_slice(self.outcome.as_str().as_bytes());
        out.extend_from_slice(br#"","session":"#);
        push_json_str(out, session);
        out.extend_from_slice(br#","tool":"#);
        push_json_str(out, &self.tool);
        out.extend_from_slice(br#","ts":""#);
        out.extend_from_slice(
            at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                .as_bytes(),
        );
        out.extend_from_slice(b"\"}\n");
    }
}

#[derive(Debug, Default)]
struct Shared {
    batch: Mutex<Vec<Entry>>,
    wake: Condvar,
    stop: AtomicBool,
    dropped: AtomicU64,
    /// Set once the writer has been asked for (by the first record).
    launched: AtomicBool,
    writer: Mutex<Writer>,
}

/// The writer thread: started by the first record, so a server that is never
/// called (or not yet) has no thread for it.
#[derive(Debug, Default)]
enum Writer {
    /// What the thread will need.
    NotYet {
        agent: AgentDir,
        cap: u64,
        session: String,
    },
    Running(std::thread::JoinHandle<()>),
    #[default]
    Gone,
}

impl Shared {
    fn launch(self: &Arc<Self>) {
        if self.launched.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(mut writer) = self.writer.lock() else {
            return;
        };
        let Writer::NotYet {
            agent,
            cap,
            session,
        } = std::mem::take(&mut *writer)
        else {
            return;
        };
        let shared = self.clone();
        match std::thread::Builder::new()
            .name("ralph-mcp-audit".into())
            .spawn(move || write_forever(&shared, &agent, cap, &session))
        {
            Ok(handle) => *writer = Writer::Running(handle),
            Err(e) => tracing::warn!("the audit trail is off: cannot start its writer: {e}"),
        }
    }
}

/// The trail's handle; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Audit {
    shared: Option<Arc<Shared>>,
}

impl Audit {
    /// A trail that records nothing.
    pub fn off() -> Self {
        Self::default()
    }

    /// True when calls are recorded.
    pub fn is_on(&self) -> bool {
        self.shared.is_some()
    }

    /// The trail of `.agent/audit.jsonl` for `session`; its writer thread
    /// starts with the first record.
    pub fn start(agent: AgentDir, config: &AuditConfig, session: &str) -> Self {
        if !config.enabled {
            return Self::off();
        }
        let shared = Arc::new(Shared {
            writer: Mutex::new(Writer::NotYet {
                agent,
                cap: config.max_bytes,
                session: session.to_owned(),
            }),
            ..Shared::default()
        });
        Self {
            shared: Some(shared),
        }
    }

    /// Records one call.
    pub fn record(
        &self,
        tool: &str,
        args: &ArgsDigest,
        outcome: Outcome,
        duration: Duration,
        bytes: usize,
    ) {
        let Some(shared) = &self.shared else {
            return;
        };
        let entry = Entry {
            at: SystemTime::now(),
            tool: tool.to_owned(),
            args: *args,
            outcome,
            duration,
            bytes,
        };
        let Ok(mut batch) = shared.batch.lock() else {
            return;
        };
        if batch.len() >= BACKLOG {
            drop(batch);
            let n = shared.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(
                    dropped = n,
                    "audit records dropped: the writer cannot keep up"
                );
            }
            return;
        }
        batch.push(entry);
        if batch.len() == WAKE_AT {
            shared.wake.notify_one();
        }
        drop(batch);
        shared.launch();
    }

    /// Writes what has gathered and stops the writer (at shutdown).
    pub fn flush_and_stop(&self) {
        if let Some(shared) = &self.shared {
            shared.stop.store(true, Ordering::Release);
            shared.wake.notify_one();
            let running = shared
                .writer
                .lock()
                .ok()
                .map(|mut w| std::mem::take(&mut *w));
            match running {
                Some(Writer::Running(handle)) => {
                    let _ = handle.join();
                }
                // A record raced the shutdown before its writer started: with
                // `stop` set, this writes what gathered and returns.
                Some(Writer::NotYet {
                    agent,
                    cap,
                    session,
                }) => write_forever(shared, &agent, cap, &session),
                _ => {}
            }
        }
    }
}

fn write_forever(shared: &Shared, agent: &AgentDir, cap: u64, session: &str) {
    let open = || match agent.append_log("", FILE, cap) {
        Ok(f) => {
            let len = f.metadata().map_or(0, |m| m.len());
            Some((f, len))
        }
        Err(e) => {
            tracing::warn!("the audit trail cannot be written: {e}");
            None
        }
    };
    let mut file: Option<(std::fs::File, u64)> = None;
    let mut line = Vec::with_capacity(256);
    let mut chunk = Vec::with_capacity(64 * 1024);
    loop {
        let batch = {
            let Ok(guard) = shared.batch.lock() else {
                return;
            };
            let Ok((mut guard, _)) = shared.wake.wait_timeout_while(guard, FLUSH_EVERY, |b| {
                b.len() < WAKE_AT && !shared.stop.load(Ordering::Acquire)
            }) else {
                return;
            };
            std::mem::take(&mut *guard)
        };
        for entry in &batch {
            if file.is_none() {
                file = open();
            }
            let Some((f, len)) = file.as_mut() else {
                continue;
            };
            line.clear();
            entry.write_line(session, &mut line);
            chunk.extend_from_slice(&line);
            *len += line.len() as u64;
            if *len > cap {
                let _ = f.write_all(&chunk);
                chunk.clear();
                file = open();
            }
        }
        if let Some((f, _)) = file.as_mut()
            && !chunk.is_empty()
        {
            let _ = f.write_all(&chunk);
        }
        chunk.clear();
        if shared.stop.load(Ordering::Acquire) {
            return;
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
            "s",
        );
        let d = digest(&serde_json::json!({"path": "a"}));
        for _ in 0..40 {
            audit.record(
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
        // The writer must be gone before the directory is removed: a rotation
        // racing the removal would leave the directory behind.
        audit.flush_and_stop();
    }

    #[test]
    fn lines_are_what_serde_json_writes_for_the_record() {
        let entries = [
            (
                "read_file",
                "s",
                Outcome::Ok,
                Duration::from_micros(1500),
                12,
            ),
            (
                "ralph_custom__x__y",
                "sess \"q\"\n",
                Outcome::Error,
                Duration::ZERO,
                0,
            ),
            (
                "t",
                "é",
                Outcome::Cancelled,
                Duration::from_secs(3),
                usize::MAX,
            ),
            (
                "exec",
                "s",
                Outcome::Refused,
                Duration::from_nanos(1_234_567),
                7,
            ),
        ];
        for (tool, session, outcome, duration, bytes) in entries {
            let entry = Entry {
                at: SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_000_000_123),
                tool: tool.into(),
                args: digest(&serde_json::json!({"path": tool})),
                outcome,
                duration,
                bytes,
            };
            let mut ours = Vec::new();
            entry.write_line(session, &mut ours);
            let at: chrono::DateTime<chrono::Utc> = entry.at.into();
            let expected = serde_json::json!({
                "ts": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "session": session,
                "tool": tool,
                "args_sha256": hex::encode(entry.args),
                "outcome": outcome.as_str(),
                "duration_ms": (duration.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
                "bytes": bytes,
            });
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                format!("{expected}\n"),
                "{tool}"
            );
        }
    }
}
