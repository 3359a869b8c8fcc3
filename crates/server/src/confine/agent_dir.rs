//! The server's own files under `<workspace>/.agent/`, reached through the same
//! fd discipline as the tools: `.agent` and every directory below it are opened
//! with `O_NOFOLLOW` from the workspace fd, so a `.agent` (or `.agent/tmp`, …)
//! that is a symlink is refused instead of followed out of the workspace.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{FileType, Mode, OFlags};

use super::ops::write_atomic_at;

/// `<workspace>/.agent`, held as the workspace's directory fd; clones share
/// the fd.
#[derive(Debug, Clone)]
pub struct AgentDir {
    workspace: PathBuf,
    fd: Arc<OwnedFd>,
}

/// The error for a `.agent` component that is not a real directory.
fn not_a_dir(path: &Path, kind: FileType) -> io::Error {
    io::Error::other(format!(
        "{} is {}, not a directory; ralph-mcp keeps its own files only in a real directory inside the workspace (remove it and let the server recreate it)",
        path.display(),
        super::ops::kind_name(kind)
    ))
}

impl AgentDir {
    /// Opens the workspace (canonical path) for `.agent` access.
    pub fn new(workspace: &Path) -> io::Result<Self> {
        let fd = rustix::fs::open(
            workspace,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let agent = Self {
            workspace: workspace.to_path_buf(),
            fd: Arc::new(fd),
        };
        // An existing `.agent` (made by Ralph, or an older ralph-mcp) gets the
        // `.gitignore` too, so `git status` stays clean.
        if let Ok(dir) = agent.dir("", false) {
            let _ = write_atomic_at(dir.as_fd(), OsStr::new(".gitignore"), b"*\n", true, None);
        }
        Ok(agent)
    }

    /// The workspace this `.agent` belongs to (its canonical path).
    pub fn workspace(&self) -> &Path {
        &self.workspace
    }

    /// The absolute path of `.agent/<sub>` (for messages and hand-offs).
    pub fn path(&self, sub: &str) -> PathBuf {
        self.workspace
            .join(ralph_mcp_session::names::agent_paths::DIR)
            .join(sub)
    }

    /// Opens `.agent/<sub>` (a `/`-separated relative path of directories), each
    /// component without following links; with `create`, missing ones are made.
    pub fn dir(&self, sub: &str, create: bool) -> io::Result<OwnedFd> {
        let mut cur = rustix::fs::openat(
            &*self.fd,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let mut walked = self.workspace.clone();
        for name in std::iter::once(ralph_mcp_session::names::agent_paths::DIR)
            .chain(sub.split('/').filter(|s| !s.is_empty()))
        {
            if name == ".." || name == "." {
                return Err(io::Error::other("`.` and `..` are not allowed here"));
            }
            walked.push(name);
            let open = |cur: &OwnedFd| {
                rustix::fs::openat(
                    cur,
                    name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
            };
            cur = match open(&cur) {
                Ok(fd) => fd,
                Err(rustix::io::Errno::NOENT) if create => {
                    match rustix::fs::mkdirat(&cur, name, Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                        Err(e) => return Err(e.into()),
                    }
                    if name == ralph_mcp_session::names::agent_paths::DIR {
                        // Our files never show up in the user's `git status`.
                        let _ = write_atomic_at(
                            open(&cur)?.as_fd(),
                            OsStr::new(".gitignore"),
                            b"*\n",
                            true,
                            None,
                        );
                    }
                    open(&cur)?
                }
                Err(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR) => {
                    let kind =
                        rustix::fs::statat(&cur, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
                            .map_or(FileType::Unknown, |st| FileType::from_raw_mode(st.st_mode));
                    return Err(not_a_dir(&walked, kind));
                }
                Err(e) => return Err(e.into()),
            };
        }
        Ok(cur)
    }

    /// Replaces `.agent/<sub>/<name>` atomically, making directories as needed.
    pub fn write_atomic(&self, sub: &str, name: &str, bytes: &[u8]) -> io::Result<()> {
        let dir = self.dir(sub, true)?;
        write_atomic_at(dir.as_fd(), OsStr::new(name), bytes, false, None)
    }

    /// Replaces `.agent/<sub>/<name>` atomically but without fsync, for state
    /// that is rewritten often and worthless after a crash (see
    /// [`super::ops::replace_ephemeral_at`]).
    pub fn replace_ephemeral(&self, sub: &str, name: &str, bytes: &[u8]) -> io::Result<()> {
        let dir = self.dir(sub, true)?;
        super::ops::replace_ephemeral_at(dir.as_fd(), OsStr::new(name), bytes)
    }

    /// Opens `.agent/<sub>/<name>` for appending (created 0600 when missing);
    /// a name that is not a regular file is refused.
    pub fn append(&self, sub: &str, name: &str) -> io::Result<File> {
        let dir = self.dir(sub, true)?;
        let fd = rustix::fs::openat(
            &dir,
            name,
            OFlags::WRONLY
                | OFlags::APPEND
                | OFlags::CREATE
                | OFlags::NOFOLLOW
                | OFlags::NONBLOCK
                | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )?;
        regular(&fd, &self.path(sub).join(name))?;
        Ok(File::from(fd))
    }

    /// Opens a log `.agent/<sub>/<name>` for appending, first moving it to
    /// `<name>.1` (replacing the one before) when it has grown past `cap` bytes,
    /// so no log grows without bound.
    pub fn append_log(&self, sub: &str, name: &str, cap: u64) -> io::Result<File> {
        let dir = self.dir(sub, true)?;
        if let Ok(st) = rustix::fs::statat(&dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
            && u64::try_from(st.st_size).unwrap_or(0) > cap
        {
            let _ = rustix::fs::renameat(&dir, name, &dir, format!("{name}.1").as_str());
        }
        self.append(sub, name)
    }

    /// Creates `.agent/<sub>/<name>` exclusively for writing.
    pub fn create_new(&self, sub: &str, name: &str) -> io::Result<File> {
        let dir = self.dir(sub, true)?;
        let fd = rustix::fs::openat(
            &dir,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )?;
        Ok(File::from(fd))
    }

    /// Opens `.agent/<sub>/<name>` for reading; only a regular file is opened.
    pub fn open_read(&self, sub: &str, name: &str) -> io::Result<File> {
        let dir = self.dir(sub, false)?;
        let fd = rustix::fs::openat(
            &dir,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| {
            if e == rustix::io::Errno::LOOP {
                io::Error::other(format!(
                    "{} is a symlink; ralph-mcp only reads its own regular files",
                    self.path(sub).join(name).display()
                ))
            } else {
                e.into()
            }
        })?;
        regular(&fd, &self.path(sub).join(name))?;
        Ok(File::from(fd))
    }

    /// Reads `.agent/<sub>/<name>` whole, up to `cap` bytes.
    pub fn read(&self, sub: &str, name: &str, cap: u64) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.open_read(sub, name)?.take(cap).read_to_end(&mut out)?;
        Ok(out)
    }
}

fn regular(fd: &OwnedFd, path: &Path) -> io::Result<()> {
    let st = rustix::fs::fstat(fd)?;
    let kind = FileType::from_raw_mode(st.st_mode);
    if kind != FileType::RegularFile {
        return Err(io::Error::other(format!(
            "{} is {}, not a regular file; ralph-mcp refuses to use it",
            path.display(),
            super::ops::kind_name(kind)
        )));
    }
    Ok(())
}

/// Appends one line in one write (concurrent appends never interleave).
pub fn append_line(mut file: File, line: &[u8]) -> io::Result<()> {
    file.write_all(line)
}
