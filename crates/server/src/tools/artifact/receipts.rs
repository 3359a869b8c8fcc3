//! Submission receipts, where Ralph 0.9.30 looks for them
//! (`completion_receipts.py`, `state_db.py`): one row per (run, artifact type)
//! in the WAL-mode SQLite database `.agent/state.db`, carrying
//! HMAC-SHA256(broker secret, "<run id>\n<type>") when the session has a broker
//! secret; when the database cannot be written, the legacy file
//! `.agent/receipts/<run id>/<type>.json` instead. A receipt is written only
//! after the artifact itself is on disk.

use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, params};

use crate::confine::AgentDir;

/// The database's schema version (Ralph's `_SCHEMA_VERSION`).
const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS receipts (
    run_id        TEXT NOT NULL,
    artifact_type TEXT NOT NULL,
    hmac          TEXT,
    normalization_audit TEXT,
    created_at    REAL NOT NULL DEFAULT (unixepoch('subsec')),
    PRIMARY KEY (run_id, artifact_type)
);
CREATE TABLE IF NOT EXISTS completion_sentinels (
    run_id     TEXT PRIMARY KEY,
    hmac       TEXT,
    created_at REAL NOT NULL DEFAULT (unixepoch('subsec'))
);
";

/// The receipt HMAC.
pub fn receipt_hmac(secret: &str, run_id: &str, kind: &str) -> String {
    crate::ralph::sentinel_hmac(secret, &format!("{run_id}\n{kind}"))
}

/// Opens `.agent/state.db`, creating and migrating it like Ralph does.
///
/// SQLite opens by path (it resolves `/proc/self/fd/N/state.db` to the
/// directory's real path), so the `.agent` directory is first opened without
/// following links, and the path SQLite resolved must be that directory's
/// `state.db`, a regular file: a `.agent` or `state.db` swapped for a link is
/// refused before anything is written (the receipt then goes to the legacy file,
/// written through the directory fd).
fn open(agent: &AgentDir) -> Result<Connection, String> {
    let dir = agent.dir("", true).map_err(|e| e.to_string())?;
    let path = format!("/proc/self/fd/{}/state.db", dir.as_raw_fd());
    if let Ok(st) = rustix::fs::statat(&dir, "state.db", rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
        && rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile
    {
        return Err(".agent/state.db is not a regular file".into());
    }
    let expected = std::fs::read_link(format!("/proc/self/fd/{}", dir.as_raw_fd()))
        .map_err(|e| e.to_string())?
        .join("state.db");
    let conn = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| e.to_string())?;
    if conn.path().map(std::path::Path::new) != Some(expected.as_path()) {
        return Err(format!(
            "refusing .agent/state.db: it resolves to {:?}, not {}",
            conn.path(),
            expected.display()
        ));
    }
    let setup = || -> rusqlite::Result<()> {
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version < 1 {
            conn.execute_batch(SCHEMA)?;
        }
        if version < SCHEMA_VERSION {
            let has_audit = conn
                .prepare("PRAGMA table_info(receipts)")?
                .query_map([], |r| r.get::<_, String>(1))?
                .filter_map(Result::ok)
                .any(|c| c == "normalization_audit");
            if !has_audit {
                conn.execute_batch("ALTER TABLE receipts ADD COLUMN normalization_audit TEXT")?;
            }
            conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        }
        Ok(())
    };
    setup().map_err(|e| e.to_string())?;
    drop(dir);
    Ok(conn)
}

/// Records a declared completion where Ralph looks first: a row in
/// `completion_sentinels` (Ralph 0.9.30, `tools/coordination.py`
/// `_write_completion_sentinel`), replacing one a re-invocation had cleared.
pub fn write_completion(agent: &AgentDir, run_id: &str, hmac: Option<&str>) -> Result<(), String> {
    let conn = open(agent)?;
    conn.execute(
        "INSERT INTO completion_sentinels (run_id, hmac) VALUES (?1, ?2) \
         ON CONFLICT(run_id) DO UPDATE SET hmac=excluded.hmac, created_at=unixepoch('subsec')",
        params![run_id, hmac],
    )
    .map(|_| ())
    .map_err(|e| e.to_string())
}

