//! The explore index: Ralph's `ralph_index_status`, `ralph_reindex` and
//! `ralph_graph` over a code graph of the workspace's Python, Rust and Markdown
//! files.
//!
//! A reindex walks the workspace through the confinement layer (ignore rules
//! applied, `.agent/` skipped), opens each candidate beneath the workspace fd,
//! and parses only files whose size or modification time changed since the
//! last one ([`extract`]); the graph is then rebuilt from every file's facts
//! ([`graph`]) and committed as a new generation, which is also written to
//! `.agent/ralph-explore/ralph-mcp-index.json` so a restarted server starts warm.
//! Every job is bounded by its call's `timeout_ms`: a job that runs out keeps
//! what it parsed for the next one and commits nothing, so the committed
//! generation is always whole. Graph queries refresh the index first (unless
//! `freshness` is `allow_stale`), so their answers describe the files as they are.

pub mod extract;
pub mod graph;
pub mod rust;

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustix::fs::{FileType, Mode, OFlags};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use self::extract::{Facts, Lang};
use self::graph::{ChangeKind, Direction, Graph, Query, QueryKind, Relation};
use super::{ToolContext, ToolError, ToolResult, json_result};
use crate::confine::beneath::open_beneath;
use crate::confine::walk::{Flow, WalkOptions, walk};

/// Where the index is kept, under `.agent/`.
const INDEX_DIR: &str = "ralph-explore";
/// The index file's name.
const INDEX_FILE: &str = "ralph-mcp-index.json";
/// Format version of the index file; another version is rebuilt.
const INDEX_VERSION: u32 = 2;
/// Largest file parsed.
const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Most files indexed.
const MAX_FILES: usize = 100_000;
/// Largest index file read back.
const MAX_INDEX_BYTES: u64 = 512 * 1024 * 1024;
/// Longest `ralph_index_status` spends looking for stale files.
const STATUS_SCAN_BUDGET: Duration = Duration::from_secs(2);
/// Share of stale files above which answers say the index is stale in scope.
const STALE_SCOPE_RATIO: f64 = 0.05;

/// What the index knows of one file.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct FileRecord {
    size: u64,
    mtime_ns: i128,
    lang: Lang,
    facts: Facts,
}

/// A committed generation.
#[derive(Debug)]
struct Snapshot {
    generation: u64,
    indexed_at: f64,
    files: BTreeMap<String, FileRecord>,
    graph: Graph,
}

/// The index file.
#[derive(Serialize, Deserialize)]
struct Stored {
    version: u32,
    generation: u64,
    indexed_at: f64,
    files: BTreeMap<String, FileRecord>,
}

/// The state of the index, shared by every call of the session.
#[derive(Default)]
pub struct Explore {
    state: Mutex<State>,
    /// Signalled when a job ends.
    idle: Condvar,
    /// Asks the running job to stop.
    cancel: AtomicBool,
}

impl std::fmt::Debug for Explore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Explore").finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    /// The index file was looked for.
    loaded: bool,
    committed: Option<Arc<Snapshot>>,
    running: bool,
    /// Files parsed by jobs that did not commit, for the next job.
    carried: HashMap<String, FileRecord>,
    last_job: Option<Value>,
    last_refresh_kind: &'static str,
    storage_bytes: u64,
}

/// How a job goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JobMode {
    /// Parse what changed.
    Changed,
    /// Parse everything.
    Full,
}

/// What a job did.
#[derive(Debug)]
struct JobOutcome {
    status: &'static str,
    generation: u64,
    changed: Vec<String>,
    failed: Vec<String>,
    parse_count: usize,
    elapsed: f64,
    error: Option<String>,
    cancelled: bool,
}

impl JobOutcome {
    fn json(&self, job_id: &str) -> Value {
        json!({
            "job_id": job_id,
            "job_status": self.status,
            "generation": self.generation,
            "changed_files": self.changed,
            "failed_files": self.failed,
            "parse_count": self.parse_count,
            "dirty_paths_count": 0,
            "elapsed_seconds": (self.elapsed * 1000.0).round() / 1000.0,
            "error_summary": self.error,
            "cancelled": self.cancelled,
        })
    }
}

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// One candidate file found by a scan.
struct Seen {
    rel: String,
    size: u64,
    mtime_ns: i128,
}

/// What a scan found against a snapshot.
struct Scan {
    /// The workspace, opened.
    root_fd: std::os::fd::OwnedFd,
    /// Its path.
    root: std::path::PathBuf,
    seen: Vec<Seen>,
    stale: Vec<String>,
    /// More than [`MAX_FILES`] candidates: only the first were taken.
    capped: bool,
    /// The deadline passed before every candidate was found and looked at.
    out_of_time: bool,
}

