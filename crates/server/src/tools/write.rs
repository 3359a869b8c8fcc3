//! Write tools: `write_file`, `edit_file`, `append_file`, `create_directory`,
//! `move_file`, `copy_file`, `delete_path`. Every write is atomic and confined.

use std::io::Read;
use std::os::fd::AsFd;

use ralph_mcp_session::Capability;
use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::fsio::{io_error, not_regular};
use super::read::{check_hash, sha256_hex};
use super::{ToolContext, ToolError, ToolResult, json_result, text_result};
use crate::confine::PathError;
use crate::confine::ops::{self, Entry, entry_type, write_atomic_at};

impl ToolContext {
    /// Refuses unless the session holds `cap`.
    pub fn require(&self, tool: &str, cap: Capability) -> Result<(), ToolError> {
        if self.session.capabilities.contains(cap) {
            return Ok(());
        }
        Err(ToolError::CapabilityRefused {
            tool: tool.into(),
            missing: cap.to_string(),
            drain: self.session.payload.drain.clone(),
        })
    }
}

/// Reads the regular file `name` in `dir` whole (`None` when it does not exist).
fn read_entry(entry: &Entry, raw: &str) -> Result<Option<Vec<u8>>, ToolError> {
    match entry_type(entry.dir.as_fd(), &entry.name).map_err(|e| io_error(raw, e))? {
        None => return Ok(None),
        Some(st) => {
            let kind = FileType::from_raw_mode(st.st_mode);
            if kind == FileType::Directory {
                return Err(ToolError::failed(format!(
                    "`{raw}` is a directory; pass a file path"
                )));
            }
            if kind != FileType::RegularFile {
                return Err(not_regular(raw, kind));
            }
        }
    }
    let fd = rustix::fs::openat(
        &entry.dir,
        entry.name.as_os_str(),
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_error(raw, e.into()))?;
    let st = rustix::fs::fstat(&fd).map_err(|e| io_error(raw, e.into()))?;
    let kind = FileType::from_raw_mode(st.st_mode);
    if kind != FileType::RegularFile {
        return Err(not_regular(raw, kind));
    }
    let mut bytes = Vec::new();
    std::fs::File::from(fd)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(raw, e))?;
    Ok(Some(bytes))
}

fn refuse_dir(entry: &Entry, raw: &str) -> Result<(), ToolError> {
    if let Ok(Some(st)) = entry_type(entry.dir.as_fd(), &entry.name)
        && FileType::from_raw_mode(st.st_mode) == FileType::Directory
    {
        return Err(ToolError::failed(format!(
            "`{raw}` is a directory; pass a file path"
        )));
    }
    Ok(())
}

fn exists(entry: &Entry) -> bool {
    matches!(entry_type(entry.dir.as_fd(), &entry.name), Ok(Some(_)))
}

/// Arguments of `write_file`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteFileArgs {
    /// Destination file, relative to the workspace root.
    pub path: String,
    /// Text to write (UTF-8). Replaces the whole file.
    pub content: String,
}

/// Creates or atomically replaces the file `raw` with `bytes`, confined to the
/// roots, with the capability a tracked or an untracked file needs.
pub fn write_confined(
    ctx: &ToolContext,
    tool: &str,
    raw: &str,
    bytes: &[u8],
) -> Result<(), ToolError> {
    let located = ctx.locate_mutation(raw)?;
    // The parent may not exist yet: then the file is new (and untracked), and the
    // capability is checked before any directory is made.
    let entry = match ops::open_entry(&located, false, true) {
        Ok(entry) => Some(entry),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_error(raw, e)),
    };
    let tracked = match &entry {
        Some(entry) if exists(entry) => {
            refuse_dir(entry, raw)?;
            let abs = located.root.path().join(&entry.rel);
            ctx.tracked
                .is_tracked(&abs, ctx.roots.workspace())
                .map_err(|e| {
                    ToolError::failed(format!("cannot ask git whether `{raw}` is tracked: {e}"))
                })?
        }
        _ => false,
    };
    if tracked {
        ctx.require(tool, Capability::WorkspaceWriteTracked)
            .map_err(|e| ToolError::failed(format!("`{raw}` is tracked by git: {e}")))?;
    } else {
        ctx.require(tool, Capability::WorkspaceWriteEphemeral)?;
    }
    let entry = match entry {
        Some(entry) => entry,
        None => ops::open_entry(&located, true, true).map_err(|e| io_error(raw, e))?,
    };
    let _lock = ctx.locks.lock(entry.dir.as_fd(), &entry.name);
    refuse_dir(&entry, raw)?;
    write_atomic_at(entry.dir.as_fd(), &entry.name, bytes, false, None)
        .map_err(|e| io_error(raw, e))
}

