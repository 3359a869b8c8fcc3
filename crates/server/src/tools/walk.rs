//! One walker configuration for every recursive tool, so listings, globbing and
//! grep see the same files: `.gitignore` (and `.ignore`, global excludes) are
//! respected as ripgrep does, hidden files are included, and `.git` is always skipped.

use std::path::Path;

use ignore::WalkBuilder;
use ignore::overrides::OverrideBuilder;

use super::ToolError;

/// Bound on entries any listing returns.
pub const MAX_ENTRIES: usize = 10_000;
/// Bound on walk depth.
pub const MAX_DEPTH: usize = 50;

/// Builds a walker rooted at `root`.
///
/// `include` globs keep only matching files and `exclude` globs drop matches,
/// both with ripgrep's `-g` semantics. `include_ignored` turns off ignore files
/// (but never stops skipping `.git`).
pub fn walker(
    root: &Path,
    include: &[String],
    exclude: &[String],
    include_ignored: bool,
    max_depth: Option<usize>,
) -> Result<WalkBuilder, ToolError> {
    let mut builder = WalkBuilder::new(root);
    builder
        .hidden(false)
        .git_ignore(!include_ignored)
        .git_global(!include_ignored)
        .git_exclude(!include_ignored)
        .ignore(!include_ignored)
        .parents(!include_ignored)
        .follow_links(false)
        .max_depth(Some(max_depth.unwrap_or(MAX_DEPTH).min(MAX_DEPTH)));
    let mut overrides = OverrideBuilder::new(root);
    for glob in include {
        overrides
            .add(glob)
            .map_err(|e| bad_glob("include", glob, e))?;
    }
    for glob in exclude {
        let negated = format!("!{}", glob.trim_start_matches('!'));
        overrides
            .add(&negated)
            .map_err(|e| bad_glob("exclude", glob, e))?;
    }
    overrides
        .add("!.git/")
        .map_err(|e| bad_glob("exclude", ".git", e))?;
    let overrides = overrides
        .build()
        .map_err(|e| ToolError::failed(format!("invalid glob set: {e}")))?;
    builder.overrides(overrides);
    Ok(builder)
}

fn bad_glob(field: &str, glob: &str, err: ignore::Error) -> ToolError {
    ToolError::InvalidArgs {
        tool: "walk".into(),
        message: format!("field `{field}`: invalid glob `{glob}`: {err}"),
    }
}