impl Explore {
    /// Reads the index file once, the first time the index is used.
    fn load(&self, ctx: &ToolContext, state: &mut State) {
        if state.loaded {
            return;
        }
        state.loaded = true;
        state.last_refresh_kind = "none";
        let Ok(bytes) = ctx.agent.read(INDEX_DIR, INDEX_FILE, MAX_INDEX_BYTES) else {
            return;
        };
        let Ok(stored) = serde_json::from_slice::<Stored>(&bytes) else {
            return;
        };
        // A file of another version, or one whose facts do not hold together (it is
        // in the workspace, where anything may have written it), is not used: the
        // next job rebuilds the index.
        if stored.version != INDEX_VERSION
            || !stored.files.values().all(|r| r.facts.is_consistent())
        {
            tracing::warn!("the explore index file is unusable; it will be rebuilt");
            return;
        }
        let facts: BTreeMap<String, Facts> = stored
            .files
            .iter()
            .map(|(p, r)| (p.clone(), r.facts.clone()))
            .collect();
        state.storage_bytes = bytes.len() as u64;
        state.last_refresh_kind = "loaded";
        state.committed = Some(Arc::new(Snapshot {
            generation: stored.generation,
            indexed_at: stored.indexed_at,
            graph: Graph::build(&facts),
            files: stored.files,
        }));
    }

