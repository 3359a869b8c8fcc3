//! Path confinement: every path a tool touches is resolved with symlinks followed
//! and must land inside an allowed root.

use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};

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

/// The workspace root and the roots a session may reach, all canonical.
#[derive(Debug, Clone)]
pub struct AllowedRoots {
    workspace: PathBuf,
    roots: Vec<PathBuf>,
}

impl AllowedRoots {
    /// Canonicalises the workspace and the session's allowed roots. Without
    /// explicit roots the workspace is the only root; with them, only they are
    /// reachable (the workspace is not added). Roots that do not exist are skipped.
    pub fn new(workspace: &Path, allowed: Option<&[PathBuf]>) -> io::Result<Self> {
        let workspace = std::fs::canonicalize(workspace)?;
        let roots = match allowed {
            None => vec![workspace.clone()],
            Some(list) => list
                .iter()
                .filter_map(|p| std::fs::canonicalize(p).ok())
                .collect(),
        };
        Ok(Self { workspace, roots })
    }

    /// The canonical workspace root; relative paths are joined onto it.
    pub fn workspace(&self) -> &Path {
        &self.workspace
    }

    /// The canonical allowed roots.
    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    /// True when `canonical` lies inside (or is) an allowed root.
    pub fn contains(&self, canonical: &Path) -> bool {
        self.roots.iter().any(|root| canonical.starts_with(root))
    }

    /// Resolves a path that must exist, following every symlink.
    pub fn resolve_existing(&self, raw: &str) -> Result<PathBuf, PathError> {
        let resolved = self.resolve(raw)?;
        match std::fs::symlink_metadata(&resolved) {
            Ok(_) => Ok(resolved),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(PathError::NotFound(raw.into())),
            Err(source) => Err(PathError::Io {
                raw: raw.into(),
                source,
            }),
        }
    }

