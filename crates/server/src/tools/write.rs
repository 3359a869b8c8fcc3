//! Write tools: `write_file`, `edit_file`, `append_file`, `create_directory`,
//! `move_file`, `copy_file`, `delete_path`. Every write is atomic and confined.

use std::path::{Path, PathBuf};

use ralph_mcp_session::Capability;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::atomic::write_atomic;
use super::read::{check_hash, io_error};
use super::{ToolContext, ToolError, ToolResult, json_result, text_result};

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

    /// Resolves a mutation target. `entry` keeps a final symlink itself (delete,
    /// move source) instead of following it. Parallel-worker sessions may only
    /// mutate under their explicit allowed roots or artifact directory.
    pub fn resolve_mutation(&self, raw: &str, entry: bool) -> Result<PathBuf, ToolError> {
        let path = if entry {
            self.roots.resolve_entry(raw)?
        } else {
            self.roots.resolve(raw)?
        };
        if self.session.is_parallel_worker()
            && !self.worker_write_roots.iter().any(|r| path.starts_with(r))
        {
            return Err(ToolError::failed(format!(
                "`{raw}` is outside this parallel worker's writable roots ({}); write only inside them",
                self.worker_write_roots
                    .iter()
                    .map(|r| r.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if self.roots.is_root(&path) {
            return Err(ToolError::failed(format!(
                "`{raw}` is an allowed root itself; it cannot be replaced, moved or deleted"
            )));
        }
        Ok(path)
    }
}

fn ensure_parent(path: &Path, raw: &str) -> Result<(), ToolError> {
    if let Some(parent) = path.parent()
        && !parent.exists()
    {
        std::fs::create_dir_all(parent).map_err(|e| io_error(raw, e))?;
    }
    Ok(())
}

fn refuse_dir(path: &Path, raw: &str) -> Result<(), ToolError> {
    if path.is_dir() {
        return Err(ToolError::failed(format!(
            "`{raw}` is a directory; pass a file path"
        )));
    }
    Ok(())
}

/// Arguments of `write_file`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct WriteFileArgs {
    /// Destination file, relative to the workspace root.
    pub path: String,
    /// Text to write (UTF-8). Replaces the whole file.
    pub content: String,
}

/// `write_file`: create or replace a file. A git-tracked file needs
/// `workspace.write_tracked`; a new or untracked file needs `workspace.write_ephemeral`.
pub fn write_file(ctx: &ToolContext, args: WriteFileArgs) -> ToolResult {
    let path = ctx.resolve_mutation(&args.path, false)?;
    refuse_dir(&path, &args.path)?;
    let tracked = path.exists()
        && ctx.tracked.is_tracked(&path).map_err(|e| {
            ToolError::failed(format!(
                "cannot ask git whether `{}` is tracked: {e}",
                args.path
            ))
        })?;
    if tracked {
        ctx.require("write_file", Capability::WorkspaceWriteTracked)
            .map_err(|e| ToolError::failed(format!("`{}` is tracked by git: {e}", args.path)))?;
    } else {
        ctx.require("write_file", Capability::WorkspaceWriteEphemeral)?;
    }
    ensure_parent(&path, &args.path)?;
    write_atomic(&path, args.content.as_bytes(), false).map_err(|e| io_error(&args.path, e))?;
    Ok(text_result(format!(
        "Successfully wrote {} bytes to {}",
        args.content.len(),
        args.path
    )))
}

/// One replacement of `edit_file`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct TextEdit {
    /// Exact text to find; its first occurrence is replaced.
    #[serde(rename = "oldText")]
    pub old_text: String,
    /// Replacement text.
    #[serde(rename = "newText")]
    pub new_text: String,
}

/// Arguments of `edit_file`.
#[derive(Debug, Deserialize, JsonSchema)]
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
    let path = ctx.resolve_mutation(&args.path, false)?;
    refuse_dir(&path, &args.path)?;
    let bytes = std::fs::read(&path).map_err(|e| io_error(&args.path, e))?;
    if let Some(expected) = &args.expected_content_hash {
        check_hash(&path, expected, &args.path)?;
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
        write_atomic(&path, updated.as_bytes(), false).map_err(|e| io_error(&args.path, e))?;
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
pub struct AppendFileArgs {
    /// File to append to (created when missing).
    pub path: String,
    /// Text to append.
    pub content: String,
}

/// `append_file`: rewrites the file atomically with the text appended.
pub fn append_file(ctx: &ToolContext, args: AppendFileArgs) -> ToolResult {
    let path = ctx.resolve_mutation(&args.path, false)?;
    refuse_dir(&path, &args.path)?;
    let mut bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io_error(&args.path, e)),
    };
    bytes.extend_from_slice(args.content.as_bytes());
    ensure_parent(&path, &args.path)?;
    write_atomic(&path, &bytes, false).map_err(|e| io_error(&args.path, e))?;
    Ok(text_result(format!(
        "Successfully appended {} bytes to {}",
        args.content.len(),
        args.path
    )))
}

/// Arguments of `create_directory`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CreateDirArgs {
    /// Directory to create, with any missing parents.
    pub path: String,
}