/// `write_file`: create or replace a file. A git-tracked file needs
/// `workspace.write_tracked`; a new or untracked file needs `workspace.write_ephemeral`.
pub fn write_file(ctx: &ToolContext, args: WriteFileArgs) -> ToolResult {
    let raw = args.path.as_str();
    write_confined(ctx, "write_file", raw, args.content.as_bytes())?;
    Ok(text_result(format!(
        "Successfully wrote {} bytes to {}",
        args.content.len(),
        raw
    )))
}

/// One replacement of `edit_file`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TextEdit {
    /// Exact text to find; its first occurrence is replaced.
    #[serde(rename = "oldText")]
    pub old_text: String,
    /// Replacement text; omitted, the old text is deleted (as in Ralph).
    #[serde(rename = "newText", default)]
    pub new_text: String,
}

/// Arguments of `edit_file`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EditFileArgs {
    /// File to edit.
    pub path: String,
    /// Replacements applied in order, all or nothing.
    pub edits: Vec<TextEdit>,
    /// Compute the diff without writing.
    #[serde(default)]
    pub dry_run: bool,
    /// Fail closed unless the file's current SHA-256 (hex) is this value.
    pub expected_content_hash: Option<String>,
}

/// Applies edits in order to `text`, each replacing the first occurrence of its
/// `oldText`. In a CRLF file, edit texts written with `\n` are matched as `\r\n`.
/// Returns the new text, or the index and reason of the first edit that failed.
pub fn apply_edits(text: &str, edits: &[TextEdit]) -> Result<String, (usize, String)> {
    let crlf = text.contains("\r\n");
    let to_file_eol = |s: &str| -> String {
        if crlf {
            s.replace("\r\n", "\n").replace('\n', "\r\n")
        } else {
            s.to_owned()
        }
    };
    let mut current = text.to_owned();
    for (i, edit) in edits.iter().enumerate() {
        if edit.old_text.is_empty() {
            return Err((i, "oldText is empty; give the exact text to replace".into()));
        }
        let (old, new) = if crlf && !current.contains(&edit.old_text) {
            (to_file_eol(&edit.old_text), to_file_eol(&edit.new_text))
        } else if crlf {
            (edit.old_text.clone(), to_file_eol(&edit.new_text))
        } else {
            (edit.old_text.clone(), edit.new_text.clone())
        };
        match current.find(&old) {
            Some(at) => current.replace_range(at..at + old.len(), &new),
            None => {
                let preview: String = edit.old_text.chars().take(80).collect();
                return Err((
                    i,
                    format!(
                        "oldText not found: {preview:?}; read the file again and copy the text exactly"
                    ),
                ));
            }
        }
    }
    Ok(current)
}

/// A unified diff of two texts, with line endings shown as `\n`.
pub fn unified_diff(old: &str, new: &str, path: &str) -> String {
    let old = old.replace("\r\n", "\n");
    let new = new.replace("\r\n", "\n");
    similar::TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string()
}

/// `edit_file`.
pub fn edit_file(ctx: &ToolContext, args: EditFileArgs) -> ToolResult {
    if args.edits.is_empty() {
        return Err(ToolError::InvalidArgs {
            tool: "edit_file".into(),
            message: "field `edits` is empty; pass at least one {oldText, newText}".into(),
        });
    }
    let entry = ctx.mutation_entry(&args.path, false, true)?;
    // Read, compare and replace under the path's lock: no acknowledged edit is lost.
    let _lock = ctx.locks.lock(entry.dir.as_fd(), &entry.name);
    let bytes = read_entry(&entry, &args.path)?
        .ok_or_else(|| ToolError::Path(PathError::NotFound(args.path.clone())))?;
    if let Some(expected) = &args.expected_content_hash {
        check_hash(&sha256_hex(&bytes), expected, &args.path)?;
    }
    let original = String::from_utf8(bytes).map_err(|_| {
        ToolError::failed(format!(
            "`{}` is not valid UTF-8 text; edit_file only edits text",
            args.path
        ))
    })?;
    let updated = apply_edits(&original, &args.edits).map_err(|(i, why)| {
        ToolError::failed(format!(
            "edit {i} of {} failed: {why}. No change was made to {}.",
            args.edits.len(),
            args.path
        ))
    })?;
    let diff = unified_diff(&original, &updated, &args.path);
    if !args.dry_run && updated != original {
        write_atomic_at(
            entry.dir.as_fd(),
            &entry.name,
            updated.as_bytes(),
            false,
            None,
        )
        .map_err(|e| io_error(&args.path, e))?;
    }
    Ok(json_result(json!({
        "path": args.path,
        "status": if args.dry_run { "dry_run" } else { "applied" },
        "edits_applied": args.edits.len(),
        "changed": updated != original,
        "line_endings": if original.contains("\r\n") { "crlf" } else { "lf" },
        "diff": diff,
    })))
}

