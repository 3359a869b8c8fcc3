//! The supervisor: one task owns the current server and is the only place that
//! restarts or stops it, in the manner of watchexec's job. It acts on a server
//! exit at once (an event, not a poll), probes a live server every interval,
//! restarts after consecutive failed probes or when asked, backs off on quick
//! crashes by the [`RestartPolicy`], and ends on [`Supervisor::shutdown`] —
//! which interrupts a back-off or a preflight in progress. A terminal error is
//! reported once through [`Supervisor::failed`].

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ralph_mcp_process::RestartPolicy;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::error::LifecycleError;

/// Why a server is being replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestartReason {
    /// The process exited with this status.
    Exited(String),
    /// This many probes in a row failed; the last one's error.
    Unresponsive {
        /// Consecutive failed probes.
        failed_probes: u32,
        /// What the last probe said.
        last: String,
    },
    /// A replacement could not be started.
    StartFailed(String),
    /// The library user asked for it.
    Requested(String),
}

impl fmt::Display for RestartReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exited(status) => write!(f, "exited ({status})"),
            Self::Unresponsive {
                failed_probes,
                last,
            } => write!(
                f,
                "stopped answering ({failed_probes} probes failed; last: {last})"
            ),
            Self::StartFailed(e) => write!(f, "failed to restart ({e})"),
            Self::Requested(why) => write!(f, "restart requested ({why})"),
        }
    }
}

/// What shutdown did.
#[derive(Debug, Default)]
pub struct ShutdownReport {
    /// Session files kept because the reap could not be proven.
    pub kept_session_files: Vec<PathBuf>,
}

/// One running server, as the supervisor sees it.
pub trait Served: Send + 'static {
    /// When it was started.
    fn started(&self) -> Instant;
    /// Fires with the exit status once the process has been reaped.
    fn exit_watch(&self) -> watch::Receiver<Option<ExitStatus>>;
    /// Stops it (SIGTERM, `grace`, SIGKILL, reap); returns a session file that
    /// had to be kept because the reap could not be proven.
    fn stop(&mut self, grace: Duration) -> impl Future<Output = Option<PathBuf>> + Send;
}

/// What starts and probes servers: the real one runs `ralph-mcp serve` on the
/// bridge's listener; tests use a fake.
pub trait Spawner: Send + Sync + 'static {
    /// The server it starts.
    type Server: Served;
    /// Starts a server and proves it ready (preflight).
    fn start(&self) -> impl Future<Output = Result<Self::Server, LifecycleError>> + Send;
    /// One probe of the live server.
    fn probe(&self) -> impl Future<Output = Result<(), String>> + Send;
    /// Budget and back-off.
    fn policy(&self) -> RestartPolicy;
    /// Time between probes.
    fn interval(&self) -> Duration;
    /// Failed probes in a row that mean a restart.
    fn failed_probes_before_restart(&self) -> u32;
    /// Grace for a server being replaced (it is dead or hung).
    fn replace_grace(&self) -> Duration;
    /// Grace for the server at shutdown.
    fn shutdown_grace(&self) -> Duration;
    /// At shutdown, after the server: stops whatever the spawner keeps for the
    /// next start (a standby); returns a session file it had to keep.
    fn retire(&self) -> impl Future<Output = Option<PathBuf>> + Send {
        async { None }
    }
}

enum Msg {
    Restart(RestartReason),
    Shutdown,
}

/// A running supervisor task.
pub struct Supervisor {
    tx: mpsc::UnboundedSender<Msg>,
    failed: watch::Receiver<Option<Arc<LifecycleError>>>,
    restarts: Arc<AtomicU32>,
    task: JoinHandle<ShutdownReport>,
}

impl Supervisor {
    /// Starts supervising `first` (already started and proven ready).
    pub fn spawn<S: Spawner>(spawner: Arc<S>, first: S::Server) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let (fail_tx, fail_rx) = watch::channel(None);
        let restarts = Arc::new(AtomicU32::new(0));
        let task = tokio::spawn(run(spawner, first, rx, fail_tx, restarts.clone()));
        Self {
            tx,
            failed: fail_rx,
            restarts,
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
                // The task ended without an error (shut down); wait forever.
                std::future::pending::<()>().await;
            }
        }
    }

    /// Asks for the server to be replaced.
    pub fn restart(&self, why: impl Into<String>) {
        let _ = self
            .tx
            .send(Msg::Restart(RestartReason::Requested(why.into())));
    }

    /// Restarts performed so far.
    pub fn restart_count(&self) -> u32 {
        self.restarts.load(Ordering::Relaxed)
    }

    /// Stops supervision and the server, interrupting a restart in progress.
    pub async fn shutdown(self) -> ShutdownReport {
        let _ = self.tx.send(Msg::Shutdown);
        self.task.await.unwrap_or_default()
    }
}

