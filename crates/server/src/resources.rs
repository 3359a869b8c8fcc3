//! `resources/list`, `resources/templates/list` and `resources/read`: the media
//! replay handles (`ralph://media/<uuid>`) that `read_media` gave out; and the
//! (empty) `prompts/list`.

use base64::Engine;
use serde_json::{Value, json};

use crate::media_store::{StoreError, URI_PREFIX};
use crate::rpc::code;
use crate::state::AppState;

/// The one template: every replay handle.
pub const TEMPLATES: &str = r#"{"resourceTemplates":[{"uriTemplate":"ralph://media/{id}","name":"media","title":"Media replay handle","description":"Media registered by read_media or read_image that was not delivered inline; read it with resources/read."}]}"#;

/// `prompts/list`: this server has no prompts of its own.
pub const NO_PROMPTS: &str = r#"{"prompts":[]}"#;

/// Every registered artifact, oldest first.
pub fn list(state: &AppState) -> String {
    let resources: Vec<Value> = state
        .registry
        .context()
        .media
        .list()
        .into_iter()
        .map(|e| {
            json!({
                "uri": e.uri,
                "name": e.name,
                "mimeType": e.mime_type,
                "size": e.size,
                "description": format!("{} ({}), sha256 {}", e.name, e.modality, e.sha256),
            })
        })
        .collect();
    json!({ "resources": resources }).to_string()
}

/// Why `resources/read` failed: a JSON-RPC code and message, and the URI when
/// the resource was not found (sent as `data.uri`).
pub struct ReadError {
    /// The JSON-RPC code (`RESOURCE_NOT_FOUND` for a missing resource).
    pub code: i64,
    /// What is wrong.
    pub message: String,
    /// The URI that named no resource.
    pub missing_uri: Option<String>,
}

impl ReadError {
    /// `data` for the error reply.
    pub fn data(&self) -> Option<Value> {
        self.missing_uri.as_ref().map(|u| json!({ "uri": u }))
    }
}

/// The bytes behind a handle, base64 in a blob; JSON-RPC errors otherwise.
pub fn read(state: &AppState, params: &Value) -> Result<String, ReadError> {
    let uri = params
        .get("uri")
        .and_then(Value::as_str)
        .ok_or_else(|| ReadError {
            code: code::INVALID_PARAMS,
            message: "Invalid params: resources/read needs `uri`, e.g. ralph://media/<uuid>".into(),
            missing_uri: None,
        })?;
    let not_found = |message: String| ReadError {
        code: code::RESOURCE_NOT_FOUND,
        message,
        missing_uri: Some(uri.to_owned()),
    };
    if !uri.starts_with(URI_PREFIX) {
        return Err(not_found(format!(
            "Resource not found: `{uri}`; this server only serves {URI_PREFIX}<uuid>"
        )));
    }
    let (entry, bytes) = state
        .registry
        .context()
        .media
        .read(uri)
        .map_err(|e| match e {
            StoreError::BadUri(_) | StoreError::NotFound(_) => {
                not_found(format!("Resource not found: {e}"))
            }
            other => ReadError {
                code: code::INTERNAL_ERROR,
                message: other.to_string(),
                missing_uri: None,
            },
        })?;
    Ok(json!({
        "contents": [{
            "uri": entry.uri,
            "mimeType": entry.mime_type,
            "blob": base64::engine::general_purpose::STANDARD.encode(&bytes),
        }]
    })
    .to_string())
}
