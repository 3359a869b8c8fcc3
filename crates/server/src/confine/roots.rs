//! The allowed roots, held open as directory fds, and where a path given by a
//! client lies beneath them.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{Mode, OFlags};

use super::beneath::open_beneath;

/// Why a path was refused or could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    /// The argument was empty.
    #[error("path is empty; pass a path relative to the workspace root, e.g. \"README.md\"")]
    Empty,
    /// The argument held a NUL byte.
    #[error("path contains a NUL byte; pass a plain path")]
    Nul,
    /// The resolved path falls outside every allowed root.
    #[error(
        "path `{raw}` resolves to {resolved}, which is outside the allowed roots ({roots}); use a path inside them (list_allowed_roots shows them)"
    )]
    Outside {
        /// The path as given.
        raw: String,
        /// Where it led.
        resolved: String,
        /// The allowed roots, for the message.
        roots: String,
    },
    /// The path does not exist.
    #[error("`{0}` does not exist; check the path with list_directory or search_files")]
    NotFound(String),
    /// A symlink on the path points nowhere.
    #[error("`{0}` is a symlink whose target does not exist")]
    DanglingSymlink(String),
    /// The resolved path is not valid UTF-8.
    #[error("`{0}` resolves to a name that is not valid UTF-8, which is not supported")]
    NotUtf8(String),
    /// Any other I/O error while resolving.
    #[error("cannot resolve `{raw}`: {source}")]
    Io {
        /// The path as given.
        raw: String,
        /// The error.
        source: io::Error,
    },
}

/// One allowed root: its canonical path and a directory fd every open starts from.
#[derive(Debug)]
pub struct Root {
    path: PathBuf,
    fd: OwnedFd,
}

impl Root {
    /// Opens `path` (canonical) as a root.
    fn open(path: PathBuf) -> io::Result<Self> {
        let fd = rustix::fs::open(
            &path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Self { path, fd })
    }

    /// The canonical path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory fd.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// A path located beneath one allowed root: the root and a lexically normal
/// relative path (no `.` or `..`). Nothing is opened yet.
#[derive(Debug, Clone)]
pub struct Located<'a> {
    /// The root the path lies beneath.
    pub root: &'a Root,
    /// The path relative to the root; empty for the root itself.
    pub rel: PathBuf,
}

impl Located<'_> {
    /// The absolute path (root path joined with the relative path), for display.
    pub fn abs(&self) -> PathBuf {
        if self.rel.as_os_str().is_empty() {
            self.root.path.clone()
        } else {
            self.root.path.join(&self.rel)
        }
    }

    /// True when this is the root itself.
    pub fn is_root(&self) -> bool {
        self.rel.as_os_str().is_empty()
    }

    /// Opens the path beneath its root (see [`super::beneath::open_beneath`]).
    pub fn open(&self, flags: OFlags, mode: Mode) -> io::Result<OwnedFd> {
        open_beneath(self.root.fd(), &self.root.path, &self.rel, flags, mode)
    }
}

/// The workspace root and the roots a session may reach, each held open.
#[derive(Debug)]
pub struct AllowedRoots {
    workspace: PathBuf,
    roots: Vec<Root>,
    /// The root that is the workspace itself, when no other root lies inside it:
    /// then a plain relative path (see [`AllowedRoots::locate`]) needs no search.
    workspace_root: Option<usize>,
}

impl AllowedRoots {
    /// Canonicalises and opens the workspace and the session's allowed roots.
    /// Without explicit roots the workspace is the only root; with them, only they
    /// are reachable (the workspace is not added). Roots that do not exist are
    /// skipped.
    pub fn new(workspace: &Path, allowed: Option<&[PathBuf]>) -> io::Result<Self> {
        let workspace = std::fs::canonicalize(workspace)?;
        let roots = match allowed {
            None => vec![Root::open(workspace.clone())?],
            Some(list) => list
                .iter()
                .filter_map(|p| std::fs::canonicalize(p).ok())
                .filter_map(|p| Root::open(p).ok())
                .collect(),
        };
        let workspace_root = roots.iter().position(|r| r.path == workspace).filter(|_| {
            workspace.to_str().is_some()
                && !roots
                    .iter()
                    .any(|r| r.path != workspace && r.path.starts_with(&workspace))
        });
        Ok(Self {
            workspace,
            roots,
            workspace_root,
        })
    }

    /// The canonical workspace root; relative paths are joined onto it.
    pub fn workspace(&self) -> &Path {
        &self.workspace
    }

    /// The allowed roots' canonical paths.
    pub fn roots(&self) -> impl Iterator<Item = &Path> {
        self.roots.iter().map(|r| r.path.as_path())
    }

    /// True when `path` lies lexically inside (or is) an allowed root.
    pub fn contains(&self, path: &Path) -> bool {
        self.roots.iter().any(|root| path.starts_with(&root.path))
    }