    /// The committed snapshot (after loading the index file).
    fn snapshot(&self, ctx: &ToolContext) -> Option<Arc<Snapshot>> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.load(ctx, &mut state);
        state.committed.clone()
    }

    /// Runs one job, waiting (until `deadline`) for a running one to end first.
    fn run_job(
        &self,
        ctx: &ToolContext,
        mode: JobMode,
        scope: &[String],
        deadline: Instant,
    ) -> JobOutcome {
        let started = Instant::now();
        let (previous, mut carried) = {
            let mut state = self
                .state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            self.load(ctx, &mut state);
            while state.running {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return JobOutcome {
                        status: "busy",
                        generation: state.committed.as_ref().map_or(0, |s| s.generation),
                        changed: vec![],
                        failed: vec![],
                        parse_count: 0,
                        elapsed: started.elapsed().as_secs_f64(),
                        error: Some(
                            "another reindex was still running when this call's timeout_ms ran out; call again".into(),
                        ),
                        cancelled: false,
                    };
                }
                state = self
                    .idle
                    .wait_timeout(state, left)
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .0;
            }
            state.running = true;
            self.cancel.store(false, Ordering::SeqCst);
            (state.committed.clone(), std::mem::take(&mut state.carried))
        };
        let outcome = self.job(
            ctx,
            mode,
            scope,
            deadline,
            previous.as_deref(),
            &mut carried,
            started,
        );
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.running = false;
        match outcome {
            Ok((outcome, Some((snapshot, stored_len)))) => {
                state.committed = Some(Arc::new(snapshot));
                if let Some(n) = stored_len {
                    state.storage_bytes = n;
                }
                state.last_refresh_kind = match (mode, previous.is_some()) {
                    (_, false) => "cold",
                    (JobMode::Full, true) => "full",
                    (JobMode::Changed, true) => "changed",
                };
                state.last_job = Some(self.job_record(&outcome, mode));
                self.idle.notify_all();
                outcome
            }
            Ok((outcome, None)) => {
                state.carried = carried;
                if outcome.status != "unchanged" {
                    state.last_job = Some(self.job_record(&outcome, mode));
                }
                self.idle.notify_all();
                outcome
            }
            Err(outcome) => {
                state.carried = carried;
                state.last_job = Some(self.job_record(&outcome, mode));
                self.idle.notify_all();
                outcome
            }
        }
    }

    fn job_record(&self, outcome: &JobOutcome, mode: JobMode) -> Value {
        json!({
            "status": outcome.status,
            "mode": if mode == JobMode::Full { "full" } else { "changed" },
            "generation": outcome.generation,
            "finished_at": now_unix(),
            "parse_count": outcome.parse_count,
            "failed_files": outcome.failed.len(),
            "elapsed_seconds": (outcome.elapsed * 1000.0).round() / 1000.0,
        })
    }

    /// The job itself: scan, parse what changed, commit. `Err` when it stopped
    /// early (deadline, cancel, failure); `Ok(None)` when nothing changed.
    #[allow(clippy::type_complexity, clippy::too_many_arguments)]
    fn job(
        &self,
        ctx: &ToolContext,
        mode: JobMode,
        scope: &[String],
        deadline: Instant,
        previous: Option<&Snapshot>,
        carried: &mut HashMap<String, FileRecord>,
        started: Instant,
    ) -> Result<(JobOutcome, Option<(Snapshot, Option<u64>)>), JobOutcome> {
        let generation = previous.map_or(0, |s| s.generation);
        let stopped =
            |status: &'static str, error: Option<String>, parse_count: usize| JobOutcome {
                status,
                generation,
                changed: vec![],
                failed: vec![],
                parse_count,
                elapsed: started.elapsed().as_secs_f64(),
                error,
                cancelled: status == "cancelled",
            };
        let in_scope = |rel: &str| {
            scope.is_empty()
                || scope.iter().any(|s| {
                    let s = s.trim_start_matches("./").trim_end_matches('/');
                    s.is_empty() || rel == s || rel.starts_with(&format!("{s}/"))
                })
        };
        let scan =
            scan(ctx, previous, &in_scope, deadline).map_err(|e| stopped("failed", Some(e), 0))?;
        if scan.out_of_time {
            // Out of time before every file was even found: nothing can be committed.
            return Err(stopped(
                "deadline_exceeded",
                Some(format!(
                    "timeout_ms ran out while listing the workspace ({} files found so far); generation {generation} stays committed; call ralph_reindex with a larger timeout_ms",
                    scan.seen.len()
                )),
                0,
            ));
        }
        // Which files need parsing.
        let mut todo: Vec<&Seen> = Vec::new();
        let mut files: BTreeMap<String, FileRecord> = BTreeMap::new();
        // Files parsed by earlier jobs that did not commit: changed all the same.
        let mut from_carried: Vec<String> = Vec::new();
        if let Some(prev) = previous {
            for (path, rec) in &prev.files {
                if !in_scope(path) {
                    files.insert(path.clone(), rec.clone());
                }
            }
        }
        for seen in &scan.seen {
            let same = |r: &&FileRecord| r.size == seen.size && r.mtime_ns == seen.mtime_ns;
            let carried_rec = carried.get(&seen.rel).filter(same);
            let known =
                carried_rec.or_else(|| previous.and_then(|p| p.files.get(&seen.rel)).filter(same));
            match known {
                Some(rec) if mode == JobMode::Changed || carried_rec.is_some() => {
                    if carried_rec.is_some() {
                        from_carried.push(seen.rel.clone());
                    }
                    files.insert(seen.rel.clone(), rec.clone());
                }
                _ => todo.push(seen),
            }
        }
        let present: std::collections::HashSet<&str> =
            scan.seen.iter().map(|s| s.rel.as_str()).collect();
        let removed: Vec<String> = previous
            .map(|p| {
                p.files
                    .keys()
                    .filter(|k| in_scope(k) && !present.contains(k.as_str()))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        if todo.is_empty() && removed.is_empty() && from_carried.is_empty() && previous.is_some() {
            return Ok((
                JobOutcome {
                    status: "unchanged",
                    generation,
                    changed: vec![],
                    failed: vec![],
                    parse_count: 0,
                    elapsed: started.elapsed().as_secs_f64(),
                    error: None,
                    cancelled: false,
                },
                None,
            ));
        }
        // Parse, in parallel, until the deadline or a cancel.
        let parsed: Mutex<Vec<(String, Result<FileRecord, String>)>> = Mutex::new(Vec::new());
        let next = AtomicUsize::new(0);
        let out_of_time = AtomicBool::new(false);
        let (root, root_fd) = (&scan.root, scan.root_fd.as_fd());
        let workers = std::thread::available_parallelism()
            .map_or(2, std::num::NonZero::get)
            .min(todo.len().max(1));
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| {
                    loop {
                        if self.cancel.load(Ordering::Relaxed) || Instant::now() >= deadline {
                            out_of_time.store(true, Ordering::Relaxed);
                            return;
                        }
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(seen) = todo.get(i) else { return };
                        let rec = parse_file(root_fd, root, seen);
                        parsed
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .push((seen.rel.clone(), rec));
                    }
                });
            }
        });
        let parsed = parsed
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let parse_count = parsed.len();
        let mut changed = Vec::new();
        let mut failed = Vec::new();
        for (rel, rec) in parsed {
            match rec {
                Ok(rec) => {
                    if rec.facts.syntax_errors {
                        failed.push(rel.clone());
                    }
                    carried.insert(rel.clone(), rec.clone());
                    files.insert(rel.clone(), rec);
                    changed.push(rel);
                }
                Err(_) => failed.push(rel),
            }
        }
        if self.cancel.load(Ordering::SeqCst) {
            return Err(stopped(
                "cancelled",
                Some(format!(
                    "cancelled; generation {generation} stays committed and the {parse_count} files parsed are kept for the next reindex"
                )),
                parse_count,
            ));
        }
        if out_of_time.load(Ordering::Relaxed) {
            let left = todo.len().saturating_sub(parse_count);
            return Err(stopped(
                "deadline_exceeded",
                Some(format!(
                    "timeout_ms ran out with {left} of {} files left to parse; generation {generation} stays committed and the {parse_count} files parsed are kept, so calling ralph_reindex again (or with a larger timeout_ms) continues where this stopped",
                    todo.len()
                )),
                parse_count,
            ));
        }
        carried.clear();
        changed.extend(removed);
        changed.extend(from_carried);
        changed.sort();
        failed.sort();
        let facts: BTreeMap<String, Facts> = files
            .iter()
            .map(|(p, r)| (p.clone(), r.facts.clone()))
            .collect();
        let indexed_at = now_unix();
        let generation = generation + 1;
        let stored = Stored {
            version: INDEX_VERSION,
            generation,
            indexed_at,
            files,
        };
        let stored_len = serde_json::to_vec(&stored).ok().and_then(|bytes| {
            ctx.agent
                .dir(INDEX_DIR, true)
                .and_then(|_| ctx.agent.replace_ephemeral(INDEX_DIR, INDEX_FILE, &bytes))
                .ok()
                .map(|()| bytes.len() as u64)
        });
        let snapshot = Snapshot {
            generation,
            indexed_at,
            graph: Graph::build(&facts),
            files: stored.files,
        };
        let error = scan
            .capped
            .then(|| format!("only the first {MAX_FILES} files were indexed"));
        Ok((
            JobOutcome {
                status: "succeeded",
                generation,
                changed,
                failed,
                parse_count,
                elapsed: started.elapsed().as_secs_f64(),
                error,
                cancelled: false,
            },
            Some((snapshot, stored_len)),
        ))
    }
}

