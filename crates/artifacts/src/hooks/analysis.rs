//! Planning, review and policy-remediation decisions (Ralph 0.9.30,
//! `markdown/specs/analysis_decision.py`): criterion verdicts with their
//! required fields, findings mirrored between `What Came Up Short` and
//! `Criterion Verdicts`, and status-dependent sections.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use regex::Regex;

use crate::diagnostic::Diagnostic;
use crate::document::{Document, Item};

fn re(p: &str) -> Regex {
    Regex::new(p).expect("static pattern")
}

static FINDING_TARGET: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)(?:Step:\s*)?\[(S-[1-9][0-9]*)\]|Plan-level:"));
static STEP_REFERENCE: LazyLock<Regex> = LazyLock::new(|| re(r"Step:\s*\[(S-[1-9][0-9]*)\]"));
static VERDICT: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)Verdict:\s*(met|not met|not evaluable)(?:\.|$)"));
static EVIDENCE: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)Evidence:"));
static LOCATION: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)Location:"));
static PLAN_REFERENCE: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)Plan reference:\s*\[[^\]]+\]"));
static PLANNING_ID: LazyLock<Regex> = LazyLock::new(|| re(r"^PA-[0-9]+$"));
static POLICY_ID: LazyLock<Regex> = LazyLock::new(|| re(r"^PR-[0-9]+$"));

const VERDICT_FIELDS: [&str; 5] = [
    "Criterion:",
    "Expected observation:",
    "Verdict:",
    "Evidence:",
    "Location:",
];
const PLANNING: &str = "planning_analysis_decision";
const REVIEW: &str = "review_analysis_decision";
const POLICY: &str = "policy_remediation_analysis_decision";

fn is_verification(kind: &str) -> bool {
    kind == PLANNING || kind == POLICY
}

fn finding_fields_complete(text: &str) -> bool {
    let subject = text.contains("Criterion:") || PLAN_REFERENCE.is_match(text);
    subject && VERDICT_FIELDS[1..].iter().all(|f| text.contains(f))
}

fn has_finding_target(text: &str) -> bool {
    FINDING_TARGET.is_match(text) || PLAN_REFERENCE.is_match(text)
}

/// The verdict (`met`, `not met`, `not evaluable`), lower-cased.
pub fn extract_verdict(text: &str) -> Option<String> {
    VERDICT.captures(text).map(|c| c[1].to_lowercase())
}

/// The step (`S-n`) or `plan-level` a finding targets.
pub fn finding_target(text: &str) -> Option<String> {
    if text.contains("Plan-level:") {
        return Some("plan-level".into());
    }
    STEP_REFERENCE.captures(text).map(|c| c[1].to_owned())
}

/// The text after the first `Evidence:` up to the next `Location:`, stripped.
fn evidence(text: &str) -> Option<String> {
    let m = EVIDENCE.find(text)?;
    let rest = &text[m.end()..];
    let end = LOCATION.find(rest).map_or(rest.len(), |l| l.start());
    Some(crate::pytext::strip(&rest[..end]).to_owned())
}

/// The text after the first `Location:`, stripped, without trailing dots.
fn location(text: &str) -> Option<String> {
    let m = LOCATION.find(text)?;
    Some(
        crate::pytext::strip(&text[m.end()..])
            .trim_end_matches('.')
            .to_owned(),
    )
}

fn diag(line: usize, section: &str, rule: &str, message: &str, fix: &str) -> Diagnostic {
    Diagnostic::error(line, Some(section), rule, message, fix)
}

fn items<'a>(doc: &'a Document, name: &str) -> &'a [Item] {
    doc.section(name).map_or(&[], |s| s.items.as_slice())
}

