//! File operations on directory fds: reading only regular files without ever
//! blocking, atomic replacement inside a directory fd, directories made and
//! removed one `*at` call at a time, and the serialisation of mutations per path.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags};

use super::roots::{Located, normalize_lexically};

/// Prefix of the temp files atomic writes create beside their targets.
pub const TEMP_PREFIX: &str = ".ralph-mcp-tmp-";
/// Mode for new files.
const NEW_FILE_MODE: u32 = 0o644;
/// Mode for new directories.
const NEW_DIR_MODE: u32 = 0o755;
/// Symlinks followed when a mutation's final name is a link.
const MAX_LINKS: usize = 40;

/// A human name for a file type, for messages.
pub fn kind_name(kind: FileType) -> &'static str {
    match kind {
        FileType::RegularFile => "a regular file",
        FileType::Directory => "a directory",
        FileType::Symlink => "a symlink",
        FileType::Fifo => "a FIFO (named pipe)",
        FileType::Socket => "a unix socket",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        FileType::Unknown => "a file of unknown type",
    }
}

/// Why a file could not be opened for reading.
#[derive(Debug)]
pub enum OpenRegularError {
    /// It exists but is not a regular file.
    NotRegular(FileType),
    /// The open itself failed.
    Io(io::Error),
}

/// Opens `located` for reading only if it is a regular file. The open is
/// non-blocking, so a FIFO or device never holds the caller; the type is then
/// checked on the open fd, so it cannot change between check and read.
pub fn open_regular(located: &Located<'_>) -> Result<(File, rustix::fs::Stat), OpenRegularError> {
    let fd = located
        .open(
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY,
            Mode::empty(),
        )
        .map_err(|e| {
            // A unix socket cannot be opened at all; name it instead of "no such device".
            if e.raw_os_error() == Some(rustix::io::Errno::NXIO.raw_os_error()) {
                OpenRegularError::NotRegular(FileType::Socket)
            } else {
                OpenRegularError::Io(e)
            }
        })?;
    let st = rustix::fs::fstat(&fd).map_err(|e| OpenRegularError::Io(e.into()))?;
    let kind = FileType::from_raw_mode(st.st_mode);
    if kind != FileType::RegularFile {
        return Err(OpenRegularError::NotRegular(kind));
    }
    Ok((File::from(fd), st))
}

/// Type of the entry `name` in `dir`, without following a link.
pub fn entry_type(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Option<rustix::fs::Stat>> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A mutation target: the directory that holds it (open) and its name there.
#[derive(Debug)]
pub struct Entry {
    /// The parent directory, opened for reading (usable for `fsync` and `*at`).
    pub dir: OwnedFd,
    /// The final name.
    pub name: OsString,
    /// The target's path relative to its root, after following final links.
    pub rel: PathBuf,
}

/// Opens the parent of `located` (making missing directories when `create`),
/// for a mutation of its final name. With `follow`, a final name that is a
/// symlink is replaced by its target (judged beneath the same root) until it is
/// not a link, so writing through a link writes the file it names.
pub fn open_entry(located: &Located<'_>, create: bool, follow: bool) -> io::Result<Entry> {
    let mut rel = located.rel.clone();
    for _ in 0..=MAX_LINKS {
        let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the root itself has no parent",
            ));
        };
        let name = name.to_owned();
        let parent_loc = Located {
            root: located.root,
            rel: parent.to_path_buf(),
        };
        let dir = if create {
            make_dirs(&parent_loc)?
        } else {
            parent_loc.open(OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())?
        };
        if follow
            && let Some(st) = entry_type(dir.as_fd(), &name)?
            && FileType::from_raw_mode(st.st_mode) == FileType::Symlink
        {
            let target = rustix::fs::readlinkat(&dir, name.as_os_str(), Vec::new())?;
            let target = Path::new(OsStr::from_bytes(target.as_bytes()));
            rel = if target.is_absolute() {
                normalize_lexically(target)
                    .strip_prefix(located.root.path())
                    .map(Path::to_path_buf)
                    .map_err(|_| {
                        io::Error::from_raw_os_error(rustix::io::Errno::XDEV.raw_os_error())
                    })?
            } else {
                let joined = normalize_lexically(&Path::new("/").join(parent).join(target));
                joined.strip_prefix("/").unwrap_or(&joined).to_path_buf()
            };
            if rel.as_os_str().is_empty() {
                return Err(io::Error::from_raw_os_error(
                    rustix::io::Errno::XDEV.raw_os_error(),
                ));
            }
            continue;
        }
        return Ok(Entry { dir, name, rel });
    }
    Err(rustix::io::Errno::LOOP.into())
}

