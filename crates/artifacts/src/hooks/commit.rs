//! Commit messages and commit clean-ups (Ralph 0.9.30, `commit_message.py`,
//! `markdown/specs/commit_message.py`, `markdown/specs/commit_cleanup.py`,
//! `_commit_cleanup_action.py`): a conventional-commit subject, one body form,
//! excluded files with a known reason, and clean-up actions git can apply safely.

use std::sync::LazyLock;

use regex::Regex;

use crate::document::{Document, Section};
use crate::pytext::strip;

const KINDS: [&str; 10] = [
    "feat", "fix", "docs", "refactor", "test", "style", "perf", "build", "ci", "chore",
];
const EXCLUDED_REASONS: [&str; 4] = [
    "deferred",
    "internal_ignore",
    "not_task_related",
    "sensitive",
];

static SUBJECT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"^(?:{})(?:\([a-z0-9/_-]+\))?!?: [a-z0-9].+$",
        KINDS.join("|")
    ))
    .expect("static pattern")
});
static SCOPE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9/_-]+$").expect("static pattern"));
static QUOTED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"(?s)^(?:".*"|'.*')$"#).expect("static pattern"));

type Result<T> = std::result::Result<T, String>;

/// A required non-empty string: NULs dropped (or refused in paths), stripped.
fn required(value: Option<&str>, field: &str) -> Result<String> {
    match value {
        Some(v) if !strip(v).is_empty() => clean(v, field),
        _ => Err(format!(
            "commit_message payloads require a non-empty '{field}'"
        )),
    }
}

fn optional(value: Option<&str>, field: &str) -> Result<Option<String>> {
    match value {
        None => Ok(None),
        Some(v) if strip(v).is_empty() => Err(format!(
            "commit_message field '{field}' must be a non-empty string when provided"
        )),
        Some(v) => clean(v, field).map(Some),
    }
}

fn clean(value: &str, field: &str) -> Result<String> {
    if matches!(field, "path" | "files") && value.contains('\0') {
        return Err(format!(
            "commit_message field '{field}' must not contain an embedded NUL: {value:?}"
        ));
    }
    Ok(strip(&value.replace('\0', "")).to_owned())
}

/// Why a subject is not a conventional commit, or `None` when it is.
pub fn subject_problem(subject: &str) -> Option<String> {
    if SUBJECT.is_match(subject) {
        return None;
    }
    let why = if QUOTED.is_match(subject) {
        "the value is wrapped in surrounding quotes, which frontmatter takes literally as part of the subject — remove them".to_owned()
    } else if let Some((prefix, description)) = subject.split_once(": ") {
        let kind_scope = prefix.strip_suffix('!').unwrap_or(prefix);
        let (kind, scope) = match kind_scope.strip_suffix(')') {
            Some(k) => match k.split_once('(') {
                Some((kind, scope)) => (kind, scope),
                None => (k, ""),
            },
            None => (kind_scope, ""),
        };
        if !KINDS.contains(&kind) {
            if KINDS.contains(&kind.to_lowercase().as_str()) {
                format!(
                    "kinds are lowercase, so write '{}' rather than '{kind}'",
                    kind.to_lowercase()
                )
            } else {
                format!(
                    "'{kind}' is not one of the allowed kinds: {}",
                    KINDS.join(", ")
                )
            }
        } else if !scope.is_empty() && !SCOPE.is_match(scope) {
            format!(
                "the scope '{scope}' may only contain lowercase letters, digits, '/', '_' and '-'"
            )
        } else if description.is_empty() {
            "the description after the colon is empty".to_owned()
        } else {
            "the description must start with a lowercase letter or digit".to_owned()
        }
    } else {
        "it has no 'kind: description' separator (a colon followed by one space)".to_owned()
    };
    Some(format!(
        "commit_message subject '{subject}' does not use conventional commit format: {why}; rewrite it as '<kind>(<scope>)?!?: <lowercase description>', for example 'fix(parser): preserve prefixed transcript lines'"
    ))
}

fn first_item(section: Option<&Section>) -> Option<String> {
    section.map(|s| s.items.first().map(|i| i.text.clone()).unwrap_or_default())
}