/// Where a receipt landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// In `.agent/state.db`.
    Database,
    /// In `.agent/receipts/<run id>/<type>.json`.
    LegacyFile,
}

/// Records that `kind` was submitted in `run_id`.
pub fn write(
    agent: &AgentDir,
    run_id: &str,
    kind: &str,
    secret: Option<&str>,
) -> io::Result<Stored> {
    let hmac = secret.map(|s| receipt_hmac(s, run_id, kind));
    let db = open(agent).and_then(|conn| {
        conn.execute(
            "INSERT INTO receipts (run_id, artifact_type, hmac, normalization_audit) \
             VALUES (?1, ?2, ?3, NULL) ON CONFLICT(run_id, artifact_type) DO UPDATE SET \
             hmac=excluded.hmac, normalization_audit=excluded.normalization_audit, \
             created_at=unixepoch('subsec')",
            params![run_id, kind, hmac],
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
    });
    match db {
        Ok(()) => Ok(Stored::Database),
        Err(db_error) => {
            tracing::warn!(
                "receipt for {kind} not written to .agent/state.db ({db_error}); writing .agent/receipts/ instead"
            );
            let mut payload = serde_json::json!({"run_id": run_id, "artifact_type": kind});
            if let Some(h) = hmac {
                payload["hmac"] = h.into();
            }
            agent
                .write_atomic(&legacy_dir(run_id), &format!("{kind}.json"), payload.to_string().as_bytes())
                .map_err(|e| io::Error::other(format!("the receipt could not be stored: .agent/state.db: {db_error}; .agent/receipts/: {e}")))?;
            Ok(Stored::LegacyFile)
        }
    }
}

fn legacy_dir(run_id: &str) -> String {
    format!("receipts/{}", crate::tools::coord::file_key(run_id))
}

#[cfg(test)]
/// True when a receipt for (run, type) is stored and, with a secret, verifies.
pub fn present(agent: &AgentDir, run_id: &str, kind: &str, secret: Option<&str>) -> bool {
    let stored: Option<Option<String>> = open(agent).ok().and_then(|conn| {
        conn.query_row(
            "SELECT hmac FROM receipts WHERE run_id = ?1 AND artifact_type = ?2",
            params![run_id, kind],
            |r| r.get(0),
        )
        .ok()
    });
    let stored = stored.or_else(|| {
        let text = agent
            .read(&legacy_dir(run_id), &format!("{kind}.json"), 1 << 16)
            .ok()?;
        let v: serde_json::Value = serde_json::from_slice(&text).ok()?;
        Some(v["hmac"].as_str().map(str::to_owned))
    });
    match (stored, secret) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(Some(h)), Some(s)) => {
            use subtle::ConstantTimeEq;
            bool::from(h.as_bytes().ct_eq(receipt_hmac(s, run_id, kind).as_bytes()))
        }
        (Some(None), Some(_)) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receipt_verifies_only_with_its_secret() {
        let ws = tempfile::tempdir().unwrap();
        let agent = AgentDir::new(&std::fs::canonicalize(ws.path()).unwrap()).unwrap();
        assert_eq!(
            write(&agent, "run-7", "plan", Some("s3")).unwrap(),
            Stored::Database
        );
        assert!(present(&agent, "run-7", "plan", Some("s3")));
        assert!(present(&agent, "run-7", "plan", None));
        assert!(!present(&agent, "run-7", "plan", Some("other")));
        assert!(!present(&agent, "run-8", "plan", Some("s3")));
        // Writing again replaces the row.
        write(&agent, "run-7", "plan", Some("s4")).unwrap();
        assert!(present(&agent, "run-7", "plan", Some("s4")));
    }

    #[test]
    fn a_linked_database_is_refused_and_the_legacy_file_used() {
        let ws = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(ws.path()).unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.join(".agent")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("stolen.db"),
            root.join(".agent/state.db"),
        )
        .unwrap();
        let agent = AgentDir::new(&root).unwrap();
        assert_eq!(
            write(&agent, "r", "plan", None).unwrap(),
            Stored::LegacyFile
        );
        assert!(!outside.path().join("stolen.db").exists());
        let text = std::fs::read_to_string(root.join(".agent/receipts/r/plan.json")).unwrap();
        assert!(text.contains("\"artifact_type\":\"plan\""), "{text}");
    }
}