/// Walks the workspace for indexable files and compares them with `previous`.
fn scan(
    ctx: &ToolContext,
    previous: Option<&Snapshot>,
    in_scope: &dyn Fn(&str) -> bool,
    deadline: Instant,
) -> Result<Scan, String> {
    let located = ctx.roots.locate(".").map_err(|e| {
        format!("the explore index covers the workspace, which this session cannot read: {e}")
    })?;
    let start = located
        .open(OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())
        .map_err(|e| format!("cannot open the workspace: {e}"))?;
    let root = located.abs();
    let mut rels: Vec<String> = Vec::new();
    let mut capped = false;
    let mut out_of_time = false;
    let opts = WalkOptions {
        include_ignored: false,
        max_depth: super::walk::MAX_DEPTH,
        overrides: None,
        sorted: true,
    };
    walk(&located, start.as_fd(), opts, &mut |e| {
        if e.kind != FileType::RegularFile {
            return Flow::Continue;
        }
        let Some(rel) = e.rel.to_str() else {
            return Flow::Continue;
        };
        if rel.starts_with(".agent/") || Lang::of(rel).is_none() || !in_scope(rel) {
            return Flow::Continue;
        }
        if rels.len() >= MAX_FILES {
            capped = true;
            return Flow::Stop;
        }
        if rels.len().is_multiple_of(256) && Instant::now() >= deadline {
            out_of_time = true;
            return Flow::Stop;
        }
        rels.push(rel.to_string());
        Flow::Continue
    });
    let mut seen = Vec::with_capacity(rels.len());
    for (i, rel) in rels.into_iter().enumerate() {
        if i.is_multiple_of(256) && Instant::now() >= deadline {
            out_of_time = true;
            break;
        }
        let Ok(fd) = open_beneath(
            start.as_fd(),
            &root,
            Path::new(&rel),
            OFlags::PATH | OFlags::NOFOLLOW,
            Mode::empty(),
        ) else {
            continue;
        };
        let Ok(st) = rustix::fs::fstat(&fd) else {
            continue;
        };
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            continue;
        }
        seen.push(Seen {
            rel,
            size: st.st_size as u64,
            mtime_ns: i128::from(st.st_mtime) * 1_000_000_000 + i128::from(st.st_mtime_nsec),
        });
    }
    let mut stale = Vec::new();
    if let Some(prev) = previous {
        let mut present: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for s in &seen {
            present.insert(&s.rel);
            match prev.files.get(&s.rel) {
                Some(r) if r.size == s.size && r.mtime_ns == s.mtime_ns => {}
                _ => stale.push(s.rel.clone()),
            }
        }
        stale.extend(
            prev.files
                .keys()
                .filter(|k| in_scope(k) && !present.contains(k.as_str()))
                .cloned(),
        );
        stale.sort();
    }
    Ok(Scan {
        root_fd: start,
        root,
        seen,
        stale,
        capped,
        out_of_time,
    })
}