/// The commit-message mapper and normalizer.
pub fn normalize_message(doc: &Document) -> Result<()> {
    let kind = doc.field("type").unwrap_or_default();
    if kind == "skip" {
        required(Some(doc.field("reason").unwrap_or("")), "reason")?;
        return Ok(());
    }
    // The mapper first: excluded files must be '<path> | <reason>'.
    let mut excluded = Vec::new();
    if let Some(section) = doc.section("Excluded Files") {
        for item in &section.items {
            match item.text.split_once(" | ") {
                Some((path, reason)) if !path.is_empty() && !reason.is_empty() => {
                    excluded.push((path.to_owned(), reason.to_owned()));
                }
                _ => return Err("Excluded Files entries must use '<path> | <reason>'".into()),
            }
        }
    }
    let subject = required(Some(doc.field("subject").unwrap_or("")), "subject")?;
    if let Some(problem) = subject_problem(&subject) {
        return Err(problem);
    }
    let body = doc.section("Body").map(|s| {
        s.items
            .iter()
            .map(|i| i.text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    });
    let body = optional(body.as_deref(), "body")?;
    let mut detailed = false;
    for (name, field) in [
        ("Body Summary", "body_summary"),
        ("Body Details", "body_details"),
        ("Body Footer", "body_footer"),
    ] {
        detailed |= optional(first_item(doc.section(name)).as_deref(), field)?.is_some();
    }
    if body.is_some() && detailed {
        return Err("Use either 'body' or the detailed body fields, not both".into());
    }
    if let Some(files) = doc.section("Files") {
        if files.items.is_empty() {
            return Err("commit_message 'files' must not be empty when provided".into());
        }
        for item in &files.items {
            if strip(&item.text).is_empty() {
                return Err(
                    "commit_message field 'files' must contain only non-empty strings".into(),
                );
            }
            clean(&item.text, "files")?;
        }
    }
    for (path, reason) in excluded {
        required(Some(&path), "path")?;
        let reason = required(Some(&reason), "reason")?;
        if !EXCLUDED_REASONS.contains(&reason.as_str()) {
            return Err(format!(
                "commit_message excluded_files reason must be one of {}",
                EXCLUDED_REASONS.join(", ")
            ));
        }
    }
    Ok(())
}

static PRINTABLE_ASCII: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[\x21-\x7e]+$").expect("static pattern"));

/// The commit-clean-up mapper and schema.
pub fn normalize_cleanup(doc: &Document) -> Result<()> {
    let actions = doc
        .section("Actions")
        .ok_or("missing required section 'Actions'")?;
    let mut parsed = Vec::new();
    for item in &actions.items {
        match item.text.split_once(" | ") {
            Some((action, value)) if !action.is_empty() && !value.is_empty() => {
                parsed.push((action, value));
            }
            _ => return Err("Actions entries must use '<action> | <path-or-pattern>'".into()),
        }
    }
    for (index, (action, value)) in parsed.iter().enumerate() {
        if !matches!(
            *action,
            "delete_file" | "add_to_gitignore" | "add_to_git_exclude"
        ) {
            return Err(format!(
                "actions.{index}.action: Input should be 'delete_file', 'add_to_gitignore' or 'add_to_git_exclude'"
            ));
        }
        let field = if *action == "delete_file" {
            "path"
        } else {
            "pattern"
        };
        let value = value.strip_suffix('\n').unwrap_or(value);
        if !PRINTABLE_ASCII.is_match(value) {
            return Err(format!(
                "actions.{index}.{field}: Value error, path and pattern must be printable ASCII (no control characters, no whitespace, no non-ASCII characters)"
            ));
        }
        if value.starts_with('#') {
            return Err(format!(
                "actions.{index}.{field}: Value error, path and pattern must not start with '#' (comment-line injection vector in .gitignore and .git/info/exclude)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects() {
        assert!(subject_problem("fix(parser): keep lines").is_none());
        assert!(subject_problem("feat!: drop v1").is_none());
        assert!(
            subject_problem("fix: a")
                .unwrap()
                .contains("lowercase letter")
        );
        assert!(
            subject_problem("Fix: thing")
                .unwrap()
                .contains("kinds are lowercase")
        );
        assert!(
            subject_problem("fix(Parser): thing")
                .unwrap()
                .contains("scope")
        );
        assert!(
            subject_problem("\"fix: thing\"")
                .unwrap()
                .contains("quotes")
        );
        assert!(subject_problem("Fix stuff").unwrap().contains("separator"));
    }
}