/// How a restart cycle ended.
enum Cycle<T> {
    Running(T),
    ShutdownAsked,
    GaveUp(LifecycleError),
}

/// Waits for the server to exit; never resolves while it runs.
async fn exited(mut watch: watch::Receiver<Option<ExitStatus>>) -> String {
    let status = match watch.wait_for(Option::is_some).await {
        Ok(s) => Some(s.map(|s| s.to_string()).unwrap_or_default()),
        Err(_) => None,
    };
    match status {
        Some(s) => s,
        None => std::future::pending().await,
    }
}

async fn run<S: Spawner>(
    spawner: Arc<S>,
    first: S::Server,
    mut rx: mpsc::UnboundedReceiver<Msg>,
    failed: watch::Sender<Option<Arc<LifecycleError>>>,
    restarts: Arc<AtomicU32>,
) -> ShutdownReport {
    let mut current = Some(first);
    let mut failures = 0u32;
    let mut quick = 0u32;
    let limit = spawner.failed_probes_before_restart().max(1);
    while let Some(server) = current.as_ref() {
        let reason = tokio::select! {
            msg = rx.recv() => match msg {
                Some(Msg::Restart(r)) => r,
                Some(Msg::Shutdown) | None => break,
            },
            status = exited(server.exit_watch()) => RestartReason::Exited(status),
            () = tokio::time::sleep(spawner.interval()) => match spawner.probe().await {
                Ok(()) => {
                    failures = 0;
                    continue;
                }
                Err(e) => {
                    failures += 1;
                    tracing::warn!(failures, limit, error = %e, "MCP server probe failed");
                    if failures < limit {
                        continue;
                    }
                    RestartReason::Unresponsive { failed_probes: failures, last: e }
                }
            },
        };
        failures = 0;
        match restart(
            &*spawner,
            &mut current,
            &mut quick,
            reason,
            &mut rx,
            &restarts,
        )
        .await
        {
            Cycle::Running(server) => current = Some(server),
            Cycle::ShutdownAsked => break,
            Cycle::GaveUp(e) => {
                let _ = failed.send(Some(Arc::new(e)));
                // Nothing runs any more; wait to be told to shut down.
                while let Some(Msg::Restart(_)) = rx.recv().await {}
                break;
            }
        }
    }
    let mut report = ShutdownReport::default();
    if let Some(mut server) = current.take()
        && let Some(kept) = server.stop(spawner.shutdown_grace()).await
    {
        tracing::warn!(file = %kept.display(), "kept the session file: the server could not be reaped");
        report.kept_session_files.push(kept);
    }
    if let Some(kept) = spawner.retire().await {
        tracing::warn!(file = %kept.display(), "kept the standby's session file: it could not be reaped");
        report.kept_session_files.push(kept);
    }
    report
}

