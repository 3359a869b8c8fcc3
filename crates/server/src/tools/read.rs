//! Read tools: `read_file`, `read_multiple_files`, `stat_path`, `list_allowed_roots`.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::UNIX_EPOCH;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use rustix::fs::{Mode, OFlags};

pub use super::fsio::io_error;
use super::{ToolContext, ToolError, ToolResult, exclusive_groups, json_result, text_result};

/// Default cap for a whole-file read, as in Ralph.
pub const DEFAULT_MAX_BYTES: u64 = 5_000_000;
const MAX_LINE_RANGE: usize = 100_000;

fn default_max_bytes() -> u64 {
    DEFAULT_MAX_BYTES
}

/// Arguments of `read_file`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
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

/// What a read produced: plain text, or a JSON document with `content` and details.
enum ReadOut {
    Text(String),
    Json(Value),
}

impl ReadOut {
    fn into_result(self) -> rmcp::model::CallToolResult {
        match self {
            Self::Text(t) => text_result(t),
            Self::Json(v) => json_result(v),
        }
    }

    fn content(self) -> Value {
        match self {
            Self::Text(t) => Value::String(t),
            Self::Json(mut v) => v["content"].take(),
        }
    }
}

/// `read_file`.
pub fn read_file(ctx: &ToolContext, args: ReadFileArgs) -> ToolResult {
    read_out(ctx, args).map(ReadOut::into_result)
}

fn read_out(ctx: &ToolContext, args: ReadFileArgs) -> Result<ReadOut, ToolError> {
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
    if args.max_bytes == 0 {
        return Err(ToolError::InvalidArgs {
            tool: "read_file".into(),
            message: "field `max_bytes` must be greater than 0".into(),
        });
    }
    let raw = args.path.as_str();
    let (mut file, st, _) = ctx.open_file(raw)?;
    let total = u64::try_from(st.st_size).unwrap_or(0);
    if let Some(expected) = &args.expected_content_hash {
        check_hash_of(&mut file, expected, raw)?;
    }
    let cap = args.max_bytes;
    if by_lines {
        let start = args.line_start.unwrap_or(1).max(1);
        let end = args.line_end.unwrap_or(u64::MAX);
        if end < start {
            return Err(ToolError::InvalidArgs {
                tool: "read_file".into(),
                message: format!("field `line_end` ({end}) is before `line_start` ({start})"),
            });
        }
        return read_line_range(file, raw, start, end, cap);
    }
    if by_bytes {
        return read_byte_range(file, raw, total, args.offset.unwrap_or(0), args.limit, cap);
    }
    if let Some(n) = args.head {
        return read_line_range(file, raw, 1, n, cap);
    }
    if let Some(n) = args.tail {
        return read_tail(file, raw, n, cap);
    }
    read_whole(file, raw, total, cap, args.return_metadata)
}

/// SHA-256 of what `file` holds from its start, hex; the file is rewound after.
pub fn sha256_of(file: &mut File) -> std::io::Result<String> {
    file.seek(SeekFrom::Start(0))?;
    let mut hasher = Sha256::new();
    std::io::copy(file, &mut hasher)?;
    file.seek(SeekFrom::Start(0))?;
    Ok(hex::encode(hasher.finalize()))
}

