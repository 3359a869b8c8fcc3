//! Client cancellation of `tools/call` (`notifications/cancelled`).
//!
//! Every running call is registered under its JSON-RPC id with an abort handle.
//! A cancellation aborts the call's future: a built-in async tool stops, and an
//! upstream call's drop guard tells the upstream. (A blocking tool runs to its
//! end on its thread; only its answer is discarded.)

use std::collections::HashMap;
use std::sync::Mutex;

use futures_util::future::{AbortHandle, AbortRegistration};

/// The calls running now, by JSON-RPC id (as JSON text).
#[derive(Debug, Default)]
pub struct InFlight {
    calls: Mutex<HashMap<String, AbortHandle>>,
}

/// Keeps a call registered until dropped.
pub struct Registration<'a> {
    owner: &'a InFlight,
    id: String,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        if let Ok(mut calls) = self.owner.calls.lock() {
            calls.remove(&self.id);
        }
    }
}

impl InFlight {
    /// Registers call `id`; abort the returned registration's future to cancel it.
    pub fn register(&self, id: &str) -> (Registration<'_>, AbortRegistration) {
        let (handle, reg) = AbortHandle::new_pair();
        if let Ok(mut calls) = self.calls.lock() {
            calls.insert(id.to_owned(), handle);
        }
        (
            Registration {
                owner: self,
                id: id.to_owned(),
            },
            reg,
        )
    }

    /// Cancels call `id` (JSON text of the request id); false when it is not running.
    pub fn cancel(&self, id: &str) -> bool {
        let handle = self.calls.lock().ok().and_then(|mut c| c.remove(id));
        handle.map(|h| h.abort()).is_some()
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

    #[test]
    fn finished_calls_unregister() {
        let inflight = InFlight::default();
        {
            let _reg = inflight.register("\"a\"");
        }
        assert!(!inflight.cancel("\"a\""));
    }
}
