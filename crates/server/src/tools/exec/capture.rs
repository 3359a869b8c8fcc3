//! One captured output stream of a job: a bounded head and tail kept in memory,
//! everything past the inline limit spilled to a file.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use crate::progress::ProgressSink;
use crate::tools::ToolContext;

/// Bytes of each stream returned inline before spilling.
pub const INLINE_LIMIT: usize = 64 * 1024;
/// Bytes of head and of tail returned for a spilled stream.
pub const HEAD_TAIL: usize = 8 * 1024;
/// Largest spill file per stream.
pub const SPILL_FILE_CAP: u64 = 1024 * 1024 * 1024;
/// Spill files are pruned (oldest first) to this total.
pub const SPILL_TOTAL_CAP: u64 = 2 * 1024 * 1024 * 1024;
/// One captured stream.
#[derive(Debug, Default, Clone)]
pub(super) struct Stream {
    head: Vec<u8>,
    tail: std::collections::VecDeque<u8>,
    total: u64,
    spill: Option<PathBuf>,
    spill_error: Option<String>,
}

impl Stream {
    /// Adds this stream to a result as `<name>_bytes`, `<name>_spill_path` and
    /// either `<name>` (raw: head and tail) or `<name>_tail` (summary).
    pub(super) fn report(&self, name: &str, format: &str, v: &mut Value) {
        v[format!("{name}_bytes")] = json!(self.total);
        if let Some(p) = &self.spill {
            v[format!("{name}_spill_path")] = json!(p.display().to_string());
        }
        if format == "summary" {
            let tail: Vec<u8> = if self.spill.is_some() {
                self.tail.iter().copied().collect()
            } else {
                self.head.iter().rev().take(2048).rev().copied().collect()
            };
            v[format!("{name}_tail")] = json!(String::from_utf8_lossy(&tail));
        } else {
            v[name] = self.text();
        }
    }

    fn text(&self) -> Value {
        let head = String::from_utf8_lossy(&self.head).into_owned();
        if self.spill.is_none() && self.total as usize <= INLINE_LIMIT {
            return json!(head);
        }
        let tail: Vec<u8> = self.tail.iter().copied().collect();
        let cut = head.len().min(HEAD_TAIL);
        json!(format!(
            "{}\n[… {} bytes omitted; full output in {} …]\n{}",
            String::from_utf8_lossy(&self.head[..cut]),
            self.total.saturating_sub((cut + tail.len()) as u64),
            self.spill.as_ref().map_or_else(
                || format!("nowhere: {}", self.spill_error.clone().unwrap_or_default()),
                |p| p.display().to_string()
            ),
            String::from_utf8_lossy(&tail)
        ))
    }
}

/// Where a stream's spill file goes: the session's `exec_spill_roots` (set by the
/// orchestrator), else `.agent/tmp` through the workspace's [`AgentDir`].
#[derive(Clone)]
pub(super) struct SpillAt {
    pub(super) ctx: Arc<ToolContext>,
    pub(super) name: String,
}

impl SpillAt {
    fn explicit_dir(&self) -> Option<PathBuf> {
        self.ctx
            .session
            .payload
            .exec_spill_roots
            .as_ref()
            .and_then(|r| r.first())
            .cloned()
    }

    /// The path shown to the agent.
    fn path(&self) -> PathBuf {
        match self.explicit_dir() {
            Some(dir) => dir.join(&self.name),
            None => self
                .ctx
                .agent
                .path(ralph_mcp_session::names::agent_paths::TMP)
                .join(&self.name),
        }
    }

    /// Creates the spill file (exclusively), pruning old spills first.
    fn open(&self) -> std::io::Result<std::fs::File> {
        match self.explicit_dir() {
            Some(dir) => {
                std::fs::create_dir_all(&dir)?;
                prune_spills_at(&dir);
                std::fs::OpenOptions::new()
                    .create_new(true)
                    .write(true)
                    .open(dir.join(&self.name))
            }
            None => {
                if let Ok(dir) = self
                    .ctx
                    .agent
                    .dir(ralph_mcp_session::names::agent_paths::TMP, true)
                {
                    prune_spills(dir.as_fd());
                }
                self.ctx
                    .agent
                    .create_new(ralph_mcp_session::names::agent_paths::TMP, &self.name)
            }
        }
    }
}

