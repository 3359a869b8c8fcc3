//! The background supervisor: acts on a server exit at once (an event, not a
//! poll), probes a live server every interval, and restarts after consecutive
//! failed probes. A terminal error is reported once through [`Supervisor::failed`].

use std::sync::Arc;

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::bridge::Bridge;
use crate::error::LifecycleError;

/// A running supervision loop.
pub struct Supervisor {
    stop: Option<oneshot::Sender<()>>,
    failed: watch::Receiver<Option<Arc<LifecycleError>>>,
    task: JoinHandle<()>,
}

impl Supervisor {
    /// Starts supervising `bridge` in the background.
    pub fn spawn(bridge: Arc<Bridge>) -> Self {
        let (stop_tx, stop_rx) = oneshot::channel();
        let (fail_tx, fail_rx) = watch::channel(None);
        let task = tokio::spawn(run(bridge, stop_rx, fail_tx));
        Self {
            stop: Some(stop_tx),
            failed: fail_rx,
            task,
        }
    }

    /// Resolves with the terminal error when supervision gives up.
    pub async fn failed(&mut self) -> Arc<LifecycleError> {
        loop {
            if let Some(e) = self.failed.borrow_and_update().clone() {
                return e;
            }
            if self.failed.changed().await.is_err() {
                // The loop ended without an error (stopped); wait forever.
                std::future::pending::<()>().await;
            }
        }
    }

    /// Stops the loop and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

async fn run(
    bridge: Arc<Bridge>,
    mut stop: oneshot::Receiver<()>,
    failed: watch::Sender<Option<Arc<LifecycleError>>>,
) {
    let interval = bridge.options().supervision_interval;
    let limit = bridge.options().failed_probes_before_restart.max(1);
    let mut failures = 0u32;
    loop {
        let Some(mut exited) = bridge.exit_watch().await else {
            return;
        };
        enum Event {
            Exited(String),
            Tick,
        }
        let event = tokio::select! {
            _ = &mut stop => return,
            res = exited.wait_for(Option::is_some) => {
                let status = res.ok().and_then(|s| *s);
                Event::Exited(status.map(|s| s.to_string()).unwrap_or_else(|| "unknown status".into()))
            }
            _ = tokio::time::sleep(interval) => Event::Tick,
        };
        let outcome = match event {
            Event::Exited(status) => {
                failures = 0;
                bridge.restart(&format!("exited ({status})")).await
            }
            Event::Tick => match bridge.probe().await {
                Ok(_) => {
                    failures = 0;
                    Ok(())
                }
                Err(e) => {
                    failures += 1;
                    tracing::warn!(failures, limit, error = %e, "MCP server probe failed");
                    if failures >= limit {
                        failures = 0;
                        bridge
                            .restart(&format!(
                                "stopped answering ({limit} probes failed; last: {e})"
                            ))
                            .await
                    } else {
                        Ok(())
                    }
                }
            },
        };
        match outcome {
            Ok(()) => {}
            Err(LifecycleError::ShutDown) => return,
            Err(e) => {
                let _ = failed.send(Some(Arc::new(e)));
                return;
            }
        }
    }
}