/// Arguments of `append_file`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppendFileArgs {
    /// File to append to (created when missing).
    pub path: String,
    /// Text to append.
    pub content: String,
}

/// `append_file`: rewrites the file atomically with the text appended.
pub fn append_file(ctx: &ToolContext, args: AppendFileArgs) -> ToolResult {
    let entry = ctx.mutation_entry(&args.path, true, true)?;
    let _lock = ctx.locks.lock(entry.dir.as_fd(), &entry.name);
    let mut bytes = read_entry(&entry, &args.path)?.unwrap_or_default();
    bytes.extend_from_slice(args.content.as_bytes());
    write_atomic_at(entry.dir.as_fd(), &entry.name, &bytes, false, None)
        .map_err(|e| io_error(&args.path, e))?;
    Ok(text_result(format!(
        "Successfully appended {} bytes to {}",
        args.content.len(),
        args.path
    )))
}

/// Arguments of `create_directory`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDirArgs {
    /// Directory to create, with any missing parents.
    pub path: String,
}

/// `create_directory`.
pub fn create_directory(ctx: &ToolContext, args: CreateDirArgs) -> ToolResult {
    let located = ctx.locate_mutation(&args.path)?;
    ops::make_dirs(&located).map_err(|e| {
        if e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error()) {
            ToolError::failed(format!("`{}` exists and is a file", args.path))
        } else {
            io_error(&args.path, e)
        }
    })?;
    Ok(text_result(format!(
        "Successfully created directory {}",
        args.path
    )))
}

/// Arguments of `move_file` and `copy_file`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SrcDestArgs {
    /// Source path.
    pub src: String,
    /// Destination path.
    pub dest: String,
    /// Replace an existing destination file.
    #[serde(default)]
    pub overwrite: bool,
}

fn check_dest(dest: &Entry, raw: &str, overwrite: bool) -> Result<(), ToolError> {
    match entry_type(dest.dir.as_fd(), &dest.name) {
        Ok(Some(st)) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
            Err(ToolError::failed(format!(
                "destination `{raw}` is an existing directory; give the full destination file path"
            )))
        }
        Ok(Some(_)) if !overwrite => Err(ToolError::failed(format!(
            "destination `{raw}` already exists; pass overwrite: true to replace it"
        ))),
        _ => Ok(()),
    }
}

fn already_exists(raw: &str) -> ToolError {
    ToolError::failed(format!(
        "destination `{raw}` already exists; pass overwrite: true to replace it"
    ))
}

/// `move_file`: rename (the source link itself, not its target); across file
/// systems a file is copied and then removed.
pub fn move_file(ctx: &ToolContext, args: SrcDestArgs) -> ToolResult {
    let src = ctx.mutation_entry(&args.src, false, false)?;
    let src_meta = entry_type(src.dir.as_fd(), &src.name)
        .map_err(|e| io_error(&args.src, e))?
        .ok_or_else(|| ToolError::Path(PathError::NotFound(args.src.clone())))?;
    let dest = ctx.mutation_entry(&args.dest, true, true)?;
    let _locks = ctx
        .locks
        .lock_pair((src.dir.as_fd(), &src.name), (dest.dir.as_fd(), &dest.name));
    check_dest(&dest, &args.dest, args.overwrite)?;
    let flags = if args.overwrite {
        RenameFlags::empty()
    } else {
        RenameFlags::NOREPLACE
    };
    match rustix::fs::renameat_with(
        &src.dir,
        src.name.as_os_str(),
        &dest.dir,
        dest.name.as_os_str(),
        flags,
    ) {
        Ok(()) => Ok(text_result(format!(
            "Successfully moved {} to {}",
            args.src, args.dest
        ))),
        Err(rustix::io::Errno::EXIST) => Err(already_exists(&args.dest)),
        Err(rustix::io::Errno::XDEV) => {
            let kind = FileType::from_raw_mode(src_meta.st_mode);
            if kind == FileType::Directory {
                return Err(ToolError::failed(format!(
                    "cannot move directory `{}` across file systems; copy its files instead",
                    args.src
                )));
            }
            let bytes = read_entry(&src, &args.src)?.unwrap_or_default();
            write_atomic_at(
                dest.dir.as_fd(),
                &dest.name,
                &bytes,
                !args.overwrite,
                Some(src_meta.st_mode & 0o7777),
            )
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => already_exists(&args.dest),
                _ => io_error(&args.dest, e),
            })?;
            rustix::fs::unlinkat(&src.dir, src.name.as_os_str(), AtFlags::empty())
                .map_err(|e| io_error(&args.src, e.into()))?;
            Ok(text_result(format!(
                "Successfully moved {} to {}",
                args.src, args.dest
            )))
        }
        Err(e) => Err(io_error(&args.src, e.into())),
    }
}