/// Removes the oldest spill files in an orchestrator-given directory until the total is under the cap.
fn prune_spills_at(dir: &Path) {
    if let Ok(fd) = rustix::fs::open(
        dir,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    ) {
        prune_spills(fd.as_fd());
    }
}

/// Removes the oldest spill files in `dir` until the total is under the cap.
fn prune_spills(dir: std::os::fd::BorrowedFd<'_>) {
    let Ok(names) = crate::confine::ops::read_names(dir) else {
        return;
    };
    let mut files: Vec<(i64, u64, std::ffi::OsString)> = names
        .into_iter()
        .filter(|n| n.to_string_lossy().starts_with("ralph-exec-"))
        .filter_map(|n| {
            let st = crate::confine::ops::entry_type(dir, &n).ok()??;
            Some((st.st_mtime, u64::try_from(st.st_size).unwrap_or(0), n))
        })
        .collect();
    files.sort();
    let mut total: u64 = files.iter().map(|f| f.1).sum();
    for (_, len, name) in files {
        if total <= SPILL_TOTAL_CAP {
            break;
        }
        if rustix::fs::unlinkat(dir, name.as_os_str(), rustix::fs::AtFlags::empty()).is_ok() {
            total -= len;
        }
    }
}

pub(super) async fn capture<R: AsyncRead + Unpin>(
    mut reader: R,
    spill_at: SpillAt,
    progress: Option<(ProgressSink, &'static str)>,
    last_output: Arc<Mutex<Instant>>,
) -> Stream {
    let mut s = Stream::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut spill: Option<tokio::fs::File> = None;
    let mut spilled: u64 = 0;
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &buf[..n];
        if let Ok(mut t) = last_output.lock() {
            *t = Instant::now();
        }
        if let Some((sink, stream)) = &progress {
            sink.report(
                n as u64,
                &format!("[{stream}] {}", String::from_utf8_lossy(chunk)),
            );
        }
        s.total += n as u64;
        let room = INLINE_LIMIT.saturating_sub(s.head.len());
        s.head.extend_from_slice(&chunk[..n.min(room)]);
        for &b in chunk.iter().skip(n.saturating_sub(HEAD_TAIL)) {
            if s.tail.len() == HEAD_TAIL {
                s.tail.pop_front();
            }
            s.tail.push_back(b);
        }
        if s.total as usize > INLINE_LIMIT && spill.is_none() && s.spill_error.is_none() {
            let opened = {
                let at = spill_at.clone();
                tokio::task::spawn_blocking(move || at.open())
                    .await
                    .unwrap_or_else(|e| Err(std::io::Error::other(e)))
            };
            match opened.map(tokio::fs::File::from_std) {
                Ok(mut f) => {
                    // Every earlier byte is in the head (the total was under the
                    // limit until this chunk), so the file gets head-so-far + chunk.
                    let before = (s.total - n as u64) as usize;
                    let ok = f.write_all(&s.head[..before]).await.is_ok()
                        && f.write_all(chunk).await.is_ok();
                    if ok {
                        spilled = s.total;
                        let path = spill_at.path();
                        if let Some((sink, stream)) = &progress {
                            sink.log(
                                "notice",
                                "exec",
                                &format!(
                                    "{stream} passed {INLINE_LIMIT} bytes; the whole output goes to {}",
                                    path.display()
                                ),
                            );
                        }
                        s.spill = Some(path);
                        spill = Some(f);
                    } else {
                        s.spill_error = Some("write failed".into());
                    }
                }
                Err(e) => s.spill_error = Some(e.to_string()),
            }
            continue;
        }
        if let Some(f) = spill.as_mut()
            && spilled < SPILL_FILE_CAP
        {
            if f.write_all(chunk).await.is_err() {
                spill = None;
            }
            spilled += n as u64;
        }
    }
    if let Some(mut f) = spill {
        let _ = f.flush().await;
    }
    s
}
