//! Opening a path beneath a directory fd so that resolution can never leave it.
//!
//! The fast path is `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`: the kernel
//! resolves every component and refuses (`EXDEV`) anything that would climb out,
//! whether by `..`, an absolute path or a symlink, at the moment of the open, so a
//! component swapped for a symlink mid-call cannot redirect it.
//!
//! The fallback walks one component at a time from the directory fd with
//! `O_PATH | O_NOFOLLOW`, reads each symlink itself and splices its target into the
//! walk, keeps a stack of the directory fds it went through (so `..` pops a fd, never
//! a name), and refuses to pop past the root. It is used when `openat2` is missing
//! (`ENOSYS`, or `EPERM` under a seccomp filter), when `RALPH_MCP_NO_OPENAT2` is set
//! (the tests run both paths), and when the kernel refused an absolute symlink: an
//! absolute target is accepted when it names a place beneath the same root's path,
//! and the walk goes on from the root fd, never from `/`. Magic links (`/proc/…`)
//! are never followed by the kernel on either path: the fallback only follows link
//! text, and text naming `/proc` is outside every root.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};

use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};

/// Symlinks followed in one resolution before giving up, as the kernel does.
const MAX_LINKS: usize = 40;

/// 0 = not yet known, 1 = `openat2` works, 2 = use the fallback walk.
static OPENAT2: AtomicU8 = AtomicU8::new(0);

/// The environment switch that forces the fallback walk.
pub const NO_OPENAT2_ENV: &str = "RALPH_MCP_NO_OPENAT2";

fn use_openat2() -> bool {
    match OPENAT2.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let forced_off = std::env::var_os(NO_OPENAT2_ENV).is_some_and(|v| !v.is_empty());
            OPENAT2.store(if forced_off { 2 } else { 1 }, Ordering::Relaxed);
            !forced_off
        }
    }
}

/// Which resolver is in use: `"openat2"` or `"fallback"` (for `/health` and tests).
pub fn resolver_name() -> &'static str {
    if use_openat2() { "openat2" } else { "fallback" }
}

/// Opens `rel` beneath `root` (whose path is `root_path`, used only to judge
/// absolute symlink targets) with `flags`. `rel` must be relative; `..` may appear
/// but can never climb above `root`. A final symlink is followed (beneath the root)
/// unless `flags` holds `O_NOFOLLOW`. `O_CLOEXEC` is always added.
pub fn open_beneath(
    root: BorrowedFd<'_>,
    root_path: &Path,
    rel: &Path,
    flags: OFlags,
    mode: Mode,
) -> io::Result<OwnedFd> {
    open_beneath_via(use_openat2(), root, root_path, rel, flags, mode)
}

/// [`open_beneath`] with the resolver chosen by the caller (tests run both).
pub fn open_beneath_via(
    openat2: bool,
    root: BorrowedFd<'_>,
    root_path: &Path,
    rel: &Path,
    flags: OFlags,
    mode: Mode,
) -> io::Result<OwnedFd> {
    let flags = flags | OFlags::CLOEXEC;
    if rel.is_absolute() {
        return Err(io::Error::from_raw_os_error(libc_exdev()));
    }
    if openat2 {
        let target: &Path = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        for _ in 0..16 {
            match rustix::fs::openat2(
                root,
                target,
                flags,
                mode,
                ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
            ) {
                Ok(fd) => return Ok(fd),
                // A rename raced the lookup; the kernel asks us to try again.
                Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => continue,
                Err(rustix::io::Errno::NOSYS | rustix::io::Errno::PERM) if !probe_openat2(root) => {
                    OPENAT2.store(2, Ordering::Relaxed);
                    break;
                }
                // Possibly an absolute symlink that stays beneath the root: the
                // walk judges its text.
                Err(rustix::io::Errno::XDEV) => break,
                Err(e) => return Err(e.into()),
            }
        }
    }
    walk(root, root_path, rel, flags, mode)
}

/// True when `openat2` itself works (so an `EPERM` came from the file, not seccomp).
fn probe_openat2(root: BorrowedFd<'_>) -> bool {
    rustix::fs::openat2(
        root,
        ".",
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH,
    )
    .is_ok()
}