/// `copy_file`: copies one regular file (following a source link); a new file
/// takes the source's mode.
pub fn copy_file(ctx: &ToolContext, args: SrcDestArgs) -> ToolResult {
    let (mut file, st, _) = ctx.open_file(&args.src).map_err(|e| match e {
        ToolError::Failed(m) if m.contains("is a directory") => ToolError::failed(format!(
            "`{}` is a directory; copy_file copies single files",
            args.src
        )),
        other => other,
    })?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| io_error(&args.src, e))?;
    let dest = ctx.mutation_entry(&args.dest, true, true)?;
    let _lock = ctx.locks.lock(dest.dir.as_fd(), &dest.name);
    check_dest(&dest, &args.dest, args.overwrite)?;
    let mode = if exists(&dest) {
        None
    } else {
        Some(st.st_mode & 0o7777)
    };
    write_atomic_at(dest.dir.as_fd(), &dest.name, &bytes, !args.overwrite, mode).map_err(|e| {
        match e.kind() {
            std::io::ErrorKind::AlreadyExists => already_exists(&args.dest),
            _ => io_error(&args.dest, e),
        }
    })?;
    Ok(text_result(format!(
        "Successfully copied {} to {} ({} bytes)",
        args.src,
        args.dest,
        bytes.len()
    )))
}

/// Arguments of `delete_path`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteArgs {
    /// File, link or directory to delete. A symlink is removed, not its target.
    pub path: String,
    /// Delete a non-empty directory and everything in it.
    #[serde(default)]
    pub recursive: bool,
}

/// `delete_path`.
pub fn delete_path(ctx: &ToolContext, args: DeleteArgs) -> ToolResult {
    let entry = ctx.mutation_entry(&args.path, false, false)?;
    let _lock = ctx.locks.lock(entry.dir.as_fd(), &entry.name);
    let is_dir = matches!(
        entry_type(entry.dir.as_fd(), &entry.name),
        Ok(Some(st)) if FileType::from_raw_mode(st.st_mode) == FileType::Directory
    );
    match ops::remove_entry(entry.dir.as_fd(), &entry.name, args.recursive) {
        Ok(()) => Ok(text_result(format!("Successfully deleted {}", args.path))),
        Err(e)
            if is_dir && e.raw_os_error() == Some(rustix::io::Errno::NOTEMPTY.raw_os_error()) =>
        {
            Err(ToolError::failed(format!(
                "directory `{}` is not empty; pass recursive: true to delete it and its contents",
                args.path
            )))
        }
        Err(e) => Err(io_error(&args.path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn edit(o: &str, n: &str) -> TextEdit {
        TextEdit {
            old_text: o.into(),
            new_text: n.into(),
        }
    }

    #[test]
    fn edits_apply_in_order_to_first_occurrences() {
        let out = apply_edits("a b a", &[edit("a", "x"), edit("a", "y")]).unwrap();
        assert_eq!(out, "x b y");
    }

    #[test]
    fn a_missing_edit_names_its_index() {
        let err = apply_edits("abc", &[edit("a", "x"), edit("zzz", "y")]).unwrap_err();
        assert_eq!(err.0, 1);
    }

    #[test]
    fn crlf_is_preserved() {
        let out = apply_edits("one\r\ntwo\r\nthree\r\n", &[edit("one\ntwo", "uno\ndos")]).unwrap();
        assert_eq!(out, "uno\r\ndos\r\nthree\r\n");
    }

    #[test]
    fn diff_is_unified() {
        let d = unified_diff("a\nb\n", "a\nc\n", "f.txt");
        assert!(
            d.contains("--- a/f.txt") && d.contains("-b") && d.contains("+c"),
            "{d}"
        );
    }

    proptest! {
        #[test]
        fn applying_edits_never_panics(text in ".{0,50}", edits in prop::collection::vec((".{0,5}", ".{0,5}"), 0..5)) {
            let edits: Vec<TextEdit> = edits.into_iter().map(|(o, n)| edit(&o, &n)).collect();
            let _ = apply_edits(&text, &edits);
        }

        #[test]
        fn lf_only_text_never_gains_cr(text in "[a-c\n]{0,40}", old in "[a-c]{1,3}", new in "[a-c\n]{0,5}") {
            if let Ok(out) = apply_edits(&text, &[edit(&old, &new)]) {
                prop_assert!(!out.contains('\r'));
            }
        }
    }
}
