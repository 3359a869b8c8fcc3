//! `resources/list`, `resources/templates/list` and `resources/read`: the media
//! replay handles (`ralph://media/<uuid>`) that `read_media` gave out.

use base64::Engine;
use serde_json::{Value, json};

use crate::media_store::{StoreError, URI_PREFIX};
use crate::rpc::code;
use crate::state::AppState;

/// The one template: every replay handle.
pub const TEMPLATES: &str = r#"{"resourceTemplates":[{"uriTemplate":"ralph://media/{id}","name":"media","title":"Media replay handle","description":"Media registered by read_media or read_image that was not delivered inline; read it with resources/read."}]}"#;

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

/// The bytes behind a handle, base64 in a blob; JSON-RPC errors otherwise.
pub fn read(state: &AppState, params: &Value) -> Result<String, (i64, String)> {
    let uri = params.get("uri").and_then(Value::as_str).ok_or_else(|| {
        (
            code::INVALID_PARAMS,
            "Invalid params: resources/read needs `uri`, e.g. ralph://media/<uuid>".to_owned(),
        )
    })?;
    if !uri.starts_with(URI_PREFIX) {
        return Err((
            code::RESOURCE_NOT_FOUND,
            format!("Resource not found: `{uri}`; this server only serves {URI_PREFIX}<uuid>"),
        ));
    }
    let (entry, bytes) = state
        .registry
        .context()
        .media
        .read(uri)
        .map_err(|e| match e {
            StoreError::BadUri(_) | StoreError::NotFound(_) => {
                (code::RESOURCE_NOT_FOUND, format!("Resource not found: {e}"))
            }
            other => (code::INTERNAL_ERROR, other.to_string()),
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
