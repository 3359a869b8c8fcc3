//! Read tools: `read_file`, `read_multiple_files`, `stat_path`, `list_allowed_roots`.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::UNIX_EPOCH;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{ToolContext, ToolError, ToolResult, exclusive_groups, json_result, text_result};
use crate::paths::PathError;

/// Default cap for a whole-file read, as in Ralph.
pub const DEFAULT_MAX_BYTES: u64 = 5_000_000;
const MAX_LINE_RANGE: usize = 100_000;

fn default_max_bytes() -> u64 {
    DEFAULT_MAX_BYTES
}

/// Arguments of `read_file`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReadFileArgs {
    /// File path, relative to the workspace root or absolute inside an allowed root.
    pub path: String,
    /// 1-based first line to return (inclusive). Exclusive with offset/limit and head/tail.
    pub line_start: Option<u64>,
    /// 1-based last line to return (inclusive).
    pub line_end: Option<u64>,
    /// 0-based byte offset to start reading from. Exclusive with line ranges and head/tail.
    pub offset: Option<u64>,
    /// Maximum number of bytes to read from offset.
    pub limit: Option<u64>,
    /// Return only the first N lines.
    pub head: Option<u64>,
    /// Return only the last N lines.
    pub tail: Option<u64>,
    /// Maximum bytes for a whole-file read before truncating (default 5000000).
    #[serde(default = "default_max_bytes")]
    #[schemars(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// Fail closed when the file's SHA-256 (hex) is not this value.
    pub expected_content_hash: Option<String>,
    /// Include the content hash and size in a JSON response.
    #[serde(default)]
    pub return_metadata: bool,
}

/// `read_file`.
pub fn read_file(ctx: &ToolContext, args: ReadFileArgs) -> ToolResult {
    let path = resolve_file(ctx, &args.path)?;
    let by_lines = args.line_start.is_some() || args.line_end.is_some();
    let by_bytes = args.offset.is_some() || args.limit.is_some();
    let by_ends = args.head.is_some() || args.tail.is_some();
    exclusive_groups(
        "read_file",
        &[
            ("line_start/line_end", by_lines),
            ("offset/limit", by_bytes),
            ("head/tail", by_ends),
        ],
    )?;
    if args.head.is_some() && args.tail.is_some() {
        return Err(ToolError::InvalidArgs {
            tool: "read_file".into(),
            message: "head and tail are mutually exclusive; use only one of them".into(),
        });
    }
    if let Some(expected) = &args.expected_content_hash {
        check_hash(&path, expected, &args.path)?;
    }
    if by_lines {
        let start = args.line_start.unwrap_or(1).max(1);
        let end = args.line_end.unwrap_or(u64::MAX);
        if end < start {
            return Err(ToolError::InvalidArgs {
                tool: "read_file".into(),
                message: format!("field `line_end` ({end}) is before `line_start` ({start})"),
            });
        }
        return read_line_range(&path, &args.path, start, end);
    }
    if by_bytes {
        return read_byte_range(&path, &args.path, args.offset.unwrap_or(0), args.limit);
    }
    if let Some(n) = args.head {
        return read_line_range(&path, &args.path, 1, n);
    }
    if let Some(n) = args.tail {
        return read_tail(&path, &args.path, n);
    }
    read_whole(&path, &args.path, args.max_bytes, args.return_metadata)
}

/// Resolves a path that must be an existing regular file.
pub fn resolve_file(ctx: &ToolContext, raw: &str) -> Result<std::path::PathBuf, ToolError> {
    let path = ctx.roots.resolve_existing(raw)?;
    let meta = std::fs::metadata(&path).map_err(|e| io_error(raw, e))?;
    if meta.is_dir() {
        return Err(ToolError::failed(format!(
            "`{raw}` is a directory, not a file; use list_directory to see its entries"
        )));
    }
    Ok(path)
}

/// Phrases an I/O error for the agent.
pub fn io_error(raw: &str, err: std::io::Error) -> ToolError {
    match err.kind() {
        std::io::ErrorKind::NotFound => ToolError::Path(PathError::NotFound(raw.into())),
        std::io::ErrorKind::PermissionDenied => {
            ToolError::failed(format!("permission denied for `{raw}`"))
        }
        _ => ToolError::failed(format!("cannot access `{raw}`: {err}")),
    }
}

/// SHA-256 of a file, hex.
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

/// Fails closed when the file's hash differs from `expected`.
pub fn check_hash(path: &Path, expected: &str, raw: &str) -> Result<(), ToolError> {
    let actual = file_sha256(path).map_err(|e| io_error(raw, e))?;
    let expected_norm = expected
        .trim()
        .trim_start_matches("sha256:")
        .to_ascii_lowercase();
    if actual != expected_norm {
        return Err(ToolError::failed(format!(
            "`{raw}` has changed: expected_content_hash {expected} does not match the current SHA-256 {actual}; read the file again before relying on it"
        )));
    }
    Ok(())
}

