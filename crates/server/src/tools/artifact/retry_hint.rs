//! The validation retry hint Ralph 0.9.30 injects into the next attempt's
//! prompt (`phases/required_artifacts.py`, `tools/_validation_retry_hints.py`):
//! each rejected submission appends a numbered attempt listing its errors to
//! `.agent/tmp/last_retry_error_<drain>.txt` (a worker's: `<namespace>/tmp/`);
//! a valid submission removes the file and reports `VALIDATION RECOVERED`.

use std::sync::LazyLock;

use ralph_mcp_artifacts::Diagnostic;
use regex::Regex;

use super::payload::{RETRY_BANNER, RETRY_FOOTER, corrective_action};

const MARKER: &str = "PREVIOUS ATTEMPT FAILED: artifact validation rejected the retained draft.";
const BODY_CAP: usize = 4_096;
const HISTORY_CAP: usize = 16_384;

static ATTEMPT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"ATTEMPT \d+\n").expect("static pattern"));
static NEXT_ATTEMPT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\n\nATTEMPT \d+\n").expect("static pattern"));

/// The file name of a drain's hint.
pub fn file_name(drain: &str) -> String {
    format!(
        "last_retry_error_{}.txt",
        crate::tools::coord::file_key(drain)
    )
}

/// The attempts recorded in an earlier hint.
fn attempts(hint: &str) -> Vec<String> {
    let mut out = Vec::new();
    for m in ATTEMPT.find_iter(hint) {
        let rest = &hint[m.end()..];
        if !rest.starts_with(MARKER) {
            continue;
        }
        let end = NEXT_ATTEMPT.find(rest).map_or(rest.len(), |n| n.start());
        out.push(rest[..end].trim().to_owned());
    }
    if out.is_empty() {
        out = hint
            .split(MARKER)
            .skip(1)
            .filter(|a| !a.trim().is_empty())
            .map(|a| format!("{MARKER}{}", a.trim()))
            .collect();
    }
    out
}

fn bound(attempts: Vec<String>) -> Vec<String> {
    if attempts.len() < 2 {
        return attempts;
    }
    let (old, newest) = attempts.split_at(attempts.len() - 1);
    let headlines: Vec<String> = old
        .iter()
        .map(|a| a.lines().take(5).collect::<Vec<_>>().join("\n"))
        .collect();
    let used =
        newest[0].chars().count() + headlines.iter().map(|h| h.chars().count()).sum::<usize>();
    let budget = BODY_CAP.min(HISTORY_CAP.saturating_sub(used) / old.len());
    let mut out: Vec<String> = old
        .iter()
        .zip(&headlines)
        .map(|(attempt, headline)| {
            let body = attempt
                .strip_prefix(headline.as_str())
                .unwrap_or(attempt)
                .trim_start_matches('\n');
            if body.chars().count() <= budget {
                attempt.clone()
            } else {
                let cut: String = body.chars().take(budget).collect();
                format!(
                    "{headline}\n{}\n[older attempt body truncated]",
                    cut.trim_end()
                )
            }
        })
        .collect();
    out.push(newest[0].clone());
    out
}

/// The hint after one more rejected attempt.
pub fn build(kind: &str, diags: &[Diagnostic], prior: &str) -> String {
    let mut lines = vec![
        MARKER.to_owned(),
        format!("Artifact type: {kind}"),
        "Validator diagnostics:".to_owned(),
    ];
    for d in diags.iter().filter(|d| d.is_error()) {
        let section = d.section.as_deref().unwrap_or("frontmatter/document");
        lines.push(format!(
            "- {} at line {}, section {section}: {}",
            d.rule_id, d.line, d.message
        ));
    }
    lines.push(String::new());
    lines.push(corrective_action(kind, diags).to_owned());
    lines.push("Do not blindly resubmit identical content. Do not restart the task from scratch or discard prior work.".to_owned());
    let mut all = attempts(prior);
    all.push(lines.join("\n"));
    let count = all.len();
    let numbered: Vec<String> = all
        .iter()
        .enumerate()
        .map(|(i, a)| {
            format!(
                "ATTEMPT {}\n{MARKER}{}",
                i + 1,
                a.strip_prefix(MARKER).unwrap_or(a)
            )
        })
        .collect();
    let header = if count > 1 {
        format!(
            "THIS VALIDATION HAS FAILED {count} TIMES - FIX THE UNDERLYING ISSUE, DO NOT RESUBMIT UNCHANGED\n\n"
        )
    } else {
        String::new()
    };
    [
        RETRY_BANNER.to_owned(),
        header + &bound(numbered).join("\n\n"),
        RETRY_FOOTER.to_owned(),
    ]
    .join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diag() -> Diagnostic {
        Diagnostic::error(
            3,
            Some("Summary"),
            "SPEC006",
            "section requires list items",
            "add one",
        )
    }

    #[test]
    fn attempts_accumulate_and_are_numbered() {
        let one = build("issues", &[diag()], "");
        assert!(one.starts_with("VALIDATION FAILURE\n\nATTEMPT 1\nPREVIOUS ATTEMPT FAILED"));
        assert!(one.contains("- SPEC006 at line 3, section Summary: section requires list items"));
        let two = build("issues", &[diag()], &one);
        assert!(two.contains("THIS VALIDATION HAS FAILED 2 TIMES"));
        assert!(two.contains("ATTEMPT 2\n"));
        let many = (0..30).fold(String::new(), |prior, _| build("issues", &[diag()], &prior));
        assert!(many.contains("ATTEMPT 30\n"));
        assert!(many.chars().count() < 40_000, "{}", many.len());
    }
}