fn verification_verdicts(doc: &Document, kind: &str, status: &str) -> Vec<Diagnostic> {
    let section = doc.section("Criterion Verdicts");
    let verdicts = items(doc, "Criterion Verdicts");
    let mut out = Vec::new();
    if verdicts.is_empty() {
        out.push(diag(
            section.map_or(1, |s| s.line),
            "Criterion Verdicts",
            "ANALYSIS006",
            "verification decisions require a non-empty Criterion Verdicts section",
            "add one '- [PA-1] Criterion: … Expected observation: … Verdict: met Evidence: … Location: …' item per criterion",
        ));
        return out;
    }
    let id_pattern: &Regex = if kind == PLANNING {
        &PLANNING_ID
    } else {
        &POLICY_ID
    };
    let prefix = if kind == PLANNING { "PA" } else { "PR" };
    for item in verdicts {
        let at = |rule, message: &str, fix: &str| {
            diag(item.line, "Criterion Verdicts", rule, message, fix)
        };
        if !id_pattern.is_match(&item.identifier) {
            out.push(at(
                "ANALYSIS010",
                &format!("criterion verdict IDs for {kind} must use its numeric phase ID pattern"),
                &format!("rename [{}] to [{prefix}-<n>]", item.identifier),
            ));
        }
        let needs_cost = kind == PLANNING;
        let missing: Vec<&str> = VERDICT_FIELDS
            .iter()
            .copied()
            .chain(needs_cost.then_some("Cost:"))
            .filter(|f| !item.text.contains(f))
            .collect();
        if !missing.is_empty() {
            let missing_cost = missing.contains(&"Cost:");
            out.push(at(
                "ANALYSIS005",
                &format!(
                    "criterion verdict must include Criterion:, Expected observation:, Verdict:, Evidence:, Location:{}",
                    if missing_cost { ", and Cost: for planning_analysis_decision" } else { "" }
                ),
                &format!("add {}", missing.join(", ")),
            ));
            continue;
        }
        let Some(verdict) = extract_verdict(&item.text) else {
            out.push(at(
                "ANALYSIS008",
                "criterion verdict must be exactly met, not met, or not evaluable",
                "write 'Verdict: met', 'Verdict: not met' or 'Verdict: not evaluable'",
            ));
            continue;
        };
        if evidence(&item.text).unwrap_or_default().is_empty() {
            out.push(at(
                "ANALYSIS009",
                "criterion verdict must cite non-empty Evidence:",
                "say what you observed after 'Evidence:'",
            ));
        }
        if location(&item.text).unwrap_or_default().is_empty() {
            out.push(at(
                "ANALYSIS013",
                "criterion verdict must cite a non-empty Location:",
                "name the file, line or command after 'Location:'",
            ));
        }
        if status == "completed" && verdict != "met" {
            out.push(at(
                "ANALYSIS012",
                "a completed verification decision requires every criterion verdict to be 'met'",
                "set status to request_changes or failed, or fix the verdict",
            ));
        }
        if verdict == "not evaluable" && status != "failed" {
            out.push(at(
                "ANALYSIS007",
                "a 'not evaluable' criterion verdict requires status 'failed'",
                "set status: failed",
            ));
        }
        if kind == PLANNING && !has_finding_target(&item.text) {
            out.push(at(
                "ANALYSIS004",
                "planning criterion verdict must identify 'Step: [S-n]', 'Plan-level:', or a 'Plan reference: [<stable id>]'",
                "add 'Step: [S-n]', 'Plan-level:' or 'Plan reference: [<id>]'",
            ));
        }
        if kind == PLANNING && status != "completed" && !item.text.contains("Proposed revision:") {
            out.push(at(
                "ANALYSIS019",
                "planning criterion verdict must include a concrete 'Proposed revision:' the planner can apply or rebut",
                "add 'Proposed revision: …'",
            ));
        }
    }
    out
}