    /// Places `raw` beneath a root without opening anything.
    ///
    /// The path is joined onto the workspace when relative and normalised
    /// lexically. When it then lies under a root's path, that root (the deepest
    /// one) is used and the rest is resolved by the kernel beneath it, so a
    /// symlink inside the root may lead anywhere inside that same root but
    /// nowhere else, not even into another allowed root. Only when the path lies
    /// under no root at all is its longest existing prefix canonicalised to see
    /// whether it leads into one (a workspace reached through a symlinked
    /// directory, or a link in a workspace that is not itself a root); the open
    /// that follows is still confined beneath the root it lands in.
    pub fn locate(&self, raw: &str) -> Result<Located<'_>, PathError> {
        if raw.is_empty() {
            return Err(PathError::Empty);
        }
        if raw.contains('\0') {
            return Err(PathError::Nul);
        }
        // The commonest path — relative, every component a name — lies beneath the
        // workspace root just as the general rule below would place it.
        if let Some(i) = self.workspace_root
            && Path::new(raw)
                .components()
                .all(|c| matches!(c, Component::Normal(_)))
        {
            return Ok(Located {
                root: &self.roots[i],
                // Collected from the components: `a//b/./c/` becomes `a/b/c`, as
                // lexical normalisation writes it.
                rel: Path::new(raw).components().collect(),
            });
        }
        self.locate_by_prefix(raw)
    }

    /// [`Self::locate`]'s general rule, for any non-empty `raw` without NUL.
    fn locate_by_prefix(&self, raw: &str) -> Result<Located<'_>, PathError> {
        let joined = if Path::new(raw).is_absolute() {
            PathBuf::from(raw)
        } else {
            self.workspace.join(raw)
        };
        let normal = normalize_lexically(&joined);
        let located = match self.under_root(&normal) {
            Some(l) => l,
            None => {
                let canonical = canonical_prefix(&normal, raw)?;
                self.under_root(&canonical)
                    .ok_or_else(|| self.outside(raw, &canonical))?
            }
        };
        if located.abs().to_str().is_none() {
            return Err(PathError::NotUtf8(raw.into()));
        }
        Ok(located)
    }

    fn under_root(&self, normal: &Path) -> Option<Located<'_>> {
        self.roots
            .iter()
            .filter_map(|root| {
                normal.strip_prefix(&root.path).ok().map(|rel| Located {
                    root,
                    rel: rel.to_path_buf(),
                })
            })
            .max_by_key(|l| l.root.path.as_os_str().len())
    }

    /// Opens `raw` beneath its root with `flags`, mapping failures to [`PathError`].
    #[cfg(test)]
    pub fn open(&self, raw: &str, flags: OFlags) -> Result<(OwnedFd, Located<'_>), PathError> {
        let located = self.locate(raw)?;
        match located.open(flags, Mode::empty()) {
            Ok(fd) => Ok((fd, located)),
            Err(e) => Err(self.open_error(raw, &located, e)),
        }
    }

    /// Phrases an error from opening `located` (given as `raw`).
    pub fn open_error(&self, raw: &str, located: &Located<'_>, err: io::Error) -> PathError {
        match err.raw_os_error() {
            Some(c) if c == rustix::io::Errno::NOENT.raw_os_error() => {
                PathError::NotFound(raw.into())
            }
            Some(c) if c == rustix::io::Errno::XDEV.raw_os_error() => PathError::Outside {
                raw: raw.into(),
                resolved: format!(
                    "{} (through `..` or a symlink leading out of {})",
                    located.abs().display(),
                    located.root.path.display()
                ),
                roots: self.describe_roots(),
            },
            Some(c) if c == rustix::io::Errno::LOOP.raw_os_error() => PathError::Io {
                raw: raw.into(),
                source: io::Error::other("too many levels of symbolic links"),
            },
            _ => PathError::Io {
                raw: raw.into(),
                source: err,
            },
        }
    }

    /// A path for display: relative to the workspace when inside it, else absolute.
    pub fn display(&self, path: &Path) -> String {
        match path.strip_prefix(&self.workspace) {
            Ok(rel) if rel.as_os_str().is_empty() => ".".into(),
            Ok(rel) => rel.to_string_lossy().into_owned(),
            Err(_) => path.to_string_lossy().into_owned(),
        }
    }

    /// The roots, for messages.
    pub fn describe_roots(&self) -> String {
        self.roots
            .iter()
            .map(|r| r.path.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn outside(&self, raw: &str, resolved: &Path) -> PathError {
        PathError::Outside {
            raw: raw.into(),
            resolved: resolved.display().to_string(),
            roots: self.describe_roots(),
        }
    }
}

/// Canonicalises the longest existing prefix of `normal` (following symlinks)
/// and appends the missing tail. Used only to find which root a path outside
/// every root's path leads into.
fn canonical_prefix(normal: &Path, raw: &str) -> Result<PathBuf, PathError> {
    let mut existing = normal.to_path_buf();
    let mut missing: Vec<OsString> = Vec::new();
    loop {
        match std::fs::symlink_metadata(&existing) {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                match existing.file_name() {
                    Some(name) => missing.push(name.to_owned()),
                    None => break,
                }
                existing.pop();
            }
            Err(source) => {
                return Err(PathError::Io {
                    raw: raw.into(),
                    source,
                });
            }
        }
    }
    let mut full = match std::fs::canonicalize(&existing) {
        Ok(c) => c,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(PathError::DanglingSymlink(raw.into()));
        }
        Err(source) => {
            return Err(PathError::Io {
                raw: raw.into(),
                source,
            });
        }
    };
    for name in missing.iter().rev() {
        full.push(name);
    }
    Ok(full)
}

