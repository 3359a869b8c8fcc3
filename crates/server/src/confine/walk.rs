//! The one recursive walk: directory fds all the way down, so a directory
//! swapped for a symlink mid-walk is skipped instead of followed, with ripgrep's
//! ignore rules (`.gitignore` inside a repository, `.ignore`, `.git/info/exclude`,
//! the global excludes file, and ripgrep `-g` style overrides) applied from the
//! ignore files read through the same fds. Hidden files are included and `.git`
//! is always skipped.

use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use ignore::overrides::Override;
use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use super::ops::read_entries;
use super::roots::Located;

/// Largest ignore file read.
const MAX_IGNORE_FILE: u64 = 1024 * 1024;

/// How a walk goes.
#[derive(Debug, Clone, Copy)]
pub struct WalkOptions<'a> {
    /// Skip nothing but `.git` (no ignore files).
    pub include_ignored: bool,
    /// Deepest level reported (1 = the start's direct entries).
    pub max_depth: usize,
    /// `-g` style include/exclude globs, relative to the start.
    pub overrides: Option<&'a Override>,
    /// Visit each directory's entries in name order.
    pub sorted: bool,
}

/// One entry found by a walk.
#[derive(Debug)]
pub struct WalkEntry<'a> {
    /// Path relative to the walk's start.
    pub rel: &'a Path,
    /// The entry's type (a symlink is reported as a symlink, never followed).
    pub kind: FileType,
    /// 1 for the start's direct entries.
    pub depth: usize,
}

/// What the visitor wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Go on (descending into a directory).
    Continue,
    /// End the walk.
    Stop,
}

/// Ignore matchers of one directory level.
#[derive(Default)]
struct Level {
    dot_ignore: Option<Gitignore>,
    gitignore: Option<Gitignore>,
    exclude: Option<Gitignore>,
    in_repo: bool,
}

fn global_excludes() -> &'static Gitignore {
    static GLOBAL: OnceLock<Gitignore> = OnceLock::new();
    GLOBAL.get_or_init(|| Gitignore::global().0)
}

/// Reads a small regular file `name` in `dir` without following links or blocking.
fn read_small(dir: BorrowedFd<'_>, name: &str) -> Option<String> {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let st = rustix::fs::fstat(&fd).ok()?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return None;
    }
    let mut text = String::new();
    std::fs::File::from(fd)
        .take(MAX_IGNORE_FILE)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

fn matcher(dir_abs: &Path, text: Option<String>) -> Option<Gitignore> {
    let text = text?;
    let mut builder = GitignoreBuilder::new(dir_abs);
    for line in text.lines() {
        let _ = builder.add_line(None, line);
    }
    builder.build().ok()
}

fn open_subdir(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// The ignore matchers of the directory `dir` at `dir_abs`.
fn level_of(dir: BorrowedFd<'_>, dir_abs: &Path, parent_in_repo: bool) -> Level {
    let git = rustix::fs::statat(dir, ".git", AtFlags::SYMLINK_NOFOLLOW).ok();
    let in_repo = parent_in_repo || git.is_some();
    let exclude = git
        .filter(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory)
        .and_then(|_| open_subdir(dir, OsStr::new(".git")).ok())
        .and_then(|g| open_subdir(g.as_fd(), OsStr::new("info")).ok())
        .and_then(|info| matcher(dir_abs, read_small(info.as_fd(), "exclude")));
    Level {
        dot_ignore: matcher(dir_abs, read_small(dir, ".ignore")),
        gitignore: if in_repo {
            matcher(dir_abs, read_small(dir, ".gitignore"))
        } else {
            None
        },
        exclude,
        in_repo,
    }
}

struct Walker<'o, 'v> {
    opts: WalkOptions<'o>,
    levels: Vec<Level>,
    visit: &'v mut dyn FnMut(&WalkEntry<'_>) -> Flow,
}