/// Opens `seen` beneath the workspace (never following a final link, never
/// blocking), reads it and extracts its facts.
fn parse_file(
    root_fd: std::os::fd::BorrowedFd<'_>,
    root: &Path,
    seen: &Seen,
) -> Result<FileRecord, String> {
    let lang = Lang::of(&seen.rel).ok_or("not an indexed language")?;
    let fd = open_beneath(
        root_fd,
        root,
        Path::new(&seen.rel),
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::NOCTTY,
        Mode::empty(),
    )
    .map_err(|e| e.to_string())?;
    let st = rustix::fs::fstat(&fd).map_err(|e| e.to_string())?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err("not a regular file".into());
    }
    let size = st.st_size as u64;
    let mtime_ns = i128::from(st.st_mtime) * 1_000_000_000 + i128::from(st.st_mtime_nsec);
    if size > MAX_FILE_BYTES {
        return Ok(FileRecord {
            size,
            mtime_ns,
            lang,
            facts: Facts::default(),
        });
    }
    let mut bytes = Vec::with_capacity(size as usize);
    std::fs::File::from(fd)
        .take(MAX_FILE_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&bytes);
    Ok(FileRecord {
        size,
        mtime_ns,
        lang,
        facts: extract::extract(lang, &text),
    })
}

/// Whether `.gitignore` keeps `.agent/ralph-explore/` out of commits (Ralph's rule).
fn ignore_rule_present(ctx: &ToolContext) -> bool {
    let Ok(located) = ctx.roots.locate(".gitignore") else {
        return false;
    };
    let Ok((file, _)) = crate::confine::ops::open_regular(&located) else {
        return false;
    };
    let mut text = String::new();
    if file.take(1024 * 1024).read_to_string(&mut text).is_err() {
        return false;
    }
    text.lines().map(str::trim).any(|l| {
        matches!(
            l,
            ".agent/ralph-explore/" | ".agent/" | ".agent" | "/.agent/" | "/.agent"
        )
    })
}

/// Arguments of `ralph_index_status`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct StatusArgs {}

/// `ralph_index_status`: the index's health and freshness; changes nothing.
pub fn index_status(ctx: &ToolContext, _args: StatusArgs) -> ToolResult {
    let snapshot = ctx.explore.snapshot(ctx);
    let (running, last_job, kind, storage) = {
        let state = ctx
            .explore
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (
            state.running,
            state.last_job.clone(),
            state.last_refresh_kind,
            state.storage_bytes,
        )
    };
    let scan = scan(
        ctx,
        snapshot.as_deref(),
        &|_| true,
        Instant::now() + STATUS_SCAN_BUDGET,
    )
    .map_err(ToolError::failed)?;
    let stale = scan.stale.len();
    let files_indexed = snapshot.as_ref().map_or(0, |s| s.files.len());
    let ratio = if files_indexed == 0 {
        0.0
    } else {
        stale as f64 / files_indexed as f64
    };
    let health = match (&snapshot, running) {
        (_, true) => "building",
        (None, false) => "unhealthy",
        (Some(_), false) if stale > 0 => "stale",
        (Some(_), false)
            if last_job
                .as_ref()
                .is_some_and(|j| j["status"] != "succeeded") =>
        {
            "degraded"
        }
        _ => "healthy",
    };
    let fallback = if snapshot.is_none() {
        Some("no_committed_generation")
    } else if ratio > STALE_SCOPE_RATIO {
        Some("index_stale_scope")
    } else {
        None
    };
    let mut languages: BTreeMap<&str, usize> = BTreeMap::new();
    if let Some(s) = &snapshot {
        for r in s.files.values() {
            *languages.entry(r.lang.name()).or_default() += 1;
        }
    }
    Ok(json_result(json!({
        "enabled": true,
        "index_exists": snapshot.is_some(),
        "generation": snapshot.as_ref().map_or(0, |s| s.generation),
        "indexed_at": snapshot.as_ref().map(|s| s.indexed_at),
        "files_indexed": files_indexed,
        "files_stale": stale,
        "last_job": last_job,
        "capabilities": ["graph_neighbors", "graph_path", "graph_impact", "graph_hubs", "graph_tests"],
        "graph_backend": "memory",
        "languages": languages,
        "nodes": snapshot.as_ref().map_or(0, |s| s.graph.nodes.len()),
        "edges": snapshot.as_ref().map_or(0, |s| s.graph.edges.len()),
        "dirty_paths_count": stale,
        "cold_index_required": snapshot.is_none(),
        "last_refresh_kind": kind,
        "is_stale": stale > 0,
        "stale_paths_count": stale,
        "stale_paths": scan.stale.iter().take(25).collect::<Vec<_>>(),
        // The look for stale files ran out of time: the counts are lower bounds.
        "stale_scan_complete": !scan.out_of_time,
        "index_storage_bytes": storage,
        "managed_ignore_rule_present": ignore_rule_present(ctx),
        "health": health,
        "fallback_reason": fallback,
        "index_used": snapshot.is_some(),
    })))
}

