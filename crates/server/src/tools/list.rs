//! Listing tools: `list_directory`, `list_directory_recursive`, `directory_tree`, `search_files`.

use std::path::Path;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use std::os::fd::AsFd;

use rustix::fs::FileType;

use super::walk::{MAX_DEPTH, MAX_ENTRIES, overrides};
use super::{ToolContext, ToolError, ToolResult, json_result, text_result};
use crate::confine::walk::{Flow, WalkOptions, walk};

fn default_dot() -> String {
    ".".into()
}

/// One entry found by a walk, relative to the workspace.
struct Entry {
    rel: String,
    is_dir: bool,
    depth: usize,
}

/// Walks the directory `raw` in sorted order, returning entries below it and
/// whether the bound cut it.
fn collect_entries(
    ctx: &ToolContext,
    raw: &str,
    max_depth: Option<usize>,
    include_ignored: bool,
    exclude: &[String],
) -> Result<(Vec<Entry>, bool), ToolError> {
    let (fd, start) = ctx.open_dir(raw)?;
    let start_abs = start.abs();
    let overrides = overrides(&start_abs, &[], exclude)?;
    let opts = WalkOptions {
        include_ignored,
        max_depth: max_depth.unwrap_or(MAX_DEPTH).clamp(1, MAX_DEPTH),
        overrides: overrides.as_ref(),
        sorted: true,
    };
    let mut out = Vec::new();
    let mut truncated = false;
    walk(&start, fd.as_fd(), opts, &mut |e| {
        if out.len() >= MAX_ENTRIES {
            truncated = true;
            return Flow::Stop;
        }
        out.push(Entry {
            rel: ctx.roots.display(&start_abs.join(e.rel)),
            is_dir: e.kind == FileType::Directory,
            depth: e.depth,
        });
        Flow::Continue
    });
    Ok((out, truncated))
}

/// Arguments of `list_directory`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListDirectoryArgs {
    /// Directory to list, relative to the workspace root (default ".").
    #[serde(default = "default_dot")]
    pub path: String,
    /// List the whole subtree instead of one level.
    #[serde(default)]
    pub recursive: bool,
    /// Also list files that .gitignore excludes (`.git` is always skipped).
    #[serde(default)]
    pub include_ignored: bool,
}

/// `list_directory`: one level (or the subtree with `recursive`), in Ralph's text format.
pub fn list_directory(ctx: &ToolContext, args: ListDirectoryArgs) -> ToolResult {
    if args.recursive {
        return list_directory_recursive(
            ctx,
            RecursiveArgs {
                path: args.path,
                include_ignored: args.include_ignored,
            },
        );
    }
    let (entries, truncated) =
        collect_entries(ctx, &args.path, Some(1), args.include_ignored, &[])?;
    let mut out = format!("Directory: {}\n", args.path);
    for e in &entries {
        let tag = if e.is_dir { "[DIR]" } else { "[FILE]" };
        out.push_str(&format!("  {tag} {}\n", e.rel));
    }
    if truncated {
        out.push_str(&format!(
            "  ... (truncated: more than {MAX_ENTRIES} entries)\n"
        ));
    }
    Ok(text_result(out))
}

/// Arguments of `list_directory_recursive`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecursiveArgs {
    /// Directory to walk, relative to the workspace root (default ".").
    #[serde(default = "default_dot")]
    pub path: String,
    /// Also list files that .gitignore excludes (`.git` is always skipped).
    #[serde(default)]
    pub include_ignored: bool,
}

/// `list_directory_recursive`: the subtree, indented, bounded.
pub fn list_directory_recursive(ctx: &ToolContext, args: RecursiveArgs) -> ToolResult {
    let (entries, truncated) = collect_entries(ctx, &args.path, None, args.include_ignored, &[])?;
    let mut out = format!("Directory (recursive): {}\n", args.path);
    for e in &entries {
        let tag = if e.is_dir { "[DIR]" } else { "[FILE]" };
        let indent = "  ".repeat(e.depth - 1);
        out.push_str(&format!("{indent}{tag} {}\n", e.rel));
    }
    if truncated {
        out.push_str(&format!(
            "  ... (truncated: recursive walk exceeded {MAX_ENTRIES} entries / {MAX_DEPTH} levels)\n"
        ));
    }
    Ok(text_result(out))
}

/// Arguments of `directory_tree`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TreeArgs {
    /// Root of the tree, relative to the workspace root (default ".").
    #[serde(default = "default_dot")]
    pub path: String,
    /// Deepest level to descend (1 = direct children).
    pub max_depth: Option<usize>,
    /// Globs to leave out, e.g. ["node_modules", "*.log"].
    #[serde(default)]
    pub exclude_patterns: Vec<String>,
    /// Also show files that .gitignore excludes (`.git` is always skipped).
    #[serde(default)]
    pub include_ignored: bool,
}

