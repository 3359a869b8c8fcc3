//! Plans are accepted on a sanity check of the raw text alone (Ralph 0.9.30,
//! `markdown/specs/_plan_not_a_plan.py` and `plan/_size_limits.py`): readable,
//! at least ten words, not a bare refusal or placeholder, at most 4,000,000
//! UTF-8 bytes. Structure, frontmatter and headings are deliberately irrelevant.

use std::sync::LazyLock;

use regex::Regex;

use crate::diagnostic::Diagnostic;
use crate::parse::parse;
use crate::pytext;
use crate::validate::Outcome;

const MIN_WORDS: usize = 10;
const MAX_BYTES: usize = 4_000_000;
const REFUSAL_PREFIXES: [&str; 5] = ["i cannot", "i can't", "i can not", "i'm sorry", "im sorry"];
const PLACEHOLDERS: [&str; 5] = [
    "plan goes here",
    "todo: plan",
    "todo plan",
    "fixme: plan",
    "tbd: plan",
];

static OBVIOUS_REFUSAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^(?:i\s+(?:cannot|can't|can\s+not)\s+(?:complete|implement)\s+this\s+request\s+because\b|i(?:'m|m)\s+sorry,\s+i\s+cannot\s+help\s+with\s+that\s+request\b)",
    )
    .expect("static pattern")
});
static CONSTRAINT_CONTINUATION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i),\s*(?:so|but)\b").expect("static pattern"));

/// Validates a plan.
pub fn validate(text: &str) -> Outcome {
    let (document, _) = parse(text, true);
    let mut diagnostics = Vec::new();
    if let Some(reason) = failure(text) {
        diagnostics.push(Diagnostic::error(
            1,
            None,
            "PLAN001",
            format!("submitted text is not a usable plan: {reason}"),
            "submit readable plan prose with at least ten words",
        ));
    } else if text.len() > MAX_BYTES {
        diagnostics.push(Diagnostic::error(
            1,
            None,
            "SPEC010",
            format!(
                "plan size violation: field='total_bytes' actual={} cap={MAX_BYTES}",
                text.len()
            ),
            "split the plan or shorten it below 4,000,000 bytes",
        ));
    }
    Outcome {
        document,
        diagnostics,
    }
}

fn first_lines(text: &str, limit: usize) -> Vec<String> {
    text.split('\n')
        .map(pytext::strip)
        .filter(|l| !l.is_empty())
        .take(limit)
        .map(str::to_owned)
        .collect()
}

fn is_whole_message_refusal(text: &str) -> bool {
    let lines = first_lines(text, 2);
    let Some(first) = lines.first() else {
        return false;
    };
    let folded = first.to_lowercase();
    if !REFUSAL_PREFIXES.iter().any(|p| folded.starts_with(p)) || !OBVIOUS_REFUSAL.is_match(&folded)
    {
        return false;
    }
    lines.len() == 1 && !CONSTRAINT_CONTINUATION.is_match(first)
}

fn failure(text: &str) -> Option<String> {
    if text.contains('\0') {
        return Some("text contains a NUL character".into());
    }
    if pytext::strip(text).is_empty() {
        return Some("text is empty".into());
    }
    let total = pytext::len(text);
    let readable = text
        .chars()
        .filter(|&c| {
            matches!(c, ' ' | '\t' | '\r' | '\n')
                || (pytext::is_printable(c) && !pytext::is_other(c))
        })
        .count();
    let words = pytext::words(text).take(MIN_WORDS + 1).count();
    let first = first_lines(text, 1)
        .first()
        .map(|l| l.to_lowercase())
        .unwrap_or_default();
    if (readable as f64) / (total as f64) < 0.9 {
        Some("text is control-heavy or binary-like".into())
    } else if words < MIN_WORDS {
        Some(format!("text has only {words} words"))
    } else if is_whole_message_refusal(text) {
        Some("text is an obvious refusal".into())
    } else if PLACEHOLDERS.iter().any(|p| first.starts_with(p)) {
        Some("text is an obvious placeholder".into())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanity_rules() {
        assert!(
            validate("one two three").diagnostics[0]
                .message
                .contains("only 3 words")
        );
        assert!(
            validate("I cannot implement this request because it is unsafe and wrong here now")
                .diagnostics[0]
                .message
                .contains("refusal")
        );
        assert!(
            validate("todo: plan one two three four five six seven eight nine").diagnostics[0]
                .message
                .contains("placeholder")
        );
        assert!(
            validate("Change the parser so it keeps line endings, then add tests for it")
                .diagnostics
                .is_empty()
        );
    }
}