/// `create_directory`.
pub fn create_directory(ctx: &ToolContext, args: CreateDirArgs) -> ToolResult {
    let path = ctx.resolve_mutation(&args.path, false)?;
    if path.exists() && !path.is_dir() {
        return Err(ToolError::failed(format!(
            "`{}` exists and is a file",
            args.path
        )));
    }
    std::fs::create_dir_all(&path).map_err(|e| io_error(&args.path, e))?;
    Ok(text_result(format!(
        "Successfully created directory {}",
        args.path
    )))
}

/// Arguments of `move_file` and `copy_file`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SrcDestArgs {
    /// Source path.
    pub src: String,
    /// Destination path.
    pub dest: String,
    /// Replace an existing destination file.
    #[serde(default)]
    pub overwrite: bool,
}

fn check_dest(dest: &Path, raw: &str, overwrite: bool) -> Result<(), ToolError> {
    match std::fs::symlink_metadata(dest) {
        Ok(meta) if meta.is_dir() => Err(ToolError::failed(format!(
            "destination `{raw}` is an existing directory; give the full destination file path"
        ))),
        Ok(_) if !overwrite => Err(ToolError::failed(format!(
            "destination `{raw}` already exists; pass overwrite: true to replace it"
        ))),
        _ => Ok(()),
    }
}

/// `move_file`: rename, atomically; no-clobber unless `overwrite`.
pub fn move_file(ctx: &ToolContext, args: SrcDestArgs) -> ToolResult {
    let src = ctx.resolve_mutation(&args.src, true)?;
    std::fs::symlink_metadata(&src).map_err(|e| io_error(&args.src, e))?;
    let dest = ctx.resolve_mutation(&args.dest, false)?;
    check_dest(&dest, &args.dest, args.overwrite)?;
    ensure_parent(&dest, &args.dest)?;
    let renamed = if args.overwrite {
        std::fs::rename(&src, &dest)
    } else {
        nix::fcntl::renameat2(
            nix::fcntl::AT_FDCWD,
            &src,
            nix::fcntl::AT_FDCWD,
            &dest,
            nix::fcntl::RenameFlags::RENAME_NOREPLACE,
        )
        .map_err(std::io::Error::from)
    };
    match renamed {
        Ok(()) => Ok(text_result(format!(
            "Successfully moved {} to {}",
            args.src, args.dest
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(ToolError::failed(format!(
            "destination `{}` already exists; pass overwrite: true to replace it",
            args.dest
        ))),
        Err(e) if e.raw_os_error() == Some(nix::libc::EXDEV) => {
            if src.is_dir() {
                return Err(ToolError::failed(format!(
                    "cannot move directory `{}` across file systems; copy its files instead",
                    args.src
                )));
            }
            let bytes = std::fs::read(&src).map_err(|e| io_error(&args.src, e))?;
            write_atomic(&dest, &bytes, !args.overwrite).map_err(|e| io_error(&args.dest, e))?;
            std::fs::remove_file(&src).map_err(|e| io_error(&args.src, e))?;
            Ok(text_result(format!(
                "Successfully moved {} to {}",
                args.src, args.dest
            )))
        }
        Err(e) => Err(io_error(&args.src, e)),
    }
}

/// `copy_file`: copy a file atomically, keeping its mode; no-clobber unless `overwrite`.
pub fn copy_file(ctx: &ToolContext, args: SrcDestArgs) -> ToolResult {
    let src = ctx.roots.resolve_existing(&args.src)?;
    if src.is_dir() {
        return Err(ToolError::failed(format!(
            "`{}` is a directory; copy_file copies single files",
            args.src
        )));
    }
    let dest = ctx.resolve_mutation(&args.dest, false)?;
    check_dest(&dest, &args.dest, args.overwrite)?;
    ensure_parent(&dest, &args.dest)?;
    let bytes = std::fs::read(&src).map_err(|e| io_error(&args.src, e))?;
    let existed = dest.exists();
    write_atomic(&dest, &bytes, !args.overwrite).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => ToolError::failed(format!(
            "destination `{}` already exists; pass overwrite: true to replace it",
            args.dest
        )),
        _ => io_error(&args.dest, e),
    })?;
    if !existed && let Ok(meta) = std::fs::metadata(&src) {
        let _ = std::fs::set_permissions(&dest, meta.permissions());
    }
    Ok(text_result(format!(
        "Successfully copied {} to {} ({} bytes)",
        args.src,
        args.dest,
        bytes.len()
    )))
}

/// Arguments of `delete_path`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct DeleteArgs {
    /// File, link or directory to delete. A symlink is removed, not its target.
    pub path: String,
    /// Delete a non-empty directory and everything in it.
    #[serde(default)]
    pub recursive: bool,
}

/// `delete_path`.
pub fn delete_path(ctx: &ToolContext, args: DeleteArgs) -> ToolResult {
    let path = ctx.resolve_mutation(&args.path, true)?;
    let meta = std::fs::symlink_metadata(&path).map_err(|e| io_error(&args.path, e))?;
    let result = if meta.is_dir() {
        if args.recursive {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_dir(&path)
        }
    } else {
        std::fs::remove_file(&path)
    };
    match result {
        Ok(()) => Ok(text_result(format!("Successfully deleted {}", args.path))),
        Err(e) if meta.is_dir() && e.raw_os_error() == Some(nix::libc::ENOTEMPTY) => {
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
