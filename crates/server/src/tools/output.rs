//! Output schemas of the built-in tools whose successful result is always one
//! JSON object. Those replies also carry it as `structuredContent` (beside the
//! text block older clients read), so clients can use it without parsing text;
//! `call.rs` writes the text verbatim in both places.
//! Tools whose result is sometimes plain text (`read_file`, listings, git, exec)
//! declare none.

use std::sync::{Arc, LazyLock};

use rmcp::model::JsonObject;
use serde_json::{Value, json};

fn object(v: Value) -> Arc<JsonObject> {
    match v {
        Value::Object(o) => Arc::new(o),
        _ => Arc::new(JsonObject::new()),
    }
}

static SCHEMAS: LazyLock<Vec<(&'static str, Arc<JsonObject>)>> = LazyLock::new(|| {
    let string = json!({"type": "string"});
    let strings = json!({"type": "array", "items": {"type": "string"}});
    let integer = json!({"type": "integer", "minimum": 0});
    let boolean = json!({"type": "boolean"});
    let seconds = json!({"type": ["number", "null"]});
    vec![
        (
            "stat_path",
            object(json!({
                "type": "object",
                "properties": {
                    "path": string, "resolved": string,
                    "type": {"type": "string", "enum": ["file", "dir", "other", "missing"]},
                    "size_bytes": integer, "created_unix": seconds, "modified_unix": seconds,
                    "mode": string, "nlink": integer,
                },
                "required": ["path", "type"],
            })),
        ),
        (
            "list_allowed_roots",
            object(json!({
                "type": "object",
                "properties": {"workspace": string, "allowed_roots": strings},
                "required": ["workspace", "allowed_roots"],
            })),
        ),
        (
            "read_multiple_files",
            object(json!({
                "type": "object",
                "properties": {
                    "files": {"type": "array", "items": {
                        "type": "object",
                        "properties": {"path": string, "ok": boolean, "content": string, "error": string},
                        "required": ["path", "ok"],
                    }},
                    "failed": integer,
                },
                "required": ["files", "failed"],
            })),
        ),
        (
            "directory_tree",
            object(json!({
                "type": "object",
                "properties": {"path": string, "tree": {"type": "array"}, "truncated": boolean},
                "required": ["path", "tree", "truncated"],
            })),
        ),
        (
            "search_files",
            object(json!({
                "type": "object",
                "properties": {
                    "pattern": string, "path": string, "matches": strings,
                    "count": integer, "truncated": boolean,
                },
                "required": ["pattern", "path", "matches", "count", "truncated"],
            })),
        ),
        (
            "grep_files",
            object(json!({
                "type": "object",
                "properties": {
                    "pattern": string, "path": string, "count": integer,
                    "files_searched": integer, "truncated": boolean,
                    "matches": {"type": "array", "items": {
                        "type": "object",
                        "properties": {
                            "path": string, "line": integer, "text": string,
                            "before": strings, "after": strings,
                        },
                        "required": ["path", "line", "text"],
                    }},
                },
                "required": ["pattern", "path", "count", "matches", "truncated"],
            })),
        ),
        (
            "edit_file",
            object(json!({
                "type": "object",
                "properties": {
                    "path": string,
                    "status": {"type": "string", "enum": ["applied", "dry_run"]},
                    "edits_applied": integer, "changed": boolean,
                    "line_endings": {"type": "string", "enum": ["lf", "crlf"]},
                    "diff": string,
                },
                "required": ["path", "status", "edits_applied", "changed", "diff"],
            })),
        ),
    ]
});

/// The output schema of built-in tool `name`, if its result is always a JSON object.
pub fn schema_of(name: &str) -> Option<Arc<JsonObject>> {
    SCHEMAS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| s.clone())
}

/// True when built-in tool `name` declares an output schema: its successful
/// reply carries its JSON text as `structuredContent` too.
pub fn is_structured(name: &str) -> bool {
    schema_of(name).is_some()
}