/// The cross-section contract of non-development decisions.
pub fn validate_document(doc: &Document) -> Vec<Diagnostic> {
    let kind = doc.field("type").unwrap_or_default();
    let status = doc.field("status").unwrap_or_default();
    if kind == "development_analysis_decision" {
        return Vec::new();
    }
    let what = doc.section("What Came Up Short");
    let fix = doc.section("How To Fix");
    let mut out = if is_verification(kind) {
        let mut v = verification_verdicts(doc, kind, status);
        if let Some(fix) = fix {
            v.push(diag(
                fix.line,
                "How To Fix",
                "ANALYSIS011",
                "verification decisions must omit How To Fix; remedies go inline in each verdict's 'Proposed revision:' (planning) or 'Remaining work:' (policy remediation)",
                "remove the How To Fix section and put the remedy in the verdicts",
            ));
        }
        v
    } else {
        Vec::new()
    };
    if status == "completed" {
        if let Some(what) = what {
            out.push(diag(
                what.line,
                &what.name,
                "ANALYSIS002",
                "status 'completed' must omit What Came Up Short; known gaps require a non-completed status",
                "remove the section or set status to request_changes",
            ));
        }
        if kind == REVIEW
            && let Some(fix) = fix
        {
            out.push(diag(
                fix.line,
                &fix.name,
                "ANALYSIS002",
                "status 'completed' must omit both remediation sections; known gaps require a non-completed status",
                "remove How To Fix or set status to request_changes",
            ));
        }
        return out;
    }
    if status != "request_changes" && status != "failed" {
        return out;
    }
    let what_items = items(doc, "What Came Up Short");
    if what_items.is_empty() {
        out.push(diag(
            what.map_or(1, |s| s.line),
            "What Came Up Short",
            "ANALYSIS003",
            "non-completed decisions require a non-empty What Came Up Short section",
            "list each shortfall as '- [ID] …' under '## What Came Up Short'",
        ));
    }
    if is_verification(kind) {
        for item in what_items
            .iter()
            .filter(|i| !finding_fields_complete(&i.text))
        {
            out.push(diag(
                item.line,
                "What Came Up Short",
                "ANALYSIS005",
                "verification finding must identify Criterion: (or a Plan reference:) and include Expected observation:, Verdict:, Evidence:, and Location:",
                "add the missing fields",
            ));
        }
        for item in what_items.iter().filter(|i| {
            i.text.to_lowercase().contains("verdict: not evaluable") && status != "failed"
        }) {
            out.push(diag(
                item.line,
                "What Came Up Short",
                "ANALYSIS007",
                "a 'not evaluable' verification verdict requires status 'failed'",
                "set status: failed",
            ));
        }
    }
    if kind == PLANNING {
        for item in what_items.iter().filter(|i| !has_finding_target(&i.text)) {
            out.push(diag(
                item.line,
                "What Came Up Short",
                "ANALYSIS004",
                "planning request_changes finding must identify its affected target as 'Step: [S-n]', 'Plan-level:', or a 'Plan reference: [<stable id>]'",
                "add 'Step: [S-n]', 'Plan-level:' or 'Plan reference: [<id>]'",
            ));
        }
        for item in what_items
            .iter()
            .filter(|i| !i.text.contains("Proposed revision:"))
        {
            out.push(diag(
                item.line,
                "What Came Up Short",
                "ANALYSIS019",
                "planning finding must include a concrete 'Proposed revision:' the planner can apply or rebut",
                "add 'Proposed revision: …'",
            ));
        }
    }
    if is_verification(kind) {
        if doc.section("Criterion Verdicts").is_some() {
            let verdicts = items(doc, "Criterion Verdicts");
            let verdict_ids: HashSet<&str> =
                verdicts.iter().map(|i| i.identifier.as_str()).collect();
            let shortfall: HashMap<&str, &Item> = what_items
                .iter()
                .map(|i| (i.identifier.as_str(), i))
                .collect();
            for item in verdicts {
                if item.text.to_lowercase().contains("verdict: not met")
                    && VERDICT_FIELDS.iter().all(|f| item.text.contains(f))
                    && !shortfall.contains_key(item.identifier.as_str())
                {
                    out.push(diag(
                        item.line,
                        "Criterion Verdicts",
                        "ANALYSIS014",
                        "each non-met criterion verdict must have a matching localized What Came Up Short item",
                        &format!("add '- [{}] …' to What Came Up Short", item.identifier),
                    ));
                }
            }
            for item in what_items {
                if finding_fields_complete(&item.text)
                    && !verdict_ids.contains(item.identifier.as_str())
                {
                    out.push(diag(
                        item.line,
                        "What Came Up Short",
                        "ANALYSIS014",
                        "each What Came Up Short item must mirror a non-met criterion verdict",
                        &format!(
                            "use the ID of the criterion verdict [{}] mirrors",
                            item.identifier
                        ),
                    ));
                }
            }
            for v in verdicts {
                if let Some(s) = shortfall.get(v.identifier.as_str())
                    && let (Some(a), Some(b)) = (extract_verdict(&v.text), extract_verdict(&s.text))
                    && a != b
                {
                    out.push(diag(
                        s.line,
                        "What Came Up Short",
                        "ANALYSIS018",
                        "a What Came Up Short item's Verdict must match its mirrored Criterion Verdict",
                        "make both verdicts the same",
                    ));
                }
            }
        }
    } else if kind == REVIEW {
        let fix_items = items(doc, "How To Fix");
        let what_ids: HashSet<&str> = what_items.iter().map(|i| i.identifier.as_str()).collect();
        let fix_ids: HashSet<&str> = fix_items.iter().map(|i| i.identifier.as_str()).collect();
        for item in what_items
            .iter()
            .filter(|i| !fix_ids.contains(i.identifier.as_str()))
        {
            out.push(diag(
                item.line,
                "What Came Up Short",
                "ANALYSIS003",
                "What Came Up Short item has no matching How To Fix item",
                &format!("add '- [{}] …' to How To Fix", item.identifier),
            ));
        }
        for item in fix_items
            .iter()
            .filter(|i| !what_ids.contains(i.identifier.as_str()))
        {
            out.push(diag(
                item.line,
                "How To Fix",
                "ANALYSIS003",
                "How To Fix item has no matching What Came Up Short item",
                &format!("add '- [{}] …' to What Came Up Short", item.identifier),
            ));
        }
    }
    out
}

/// The finding targets of a planning decision: finding ID → `S-n` or `plan-level`.
pub fn finding_targets(doc: &Document) -> Vec<(String, String, usize)> {
    let mut out: Vec<(String, String, usize)> = Vec::new();
    for item in items(doc, "What Came Up Short") {
        if let Some(t) = finding_target(&item.text) {
            out.retain(|(id, _, _)| *id != item.identifier);
            out.push((item.identifier.clone(), t, item.line));
        }
    }
    if doc.field("type") == Some(PLANNING) {
        for item in items(doc, "Criterion Verdicts") {
            if let Some(t) = finding_target(&item.text)
                && !out.iter().any(|(id, _, _)| *id == item.identifier)
            {
                out.push((item.identifier.clone(), t, item.line));
            }
        }
    }
    out
}
