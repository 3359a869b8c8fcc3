//! Replay storage for media that is not delivered inline: each artifact gets a
//! `ralph://media/<uuid>` URI, its bytes in `.agent/tmp/media/<uuid>.bin` and its
//! manifest entry in `.agent/tmp/media/<uuid>.json`, all reached through the
//! workspace's [`AgentDir`] (a symlinked `.agent` or an entry that is not a
//! regular file is refused). The directory is the manifest, so a restarted
//! server still answers `resources/read` for handles it gave out before.
//! Entries and bytes are bounded; the oldest entries are evicted first.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::sync::Mutex;

use rustix::fs::AtFlags;

use crate::confine::AgentDir;
use crate::confine::ops::read_names;

/// Where replayed media lives, below `.agent/`.
const SUB: &str = ralph_mcp_session::names::agent_paths::MEDIA;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The URI scheme and prefix of replay handles.
pub const URI_PREFIX: &str = "ralph://media/";
/// Entries kept at most.
pub const MAX_ENTRIES: usize = 256;
/// Bytes kept at most, over all entries.
pub const MAX_TOTAL_BYTES: u64 = 1024 * 1024 * 1024;
/// Largest single artifact accepted.
pub const MAX_ENTRY_BYTES: u64 = 256 * 1024 * 1024;

/// One registered artifact.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MediaEntry {
    /// `ralph://media/<uuid>`.
    pub uri: String,
    /// The source file's name.
    pub name: String,
    /// Detected MIME type.
    pub mime_type: String,
    /// `image`, `pdf`, `document`, `audio` or `video`.
    pub modality: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the bytes, hex.
    pub sha256: String,
    /// Registration time, Unix milliseconds.
    pub created_unix_ms: u64,
}

/// Why a lookup or registration failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Not a `ralph://media/<uuid>` URI.
    #[error("`{0}` is not a media handle; expected ralph://media/<uuid> as returned by read_media")]
    BadUri(String),
    /// Never registered, or evicted.
    #[error(
        "media `{0}` is not available: it was never registered here or was evicted (the store keeps the newest {MAX_ENTRIES} entries); call read_media on the file again"
    )]
    NotFound(String),
    /// Too large to keep.
    #[error(
        "the file is {size} bytes, more than the {MAX_ENTRY_BYTES}-byte replay limit; use format=\"metadata\" or work with the path"
    )]
    TooLarge {
        /// Its size.
        size: u64,
    },
    /// Storage failed.
    #[error("cannot store media under {dir}: {source}")]
    Io {
        /// The store directory.
        dir: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// The replay store of one server.
#[derive(Debug)]
pub struct MediaStore {
    agent: AgentDir,
    lock: Mutex<()>,
}

/// The uuid inside a handle, validated so it can name a file.
fn id_of(uri: &str) -> Result<&str, StoreError> {
    let id = uri
        .strip_prefix(URI_PREFIX)
        .ok_or_else(|| StoreError::BadUri(uri.into()))?;
    uuid::Uuid::try_parse(id).map_err(|_| StoreError::BadUri(uri.into()))?;
    if id.len() != 36 {
        return Err(StoreError::BadUri(uri.into()));
    }
    Ok(id)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// SHA-256 (hex) and length of what `file` holds, read from offset 0.
pub fn hash_file(file: &File) -> std::io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut len = 0u64;
    loop {
        let n = file.read_at(&mut buf, len)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        len += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), len))
}

impl MediaStore {
    /// A store under the workspace's `.agent/tmp/media`.
    pub fn new(agent: AgentDir) -> Self {
        Self {
            agent,
            lock: Mutex::new(()),
        }
    }

    fn io(&self, source: std::io::Error) -> StoreError {
        StoreError::Io {
            dir: self.agent.path(SUB).display().to_string(),
            source,
        }
    }

    fn remove(&self, name: &str) {
        if let Ok(dir) = self.agent.dir(SUB, false) {
            let _ = rustix::fs::unlinkat(&dir, OsStr::new(name), AtFlags::empty());
        }
    }

