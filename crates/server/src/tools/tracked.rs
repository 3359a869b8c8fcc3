//! Whether git's index tracks a file, from `git ls-files`, cached per repository
//! and refreshed when the index file changes.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::SystemTime;

/// The index's modification time and the paths it tracked then.
type IndexSnapshot = (Option<SystemTime>, HashSet<PathBuf>);

/// A cache of tracked paths per repository top level.
#[derive(Debug, Default)]
pub struct TrackedFiles {
    repos: Mutex<HashMap<PathBuf, IndexSnapshot>>,
}

/// Finds the repository top level that contains `path` (a `.git` dir or file).
/// The repository holding `path`, looked for no higher than `ceiling` (the
/// workspace): a parent repository is never consulted.
fn repo_toplevel(path: &Path, ceiling: &Path) -> Option<PathBuf> {
    path.ancestors()
        .skip(1)
        .take_while(|dir| dir.starts_with(ceiling))
        .find(|dir| dir.join(".git").exists())
        .map(Path::to_path_buf)
}

fn index_mtime(toplevel: &Path) -> Option<SystemTime> {
    let dot_git = toplevel.join(".git");
    let index = if dot_git.is_dir() {
        dot_git.join("index")
    } else {
        // A worktree or submodule: `.git` is a file naming the real git dir.
        let text = std::fs::read_to_string(&dot_git).ok()?;
        let dir = text.strip_prefix("gitdir:")?.trim();
        toplevel.join(dir).join("index")
    };
    std::fs::metadata(index).and_then(|m| m.modified()).ok()
}

fn ls_files(toplevel: &Path) -> std::io::Result<HashSet<PathBuf>> {
    let mut cmd = Command::new("git");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("GIT_") {
            cmd.env_remove(k);
        }
    }
    crate::process::harden_std(&mut cmd, crate::process::Tokens::Scrub);
    let out = cmd
        .args(["-c", "core.quotePath=false", "ls-files", "-z", "--cached"])
        .current_dir(toplevel)
        .env(
            "GIT_CEILING_DIRECTORIES",
            toplevel.parent().unwrap_or(toplevel),
        )
        .env("GIT_OPTIONAL_LOCKS", "0")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()?;
    if !out.status.success() {
        return Err(std::io::Error::other(format!(
            "git ls-files failed in {}",
            toplevel.display()
        )));
    }
    Ok(out
        .stdout
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| toplevel.join(String::from_utf8_lossy(s).as_ref()))
        .collect())
}

impl TrackedFiles {
    /// True when `canonical` (a resolved path) is in its repository's index.
    /// Outside any repository nothing is tracked.
    pub fn is_tracked(&self, canonical: &Path, ceiling: &Path) -> std::io::Result<bool> {
        let Some(top) = repo_toplevel(canonical, ceiling) else {
            return Ok(false);
        };
        let top = std::fs::canonicalize(&top).unwrap_or(top);
        let mtime = index_mtime(&top);
        let mut repos = self
            .repos
            .lock()
            .map_err(|_| std::io::Error::other("tracked-file cache poisoned"))?;
        let fresh = matches!(repos.get(&top), Some((m, _)) if *m == mtime && mtime.is_some());
        if !fresh {
            let set = if mtime.is_some() {
                ls_files(&top)?
            } else {
                HashSet::new()
            };
            repos.insert(top.clone(), (mtime, set));
        }
        Ok(repos
            .get(&top)
            .is_some_and(|(_, set)| set.contains(canonical)))
    }
}