fn utf8_or_error(bytes: Vec<u8>, raw: &str) -> Result<String, ToolError> {
    String::from_utf8(bytes).map_err(|e| {
        ToolError::failed(format!(
            "`{raw}` is not valid UTF-8 text (invalid byte at offset {}); read it with offset/limit around the text you need, or with read_media for binary content",
            e.utf8_error().valid_up_to()
        ))
    })
}

fn read_whole(path: &Path, raw: &str, max_bytes: u64, metadata: bool) -> ToolResult {
    let file = File::open(path).map_err(|e| io_error(raw, e))?;
    let total = file.metadata().map_err(|e| io_error(raw, e))?.len();
    let mut buf = Vec::with_capacity(total.min(max_bytes) as usize);
    file.take(max_bytes)
        .read_to_end(&mut buf)
        .map_err(|e| io_error(raw, e))?;
    let truncated = total > buf.len() as u64;
    let text = if truncated {
        // Cut at a character boundary so the returned prefix is valid text.
        match String::from_utf8(buf) {
            Ok(s) => s,
            Err(e) => {
                let valid = e.utf8_error().valid_up_to();
                if e.utf8_error().error_len().is_some() {
                    return Err(utf8_or_error(e.into_bytes(), raw).unwrap_err());
                }
                let mut bytes = e.into_bytes();
                bytes.truncate(valid);
                String::from_utf8(bytes).unwrap_or_default()
            }
        }
    } else {
        utf8_or_error(buf, raw)?
    };
    if truncated || metadata {
        let mut out = json!({
            "path": raw,
            "content": text,
            "total_bytes": total,
            "returned_bytes": text.len(),
            "truncated": truncated,
        });
        if truncated {
            out["note"] = json!(format!(
                "file is {total} bytes; returned the first {} (max_bytes={max_bytes}); use offset/limit or line_start/line_end for the rest",
                text.len()
            ));
        }
        if metadata {
            out["sha256"] = json!(file_sha256(path).map_err(|e| io_error(raw, e))?);
        }
        return Ok(json_result(out));
    }
    Ok(text_result(text))
}

fn read_line_range(path: &Path, raw: &str, start: u64, end: u64) -> ToolResult {
    let file = File::open(path).map_err(|e| io_error(raw, e))?;
    let reader = BufReader::new(file);
    let mut lines = Vec::new();
    let mut total: u64 = 0;
    let mut truncated = false;
    for line in reader.split(b'\n') {
        let line = line.map_err(|e| io_error(raw, e))?;
        total += 1;
        if total >= start && total <= end {
            if lines.len() >= MAX_LINE_RANGE {
                truncated = true;
                continue;
            }
            let mut line = line;
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            lines.push(utf8_or_error(line, raw)?);
        }
    }
    let returned = lines.len();
    Ok(json_result(json!({
        "path": raw,
        "content": lines.join("\n"),
        "line_start": start,
        "line_end": if returned == 0 { start } else { start + returned as u64 - 1 },
        "total_lines": total,
        "returned_lines": returned,
        "truncated": truncated || (end < total),
    })))
}

fn read_tail(path: &Path, raw: &str, n: u64) -> ToolResult {
    let file = File::open(path).map_err(|e| io_error(raw, e))?;
    let mut ring: std::collections::VecDeque<Vec<u8>> = std::collections::VecDeque::new();
    let mut total: u64 = 0;
    let keep = n.min(MAX_LINE_RANGE as u64) as usize;
    for line in BufReader::new(file).split(b'\n') {
        let mut line = line.map_err(|e| io_error(raw, e))?;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        total += 1;
        if keep == 0 {
            continue;
        }
        if ring.len() == keep {
            ring.pop_front();
        }
        ring.push_back(line);
    }
    let returned = ring.len();
    let lines = ring
        .into_iter()
        .map(|l| utf8_or_error(l, raw))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json_result(json!({
        "path": raw,
        "content": lines.join("\n"),
        "total_lines": total,
        "returned_lines": returned,
        "truncated": (returned as u64) < total,
    })))
}

fn read_byte_range(path: &Path, raw: &str, offset: u64, limit: Option<u64>) -> ToolResult {
    let mut file = File::open(path).map_err(|e| io_error(raw, e))?;
    let total = file.metadata().map_err(|e| io_error(raw, e))?.len();
    let limit = limit.unwrap_or(DEFAULT_MAX_BYTES).min(DEFAULT_MAX_BYTES);
    file.seek(SeekFrom::Start(offset.min(total)))
        .map_err(|e| io_error(raw, e))?;
    let mut buf = Vec::new();
    file.take(limit)
        .read_to_end(&mut buf)
        .map_err(|e| io_error(raw, e))?;
    let returned = buf.len();
    let content = match String::from_utf8(buf) {
        Ok(s) => s,
        Err(e) => {
            // A range may cut a multi-byte character at either end; report that
            // plainly instead of substituting replacement characters.
            return Err(ToolError::failed(format!(
                "bytes {offset}..{} of `{raw}` are not valid UTF-8 (invalid at range offset {}); move offset/limit to character boundaries",
                offset + returned as u64,
                e.utf8_error().valid_up_to()
            )));
        }
    };
    Ok(json_result(json!({
        "path": raw,
        "content": content,
        "offset": offset,
        "total_bytes": total,
        "returned_bytes": returned,
        "truncated": offset + (returned as u64) < total,
    })))
}

