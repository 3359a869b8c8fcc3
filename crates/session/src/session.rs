//! The session payload: who the server serves and what that session may do.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::capability::CapabilitySet;
use crate::names::{SESSION_FILE_ENV, SESSION_JSON_ENV};

/// The wire form of a session (see `docs/reference.md`). Unknown keys are ignored; optional keys
/// that are absent stay absent when the payload is written back.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SessionPayload {
    /// Identifies the session; the MCP session id is derived from it.
    #[serde(default)]
    pub session_id: String,
    /// The run; completion records are keyed on it.
    #[serde(default)]
    pub run_id: String,
    /// Informational once capabilities are given (`development`, `review`, …).
    #[serde(default)]
    pub drain: String,
    /// Capability tokens; missing or invalid means nothing is allowed.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Absolute paths; when present only these are reachable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_roots: Option<Vec<PathBuf>>,
    /// Parallel-worker scoping: writes are confined to the allowed roots.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub parallel_worker: bool,
    /// A parallel worker's artifact directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_artifact_dir: Option<PathBuf>,
    /// A parallel worker's namespace directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_namespace: Option<PathBuf>,
    /// Turns off time-budget notices.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub activity_only_supervision: bool,
    /// Which model and CLI will read the results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_identity: Option<Value>,
    /// Media delivery per modality.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capability_profile: Option<Value>,
    /// Where oversized exec output may be spilled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec_spill_roots: Option<Vec<PathBuf>>,
}

/// Where a session came from; printed in the startup banner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionSource {
    /// `RALPH_MCP_SESSION_FILE`.
    File(PathBuf),
    /// `RALPH_MCP_SESSION_JSON`.
    InlineJson,
    /// Minted because neither was set: every capability.
    Standalone,
}

impl std::fmt::Display for SessionSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(p) => write!(f, "file:{}", p.display()),
            Self::InlineJson => f.write_str("env:RALPH_MCP_SESSION_JSON"),
            Self::Standalone => f.write_str("standalone"),
        }
    }
}

/// A session that could not be loaded. Each message names the source and the problem.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The session file could not be read.
    #[error("cannot read session file {path} ({SESSION_FILE_ENV}): {source}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The payload is not a JSON object of the expected shape.
    #[error(
        "malformed session in {origin}: {message}; expected a JSON object such as {{\"session_id\":\"s1\",\"run_id\":\"r1\",\"drain\":\"development\",\"capabilities\":[\"workspace.read\"]}}"
    )]
    Malformed {
        /// Which source was malformed.
        origin: String,
        /// What serde said.
        message: String,
    },
    /// An allowed root is not an absolute path.
    #[error("session allowed_roots entry {0:?} is not an absolute path")]
    RelativeRoot(PathBuf),
    /// A session variable is set to nothing.
    #[error(
        "{0} is set but empty; unset it (for a standalone session with every capability) or give it a value"
    )]
    EmptyVariable(&'static str),
}

/// A loaded session: the payload plus its parsed capabilities.
#[derive(Debug, Clone)]
pub struct Session {
    /// The payload as received.
    pub payload: SessionPayload,
    /// Parsed capabilities.
    pub capabilities: CapabilitySet,
    /// Capability tokens that named nothing known (warned about at start).
    pub unknown_capabilities: Vec<String>,
    /// Where it came from.
    pub source: SessionSource,
}

impl Session {
    /// Builds a session from a payload.
    pub fn from_payload(
        payload: SessionPayload,
        source: SessionSource,
    ) -> Result<Self, SessionError> {
        if let Some(roots) = &payload.allowed_roots
            && let Some(bad) = roots.iter().find(|r| !r.is_absolute())
        {
            return Err(SessionError::RelativeRoot(bad.clone()));
        }
        let (capabilities, unknown_capabilities) =
            CapabilitySet::parse_tokens(payload.capabilities.iter().map(String::as_str));
        Ok(Self {
            payload,
            capabilities,
            unknown_capabilities,
            source,
        })
    }

    /// Parses a session from JSON text; `origin` names the source in errors.
    pub fn from_json(text: &str, source: SessionSource) -> Result<Self, SessionError> {
        let origin = source.to_string();
        let value: Value = serde_json::from_str(text).map_err(|e| SessionError::Malformed {
            origin: origin.clone(),
            message: e.to_string(),
        })?;
        if !value.is_object() {
            return Err(SessionError::Malformed {
                origin,
                message: "the payload is not a JSON object".into(),
            });
        }
        let payload: SessionPayload =
            serde_json::from_value(value).map_err(|e| SessionError::Malformed {
                origin,
                message: e.to_string(),
            })?;
        Self::from_payload(payload, source)
    }