    /// Copies the open file `src` (shown to the client as `name`) into the store.
    pub fn register(
        &self,
        src: &File,
        name: &str,
        mime_type: &str,
        modality: &str,
    ) -> Result<MediaEntry, StoreError> {
        let size = src.metadata().map_err(|e| self.io(e))?.len();
        if size > MAX_ENTRY_BYTES {
            return Err(StoreError::TooLarge { size });
        }
        let id = uuid::Uuid::new_v4().to_string();
        let bin = format!("{id}.bin");
        let (sha256, size) = self
            .copy_hashed(src, &bin)
            .inspect_err(|_| self.remove(&bin))?;
        let entry = MediaEntry {
            uri: format!("{URI_PREFIX}{id}"),
            name: name.to_owned(),
            mime_type: mime_type.into(),
            modality: modality.into(),
            size,
            sha256,
            created_unix_ms: now_ms(),
        };
        self.commit(&id, &entry)?;
        Ok(entry)
    }

    /// Stores bytes that came from elsewhere (an upstream's result).
    pub fn register_bytes(
        &self,
        bytes: &[u8],
        name: &str,
        mime_type: &str,
        modality: &str,
    ) -> Result<MediaEntry, StoreError> {
        let size = bytes.len() as u64;
        if size > MAX_ENTRY_BYTES {
            return Err(StoreError::TooLarge { size });
        }
        let id = uuid::Uuid::new_v4().to_string();
        self.agent
            .write_atomic(SUB, &format!("{id}.bin"), bytes)
            .map_err(|e| self.io(e))?;
        let entry = MediaEntry {
            uri: format!("{URI_PREFIX}{id}"),
            name: name.to_owned(),
            mime_type: mime_type.into(),
            modality: modality.into(),
            size,
            sha256: hex::encode(Sha256::digest(bytes)),
            created_unix_ms: now_ms(),
        };
        self.commit(&id, &entry)?;
        Ok(entry)
    }

    fn commit(&self, id: &str, entry: &MediaEntry) -> Result<(), StoreError> {
        let json = serde_json::to_vec(entry).unwrap_or_default();
        self.agent
            .write_atomic(SUB, &format!("{id}.json"), &json)
            .map_err(|e| {
                self.remove(&format!("{id}.bin"));
                self.io(e)
            })?;
        let _guard = self.lock.lock();
        self.prune();
        Ok(())
    }

    fn copy_hashed(&self, from: &File, bin: &str) -> Result<(String, u64), StoreError> {
        let mut to = self.agent.create_new(SUB, bin).map_err(|e| self.io(e))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut len = 0u64;
        loop {
            let n = from.read_at(&mut buf, len).map_err(|e| self.io(e))?;
            if n == 0 {
                break;
            }
            len += n as u64;
            if len > MAX_ENTRY_BYTES {
                return Err(StoreError::TooLarge { size: len });
            }
            hasher.update(&buf[..n]);
            to.write_all(&buf[..n]).map_err(|e| self.io(e))?;
        }
        to.sync_all().map_err(|e| self.io(e))?;
        Ok((hex::encode(hasher.finalize()), len))
    }

    /// The entry and bytes behind a handle. Only a regular file in the store
    /// is read: a forged entry whose bytes are a symlink is refused.
    pub fn read(&self, uri: &str) -> Result<(MediaEntry, Vec<u8>), StoreError> {
        let id = id_of(uri)?;
        let entry = self
            .entry(id)
            .ok_or_else(|| StoreError::NotFound(uri.into()))?;
        let bytes = self
            .agent
            .read(SUB, &format!("{id}.bin"), MAX_ENTRY_BYTES)
            .map_err(|e| self.unreadable(uri, e))?;
        Ok((entry, bytes))
    }

    fn unreadable(&self, uri: &str, e: std::io::Error) -> StoreError {
        if e.kind() == std::io::ErrorKind::NotFound {
            StoreError::NotFound(uri.into())
        } else {
            self.io(e)
        }
    }

