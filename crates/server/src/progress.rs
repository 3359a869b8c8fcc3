//! Progress notifications for one `tools/call`.
//!
//! A client that sends `_meta.progressToken` and accepts `text/event-stream` gets
//! its `tools/call` answered as an SSE stream: `notifications/progress` events
//! while the tool runs, then the response. The tool reaches the stream through a
//! task-local [`ProgressSink`], so handlers that do not report need no change.
//! Reports never block the tool: when the client reads slower than the tool
//! reports, reports are dropped (the final response is never dropped).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};
use tokio::sync::mpsc;

/// Events buffered per call before reports are dropped.
pub const BUFFER: usize = 256;
/// Longest `message` of one progress notification, in bytes.
pub const MESSAGE_CAP: usize = 16 * 1024;

/// One SSE event of a streamed call.
#[derive(Debug)]
pub struct Event {
    /// The JSON-RPC message.
    pub json: String,
    /// True for the response, which ends the stream.
    pub last: bool,
}

/// Where a running tool sends its progress, and its log messages.
#[derive(Clone, Debug)]
pub struct ProgressSink {
    /// `None` when the client asked for log messages but not for progress.
    token: Option<Arc<Value>>,
    tx: mpsc::Sender<Event>,
    progress: Arc<AtomicU64>,
    /// Least severe `LOG_LEVELS` index sent as `notifications/message`; `None`: none.
    log_threshold: Option<u8>,
}

tokio::task_local! {
    static SINK: ProgressSink;
}

impl ProgressSink {
    /// A sink for `token` (the client's `progressToken`, if it sent one) feeding
    /// `tx`; log messages at `LOG_LEVELS[log_threshold]` or more severe go out too.
    pub fn new(token: Option<Value>, tx: mpsc::Sender<Event>, log_threshold: Option<u8>) -> Self {
        Self {
            token: token.map(Arc::new),
            tx,
            progress: Arc::new(AtomicU64::new(0)),
            log_threshold,
        }
    }

    /// Sends `notifications/message` at `level` (a `LOG_LEVELS` name) when the
    /// client asked for that level or a less severe one.
    pub fn log(&self, level: &str, logger: &str, data: &str) {
        let Some(idx) = crate::state::LOG_LEVELS.iter().position(|l| *l == level) else {
            return;
        };
        if self.log_threshold.is_none_or(|t| (idx as u8) < t) {
            return;
        }
        let note = json!({
            "jsonrpc": "2.0",
            "method": "notifications/message",
            "params": { "level": level, "logger": logger, "data": data },
        });
        let _ = self.tx.try_send(Event {
            json: note.to_string(),
            last: false,
        });
    }

    /// Sends `notifications/progress` with `message`, advancing the progress
    /// counter by `amount` (at least 1, so progress always increases). Nothing
    /// when the client did not ask for progress.
    pub fn report(&self, amount: u64, message: &str) {
        let Some(token) = &self.token else {
            return;
        };
        let progress = self.progress.fetch_add(amount.max(1), Ordering::Relaxed) + amount.max(1);
        let mut end = message.len().min(MESSAGE_CAP);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let note = json!({
            "jsonrpc": "2.0",
            "method": "notifications/progress",
            "params": {
                "progressToken": **token,
                "progress": progress,
                "message": &message[..end],
            }
        });
        let _ = self.tx.try_send(Event {
            json: note.to_string(),
            last: false,
        });
    }

    /// The sink of the current tool call, if its client asked for progress.
    pub fn current() -> Option<Self> {
        SINK.try_with(Clone::clone).ok()
    }

    /// Runs `fut` with `sink` as the current sink.
    pub async fn scope<F: Future>(sink: Option<Self>, fut: F) -> F::Output {
        match sink {
            Some(s) => SINK.scope(s, fut).await,
            None => fut.await,
        }
    }

    /// Runs `f` with `sink` as the current sink (blocking handlers).
    pub fn sync_scope<R>(sink: Option<Self>, f: impl FnOnce() -> R) -> R {
        match sink {
            Some(s) => SINK.sync_scope(s, f),
            None => f(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reports_increase_and_reach_only_the_scoped_call() {
        let (tx, mut rx) = mpsc::channel(8);
        let sink = ProgressSink::new(Some(json!("tok")), tx, None);
        ProgressSink::scope(Some(sink), async {
            let s = ProgressSink::current().expect("scoped");
            s.report(0, "a");
            s.report(5, "b");
        })
        .await;
        assert!(ProgressSink::current().is_none());
        let a: Value = serde_json::from_str(&rx.recv().await.unwrap().json).unwrap();
        let b: Value = serde_json::from_str(&rx.recv().await.unwrap().json).unwrap();
        assert_eq!(a["params"]["progressToken"], "tok");
        assert_eq!(a["params"]["progress"], 1);
        assert_eq!(b["params"]["progress"], 6);
        assert_eq!(b["params"]["message"], "b");
    }

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let (tx, mut rx) = mpsc::channel(1);
        let sink = ProgressSink::new(Some(json!(1)), tx, None);
        sink.report(1, &"é".repeat(MESSAGE_CAP));
        let v: Value = serde_json::from_str(&rx.try_recv().unwrap().json).unwrap();
        assert!(v["params"]["message"].as_str().unwrap().len() <= MESSAGE_CAP);
    }
}
