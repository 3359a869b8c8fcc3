//! Atomic file replacement: write a temp file in the target's directory, fsync
//! it, then rename it over the target. Readers see the old or the new file,
//! never a torn one; on any error the temp file is removed.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Mode for new files (before the umask of nothing: we set it explicitly).
const NEW_FILE_MODE: u32 = 0o644;

/// Replaces (or creates) `target` with `bytes`. An existing file keeps its mode.
/// With `no_clobber`, fails with `AlreadyExists` instead of replacing.
pub fn write_atomic(target: &Path, bytes: &[u8], no_clobber: bool) -> std::io::Result<()> {
    let dir = target
        .parent()
        .ok_or_else(|| std::io::Error::other("target has no parent directory"))?;
    let mode = std::fs::metadata(target)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(NEW_FILE_MODE);
    let mut tmp = tempfile::Builder::new()
        .prefix(".ralph-mcp-tmp-")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))?;
    tmp.as_file().sync_all()?;
    if no_clobber {
        tmp.persist_noclobber(target).map_err(|e| e.error)?;
    } else {
        tmp.persist(target).map_err(|e| e.error)?;
    }
    // Make the rename itself durable.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_keeps_mode_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.sh");
        std::fs::write(&f, "old").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
        write_atomic(&f, b"new", false).unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "new");
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o755
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn no_clobber_refuses_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.txt");
        std::fs::write(&f, "keep").unwrap();
        let err = write_atomic(&f, b"new", true).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "keep");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn missing_directory_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        assert!(write_atomic(&dir.path().join("no/such/f"), b"x", false).is_err());
    }
}