impl Walker<'_, '_> {
    fn ignored(&self, abs: &Path, rel: &Path, is_dir: bool) -> bool {
        if let Some(ov) = self.opts.overrides {
            match ov.matched(rel, is_dir) {
                Match::Ignore(_) => return true,
                Match::Whitelist(_) => return false,
                Match::None => {}
            }
        }
        if self.opts.include_ignored {
            return false;
        }
        // `.agent/` holds what the orchestrator leaves for the agent (Ralph keeps
        // `.agent/artifact-formats/*.md` there) and is git-ignored only to keep
        // `git status` clean: its files are found whatever the ignore files say,
        // except `.agent/tmp/`, the server's own scratch (logs, spills, media).
        if let Ok(inside) = rel.strip_prefix(ralph_mcp_session::names::agent_paths::DIR) {
            return inside.starts_with(ralph_mcp_session::names::agent_paths::TMP);
        }
        let decide = |m: Match<&ignore::gitignore::Glob>| match m {
            Match::Ignore(_) => Some(true),
            Match::Whitelist(_) => Some(false),
            Match::None => None,
        };
        for level in self.levels.iter().rev() {
            for g in [&level.dot_ignore, &level.gitignore].into_iter().flatten() {
                if let Some(v) = decide(g.matched(abs, is_dir)) {
                    return v;
                }
            }
        }
        for level in self.levels.iter().rev() {
            if let Some(g) = &level.exclude
                && let Some(v) = decide(g.matched(abs, is_dir))
            {
                return v;
            }
        }
        if self.levels.last().is_some_and(|l| l.in_repo)
            && let Some(v) = decide(global_excludes().matched(abs, is_dir))
        {
            return v;
        }
        false
    }

    /// Walks `dir`; returns false when the visitor stopped the walk.
    fn dir(&mut self, dir: BorrowedFd<'_>, abs: &Path, rel: &Path, depth: usize) -> bool {
        let Ok(mut list) = read_entries(dir) else {
            return true;
        };
        if self.opts.sorted {
            list.sort_by(|a, b| a.0.cmp(&b.0));
        }
        for (name, kind) in list {
            if name == ".git" {
                continue;
            }
            let is_dir = kind == FileType::Directory;
            let child_abs = abs.join(&name);
            let child_rel = rel.join(&name);
            if self.ignored(&child_abs, &child_rel, is_dir) {
                continue;
            }
            let flow = (self.visit)(&WalkEntry {
                rel: &child_rel,
                kind,
                depth: depth + 1,
            });
            if flow == Flow::Stop {
                return false;
            }
            if is_dir && depth + 1 < self.opts.max_depth {
                // NOFOLLOW: a directory swapped for a link since it was listed is skipped.
                let Ok(sub) = open_subdir(dir, &name) else {
                    continue;
                };
                let in_repo = self.levels.last().is_some_and(|l| l.in_repo);
                let level = if self.opts.include_ignored {
                    Level::default()
                } else {
                    level_of(sub.as_fd(), &child_abs, in_repo)
                };
                self.levels.push(level);
                let go_on = self.dir(sub.as_fd(), &child_abs, &child_rel, depth + 1);
                self.levels.pop();
                if !go_on {
                    return false;
                }
            }
        }
        true
    }
}

/// Walks the directory `start` (already opened as `start_fd`), calling `visit`
/// for each entry that survives the ignore rules, depth first. Ignore files of
/// the directories between the start's root and the start apply too, as
/// ripgrep's do for parent directories.
pub fn walk(
    start: &Located<'_>,
    start_fd: BorrowedFd<'_>,
    opts: WalkOptions<'_>,
    visit: &mut dyn FnMut(&WalkEntry<'_>) -> Flow,
) {
    let mut levels = Vec::new();
    if !opts.include_ignored {
        let mut in_repo = false;
        let mut prefix = PathBuf::new();
        let mut comps: Vec<PathBuf> = vec![PathBuf::new()];
        for c in start.rel.components() {
            prefix.push(c);
            comps.push(prefix.clone());
        }
        comps.pop();
        for rel in comps {
            let here = Located {
                root: start.root,
                rel: rel.clone(),
            };
            if let Ok(fd) = here.open(OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()) {
                let level = level_of(fd.as_fd(), &here.abs(), in_repo);
                in_repo = level.in_repo;
                levels.push(level);
            }
        }
        levels.push(level_of(start_fd, &start.abs(), in_repo));
    }
    let mut walker = Walker {
        opts,
        levels,
        visit,
    };
    walker.dir(start_fd, &start.abs(), Path::new(""), 0);
}