/// `directory_tree`: a JSON tree of `{name, type, children}`.
pub fn directory_tree(ctx: &ToolContext, args: TreeArgs) -> ToolResult {
    let (entries, truncated) = collect_entries(
        ctx,
        &args.path,
        args.max_depth,
        args.include_ignored,
        &args.exclude_patterns,
    )?;
    // Entries arrive in depth-first sorted order; build the nesting with a stack.
    let mut stack: Vec<(usize, Vec<Value>)> = vec![(0, Vec::new())];
    let mut names: Vec<(String, bool)> = Vec::new();
    for e in &entries {
        while stack.len() > e.depth {
            close_level(&mut stack, &mut names);
        }
        let name = Path::new(&e.rel)
            .file_name()
            .map_or_else(|| e.rel.clone(), |n| n.to_string_lossy().into_owned());
        if e.is_dir {
            names.push((name, true));
            stack.push((e.depth, Vec::new()));
        } else {
            if let Some((_, children)) = stack.last_mut() {
                children.push(json!({"name": name, "type": "file"}));
            }
        }
    }
    while stack.len() > 1 {
        close_level(&mut stack, &mut names);
    }
    let tree = stack.pop().map(|(_, c)| c).unwrap_or_default();
    Ok(json_result(json!({
        "path": args.path,
        "tree": tree,
        "truncated": truncated,
    })))
}

fn close_level(stack: &mut Vec<(usize, Vec<Value>)>, names: &mut Vec<(String, bool)>) {
    if let (Some((_, children)), Some((name, _))) = (stack.pop(), names.pop())
        && let Some((_, parent)) = stack.last_mut()
    {
        parent.push(json!({"name": name, "type": "directory", "children": children}));
    }
}

fn default_limit() -> usize {
    1000
}

/// Arguments of `search_files`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchFilesArgs {
    /// Glob to match. Without a `/` it matches file names at any depth
    /// (`*.rs`); with one it matches paths relative to `path` (`src/**/*.rs`).
    pub pattern: String,
    /// Directory to search under (default ".").
    #[serde(default = "default_dot")]
    pub path: String,
    /// Globs of paths to leave out.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Maximum number of paths to return (default 1000).
    #[serde(default = "default_limit")]
    #[schemars(default = "default_limit")]
    pub limit: usize,
    /// Also search files that .gitignore excludes (`.git` is always skipped).
    #[serde(default)]
    pub include_ignored: bool,
}

fn glob_set(field: &str, patterns: &[String]) -> Result<GlobSet, ToolError> {
    let mut set = GlobSetBuilder::new();
    for p in patterns {
        let full = if p.contains('/') {
            p.trim_start_matches("./").to_owned()
        } else {
            format!("**/{p}")
        };
        let glob = GlobBuilder::new(&full)
            .literal_separator(true)
            .build()
            .map_err(|e| ToolError::InvalidArgs {
                tool: "search_files".into(),
                message: format!("field `{field}`: invalid glob `{p}`: {e}"),
            })?;
        set.add(glob);
    }
    set.build()
        .map_err(|e| ToolError::failed(format!("invalid glob set: {e}")))
}

/// `search_files`: paths under `path` matching a glob, sorted, bounded.
pub fn search_files(ctx: &ToolContext, args: SearchFilesArgs) -> ToolResult {
    let include = glob_set("pattern", std::slice::from_ref(&args.pattern))?;
    let exclude = glob_set("exclude", &args.exclude)?;
    let (fd, start) = ctx.open_dir(&args.path)?;
    let start_abs = start.abs();
    let opts = WalkOptions {
        include_ignored: args.include_ignored,
        max_depth: MAX_DEPTH,
        overrides: None,
        sorted: true,
    };
    let mut matches = Vec::new();
    let mut truncated = false;
    walk(&start, fd.as_fd(), opts, &mut |e| {
        if e.kind != FileType::RegularFile || !include.is_match(e.rel) || exclude.is_match(e.rel) {
            return Flow::Continue;
        }
        if matches.len() >= args.limit {
            truncated = true;
            return Flow::Stop;
        }
        matches.push(ctx.roots.display(&start_abs.join(e.rel)));
        Flow::Continue
    });
    matches.sort();
    Ok(json_result(json!({
        "pattern": args.pattern,
        "path": args.path,
        "matches": matches,
        "count": matches.len(),
        "truncated": truncated,
    })))
}