/// Replaces the server: stop the old one, back off after quick crashes, start
/// and preflight a new one, until one runs, the budget is spent, or shutdown is
/// asked (which interrupts the back-off and the preflight).
async fn restart<S: Spawner>(
    spawner: &S,
    current: &mut Option<S::Server>,
    quick: &mut u32,
    mut reason: RestartReason,
    rx: &mut mpsc::UnboundedReceiver<Msg>,
    restarts: &AtomicU32,
) -> Cycle<S::Server> {
    let policy = spawner.policy();
    loop {
        let used = restarts.load(Ordering::Relaxed);
        if policy.exhausted(used) {
            if let Some(mut old) = current.take() {
                old.stop(spawner.replace_grace()).await;
            }
            return Cycle::GaveUp(LifecycleError::BudgetExhausted {
                reason: reason.to_string(),
                restart_count: used,
                max_restarts: policy.budget,
            });
        }
        // A hung server accepts nothing, so its replacement starts first and
        // serves while it is stopped (make before break); a dead one goes first.
        let mut hung = None;
        match current.take() {
            Some(mut old) => {
                *quick = if policy.is_quick(old.started().elapsed()) {
                    *quick + 1
                } else {
                    0
                };
                if matches!(reason, RestartReason::Unresponsive { .. }) {
                    hung = Some(old);
                } else if let Some(kept) = old.stop(spawner.replace_grace()).await {
                    tracing::warn!(file = %kept.display(), "kept a session file: the old server could not be reaped");
                }
            }
            None => *quick += 1,
        }
        let grace = spawner.replace_grace();
        let retire = |hung: Option<S::Server>| {
            if let Some(mut old) = hung {
                tokio::spawn(async move {
                    if let Some(kept) = old.stop(grace).await {
                        tracing::warn!(file = %kept.display(), "kept a session file: the hung server could not be reaped");
                    }
                });
            }
        };
        let interrupted = |msg: Option<Msg>| matches!(msg, Some(Msg::Shutdown) | None);
        // The first restart is immediate (no timer: even a zero sleep waits for
        // the timer wheel's next millisecond); repeated quick crashes back off.
        let wait = policy.delay(*quick);
        if !wait.is_zero() {
            let delay = tokio::time::sleep(wait);
            tokio::pin!(delay);
            loop {
                tokio::select! {
                    () = &mut delay => break,
                    msg = rx.recv() => if interrupted(msg) {
                        retire(hung);
                        return Cycle::ShutdownAsked;
                    },
                }
            }
        }
        restarts.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            restart = used + 1,
            max = policy.budget,
            %reason,
            "restarting MCP server"
        );
        let start = spawner.start();
        tokio::pin!(start);
        let started = loop {
            tokio::select! {
                res = &mut start => break res,
                // Dropping the start future stops the server it was starting.
                msg = rx.recv() => if interrupted(msg) {
                    retire(hung);
                    return Cycle::ShutdownAsked;
                },
            }
        };
        retire(hung);
        match started {
            Ok(server) => return Cycle::Running(server),
            Err(e) => reason = RestartReason::StartFailed(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::os::unix::process::ExitStatusExt;
    use std::sync::Mutex;

    /// What the next started fake server does.
    #[derive(Clone, Copy)]
    enum Plan {
        /// Runs until stopped.
        Healthy,
        /// Exits with status 1 after this long.
        CrashAfter(Duration),
        /// Fails its preflight.
        FailStart,
        /// Takes this long to become ready.
        SlowStart(Duration),
    }

    struct Fake {
        started: Instant,
        exit: watch::Sender<Option<ExitStatus>>,
        stops: Arc<AtomicU32>,
    }

    impl Served for Fake {
        fn started(&self) -> Instant {
            self.started
        }
        fn exit_watch(&self) -> watch::Receiver<Option<ExitStatus>> {
            self.exit.subscribe()
        }
        async fn stop(&mut self, _grace: Duration) -> Option<PathBuf> {
            self.stops.fetch_add(1, Ordering::Relaxed);
            let _ = self.exit.send(Some(ExitStatus::from_raw(15)));
            None
        }
    }

    struct FakeSpawner {
        plans: Mutex<VecDeque<Plan>>,
        probes_ok: Mutex<VecDeque<bool>>,
        starts: AtomicU32,
        stops: Arc<AtomicU32>,
        /// How many servers had been stopped when each start began.
        stops_at_start: Mutex<Vec<u32>>,
        budget: u32,
    }

    impl FakeSpawner {
        fn new(plans: &[Plan], budget: u32) -> Arc<Self> {
            Arc::new(Self {
                plans: Mutex::new(plans.iter().copied().collect()),
                probes_ok: Mutex::new(VecDeque::new()),
                starts: AtomicU32::new(0),
                stops: Arc::new(AtomicU32::new(0)),
                stops_at_start: Mutex::new(Vec::new()),
                budget,
            })
        }

        fn fake(&self, plan: Plan) -> Fake {
            let (exit, _) = watch::channel(None);
            if let Plan::CrashAfter(d) = plan {
                let tx = exit.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(d).await;
                    let _ = tx.send(Some(ExitStatus::from_raw(1 << 8)));
                });
            }
            Fake {
                started: Instant::now(),
                exit,
                stops: self.stops.clone(),
            }
        }
    }

    impl Spawner for FakeSpawner {
        type Server = Fake;
        async fn start(&self) -> Result<Fake, LifecycleError> {
            self.starts.fetch_add(1, Ordering::Relaxed);
            self.stops_at_start
                .lock()
                .unwrap()
                .push(self.stops.load(Ordering::Relaxed));
            let plan = self
                .plans
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or(Plan::Healthy);
            match plan {
                Plan::FailStart => Err(LifecycleError::ShutDown),
                Plan::SlowStart(d) => {
                    tokio::time::sleep(d).await;
                    Ok(self.fake(Plan::Healthy))
                }
                other => Ok(self.fake(other)),
            }
        }
        async fn probe(&self) -> Result<(), String> {
            match self.probes_ok.lock().unwrap().pop_front() {
                Some(false) => Err("no answer".into()),
                _ => Ok(()),
            }
        }
        fn policy(&self) -> RestartPolicy {
            RestartPolicy {
                budget: self.budget,
                quick_crash: Duration::from_millis(200),
                base: Duration::from_millis(5),
                cap: Duration::from_millis(20),
            }
        }
        fn interval(&self) -> Duration {
            Duration::from_millis(20)
        }
        fn failed_probes_before_restart(&self) -> u32 {
            3
        }
        fn replace_grace(&self) -> Duration {
            Duration::from_millis(10)
        }
        fn shutdown_grace(&self) -> Duration {
            Duration::from_millis(10)
        }
    }

    async fn eventually(mut pred: impl FnMut() -> bool) -> bool {
        for _ in 0..200 {
            if pred() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        pred()
    }

    #[tokio::test]
    async fn a_crashed_server_is_replaced_at_once() {
        let sp = FakeSpawner::new(&[Plan::Healthy], 5);
        let first = sp.fake(Plan::CrashAfter(Duration::from_millis(30)));
        let sup = Supervisor::spawn(sp.clone(), first);
        assert!(eventually(|| sup.restart_count() == 1).await);
        assert_eq!(sp.starts.load(Ordering::Relaxed), 1);
        sup.shutdown().await;
        assert!(
            sp.stops.load(Ordering::Relaxed) >= 2,
            "old and new server stopped"
        );
    }

    #[tokio::test]
    async fn a_hung_server_is_stopped_after_its_replacement_started() {
        let sp = FakeSpawner::new(&[Plan::Healthy], 5);
        sp.probes_ok.lock().unwrap().extend([false, false, false]);
        let sup = Supervisor::spawn(sp.clone(), sp.fake(Plan::Healthy));
        assert!(eventually(|| sup.restart_count() == 1).await);
        assert!(eventually(|| sp.stops.load(Ordering::Relaxed) == 1).await);
        assert_eq!(
            *sp.stops_at_start.lock().unwrap(),
            vec![0],
            "make before break"
        );
        sup.shutdown().await;
    }

    #[tokio::test]
    async fn a_crashed_server_is_reaped_before_its_replacement_starts() {
        let sp = FakeSpawner::new(&[Plan::Healthy], 5);
        let sup = Supervisor::spawn(
            sp.clone(),
            sp.fake(Plan::CrashAfter(Duration::from_millis(20))),
        );
        assert!(eventually(|| sup.restart_count() == 1).await);
        assert_eq!(*sp.stops_at_start.lock().unwrap(), vec![1]);
        sup.shutdown().await;
    }

    #[tokio::test]
    async fn a_hung_server_is_replaced_after_three_failed_probes() {
        let sp = FakeSpawner::new(&[Plan::Healthy], 5);
        sp.probes_ok
            .lock()
            .unwrap()
            .extend([false, true, false, false, false]);
        let first = sp.fake(Plan::Healthy);
        let sup = Supervisor::spawn(sp.clone(), first);
        assert!(eventually(|| sup.restart_count() == 1).await);
        // One failure, then a success, resets the count: only the run of three restarts.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(sup.restart_count(), 1);
        sup.shutdown().await;
    }

    #[tokio::test]
    async fn a_crash_loop_spends_the_budget_and_says_why() {
        let crash = Plan::CrashAfter(Duration::from_millis(1));
        let sp = FakeSpawner::new(&[crash, crash, crash, crash, crash], 3);
        let first = sp.fake(crash);
        let mut sup = Supervisor::spawn(sp.clone(), first);
        let err = tokio::time::timeout(Duration::from_secs(5), sup.failed())
            .await
            .expect("supervision gives up");
        match &*err {
            LifecycleError::BudgetExhausted {
                restart_count,
                max_restarts,
                reason,
            } => {
                assert_eq!((*restart_count, *max_restarts), (3, 3));
                assert!(reason.contains("exited"), "{reason}");
            }
            other => panic!("unexpected {other}"),
        }
        assert_eq!(sp.starts.load(Ordering::Relaxed), 3);
        sup.shutdown().await;
    }

    #[tokio::test]
    async fn failed_starts_count_against_the_budget() {
        let sp = FakeSpawner::new(&[Plan::FailStart, Plan::FailStart, Plan::Healthy], 5);
        let first = sp.fake(Plan::CrashAfter(Duration::from_millis(1)));
        let sup = Supervisor::spawn(sp.clone(), first);
        assert!(eventually(|| sp.starts.load(Ordering::Relaxed) == 3).await);
        assert_eq!(sup.restart_count(), 3);
        sup.shutdown().await;
    }

    #[tokio::test]
    async fn shutdown_interrupts_a_restart_in_progress() {
        let sp = FakeSpawner::new(&[Plan::SlowStart(Duration::from_secs(30))], 5);
        let first = sp.fake(Plan::CrashAfter(Duration::from_millis(1)));
        let sup = Supervisor::spawn(sp.clone(), first);
        assert!(eventually(|| sp.starts.load(Ordering::Relaxed) == 1).await);
        let t = Instant::now();
        tokio::time::timeout(Duration::from_secs(2), sup.shutdown())
            .await
            .expect("shutdown does not wait out the preflight");
        assert!(t.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn a_requested_restart_is_honoured() {
        let sp = FakeSpawner::new(&[Plan::Healthy], 5);
        let sup = Supervisor::spawn(sp.clone(), sp.fake(Plan::Healthy));
        sup.restart("config changed");
        assert!(eventually(|| sup.restart_count() == 1).await);
        sup.shutdown().await;
    }
}