/// Arguments of `ralph_reindex`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReindexArgs {
    /// `changed` parses only files whose size or modification time changed;
    /// `full` parses every file again.
    #[schemars(extend("enum" = ["changed", "full"]))]
    pub mode: String,
    /// Per-call budget in milliseconds (1-60000, default 5000). A job that runs
    /// out keeps what it parsed for the next call.
    #[schemars(range(min = 1, max = 60000))]
    pub timeout_ms: Option<i64>,
    /// Limit the reindex to these workspace-relative paths (files or
    /// directories). Empty: the whole workspace.
    #[serde(default)]
    pub path_scope: Vec<String>,
    /// Stop the running job (the committed generation stays).
    #[serde(default)]
    pub cancel: bool,
}

fn budget(tool: &str, value: Option<i64>, max: i64) -> Result<Duration, ToolError> {
    let ms = value.unwrap_or(5000);
    if !(1..=max).contains(&ms) {
        return Err(ToolError::InvalidArgs {
            tool: tool.into(),
            message: format!("field `timeout_ms`: {ms} is outside 1..={max}"),
        });
    }
    Ok(Duration::from_millis(ms as u64))
}

/// `ralph_reindex`: one bounded index job.
pub fn reindex(ctx: &ToolContext, args: ReindexArgs) -> ToolResult {
    let mode = match args.mode.as_str() {
        "changed" => JobMode::Changed,
        "full" => JobMode::Full,
        other => {
            return Err(ToolError::InvalidArgs {
                tool: "ralph_reindex".into(),
                message: format!("field `mode`: `{other}` is not `changed` or `full`"),
            });
        }
    };
    let timeout = budget("ralph_reindex", args.timeout_ms, 60_000)?;
    // Each scope as a workspace-relative path, however it was written.
    let mut scope = Vec::with_capacity(args.path_scope.len());
    for p in &args.path_scope {
        let abs = ctx.roots.locate(p)?.abs();
        let rel = abs.strip_prefix(ctx.roots.workspace()).map_err(|_| ToolError::InvalidArgs {
            tool: "ralph_reindex".into(),
            message: format!("field `path_scope`: `{p}` is not inside the workspace, which is what the index covers"),
        })?;
        scope.push(rel.to_string_lossy().into_owned());
    }
    let job_id = uuid::Uuid::new_v4().simple().to_string();
    if args.cancel {
        ctx.explore.cancel.store(true, Ordering::SeqCst);
        let generation = ctx.explore.snapshot(ctx).map_or(0, |s| s.generation);
        let outcome = JobOutcome {
            status: "cancelled",
            generation,
            changed: vec![],
            failed: vec![],
            parse_count: 0,
            elapsed: 0.0,
            error: Some(format!(
                "cancel requested: a running job stops and generation {generation} stays committed"
            )),
            cancelled: true,
        };
        return Ok(json_result(outcome.json(&job_id)));
    }
    let deadline = Instant::now() + timeout;
    let outcome = ctx.explore.run_job(ctx, mode, &scope, deadline);
    let mut reply = outcome.json(&job_id);
    if outcome.status == "unchanged" {
        reply["job_status"] = json!("succeeded");
    }
    Ok(json_result(reply))
}