    /// The manifest entry of a handle.
    pub fn lookup(&self, uri: &str) -> Result<MediaEntry, StoreError> {
        let id = id_of(uri)?;
        self.entry(id)
            .ok_or_else(|| StoreError::NotFound(uri.into()))
    }

    /// Opens the stored bytes of a handle (a regular file only).
    pub fn open_bytes(&self, uri: &str) -> Result<File, StoreError> {
        let id = id_of(uri)?;
        self.agent
            .open_read(SUB, &format!("{id}.bin"))
            .map_err(|e| self.unreadable(uri, e))
    }

    fn entry(&self, id: &str) -> Option<MediaEntry> {
        let raw = self
            .agent
            .read(SUB, &format!("{id}.json"), 64 * 1024)
            .ok()?;
        serde_json::from_slice(&raw).ok()
    }

    /// Every entry, oldest first.
    pub fn list(&self) -> Vec<MediaEntry> {
        let Ok(dir) = self.agent.dir(SUB, false) else {
            return Vec::new();
        };
        let Ok(names) = read_names(std::os::fd::AsFd::as_fd(&dir)) else {
            return Vec::new();
        };
        let mut entries: Vec<MediaEntry> = names
            .iter()
            .filter_map(|name| {
                let name = name.to_str()?;
                let id = name.strip_suffix(".json")?;
                uuid::Uuid::try_parse(id).ok()?;
                self.entry(id)
            })
            .collect();
        entries.sort_by(|a, b| (a.created_unix_ms, &a.uri).cmp(&(b.created_unix_ms, &b.uri)));
        entries
    }

    /// Evicts the oldest entries until both bounds hold.
    fn prune(&self) {
        let entries = self.list();
        let mut count = entries.len();
        let mut total: u64 = entries.iter().map(|e| e.size).sum();
        for e in entries {
            if count <= MAX_ENTRIES && total <= MAX_TOTAL_BYTES {
                break;
            }
            if let Ok(id) = id_of(&e.uri) {
                self.remove(&format!("{id}.json"));
                self.remove(&format!("{id}.bin"));
            }
            count -= 1;
            total = total.saturating_sub(e.size);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn register_read_and_evict_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let store = MediaStore::new(AgentDir::new(dir.path()).unwrap());
        let src = dir.path().join("a.png");
        std::fs::write(&src, b"\x89PNG bytes").unwrap();
        let src = File::open(&src).unwrap();
        let e = store.register(&src, "a.png", "image/png", "image").unwrap();
        assert!(e.uri.starts_with(URI_PREFIX));
        let (got, bytes) = store.read(&e.uri).unwrap();
        assert_eq!(bytes, b"\x89PNG bytes");
        assert_eq!(got, e);
        assert_eq!(e.sha256, hash_file(&src).unwrap().0);
        let mut last = e;
        for _ in 0..MAX_ENTRIES {
            std::thread::sleep(std::time::Duration::from_millis(1));
            last = store.register(&src, "a.png", "image/png", "image").unwrap();
        }
        let list = store.list();
        assert_eq!(list.len(), MAX_ENTRIES);
        assert_eq!(list.last().unwrap().uri, last.uri);
        assert!(matches!(store.read(&got.uri), Err(StoreError::NotFound(_))));
    }

    #[test]
    fn handles_are_strict() {
        let dir = tempfile::tempdir().unwrap();
        let store = MediaStore::new(AgentDir::new(dir.path()).unwrap());
        for bad in [
            "ralph://media/../../etc/passwd",
            "ralph://media/",
            "file:///etc/passwd",
            "ralph://media/00000000000000000000000000000000",
        ] {
            assert!(
                matches!(store.read(bad), Err(StoreError::BadUri(_))),
                "{bad}"
            );
        }
    }

    proptest! {
        #[test]
        fn only_uuid_handles_name_files(s in ".{0,60}") {
            let uri = format!("{URI_PREFIX}{s}");
            if let Ok(id) = id_of(&uri) {
                prop_assert_eq!(id.len(), 36);
                prop_assert!(id.chars().all(|c| c.is_ascii_hexdigit() || c == '-'));
            }
        }
    }
}