/// Opens the directory `located`, making it and its missing parents first.
pub fn make_dirs(located: &Located<'_>) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY;
    match located.open(flags, Mode::empty()) {
        Ok(fd) => return Ok(fd),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut cur = rustix::fs::openat(
        located.root.fd(),
        ".",
        flags | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut walked = PathBuf::new();
    for comp in located.rel.components() {
        walked.push(comp);
        let step = Located {
            root: located.root,
            rel: walked.clone(),
        };
        match step.open(flags, Mode::empty()) {
            Ok(fd) => cur = fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                match rustix::fs::mkdirat(&cur, comp.as_os_str(), Mode::from_raw_mode(NEW_DIR_MODE))
                {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(e.into()),
                }
                cur = rustix::fs::openat(
                    &cur,
                    comp.as_os_str(),
                    flags | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(cur)
}

/// Replaces (or creates) `name` in `dir` with `bytes`: a temp file in the same
/// directory, fsync, rename over the name, fsync of the directory. An existing
/// file keeps its mode (`mode` overrides it). With `no_clobber`, fails with
/// `AlreadyExists` instead of replacing. On any error the temp file is removed.
pub fn write_atomic_at(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    bytes: &[u8],
    no_clobber: bool,
    mode: Option<u32>,
) -> io::Result<()> {
    replace_at(dir, name, bytes, no_clobber, mode, true)
}

/// As [`write_atomic_at`] without either fsync: readers still see the old bytes
/// or the new ones, never a mix, but a power loss may lose the update. For the
/// server's ephemeral state (the activity record), rewritten often and stale
/// after a restart anyway, where two fsyncs per write cost more than they buy.
pub fn replace_ephemeral_at(dir: BorrowedFd<'_>, name: &OsStr, bytes: &[u8]) -> io::Result<()> {
    replace_at(dir, name, bytes, false, None, false)
}

fn replace_at(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    bytes: &[u8],
    no_clobber: bool,
    mode: Option<u32>,
    durable: bool,
) -> io::Result<()> {
    let existing = entry_type(dir, name);
    if no_clobber && matches!(existing, Ok(Some(_))) {
        // Known to fail: skip the temp file and its fsync (this runs at every start
        // for `.agent/.gitignore`).
        return Err(io::Error::from(io::ErrorKind::AlreadyExists));
    }
    let mode = mode.unwrap_or_else(|| match existing {
        Ok(Some(st)) if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile => {
            st.st_mode & 0o7777
        }
        _ => NEW_FILE_MODE,
    });
    let (tmp_name, fd) = create_temp(dir)?;
    let result = (|| {
        let mut file = File::from(fd);
        file.write_all(bytes)?;
        rustix::fs::fchmod(&file, Mode::from_raw_mode(mode))?;
        if durable {
            file.sync_all()?;
        }
        let flags = if no_clobber {
            RenameFlags::NOREPLACE
        } else {
            RenameFlags::empty()
        };
        rustix::fs::renameat_with(dir, tmp_name.as_os_str(), dir, name, flags)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = rustix::fs::unlinkat(dir, tmp_name.as_os_str(), AtFlags::empty());
        return result;
    }
    if durable {
        let _ = rustix::fs::fsync(dir);
    }
    Ok(())
}

fn create_temp(dir: BorrowedFd<'_>) -> io::Result<(OsString, OwnedFd)> {
    for _ in 0..16 {
        let name: OsString = format!("{TEMP_PREFIX}{:016x}", rand::random::<u64>()).into();
        match rustix::fs::openat(
            dir,
            name.as_os_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        ) {
            Ok(fd) => return Ok((name, fd)),
            Err(rustix::io::Errno::EXIST) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(io::Error::other("cannot create a temp file"))
}

/// Removes `name` from `dir`: a file or link with `unlinkat`, a directory with
/// `AT_REMOVEDIR` (its contents first when `recursive`, each through the fd of
/// the directory that holds it, never following a link).
pub fn remove_entry(dir: BorrowedFd<'_>, name: &OsStr, recursive: bool) -> io::Result<()> {
    let st = entry_type(dir, name)?.ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return Ok(rustix::fs::unlinkat(dir, name, AtFlags::empty())?);
    }
    if recursive {
        let sub = rustix::fs::openat(
            dir,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        remove_contents(sub.as_fd(), 0)?;
    }
    Ok(rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)?)
}

fn remove_contents(dir: BorrowedFd<'_>, depth: usize) -> io::Result<()> {
    if depth > 256 {
        return Err(io::Error::other("directory tree is too deep to delete"));
    }
    for name in read_names(dir)? {
        let st = match entry_type(dir, &name)? {
            Some(st) => st,
            None => continue,
        };
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            let sub = rustix::fs::openat(
                dir,
                name.as_os_str(),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            remove_contents(sub.as_fd(), depth + 1)?;
            rustix::fs::unlinkat(dir, name.as_os_str(), AtFlags::REMOVEDIR)?;
        } else {
            rustix::fs::unlinkat(dir, name.as_os_str(), AtFlags::empty())?;
        }
    }
    Ok(())
}

/// The names and types in a directory (without `.` and `..`), read through its fd;
/// a type the directory entry does not carry is asked of `fstatat` without
/// following a link.
pub fn read_entries(dir: BorrowedFd<'_>) -> io::Result<Vec<(OsString, FileType)>> {
    let mut out = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let name = OsStr::from_bytes(name).to_owned();
        let mut kind = entry.file_type();
        if kind == FileType::Unknown
            && let Ok(st) = rustix::fs::statat(dir, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW)
        {
            kind = FileType::from_raw_mode(st.st_mode);
        }
        out.push((name, kind));
    }
    Ok(out)
}

/// The names in a directory (without `.` and `..`), read through its fd.
pub fn read_names(dir: BorrowedFd<'_>) -> io::Result<Vec<OsString>> {
    Ok(read_entries(dir)?.into_iter().map(|(n, _)| n).collect())
}

/// Removes this server's temp files older than `max_age` beneath `dir`,
/// visiting at most `budget` entries (interrupted writes leave nothing for long).
pub fn sweep_temp_files(dir: BorrowedFd<'_>, max_age: Duration, budget: &mut usize, depth: usize) {
    if depth > 64 {
        return;
    }
    let Ok(names) = read_names(dir) else { return };
    for name in names {
        if *budget == 0 {
            return;
        }
        *budget -= 1;
        let Ok(Some(st)) = entry_type(dir, &name) else {
            continue;
        };
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory if name != ".git" => {
                if let Ok(sub) = rustix::fs::openat(
                    dir,
                    name.as_os_str(),
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                ) {
                    sweep_temp_files(sub.as_fd(), max_age, budget, depth + 1);
                }
            }
            FileType::RegularFile if name.as_bytes().starts_with(TEMP_PREFIX.as_bytes()) => {
                let modified = SystemTime::UNIX_EPOCH
                    + Duration::from_secs(u64::try_from(st.st_mtime).unwrap_or(0));
                if modified.elapsed().is_ok_and(|age| age > max_age) {
                    let _ = rustix::fs::unlinkat(dir, name.as_os_str(), AtFlags::empty());
                }
            }
            _ => {}
        }
    }
}

/// Serialises mutations of one path: a fixed set of stripes keyed by the
/// parent directory's inode and the final name, so two calls naming the same
/// file by different paths still take the same stripe.
#[derive(Debug)]
pub struct PathLocks {
    stripes: Vec<Mutex<()>>,
}

impl Default for PathLocks {
    fn default() -> Self {
        Self {
            stripes: (0..64).map(|_| Mutex::new(())).collect(),
        }
    }
}

impl PathLocks {
    fn stripe(&self, dir: BorrowedFd<'_>, name: &OsStr) -> usize {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        if let Ok(st) = rustix::fs::fstat(dir) {
            st.st_dev.hash(&mut h);
            st.st_ino.hash(&mut h);
        }
        name.hash(&mut h);
        (h.finish() % self.stripes.len() as u64) as usize
    }

    fn take(&self, i: usize) -> MutexGuard<'_, ()> {
        self.stripes[i]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Locks the stripe of `name` in `dir` until the guard drops.
    pub fn lock(&self, dir: BorrowedFd<'_>, name: &OsStr) -> MutexGuard<'_, ()> {
        self.take(self.stripe(dir, name))
    }

    /// Locks two entries' stripes (in a fixed order, so two movers never deadlock).
    pub fn lock_pair(
        &self,
        a: (BorrowedFd<'_>, &OsStr),
        b: (BorrowedFd<'_>, &OsStr),
    ) -> (MutexGuard<'_, ()>, Option<MutexGuard<'_, ()>>) {
        let (i, j) = (self.stripe(a.0, a.1), self.stripe(b.0, b.1));
        match i.cmp(&j) {
            std::cmp::Ordering::Equal => (self.take(i), None),
            std::cmp::Ordering::Less => {
                let first = self.take(i);
                (first, Some(self.take(j)))
            }
            std::cmp::Ordering::Greater => {
                let first = self.take(j);
                (first, Some(self.take(i)))
            }
        }
    }
}
