//! Where markdown artifacts live on disk, in Ralph 0.9.30's layout
//! (`md_draft_io.py`, `canonical_submit.py`, `handoffs.py`):
//!
//! - the artifact directory: `.agent/artifacts/`, or a parallel worker's own
//!   `worker_artifact_dir`;
//! - in it, the submitted `<type>.md`, the draft `.<type>.draft.md`, its
//!   revision counter `.<type>.draft.revision` and the `.<type>.draft.seeded`
//!   marker;
//! - a byte copy of some submissions where the next phase reads them
//!   (`.agent/PLAN.md`, `.agent/ISSUES.md`, …; a worker's go to
//!   `<worker namespace>/handoffs/`);
//! - a receipt per (run, type) (see [`super::receipts`]).
//!
//! Every file is reached through a directory fd opened without following
//! links, written atomically, and a submission that fails part-way is rolled
//! back so the artifact, its hand-off and its receipt appear together or not at all.

use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags};

use crate::confine::AgentDir;
use crate::confine::ops::write_atomic_at;

/// Ralph's hand-off copies: artifact type → path under the workspace.
pub const HANDOFF_PATHS: &[(&str, &str)] = &[
    ("plan", ".agent/PLAN.md"),
    ("issues", ".agent/ISSUES.md"),
    ("development_result", ".agent/DEVELOPMENT_RESULT.md"),
    (
        "parallel_development_summary",
        ".agent/DEVELOPMENT_RESULT.md",
    ),
    ("fix_result", ".agent/FIX_RESULT.md"),
    (
        "development_analysis_decision",
        ".agent/DEVELOPMENT_ANALYSIS_DECISION.md",
    ),
    (
        "planning_analysis_decision",
        ".agent/PLANNING_ANALYSIS_DECISION.md",
    ),
    (
        "review_analysis_decision",
        ".agent/REVIEW_ANALYSIS_DECISION.md",
    ),
];

/// Largest artifact file read back (Ralph's draft cap is 4,000,000 characters).
const READ_CAP: u64 = 16 * 1024 * 1024;

/// A directory held open, with its path for messages.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

impl Dir {
    /// Opens (creating) an absolute directory named by the orchestrator.
    pub fn open_abs(path: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(path)?;
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Self {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// Opens (creating) `.agent/<sub>`.
    pub fn agent(agent: &AgentDir, sub: &str) -> io::Result<Self> {
        Ok(Self {
            fd: agent.dir(sub, true)?,
            path: agent.path(sub),
        })
    }

    /// The path of `name` in this directory.
    pub fn path_of(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Reads `name` as UTF-8; `None` when it does not exist.
    pub fn read(&self, name: &str) -> io::Result<Option<String>> {
        let fd = match rustix::fs::openat(
            &self.fd,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(rustix::io::Errno::LOOP) => {
                return Err(io::Error::other(format!(
                    "{} is a symlink; artifact files must be regular files",
                    self.path_of(name).display()
                )));
            }
            Err(e) => return Err(e.into()),
        };
        let st = rustix::fs::fstat(&fd)?;
        if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
            return Err(io::Error::other(format!(
                "{} is not a regular file",
                self.path_of(name).display()
            )));
        }
        let mut bytes = Vec::new();
        std::fs::File::from(fd)
            .take(READ_CAP)
            .read_to_end(&mut bytes)?;
        String::from_utf8(bytes).map(Some).map_err(|_| {
            io::Error::other(format!(
                "{} is not UTF-8 text",
                self.path_of(name).display()
            ))
        })
    }

    /// Replaces `name` atomically.
    pub fn write(&self, name: &str, text: &str) -> io::Result<()> {
        write_atomic_at(
            self.fd.as_fd(),
            OsStr::new(name),
            text.as_bytes(),
            false,
            None,
        )
    }

    /// Removes `name`; true when it existed.
    pub fn remove(&self, name: &str) -> io::Result<bool> {
        match rustix::fs::unlinkat(&self.fd, name, AtFlags::empty()) {
            Ok(()) => Ok(true),
            Err(rustix::io::Errno::NOENT) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Puts back what [`Dir::read`] saw: the old text, or no file.
    pub fn restore(&self, name: &str, before: Option<&str>) -> io::Result<()> {
        match before {
            Some(text) => self.write(name, text),
            None => self.remove(name).map(|_| ()),
        }
    }
}

/// The draft file of a type.
pub fn draft_name(kind: &str) -> String {
    format!(".{kind}.draft.md")
}

fn revision_name(kind: &str) -> String {
    format!(".{kind}.draft.revision")
}

fn seeded_name(kind: &str) -> String {
    format!(".{kind}.draft.seeded")
}

/// The staged draft of `kind`, if any.
pub fn load_draft(dir: &Dir, kind: &str) -> io::Result<Option<String>> {
    dir.read(&draft_name(kind))
}

/// Saves the draft; when it changed, bumps its revision and drops the seeded marker.
pub fn save_draft(dir: &Dir, kind: &str, text: &str) -> io::Result<()> {
    if dir.read(&draft_name(kind))?.as_deref() == Some(text) {
        return Ok(());
    }
    dir.write(&draft_name(kind), text)?;
    let revision = draft_revision(dir, kind) + 1;
    dir.write(&revision_name(kind), &revision.to_string())?;
    dir.remove(&seeded_name(kind))?;
    Ok(())
}

/// The draft's revision counter (0 when absent or unreadable).
pub fn draft_revision(dir: &Dir, kind: &str) -> u64 {
    dir.read(&revision_name(kind))
        .ok()
        .flatten()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// True when the draft was restored from the last submission.
pub fn is_seeded(dir: &Dir, kind: &str) -> bool {
    matches!(dir.read(&seeded_name(kind)), Ok(Some(_)))
}

/// Removes the draft (and its seeded marker); true when one existed.
pub fn delete_draft(dir: &Dir, kind: &str) -> io::Result<bool> {
    let existed = dir.remove(&draft_name(kind))?;
    if existed {
        dir.remove(&seeded_name(kind))?;
    }
    Ok(existed)
}

/// The hand-off file name of a type, if it has one.
pub fn handoff_name(kind: &str) -> Option<&'static str> {
    HANDOFF_PATHS
        .iter()
        .find(|(k, _)| *k == kind)
        .and_then(|(_, p)| p.rsplit('/').next())
}