fn libc_exdev() -> i32 {
    rustix::io::Errno::XDEV.raw_os_error()
}

fn escape() -> io::Error {
    io::Error::from_raw_os_error(libc_exdev())
}

/// Pushes the components of `path` (relative) to the front of `todo`, keeping
/// `.` (a trailing `.` still demands a directory, as in the kernel).
fn splice(todo: &mut VecDeque<OsString>, path: &Path) {
    let parts: Vec<&[u8]> = path
        .as_os_str()
        .as_bytes()
        .split(|b| *b == b'/')
        .filter(|p| !p.is_empty())
        .collect();
    for part in parts.into_iter().rev() {
        todo.push_front(OsStr::from_bytes(part).to_owned());
    }
}

/// The component-by-component walk (see the module docs).
fn walk(
    root: BorrowedFd<'_>,
    root_path: &Path,
    rel: &Path,
    flags: OFlags,
    mode: Mode,
) -> io::Result<OwnedFd> {
    let follow_last = !flags.contains(OFlags::NOFOLLOW);
    let mut todo: VecDeque<OsString> = VecDeque::new();
    splice(&mut todo, rel);
    let mut stack: Vec<OwnedFd> = Vec::new();
    let mut links = 0usize;
    while let Some(name) = todo.pop_front() {
        if name == "." {
            continue;
        }
        if name == ".." {
            if stack.pop().is_none() {
                return Err(escape());
            }
            continue;
        }
        let last = todo.is_empty();
        let cur: BorrowedFd<'_> = stack.last().map_or(root, |f| f.as_fd());
        let name_ref: &OsStr = &name;
        if last {
            // The final component: open it for real, never following a link in
            // the kernel; a link is read and spliced instead.
            match rustix::fs::openat(cur, name_ref, flags | OFlags::NOFOLLOW, mode) {
                Ok(fd) => {
                    // O_PATH|O_NOFOLLOW opens a link itself: follow it when asked.
                    if follow_last
                        && flags.contains(OFlags::PATH)
                        && FileType::from_raw_mode(rustix::fs::fstat(&fd)?.st_mode)
                            == FileType::Symlink
                    {
                        follow(&fd, root_path, &mut todo, &mut stack, &mut links)?;
                        continue;
                    }
                    return Ok(fd);
                }
                Err(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR) => {
                    let link = rustix::fs::openat(
                        cur,
                        name_ref,
                        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )?;
                    let kind = FileType::from_raw_mode(rustix::fs::fstat(&link)?.st_mode);
                    if kind != FileType::Symlink {
                        // A real ENOTDIR (O_DIRECTORY on a file), reported as such.
                        return Err(rustix::io::Errno::NOTDIR.into());
                    }
                    if !follow_last {
                        return Err(rustix::io::Errno::LOOP.into());
                    }
                    follow(&link, root_path, &mut todo, &mut stack, &mut links)?;
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let fd = rustix::fs::openat(
            cur,
            name_ref,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        match FileType::from_raw_mode(rustix::fs::fstat(&fd)?.st_mode) {
            FileType::Directory => stack.push(fd),
            FileType::Symlink => follow(&fd, root_path, &mut todo, &mut stack, &mut links)?,
            _ => return Err(rustix::io::Errno::NOTDIR.into()),
        }
    }
    // Everything was consumed by `.`/`..`/links: open the directory we stand in.
    let cur: BorrowedFd<'_> = stack.last().map_or(root, |f| f.as_fd());
    Ok(rustix::fs::openat(cur, ".", flags, mode)?)
}

/// Reads the link `fd` (an `O_PATH|O_NOFOLLOW` fd) and splices its target.
fn follow(
    fd: &OwnedFd,
    root_path: &Path,
    todo: &mut VecDeque<OsString>,
    stack: &mut Vec<OwnedFd>,
    links: &mut usize,
) -> io::Result<()> {
    *links += 1;
    if *links > MAX_LINKS {
        return Err(rustix::io::Errno::LOOP.into());
    }
    let target = rustix::fs::readlinkat(fd, "", Vec::new())?;
    let target = Path::new(OsStr::from_bytes(target.as_bytes()));
    if target.is_absolute() {
        let normal = super::roots::normalize_lexically(target);
        let Ok(rest) = normal.strip_prefix(root_path) else {
            return Err(escape());
        };
        stack.clear();
        splice(todo, rest);
    } else {
        splice(todo, target);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::os::unix::fs::symlink;

    struct Fixture {
        _dir: tempfile::TempDir,
        ws: std::path::PathBuf,
        root: OwnedFd,
    }

    /// ws/{sub/a.txt, link-in -> sub/a.txt (relative), abs-in -> <ws>/sub/a.txt,
    /// link-file -> outside/secret, link-dir -> outside, up -> .., proc -> /proc/self/root,
    /// loop-a <-> loop-b}; outside/secret.txt.
    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(dir.path()).unwrap();
        let ws = base.join("ws");
        let outside = base.join("outside");
        std::fs::create_dir_all(ws.join("sub/deeper")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(ws.join("sub/a.txt"), "inside").unwrap();
        std::fs::write(outside.join("secret.txt"), "SECRET").unwrap();
        symlink("sub/a.txt", ws.join("link-in")).unwrap();
        symlink(ws.join("sub/a.txt"), ws.join("abs-in")).unwrap();
        symlink(outside.join("secret.txt"), ws.join("link-file")).unwrap();
        symlink(&outside, ws.join("link-dir")).unwrap();
        symlink("..", ws.join("up")).unwrap();
        symlink("../..", ws.join("sub/deeper/upup")).unwrap();
        symlink("/proc/self/root", ws.join("proc")).unwrap();
        symlink("loop-b", ws.join("loop-a")).unwrap();
        symlink("loop-a", ws.join("loop-b")).unwrap();
        let root = rustix::fs::open(&ws, OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();
        Fixture {
            _dir: dir,
            ws,
            root,
        }
    }

    fn read(f: &Fixture, via_openat2: bool, rel: &str) -> io::Result<String> {
        let fd = open_beneath_via(
            via_openat2,
            f.root.as_fd(),
            &f.ws,
            Path::new(rel),
            OFlags::RDONLY,
            Mode::empty(),
        )?;
        let mut s = String::new();
        use std::io::Read;
        std::fs::File::from(fd).read_to_string(&mut s)?;
        Ok(s)
    }

    #[test]
    fn both_resolvers_follow_links_that_stay_inside() {
        let f = fixture();
        for via in [true, false] {
            for rel in [
                "sub/a.txt",
                "link-in",
                "abs-in",
                "sub/../sub/a.txt",
                "sub/deeper/../a.txt",
            ] {
                assert_eq!(
                    read(&f, via, rel).unwrap(),
                    "inside",
                    "{rel} via openat2={via}"
                );
            }
        }
    }

    #[test]
    fn both_resolvers_refuse_every_escape() {
        let f = fixture();
        for via in [true, false] {
            for rel in [
                "link-file",
                "link-dir/secret.txt",
                "../outside/secret.txt",
                "up/outside/secret.txt",
                "sub/deeper/upup/../outside/secret.txt",
                "proc/etc/passwd",
                "proc",
                "loop-a",
            ] {
                let err = read(&f, via, rel).unwrap_err();
                assert!(
                    matches!(err.raw_os_error(), Some(c) if c == libc_exdev() || c == rustix::io::Errno::LOOP.raw_os_error()),
                    "{rel} via openat2={via}: {err}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn both_resolvers_agree_and_never_leave_the_root(
            parts in prop::collection::vec(prop::sample::select(vec![
                "..", ".", "sub", "a.txt", "deeper", "upup", "link-in", "abs-in", "link-file",
                "link-dir", "up", "proc", "secret.txt", "outside", "nope",
            ]), 1..7)
        ) {
            let f = fixture();
            let rel = parts.join("/");
            let a = read(&f, true, &rel);
            let b = read(&f, false, &rel);
            prop_assert_eq!(a.is_ok(), b.is_ok(), "{}: {:?} vs {:?}", rel, a, b);
            if let (Ok(x), Ok(y)) = (&a, &b) {
                prop_assert_eq!(x, y);
                prop_assert_eq!(x.as_str(), "inside");
            }
        }
    }
}