/// One selector of `read_multiple_files` `items`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReadItem {
    /// File path.
    pub path: String,
    /// 1-based first line.
    pub line_start: Option<u64>,
    /// 1-based last line.
    pub line_end: Option<u64>,
}

/// Arguments of `read_multiple_files`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReadMultipleArgs {
    /// File paths to read.
    pub paths: Option<Vec<String>>,
    /// Read selectors: `{"path": ...}` optionally with `line_start`/`line_end`.
    pub items: Option<Vec<ReadItem>>,
    /// Cap each returned item to this many bytes (0 = the 5000000 default cap).
    #[serde(default)]
    pub per_item_max_bytes: u64,
}

const MAX_BATCH: usize = 256;

/// `read_multiple_files`: per-file success or failure, never failing the batch.
pub fn read_multiple_files(ctx: &ToolContext, args: ReadMultipleArgs) -> ToolResult {
    let items: Vec<ReadItem> = match (args.paths, args.items) {
        (Some(_), Some(_)) => {
            return Err(ToolError::InvalidArgs {
                tool: "read_multiple_files".into(),
                message: "pass either `paths` or `items`, not both".into(),
            });
        }
        (Some(paths), None) => paths
            .into_iter()
            .map(|path| ReadItem {
                path,
                line_start: None,
                line_end: None,
            })
            .collect(),
        (None, Some(items)) => items,
        (None, None) => {
            return Err(ToolError::InvalidArgs {
                tool: "read_multiple_files".into(),
                message: "missing field `paths` (a list of file paths)".into(),
            });
        }
    };
    if items.len() > MAX_BATCH {
        return Err(ToolError::InvalidArgs {
            tool: "read_multiple_files".into(),
            message: format!("at most {MAX_BATCH} files per call; got {}", items.len()),
        });
    }
    let cap = if args.per_item_max_bytes == 0 {
        DEFAULT_MAX_BYTES
    } else {
        args.per_item_max_bytes
    };
    let mut files = Vec::with_capacity(items.len());
    let mut failed = 0;
    for item in items {
        let one = ReadFileArgs {
            path: item.path.clone(),
            line_start: item.line_start,
            line_end: item.line_end,
            offset: None,
            limit: None,
            head: None,
            tail: None,
            max_bytes: cap,
            expected_content_hash: None,
            return_metadata: false,
        };
        match read_file(ctx, one) {
            Ok(res) => {
                let content = match res.structured_content {
                    Some(v) => v.get("content").cloned().unwrap_or(Value::Null),
                    None => json!(first_text(&res)),
                };
                files.push(json!({"path": item.path, "ok": true, "content": content}));
            }
            Err(err) => {
                failed += 1;
                files.push(json!({"path": item.path, "ok": false, "error": err.to_string()}));
            }
        }
    }
    Ok(json_result(json!({"files": files, "failed": failed})))
}

fn first_text(res: &rmcp::model::CallToolResult) -> String {
    res.content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone())
        .unwrap_or_default()
}

/// Arguments of `stat_path`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct StatArgs {
    /// Path to describe.
    pub path: String,
}

/// `stat_path`: type, size, times and mode. A path that does not exist is
/// reported as `missing`, not as an error.
pub fn stat_path(ctx: &ToolContext, args: StatArgs) -> ToolResult {
    let path = ctx.roots.resolve(&args.path)?;
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(json_result(json!({"path": args.path, "type": "missing"})));
        }
        Err(e) => return Err(io_error(&args.path, e)),
    };
    let kind = if meta.is_dir() {
        "dir"
    } else if meta.is_file() {
        "file"
    } else {
        "other"
    };
    let secs = |t: std::io::Result<std::time::SystemTime>| {
        t.ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64())
    };
    Ok(json_result(json!({
        "path": args.path,
        "resolved": ctx.roots.display(&path),
        "type": kind,
        "size_bytes": meta.len(),
        "created_unix": secs(meta.created()),
        "modified_unix": secs(meta.modified()),
        "mode": format!("{:o}", meta.permissions().mode() & 0o7777),
        "nlink": meta.nlink(),
    })))
}

/// Arguments of `list_allowed_roots` (none).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct NoArgs {}

/// `list_allowed_roots`.
pub fn list_allowed_roots(ctx: &ToolContext, _args: NoArgs) -> ToolResult {
    let roots: Vec<String> = ctx
        .roots
        .roots()
        .iter()
        .map(|r| r.to_string_lossy().into_owned())
        .collect();
    Ok(json_result(json!({
        "workspace": ctx.roots.workspace().to_string_lossy(),
        "allowed_roots": roots,
    })))
}
