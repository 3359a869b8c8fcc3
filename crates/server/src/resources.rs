//! `resources/list`, `resources/templates/list` and `resources/read`: the media
//! replay handles (`ralph://media/<uuid>`) that `read_media` gave out, then the
//! upstreams' resources; `prompts/list` and `prompts/get`: the upstreams'
//! prompts (this server has none of its own). Upstream resources and prompts
//! are gated like upstream tools (`upstream.tool_use`).

use base64::Engine;
use serde_json::{Value, json};

use crate::media_store::{StoreError, URI_PREFIX};
use crate::state::AppState;
use rmcp::model::ErrorCode;

/// The one template: every replay handle.
pub const TEMPLATES: &str = r#"{"resourceTemplates":[{"uriTemplate":"ralph://media/{id}","name":"media","title":"Media replay handle","description":"Media registered by read_media or read_image that was not delivered inline; read it with resources/read."}]}"#;

/// `prompts/list`: the upstreams' prompts, named like their tools.
pub fn prompts(state: &AppState) -> String {
    json!({ "prompts": state.registry.upstream_prompts() }).to_string()
}

/// Every registered media handle, oldest first, then the upstreams' resources.
pub fn list(state: &AppState) -> String {
    let mut resources: Vec<Value> = state
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
    resources.extend(
        state
            .registry
            .upstream_resources()
            .into_iter()
            .filter_map(|r| serde_json::to_value(r).ok()),
    );
    json!({ "resources": resources }).to_string()
}

/// Why `resources/read` failed: a JSON-RPC code and message, and the URI when
/// the resource was not found (sent as `data.uri`).
pub struct ReadError {
    /// The JSON-RPC code (`RESOURCE_NOT_FOUND` for a missing resource).
    pub code: ErrorCode,
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

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "{}".into())
}

/// An upstream that failed to answer, as a JSON-RPC internal error.
fn upstream_failed(e: &crate::upstream::conn::CallError) -> ReadError {
    ReadError {
        code: ErrorCode::INTERNAL_ERROR,
        message: e.to_string(),
        missing_uri: None,
    }
}

/// A media handle's bytes, or an upstream resource through its upstream.
pub async fn read_any(state: &AppState, params: &Value) -> Result<String, ReadError> {
    let uri = params.get("uri").and_then(Value::as_str).unwrap_or("");
    if uri.starts_with(URI_PREFIX) || !state.registry.upstream_visible() {
        return read(state, params);
    }
    let Some(up) = state.registry.upstreams().find_resource(uri) else {
        return read(state, params);
    };
    up.read_resource(uri)
        .await
        .map_or_else(|e| Err(upstream_failed(&e)), |r| Ok(to_json(&r)))
}

/// `prompts/get` of an upstream prompt; an unknown name is invalid params.
pub async fn get_prompt(state: &AppState, params: &Value) -> Result<String, ReadError> {
    let name = params.get("name").and_then(Value::as_str).unwrap_or("");
    let found = state
        .registry
        .upstream_visible()
        .then(|| state.registry.upstreams().find_prompt(name))
        .flatten();
    let Some((up, own)) = found else {
        let listed: Vec<String> = state
            .registry
            .upstream_prompts()
            .into_iter()
            .map(|p| p.name)
            .collect();
        return Err(ReadError {
            code: ErrorCode::INVALID_PARAMS,
            message: if listed.is_empty() {
                format!(
                    "Unknown prompt: `{name}`; this server has no prompts (prompts/list is empty)"
                )
            } else {
                format!(
                    "Unknown prompt: `{name}`; the prompts are {}",
                    listed.join(", ")
                )
            },
            missing_uri: None,
        });
    };
    let arguments = params.get("arguments").and_then(Value::as_object).cloned();
    up.get_prompt(&own, arguments)
        .await
        .map_or_else(|e| Err(upstream_failed(&e)), |r| Ok(to_json(&r)))
}

/// The bytes behind a handle, base64 in a blob; JSON-RPC errors otherwise.
pub fn read(state: &AppState, params: &Value) -> Result<String, ReadError> {
    let uri = params
        .get("uri")
        .and_then(Value::as_str)
        .ok_or_else(|| ReadError {
            code: ErrorCode::INVALID_PARAMS,
            message: "Invalid params: resources/read needs `uri`, e.g. ralph://media/<uuid>".into(),
            missing_uri: None,
        })?;
    let not_found = |message: String| ReadError {
        code: ErrorCode::RESOURCE_NOT_FOUND,
        message,
        missing_uri: Some(uri.to_owned()),
    };
    if !uri.starts_with(URI_PREFIX) {
        return Err(not_found(format!(
            "Resource not found: `{uri}`; this server serves {URI_PREFIX}<uuid> handles and the resources resources/list shows"
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
                code: ErrorCode::INTERNAL_ERROR,
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
