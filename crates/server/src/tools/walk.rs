//! The walk settings every recursive tool shares, so listings, globbing and grep
//! see the same files: ripgrep's ignore rules, hidden files included, `.git`
//! always skipped (the walk itself is [`crate::confine::walk`]).

use std::path::Path;

use ignore::overrides::{Override, OverrideBuilder};

use super::ToolError;

/// Bound on entries any listing returns.
pub const MAX_ENTRIES: usize = 10_000;
/// Bound on walk depth.
pub const MAX_DEPTH: usize = 50;

/// `include` globs keep only matching files and `exclude` globs drop matches,
/// both with ripgrep's `-g` semantics, relative to `start`.
pub fn overrides(
    start: &Path,
    include: &[String],
    exclude: &[String],
) -> Result<Option<Override>, ToolError> {
    if include.is_empty() && exclude.is_empty() {
        return Ok(None);
    }
    let mut builder = OverrideBuilder::new(start);
    for glob in include {
        builder
            .add(glob)
            .map_err(|e| bad_glob("include", glob, e))?;
    }
    for glob in exclude {
        let negated = format!("!{}", glob.trim_start_matches('!'));
        builder
            .add(&negated)
            .map_err(|e| bad_glob("exclude", glob, e))?;
    }
    let built = builder
        .build()
        .map_err(|e| ToolError::failed(format!("invalid glob set: {e}")))?;
    Ok(Some(built))
}

fn bad_glob(field: &str, glob: &str, err: ignore::Error) -> ToolError {
    ToolError::InvalidArgs {
        tool: "walk".into(),
        message: format!("field `{field}`: invalid glob `{glob}`: {err}"),
    }
}