/// SHA-256 of bytes, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Fails closed when `actual` differs from `expected` (hex, optional `sha256:`).
pub fn check_hash(actual: &str, expected: &str, raw: &str) -> Result<(), ToolError> {
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

fn check_hash_of(file: &mut File, expected: &str, raw: &str) -> Result<(), ToolError> {
    let actual = sha256_of(file).map_err(|e| io_error(raw, e))?;
    check_hash(&actual, expected, raw)
}

fn utf8_or_error(bytes: Vec<u8>, raw: &str) -> Result<String, ToolError> {
    String::from_utf8(bytes).map_err(|e| {
        ToolError::failed(format!(
            "`{raw}` is not valid UTF-8 text (invalid byte at offset {}); read it with offset/limit around the text you need, or with read_media for binary content",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// Text of bytes that a cap may have cut inside a character: the incomplete
/// tail is dropped; bytes that are invalid anywhere else are an error.
fn utf8_cut(bytes: Vec<u8>, raw: &str) -> Result<String, ToolError> {
    match String::from_utf8(bytes) {
        Ok(s) => Ok(s),
        Err(e) if e.utf8_error().error_len().is_none() => {
            let valid = e.utf8_error().valid_up_to();
            let mut bytes = e.into_bytes();
            bytes.truncate(valid);
            Ok(String::from_utf8(bytes).unwrap_or_default())
        }
        Err(e) => utf8_or_error(e.into_bytes(), raw),
    }
}

fn read_whole(
    file: File,
    raw: &str,
    total: u64,
    max_bytes: u64,
    metadata: bool,
) -> Result<ReadOut, ToolError> {
    let mut file = file;
    let want = total.min(max_bytes);
    let mut buf = vec![0u8; usize::try_from(want).unwrap_or(0)];
    // Read the size fstat reported, without the extra read that only finds EOF;
    // a file that grew meanwhile is read as it was when it was opened.
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error(raw, e)),
        }
    }
    buf.truncate(got);
    let truncated = total > buf.len() as u64;
    let text = if truncated {
        utf8_cut(buf, raw)?
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
            out["sha256"] = json!(sha256_of(&mut file).map_err(|e| io_error(raw, e))?);
        }
        return Ok(ReadOut::Json(out));
    }
    Ok(ReadOut::Text(text))
}

/// Feeds `file` to `each` one piece of a line at a time: `(line_no, bytes, ends_line)`,
/// never holding more than the reader's buffer. Returns the number of lines.
fn scan_lines(
    file: File,
    raw: &str,
    mut each: impl FnMut(u64, &[u8], bool),
) -> Result<u64, ToolError> {
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let mut line_no: u64 = 1;
    let mut in_line = false;
    loop {
        let buf = reader.fill_buf().map_err(|e| io_error(raw, e))?;
        if buf.is_empty() {
            break;
        }
        let (used, ends) = match buf.iter().position(|&b| b == b'\n') {
            Some(pos) => {
                each(line_no, &buf[..pos], true);
                (pos + 1, true)
            }
            None => {
                each(line_no, buf, false);
                (buf.len(), false)
            }
        };
        reader.consume(used);
        if ends {
            line_no += 1;
            in_line = false;
        } else {
            in_line = true;
        }
    }
    Ok(line_no - 1 + u64::from(in_line))
}

fn read_line_range(
    file: File,
    raw: &str,
    start: u64,
    end: u64,
    cap: u64,
) -> Result<ReadOut, ToolError> {
    let cap = usize::try_from(cap).unwrap_or(usize::MAX);
    let mut out: Vec<u8> = Vec::new();
    let mut returned: u64 = 0;
    let mut cut_at: Option<u64> = None;
    let mut open_line: Option<u64> = None;
    // Lines keep their endings, as in the file: a range of a file is a piece of it.
    let total = scan_lines(file, raw, |n, piece, ends| {
        if n < start || n > end || cut_at.is_some() {
            return;
        }
        if open_line != Some(n) {
            if returned as usize >= MAX_LINE_RANGE || (returned > 0 && out.len() >= cap) {
                cut_at = Some(n);
                return;
            }
            open_line = Some(n);
            returned += 1;
        }
        let room = cap.saturating_sub(out.len());
        out.extend_from_slice(&piece[..piece.len().min(room)]);
        if piece.len() > room {
            cut_at = Some(n);
        } else if ends {
            out.push(b'\n');
        }
    })?;
    let content = utf8_cut(out, raw)?;
    let last = if returned == 0 {
        start
    } else {
        start + returned - 1
    };
    let mut v = json!({
        "path": raw,
        "content": content,
        "line_start": start,
        "line_end": last,
        "total_lines": total,
        "returned_lines": returned,
        "truncated": cut_at.is_some() || end < total,
    });
    if let Some(line) = cut_at {
        v["note"] = json!(format!(
            "output reached max_bytes ({cap}) at line {line}; read on from there with line_start (or offset/limit inside a long line)"
        ));
    }
    Ok(ReadOut::Json(v))
}

fn read_tail(file: File, raw: &str, n: u64, cap: u64) -> Result<ReadOut, ToolError> {
    let cap = usize::try_from(cap).unwrap_or(usize::MAX);
    let keep = n.min(MAX_LINE_RANGE as u64) as usize;
    let mut ring: std::collections::VecDeque<Vec<u8>> = std::collections::VecDeque::new();
    let mut held: usize = 0;
    let mut current: Vec<u8> = Vec::new();
    let mut cut = false;
    let push = |line: Vec<u8>, ring: &mut std::collections::VecDeque<Vec<u8>>, held: &mut usize| {
        if keep == 0 {
            return;
        }
        if ring.len() == keep
            && let Some(old) = ring.pop_front()
        {
            *held -= old.len();
        }
        *held += line.len();
        ring.push_back(line);
        while *held > cap && ring.len() > 1 {
            if let Some(old) = ring.pop_front() {
                *held -= old.len();
            }
        }
    };
    let total = scan_lines(file, raw, |_, piece, ends| {
        let room = cap.saturating_sub(current.len());
        current.extend_from_slice(&piece[..piece.len().min(room)]);
        if piece.len() > room {
            cut = true;
        }
        if ends {
            let mut line = std::mem::take(&mut current);
            // Lines keep their endings, as in the file.
            line.push(b'\n');
            push(line, &mut ring, &mut held);
        }
    })?;
    if !current.is_empty() {
        push(std::mem::take(&mut current), &mut ring, &mut held);
    }
    let returned = ring.len();
    // Each line was cut on its own, so each is trimmed to whole characters on its own.
    let text = ring
        .into_iter()
        .map(|l| utf8_cut(l, raw))
        .collect::<Result<String, _>>()?;
    let mut v = json!({
        "path": raw,
        "content": text,
        "total_lines": total,
        "returned_lines": returned,
        // As for head and line ranges: the content is not the whole file.
        "truncated": (returned as u64) < total || cut,
    });
    if cut || (returned as u64) < total.min(n) {
        v["note"] = json!(format!(
            "output limited to max_bytes ({cap}); long lines were cut and older lines dropped"
        ));
    }
    Ok(ReadOut::Json(v))
}

fn read_byte_range(
    mut file: File,
    raw: &str,
    total: u64,
    offset: u64,
    limit: Option<u64>,
    cap: u64,
) -> Result<ReadOut, ToolError> {
    let limit = limit.unwrap_or(cap).min(cap);
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
    Ok(ReadOut::Json(json!({
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
#[serde(deny_unknown_fields)]
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
#[serde(deny_unknown_fields)]
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
        match read_out(ctx, one) {
            Ok(out) => {
                files.push(json!({"path": item.path, "ok": true, "content": out.content()}));
            }
            Err(err) => {
                failed += 1;
                files.push(json!({"path": item.path, "ok": false, "error": err.to_string()}));
            }
        }
    }
    Ok(json_result(json!({"files": files, "failed": failed})))
}

/// Arguments of `stat_path`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatArgs {
    /// Path to describe.
    pub path: String,
}

/// `stat_path`: type, size, times and mode. A path that does not exist is
/// reported as `missing`, not as an error.
pub fn stat_path(ctx: &ToolContext, args: StatArgs) -> ToolResult {
    let located = ctx.roots.locate(&args.path)?;
    let meta = match located.open(OFlags::PATH, Mode::empty()) {
        Ok(fd) => File::from(fd)
            .metadata()
            .map_err(|e| io_error(&args.path, e))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(json_result(json!({"path": args.path, "type": "missing"})));
        }
        Err(e) => {
            return Err(ToolError::Path(
                ctx.roots.open_error(&args.path, &located, e),
            ));
        }
    };
    let path = located.abs();
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
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

/// `list_allowed_roots`.
pub fn list_allowed_roots(ctx: &ToolContext, _args: NoArgs) -> ToolResult {
    let roots: Vec<String> = ctx
        .roots
        .roots()
        .map(|r| r.to_string_lossy().into_owned())
        .collect();
    Ok(json_result(json!({
        "workspace": ctx.roots.workspace().to_string_lossy(),
        "allowed_roots": roots,
    })))
}
