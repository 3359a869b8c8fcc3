//! The tools' doorway to [`crate::confine`]: open a regular file, a directory or
//! a mutation target by the client's path, with one phrasing of every refusal.

use std::fs::File;
use std::os::fd::OwnedFd;

use rustix::fs::{FileType, OFlags};

use super::{ToolContext, ToolError};
use crate::confine::ops::{self, Entry, OpenRegularError};
use crate::confine::{Located, PathError};

/// Phrases an I/O error for the agent.
pub fn io_error(raw: &str, err: std::io::Error) -> ToolError {
    if err.raw_os_error() == Some(rustix::io::Errno::XDEV.raw_os_error()) {
        return ToolError::failed(format!(
            "`{raw}` leads outside the allowed roots (through `..` or a symlink); use a path inside them (list_allowed_roots shows them)"
        ));
    }
    match err.kind() {
        std::io::ErrorKind::NotFound => ToolError::Path(PathError::NotFound(raw.into())),
        std::io::ErrorKind::PermissionDenied => {
            ToolError::failed(format!("permission denied for `{raw}`"))
        }
        _ => ToolError::failed(format!("cannot access `{raw}`: {err}")),
    }
}

/// The refusal for a path that is not a regular file.
pub fn not_regular(raw: &str, kind: FileType) -> ToolError {
    if kind == FileType::Directory {
        return ToolError::failed(format!(
            "`{raw}` is a directory, not a file; use list_directory to see its entries"
        ));
    }
    ToolError::failed(format!(
        "`{raw}` is {}, not a regular file; only regular files are read",
        ops::kind_name(kind)
    ))
}

impl ToolContext {
    /// Opens `raw` for reading; only a regular file is opened, never blocking.
    pub fn open_file(&self, raw: &str) -> Result<(File, rustix::fs::Stat, Located<'_>), ToolError> {
        let located = self.roots.locate(raw)?;
        match ops::open_regular(&located) {
            Ok((file, st)) => Ok((file, st, located)),
            Err(OpenRegularError::NotRegular(kind)) => Err(not_regular(raw, kind)),
            Err(OpenRegularError::Io(e)) => {
                Err(ToolError::Path(self.roots.open_error(raw, &located, e)))
            }
        }
    }

    /// Opens `raw` as a directory for listing.
    pub fn open_dir(&self, raw: &str) -> Result<(OwnedFd, Located<'_>), ToolError> {
        let located = self.roots.locate(raw)?;
        match located.open(
            OFlags::RDONLY | OFlags::DIRECTORY,
            rustix::fs::Mode::empty(),
        ) {
            Ok(fd) => Ok((fd, located)),
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error()) => {
                Err(ToolError::failed(format!(
                    "`{raw}` is a file, not a directory; use read_file to read it"
                )))
            }
            Err(e) => Err(ToolError::Path(self.roots.open_error(raw, &located, e))),
        }
    }

    /// Locates a mutation target: beneath the parallel worker's write roots when
    /// the session has them, else beneath the allowed roots; never a root itself.
    pub fn locate_mutation(&self, raw: &str) -> Result<Located<'_>, ToolError> {
        let roots = self.write_roots.as_ref().unwrap_or(&self.roots);
        let located = match roots.locate(raw) {
            Ok(l) => l,
            Err(PathError::Outside { .. }) if self.write_roots.is_some() => {
                return Err(ToolError::failed(format!(
                    "`{raw}` is outside this parallel worker's writable roots ({}); write only inside them",
                    roots.describe_roots()
                )));
            }
            Err(e) => return Err(e.into()),
        };
        if located.is_root() {
            return Err(ToolError::failed(format!(
                "`{raw}` is an allowed root itself; it cannot be replaced, moved or deleted"
            )));
        }
        if located.rel.components().any(|c| c.as_os_str() == ".git") {
            // Git's own files (config, hooks, the index) would let a write run
            // programs the next time git runs; the orchestrator owns the repository.
            return Err(ToolError::failed(format!(
                "`{raw}` is inside git's own directory (.git); the workspace tools do not change it. Use git through the orchestrator"
            )));
        }
        Ok(located)
    }

    /// Opens the directory holding a mutation target. `create` makes missing
    /// parents; `follow` writes through a final symlink to the file it names
    /// (beneath the same root) instead of replacing the link.
    pub fn mutation_entry(
        &self,
        raw: &str,
        create: bool,
        follow: bool,
    ) -> Result<Entry, ToolError> {
        let located = self.locate_mutation(raw)?;
        ops::open_entry(&located, create, follow).map_err(|e| io_error(raw, e))
    }
}