    /// Reads a session file.
    pub fn from_file(path: &Path) -> Result<Self, SessionError> {
        let text = std::fs::read_to_string(path).map_err(|source| SessionError::Unreadable {
            path: path.to_owned(),
            source,
        })?;
        Self::from_json(&text, SessionSource::File(path.to_owned()))
    }

    /// A standalone session with every capability, for running `serve` by hand.
    pub fn standalone(session_id: String) -> Self {
        let capabilities = CapabilitySet::all();
        let payload = SessionPayload {
            run_id: session_id.clone(),
            session_id,
            drain: "standalone".into(),
            capabilities: capabilities.to_dotted(),
            ..SessionPayload::default()
        };
        Self {
            payload,
            capabilities,
            unknown_capabilities: Vec::new(),
            source: SessionSource::Standalone,
        }
    }

    /// Loads the session the way `serve` does: `RALPH_MCP_SESSION_FILE` wins, then
    /// `RALPH_MCP_SESSION_JSON`; with neither, `Ok(None)` so the caller can mint one.
    pub fn from_env_with(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, SessionError> {
        // Set but empty is a mistake, not a request for the all-capability
        // standalone session.
        match get(SESSION_FILE_ENV) {
            Some(path) if path.trim().is_empty() => {
                return Err(SessionError::EmptyVariable(SESSION_FILE_ENV));
            }
            Some(path) => return Self::from_file(Path::new(&path)).map(Some),
            None => {}
        }
        match get(SESSION_JSON_ENV) {
            Some(json) if json.trim().is_empty() => {
                Err(SessionError::EmptyVariable(SESSION_JSON_ENV))
            }
            Some(json) => Self::from_json(&json, SessionSource::InlineJson).map(Some),
            None => Ok(None),
        }
    }

    /// True for parallel-worker sessions, whose writes must fall under the allowed roots.
    pub fn is_parallel_worker(&self) -> bool {
        self.payload.parallel_worker || self.payload.worker_artifact_dir.is_some()
    }

    /// Serialises the payload as compact JSON, the session-file format.
    pub fn to_json(&self) -> String {
        // A struct of strings, bools, paths and JSON values always serialises.
        serde_json::to_string(&self.payload).unwrap_or_else(|_| "{}".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Capability;

    #[test]
    fn unknown_keys_are_ignored_and_capabilities_parsed() {
        let s = Session::from_json(
            r#"{"session_id":"s","run_id":"r","drain":"review","capabilities":["WorkspaceRead","bogus"],"future_key":1}"#,
            SessionSource::InlineJson,
        )
        .unwrap();
        assert!(s.capabilities.contains(Capability::WorkspaceRead));
        assert_eq!(s.unknown_capabilities, vec!["bogus"]);
    }

    #[test]
    fn missing_capabilities_mean_nothing_allowed() {
        let s = Session::from_json(r#"{"session_id":"s"}"#, SessionSource::InlineJson).unwrap();
        assert!(s.capabilities.is_empty());
    }

    #[test]
    fn malformed_payload_names_the_source() {
        let err = Session::from_json("[1,2]", SessionSource::InlineJson).unwrap_err();
        assert!(err.to_string().contains("RALPH_MCP_SESSION_JSON"), "{err}");
        let err =
            Session::from_json(r#"{"capabilities":"x"}"#, SessionSource::InlineJson).unwrap_err();
        assert!(err.to_string().contains("malformed session"), "{err}");
    }

    #[test]
    fn file_wins_over_inline_json() {
        let dir = std::env::temp_dir().join(format!("ralph-session-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("s.json");
        std::fs::write(&file, r#"{"session_id":"from-file"}"#).unwrap();
        let f = file.to_string_lossy().to_string();
        let s = Session::from_env_with(|k| match k {
            SESSION_FILE_ENV => Some(f.clone()),
            SESSION_JSON_ENV => Some(r#"{"session_id":"inline"}"#.into()),
            _ => None,
        })
        .unwrap()
        .unwrap();
        assert_eq!(s.payload.session_id, "from-file");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn relative_allowed_root_is_rejected() {
        let err = Session::from_json(
            r#"{"allowed_roots":["rel/dir"]}"#,
            SessionSource::InlineJson,
        )
        .unwrap_err();
        assert!(matches!(err, SessionError::RelativeRoot(_)));
    }
}