    /// Resolves a path that may not exist yet (a write target). Existing
    /// components are canonicalised with symlinks followed, so a symlink that
    /// points outside (even a dangling one) is refused; the missing tail is
    /// appended as plain names.
    pub fn resolve(&self, raw: &str) -> Result<PathBuf, PathError> {
        if raw.is_empty() {
            return Err(PathError::Empty);
        }
        if raw.contains('\0') {
            return Err(PathError::Nul);
        }
        let joined = if Path::new(raw).is_absolute() {
            PathBuf::from(raw)
        } else {
            self.workspace.join(raw)
        };
        let normal = normalize_lexically(&joined);
        let mut existing = normal.clone();
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
        let canonical = match std::fs::canonicalize(&existing) {
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
        let mut full = canonical;
        for name in missing.iter().rev() {
            full.push(name);
        }
        if !self.contains(&full) {
            return Err(PathError::Outside {
                raw: raw.into(),
                resolved: full.display().to_string(),
                roots: self.describe_roots(),
            });
        }
        if full.to_str().is_none() {
            return Err(PathError::NotUtf8(raw.into()));
        }
        Ok(full)
    }

    /// Resolves the directory entry itself, not what it points to: the parent is
    /// resolved with symlinks followed and the last name is kept as it is. Used
    /// where the operation acts on a link rather than its target (delete, move).
    pub fn resolve_entry(&self, raw: &str) -> Result<PathBuf, PathError> {
        if raw.is_empty() {
            return Err(PathError::Empty);
        }
        if raw.contains('\0') {
            return Err(PathError::Nul);
        }
        let normal = normalize_lexically(&if Path::new(raw).is_absolute() {
            PathBuf::from(raw)
        } else {
            self.workspace.join(raw)
        });
        let (Some(parent), Some(name)) = (normal.parent(), normal.file_name()) else {
            return self.resolve(raw);
        };
        let parent = self.resolve(&parent.to_string_lossy())?;
        let entry = parent.join(name);
        if !self.contains(&entry) {
            return Err(PathError::Outside {
                raw: raw.into(),
                resolved: entry.display().to_string(),
                roots: self.describe_roots(),
            });
        }
        Ok(entry)
    }

    /// True when `canonical` is exactly one of the allowed roots or the workspace.
    pub fn is_root(&self, canonical: &Path) -> bool {
        canonical == self.workspace || self.roots.iter().any(|r| r == canonical)
    }

    /// A path for display: relative to the workspace when inside it, else absolute.
    pub fn display(&self, path: &Path) -> String {
        match path.strip_prefix(&self.workspace) {
            Ok(rel) if rel.as_os_str().is_empty() => ".".into(),
            Ok(rel) => rel.to_string_lossy().into_owned(),
            Err(_) => path.to_string_lossy().into_owned(),
        }
    }

    fn describe_roots(&self) -> String {
        self.roots
            .iter()
            .map(|r| r.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
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

    struct Fixture {
        _dir: tempfile::TempDir,
        ws: PathBuf,
        outside: PathBuf,
        roots: AllowedRoots,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(dir.path()).unwrap();
        let ws = base.join("ws");
        let outside = base.join("outside");
        std::fs::create_dir_all(ws.join("sub")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(ws.join("sub/a.txt"), "a").unwrap();
        std::fs::write(outside.join("secret.txt"), "s").unwrap();
        symlink(outside.join("secret.txt"), ws.join("link-file")).unwrap();
        symlink(&outside, ws.join("link-dir")).unwrap();
        symlink(outside.join("nope.txt"), ws.join("dangling-out")).unwrap();
        symlink(ws.join("sub/a.txt"), ws.join("link-in")).unwrap();
        let roots = AllowedRoots::new(&ws, None).unwrap();
        Fixture {
            _dir: dir,
            ws,
            outside,
            roots,
        }
    }

    #[test]
    fn relative_and_absolute_inside_paths_resolve() {
        let f = fixture();
        assert_eq!(
            f.roots.resolve_existing("sub/a.txt").unwrap(),
            f.ws.join("sub/a.txt")
        );
        let abs = f.ws.join("sub/a.txt");
        assert_eq!(
            f.roots.resolve_existing(abs.to_str().unwrap()).unwrap(),
            abs
        );
        assert_eq!(
            f.roots.resolve_existing("link-in").unwrap(),
            f.ws.join("sub/a.txt")
        );
        assert_eq!(
            f.roots.resolve("sub/new/file.txt").unwrap(),
            f.ws.join("sub/new/file.txt")
        );
    }

    #[test]
    fn escapes_are_refused() {
        let f = fixture();
        for raw in [
            "../outside/secret.txt",
            "sub/../../outside/secret.txt",
            "link-file",
            "link-dir/secret.txt",
            "link-dir/new.txt",
            "dangling-out",
        ] {
            let err = f.roots.resolve(raw).unwrap_err();
            assert!(
                matches!(
                    err,
                    PathError::Outside { .. } | PathError::DanglingSymlink(_)
                ),
                "{raw}: {err}"
            );
        }
        let abs = f.outside.join("secret.txt");
        assert!(matches!(
            f.roots.resolve(abs.to_str().unwrap()),
            Err(PathError::Outside { .. })
        ));
    }

    #[test]
    fn nul_and_empty_are_refused() {
        let f = fixture();
        assert!(matches!(f.roots.resolve("a\0b"), Err(PathError::Nul)));
        assert!(matches!(f.roots.resolve(""), Err(PathError::Empty)));
    }

    #[test]
    fn symlink_loop_is_an_error_not_a_hang() {
        let f = fixture();
        symlink(f.ws.join("loop-b"), f.ws.join("loop-a")).unwrap();
        symlink(f.ws.join("loop-a"), f.ws.join("loop-b")).unwrap();
        assert!(f.roots.resolve("loop-a").is_err());
    }

    #[test]
    fn explicit_roots_replace_the_workspace() {
        let f = fixture();
        let roots = AllowedRoots::new(&f.ws, Some(&[f.ws.join("sub")])).unwrap();
        assert!(roots.resolve("sub/a.txt").is_ok());
        assert!(roots.resolve("link-in").is_ok());
        std::fs::write(f.ws.join("top.txt"), "t").unwrap();
        assert!(matches!(
            roots.resolve("top.txt"),
            Err(PathError::Outside { .. })
        ));
    }

    proptest! {
        #[test]
        fn no_generated_path_escapes_the_root(parts in prop::collection::vec(prop::sample::select(vec!["..", ".", "sub", "a.txt", "link-dir", "link-file", "link-in", "x", "", "/", "//"]), 0..8), absolute in any::<bool>()) {
            let f = fixture();
            let mut raw = parts.join("/");
            if absolute { raw = format!("{}/{}", f.ws.display(), raw); }
            if let Ok(p) = f.roots.resolve(&raw) {
                prop_assert!(p.starts_with(&f.ws), "{raw} -> {}", p.display());
                // Whatever exists at the resolved path is itself inside the root once
                // every symlink is followed.
                if let Ok(c) = std::fs::canonicalize(&p) {
                    prop_assert!(c.starts_with(&f.ws));
                }
            }
        }

        #[test]
        fn arbitrary_strings_never_panic(raw in ".{0,64}") {
            let f = fixture();
            let _ = f.roots.resolve(&raw);
        }

        #[test]
        fn lexical_normalization_has_no_dot_components(parts in prop::collection::vec(prop::sample::select(vec!["..", ".", "a", "b"]), 0..10)) {
            let p = normalize_lexically(Path::new(&format!("/{}", parts.join("/"))));
            prop_assert!(p.components().all(|c| matches!(c, Component::RootDir | Component::Normal(_))));
        }
    }
}