/// Removes `.` and resolves `..` without touching the file system. `..` at the
/// root stays at the root, as the kernel does.
pub fn normalize_lexically(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for comp in path.components() {
        match comp {
            Component::Prefix(p) => out.push(p.as_os_str()),
            Component::RootDir => out.push(Component::RootDir.as_os_str()),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => out.push(name),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::os::unix::fs::symlink;

    fn fixture() -> (tempfile::TempDir, PathBuf, AllowedRoots) {
        let dir = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(dir.path()).unwrap();
        let ws = base.join("ws");
        std::fs::create_dir_all(ws.join("sub")).unwrap();
        std::fs::create_dir_all(base.join("outside")).unwrap();
        std::fs::write(ws.join("sub/a.txt"), "a").unwrap();
        symlink(base.join("outside"), ws.join("link-dir")).unwrap();
        let roots = AllowedRoots::new(&ws, None).unwrap();
        (dir, ws, roots)
    }

    #[test]
    fn relative_and_absolute_paths_locate_beneath_the_root() {
        let (_d, ws, roots) = fixture();
        assert_eq!(
            roots.locate("sub/a.txt").unwrap().rel,
            Path::new("sub/a.txt")
        );
        let abs = ws.join("sub/a.txt");
        assert_eq!(
            roots.locate(abs.to_str().unwrap()).unwrap().rel,
            Path::new("sub/a.txt")
        );
        assert!(roots.locate(".").unwrap().is_root());
        assert!(matches!(
            roots.locate("../x"),
            Err(PathError::Outside { .. })
        ));
        assert!(matches!(
            roots.locate("/etc/passwd"),
            Err(PathError::Outside { .. })
        ));
        assert!(matches!(roots.locate(""), Err(PathError::Empty)));
        assert!(matches!(roots.locate("a\0b"), Err(PathError::Nul)));
    }

    #[test]
    fn opening_through_an_escaping_link_is_refused() {
        let (_d, _ws, roots) = fixture();
        let err = roots.open("link-dir/x", OFlags::RDONLY).unwrap_err();
        assert!(matches!(err, PathError::Outside { .. }), "{err}");
    }

    #[test]
    fn explicit_roots_replace_the_workspace() {
        let (_d, ws, _) = fixture();
        let roots = AllowedRoots::new(&ws, Some(&[ws.join("sub")])).unwrap();
        assert!(roots.open("sub/a.txt", OFlags::RDONLY).is_ok());
        std::fs::write(ws.join("top.txt"), "t").unwrap();
        assert!(matches!(
            roots.locate("top.txt"),
            Err(PathError::Outside { .. })
        ));
    }

    proptest! {
        #[test]
        fn located_paths_are_normal_and_inside(parts in prop::collection::vec(prop::sample::select(vec!["..", ".", "sub", "a.txt", "link-dir", "x", "", "/"]), 0..8)) {
            let (_d, ws, roots) = fixture();
            let raw = parts.join("/");
            if let Ok(l) = roots.locate(&raw) {
                prop_assert!(l.abs().starts_with(&ws));
                prop_assert!(l.rel.components().all(|c| matches!(c, Component::Normal(_))));
            }
        }

        #[test]
        fn the_plain_path_shortcut_places_paths_as_the_general_rule_does(
            parts in prop::collection::vec(prop::sample::select(vec!["..", ".", "sub", "a.txt", "link-dir", "x", "", "é"]), 1..6),
            trailing in any::<bool>(),
            layout in 0..3u8,
        ) {
            let (_d, ws, single) = fixture();
            // The workspace alone; with a root that contains it; with one inside it.
            let roots = match layout {
                0 => single,
                1 => AllowedRoots::new(&ws, Some(&[ws.clone(), ws.parent().unwrap().to_path_buf()])).unwrap(),
                _ => AllowedRoots::new(&ws, Some(&[ws.clone(), ws.join("sub")])).unwrap(),
            };
            prop_assert_eq!(roots.workspace_root.is_some(), layout != 2);
            let mut raw = parts.join("/");
            if trailing {
                raw.push('/');
            }
            if raw.is_empty() {
                return Ok(());
            }
            // Compared as strings: `Path` equality would let `a/./b` equal `a/b`.
            let got = roots.locate(&raw).map(|l| (l.root.path.clone(), l.rel.into_os_string()));
            let want = roots.locate_by_prefix(&raw).map(|l| (l.root.path.clone(), l.rel.into_os_string()));
            prop_assert_eq!(got.ok(), want.ok(), "{}", raw);
        }

        #[test]
        fn arbitrary_strings_never_panic(raw in ".{0,64}") {
            let (_d, _ws, roots) = fixture();
            let _ = roots.open(&raw, OFlags::RDONLY);
        }
    }
}
