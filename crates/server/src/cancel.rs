//! Client cancellation of `tools/call` (`notifications/cancelled`).
//!
//! Every running call is registered under its JSON-RPC id with an abort handle.
//! A cancellation aborts the call's future: a built-in async tool stops, and an
//! upstream call's drop guard tells the upstream. (A blocking tool runs to its
//! end on its thread; only its answer is discarded.)

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::future::{AbortHandle, AbortRegistration};

/// The calls running now, by JSON-RPC id (as JSON text). Ids are unique per the
/// protocol, but a client may reuse one while its first call still runs: each
/// call keeps its own entry, so one finishing never unregisters another, and a
/// cancellation of the id stops every call running under it.
#[derive(Debug, Default)]
pub struct InFlight {
    calls: Mutex<HashMap<String, Vec<(u64, AbortHandle)>>>,
    next: AtomicU64,
}

/// Keeps a call registered until dropped.
pub struct Registration<'a> {
    owner: &'a InFlight,
    id: String,
    serial: u64,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        if let Ok(mut calls) = self.owner.calls.lock()
            && let Some(running) = calls.get_mut(&self.id)
        {
            running.retain(|(serial, _)| *serial != self.serial);
            if running.is_empty() {
                calls.remove(&self.id);
            }
        }
    }
}

impl InFlight {
    /// Registers call `id`; abort the returned registration's future to cancel it.
    pub fn register(&self, id: &str) -> (Registration<'_>, AbortRegistration) {
        let (handle, reg) = AbortHandle::new_pair();
        let serial = self.next.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut calls) = self.calls.lock() {
            calls
                .entry(id.to_owned())
                .or_default()
                .push((serial, handle));
        }
        (
            Registration {
                owner: self,
                id: id.to_owned(),
                serial,
            },
            reg,
        )
    }

    /// Cancels the calls running under `id` (JSON text of the request id); false
    /// when none is.
    pub fn cancel(&self, id: &str) -> bool {
        let running = self.calls.lock().ok().and_then(|mut c| c.remove(id));
        running.is_some_and(|calls| {
            for (_, handle) in &calls {
                handle.abort();
            }
            !calls.is_empty()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::future::Abortable;

    #[tokio::test]
    async fn cancelling_aborts_the_registered_future_only() {
        let inflight = InFlight::default();
        let (_keep, reg) = inflight.register("7");
        let fut = Abortable::new(std::future::pending::<()>(), reg);
        assert!(!inflight.cancel("8"));
        assert!(inflight.cancel("7"));
        assert!(fut.await.is_err());
        assert!(!inflight.cancel("7"));
    }

    #[tokio::test]
    async fn a_reused_id_keeps_each_call_registered_and_cancels_them_all() {
        let inflight = InFlight::default();
        let mut calls: Vec<_> = (0..3)
            .map(|_| {
                let (kept, reg) = inflight.register("7");
                (kept, Abortable::new(std::future::pending::<()>(), reg))
            })
            .collect();
        // The first call ending must not unregister the others.
        drop(calls.remove(0));
        assert!(inflight.cancel("7"));
        for (_kept, call) in calls {
            assert!(call.await.is_err());
        }
        assert!(!inflight.cancel("7"));
    }

    #[test]
    fn finished_calls_unregister() {
        let inflight = InFlight::default();
        {
            let _reg = inflight.register("\"a\"");
        }
        assert!(!inflight.cancel("\"a\""));
    }
}