/// Arguments of `ralph_graph`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GraphArgs {
    /// `neighbors`, `path`, `impact`, `hubs` or `tests`.
    #[schemars(extend("enum" = ["neighbors", "path", "impact", "hubs", "tests"]))]
    pub query_type: String,
    /// A path (`pkg/mod.py`), a qualified name (`Class.method`, `pkg.mod.func`,
    /// `pkg/mod.py:Class.method`), a node id from an earlier result, or a bare
    /// name. Required except for `hubs`.
    pub target: Option<String>,
    /// The other end of a `path` query.
    pub target_b: Option<String>,
    /// Relations to follow: defines, imports, calls_syntax, tests, mentions,
    /// inherits_syntax, contains. Default: all (impact: those the change kind affects).
    #[serde(default)]
    pub relations: Vec<String>,
    /// Result cap (1-100, default 25).
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<i64>,
    /// `required` refreshes the index or fails; `prefer_fresh` (default)
    /// refreshes within the budget; `allow_stale` answers from the index as it is.
    #[schemars(extend("enum" = ["required", "prefer_fresh", "allow_stale"]))]
    pub freshness: Option<String>,
    /// `out`, `in` or `both` (default) for neighbors.
    #[schemars(extend("enum" = ["out", "in", "both"]))]
    pub direction: Option<String>,
    /// Steps (1-3 for neighbors and impact, 1-6 for path; default 1, path 4).
    #[schemars(range(min = 1, max = 6))]
    pub depth: Option<i64>,
    /// Paths returned by a path query (1-10, default 3).
    #[schemars(range(min = 1, max = 10))]
    pub max_paths: Option<i64>,
    /// For impact: rename, signature, behavior, delete or unknown (default).
    #[schemars(extend("enum" = ["rename", "signature", "behavior", "delete", "unknown"]))]
    pub change_kind: Option<String>,
    /// For hubs: only paths under this prefix.
    pub scope_path: Option<String>,
    /// For hubs: source, test, docs, config, generated or any.
    #[schemars(extend("enum" = ["source", "test", "docs", "config", "generated", "any"]))]
    pub role: Option<String>,
    /// Per-call budget in milliseconds (1-30000, default 5000).
    #[schemars(range(min = 1, max = 30000))]
    pub timeout_ms: Option<i64>,
    /// Return at once with `cancelled: true`.
    #[serde(default)]
    pub cancel: bool,
}

fn invalid(field: &str, message: String) -> ToolError {
    ToolError::InvalidArgs {
        tool: "ralph_graph".into(),
        message: format!("field `{field}`: {message}"),
    }
}

fn ranged(field: &str, value: Option<i64>, default: i64, max: i64) -> Result<i64, ToolError> {
    let v = value.unwrap_or(default);
    if !(1..=max).contains(&v) {
        return Err(invalid(field, format!("{v} is outside 1..={max}")));
    }
    Ok(v)
}

fn one_of<T: Copy>(
    field: &str,
    value: Option<&str>,
    default: T,
    table: &[(&str, T)],
) -> Result<T, ToolError> {
    let Some(v) = value else { return Ok(default) };
    table
        .iter()
        .find(|(n, _)| *n == v)
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
            invalid(field, format!("`{v}` is not one of {}", names.join(", ")))
        })
}

/// Validates `ralph_graph`'s arguments into a query.
fn graph_query(args: &GraphArgs) -> Result<Query, ToolError> {
    use QueryKind::*;
    let kind = one_of(
        "query_type",
        Some(args.query_type.as_str()),
        Neighbors,
        &[
            ("neighbors", Neighbors),
            ("path", Path),
            ("impact", Impact),
            ("hubs", Hubs),
            ("tests", Tests),
        ],
    )?;
    let target = args.target.clone().unwrap_or_default();
    if target.trim().is_empty() && kind != Hubs {
        return Err(invalid(
            "target",
            format!(
                "required for query_type `{}`; only `hubs` takes no target",
                args.query_type
            ),
        ));
    }
    let target_b = args.target_b.clone().filter(|t| !t.trim().is_empty());
    if kind == Path && target_b.is_none() {
        return Err(invalid("target_b", "required for query_type `path`".into()));
    }
    let mut relations = Vec::new();
    for r in &args.relations {
        relations.push(Relation::parse(r).ok_or_else(|| {
            let names: Vec<&str> = Relation::ALL.iter().map(|r| r.name()).collect();
            invalid(
                "relations",
                format!("`{r}` is not one of {}", names.join(", ")),
            )
        })?);
    }
    let max_depth = if kind == Path { 6 } else { 3 };
    Ok(Query {
        kind,
        target,
        target_b,
        relations,
        limit: ranged("limit", args.limit, 25, 100)? as usize,
        direction: one_of(
            "direction",
            args.direction.as_deref(),
            Direction::Both,
            &[
                ("out", Direction::Out),
                ("in", Direction::In),
                ("both", Direction::Both),
            ],
        )?,
        depth: ranged(
            "depth",
            args.depth,
            if kind == Path { 4 } else { 1 },
            max_depth,
        )? as u32,
        max_paths: ranged("max_paths", args.max_paths, 3, 10)? as usize,
        change_kind: one_of(
            "change_kind",
            args.change_kind.as_deref(),
            ChangeKind::Unknown,
            &[
                ("rename", ChangeKind::Rename),
                ("signature", ChangeKind::Signature),
                ("behavior", ChangeKind::Behavior),
                ("delete", ChangeKind::Delete),
                ("unknown", ChangeKind::Unknown),
            ],
        )?,
        scope_path: args.scope_path.clone().filter(|s| !s.is_empty()),
        role: one_of(
            "role",
            args.role.as_deref(),
            None,
            &[
                ("source", Some("source")),
                ("test", Some("test")),
                ("docs", Some("docs")),
                ("config", Some("config")),
                ("generated", Some("generated")),
                ("any", None),
            ],
        )?
        .map(str::to_string),
    })
}

/// `ralph_graph`: one bounded query over the code graph.
pub fn graph(ctx: &ToolContext, args: GraphArgs) -> ToolResult {
    let query = graph_query(&args)?;
    #[derive(Clone, Copy, PartialEq)]
    enum Fresh {
        Required,
        Prefer,
        Stale,
    }
    let freshness = one_of(
        "freshness",
        args.freshness.as_deref(),
        Fresh::Prefer,
        &[
            ("required", Fresh::Required),
            ("prefer_fresh", Fresh::Prefer),
            ("allow_stale", Fresh::Stale),
        ],
    )?;
    let timeout = budget("ralph_graph", args.timeout_ms, 30_000)?;
    let deadline = Instant::now() + timeout;
    let bounded = |reason: &str, generation: u64, cancelled: bool, hint: String| {
        json!({
            "query_type": args.query_type,
            "nodes": [], "edges": [], "paths": [], "impacted_files": [], "suggested_tests": [],
            "confidence": 0.0,
            "provenance": if cancelled { "cancelled" } else { "deadline" },
            "evidence_ids": [],
            "missing_data": [reason],
            "index_generation": generation,
            "is_stale": false,
            "truncated": true,
            "cancelled": cancelled,
            "deadline_exceeded": !cancelled,
            "metadata": {"target": args.target, "target_b": args.target_b, "bounded_incomplete": true, "hint": hint},
            "index_used": false,
        })
    };
    if args.cancel {
        let generation = ctx.explore.snapshot(ctx).map_or(0, |s| s.generation);
        return Ok(json_result(bounded(
            "cancelled",
            generation,
            true,
            "cancel was requested".into(),
        )));
    }
    let mut refresh = None;
    let mut snapshot = ctx.explore.snapshot(ctx);
    if freshness != Fresh::Stale || snapshot.is_none() {
        let outcome = ctx.explore.run_job(ctx, JobMode::Changed, &[], deadline);
        snapshot = ctx.explore.snapshot(ctx);
        refresh = Some(outcome);
    }
    let fresh = refresh
        .as_ref()
        .is_some_and(|o| matches!(o.status, "succeeded" | "unchanged"));
    let Some(snapshot) = snapshot else {
        let outcome = refresh.as_ref();
        let hint = outcome.and_then(|o| o.error.clone()).unwrap_or_default();
        return Ok(json_result(bounded(
            "cold_index_required",
            0,
            false,
            format!("the index is still being built: {hint}"),
        )));
    };
    if freshness == Fresh::Required && !fresh {
        let hint = refresh.and_then(|o| o.error).unwrap_or_default();
        return Ok(json_result(bounded(
            "index_stale",
            snapshot.generation,
            false,
            format!("freshness `required` but the index could not be refreshed in time: {hint}"),
        )));
    }
    let answer = snapshot.graph.query(&query);
    let mut missing = answer.missing;
    let is_stale = if fresh {
        false
    } else if refresh.is_none() {
        // allow_stale: look (without parsing) whether anything changed since.
        scan(ctx, Some(&snapshot), &|_| true, deadline).map_or(true, |s| !s.stale.is_empty())
    } else {
        true
    };
    if is_stale {
        missing.push("index_stale".into());
    }
    let mut metadata = answer.metadata;
    metadata.insert("target".into(), json!(args.target));
    metadata.insert("target_b".into(), json!(args.target_b));
    metadata.insert("files_indexed".into(), json!(snapshot.files.len()));
    Ok(json_result(json!({
        "query_type": args.query_type,
        "nodes": answer.nodes,
        "edges": answer.edges,
        "paths": answer.paths,
        "impacted_files": answer.impacted_files,
        "suggested_tests": answer.suggested,
        "confidence": answer.confidence,
        "provenance": answer.provenance,
        "evidence_ids": answer.evidence,
        "missing_data": missing,
        "index_generation": snapshot.generation,
        "is_stale": is_stale,
        "truncated": answer.truncated,
        "cancelled": false,
        "deadline_exceeded": false,
        "metadata": metadata,
        "index_used": true,
    })))
}
