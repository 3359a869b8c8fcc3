//! The JSON an artifact tool returns (Ralph 0.9.30, `tools/md_artifact.py` and
//! `_md_artifact_payload.py`): verdict, diagnostics with counts, the draft's
//! outline, and the repair hint; an invalid result adds Ralph's
//! validation-failure envelope.

use ralph_mcp_artifacts::parse::parse;
use ralph_mcp_artifacts::{Diagnostic, Severity};
use serde_json::{Map, Value, json};

/// Every validating result carries this: repair in place instead of resending.
pub const REPAIR_HINT: &str = "The submitted document is staged as this artifact's draft. Repair it in place with `ralph_edit_md_artifact` (oldText/newText edits) instead of resending the whole document; it resubmits the artifact automatically as soon as the edited draft validates, so no separate `ralph_finalize_md_artifact` call is needed. Read the draft back with `ralph_get_md_draft` when you need to see its current text.";

/// Ralph's banner for a validation failure.
pub const RETRY_BANNER: &str = "VALIDATION FAILURE";
/// Ralph's closing instruction for a rejected document.
pub const RETRY_FOOTER: &str = "VALIDATION FAILURE\nFix the underlying issue before submitting again.\nDo not resubmit unchanged work.";

/// One diagnostic as JSON (Ralph's fields plus `fix`).
pub fn diagnostic(d: &Diagnostic) -> Value {
    json!({
        "line": d.line,
        "section": d.section,
        "rule_id": d.rule_id,
        "message": d.message,
        "fix": d.fix,
        "severity": d.severity,
    })
}

/// Per-severity counts.
pub fn counts(diags: &[Diagnostic]) -> Value {
    let n = |s| diags.iter().filter(|d| d.severity == s).count();
    json!({"error": n(Severity::Error), "warning": n(Severity::Warning), "info": n(Severity::Info)})
}

/// True when any diagnostic is an error.
pub fn invalid(diags: &[Diagnostic]) -> bool {
    diags.iter().any(Diagnostic::is_error)
}

/// What the agent must do about a rejection.
pub fn corrective_action(kind: &str, diags: &[Diagnostic]) -> &'static str {
    if kind == "commit_message" {
        return "Rewrite the commit message itself (subject and body) so it satisfies the diagnostics above, then resubmit it with ralph_edit_md_artifact. Do not change code to make the message fit, and do not resubmit the same message unchanged.";
    }
    if kind == "development_result"
        && diags.iter().any(|d| {
            d.is_error()
                && (d.message.contains("status must be one of")
                    || d.message.contains("frontmatter"))
        })
    {
        return "The development_result body is free-form; the validator only checks the closed-vocabulary ``status`` (completed | partial | failed) and the ``type`` field. Fix the frontmatter the diagnostics name and resubmit the document. Do not invent proof sections or dispositions; those are read by the next agent, not validated here.";
    }
    "The submitted document remains staged as the retained draft. Repair it in place with ralph_edit_md_artifact, which resubmits automatically once valid. Fix the underlying document issue before resubmitting."
}

/// Adds the validation-failure envelope to an invalid result.
pub fn add_failure_envelope(payload: &mut Map<String, Value>, kind: &str, diags: &[Diagnostic]) {
    payload.insert("status".into(), "validation_failed".into());
    payload.insert("severity".into(), "error".into());
    payload.insert(
        "corrective_action".into(),
        corrective_action(kind, diags).into(),
    );
    payload.insert("message".into(), RETRY_FOOTER.into());
}

/// `{artifact_type, valid, diagnostics, counts, overridden}`.
pub fn verdict(kind: &str, diags: &[Diagnostic]) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("artifact_type".into(), kind.into());
    m.insert("valid".into(), (!invalid(diags)).into());
    m.insert("diagnostics".into(), diags.iter().map(diagnostic).collect());
    m.insert("counts".into(), counts(diags));
    m.insert("overridden".into(), json!([]));
    m
}

/// The result of a check or a refused submission.
pub fn validation(kind: &str, diags: &[Diagnostic]) -> (Value, bool) {
    let mut m = verdict(kind, diags);
    let bad = invalid(diags);
    if bad {
        add_failure_envelope(&mut m, kind, diags);
    }
    m.insert("repair_hint".into(), REPAIR_HINT.into());
    (Value::Object(m), bad)
}

/// The outline of a submitted document.
pub fn document_summary(content: &str) -> Value {
    let (doc, _) = parse(content, false);
    json!({
        "characters": content.chars().count(),
        "sections": doc.sections.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        "step_ids": doc.sections.iter().flat_map(|s| s.blocks.iter().map(|b| b.identifier.as_str())).collect::<Vec<_>>(),
    })
}

/// The result of a successful submission.
pub fn submitted(kind: &str, content: &str, diags: &[Diagnostic]) -> Value {
    let mut m = verdict(kind, diags);
    m.insert("valid".into(), true.into());
    m.insert("persisted_document".into(), document_summary(content));
    m.insert("repair_hint".into(), REPAIR_HINT.into());
    Value::Object(m)
}

/// The state of a draft: length, outline and (non-gating) diagnostics; with
/// `exists`, the draft itself too.
pub fn draft_status(
    kind: &str,
    draft: &str,
    exists: Option<bool>,
    diags: &[Diagnostic],
) -> Map<String, Value> {
    let (doc, _) = parse(draft, false);
    let mut m = Map::new();
    m.insert("artifact_type".into(), kind.into());
    m.insert("submitted".into(), false.into());
    if let Some(exists) = exists {
        m.insert("exists".into(), exists.into());
        m.insert("content".into(), draft.into());
    }
    m.insert("draft_chars".into(), draft.chars().count().into());
    m.insert(
        "sections".into(),
        doc.sections
            .iter()
            .map(|s| Value::from(s.name.as_str()))
            .collect(),
    );
    m.insert("valid".into(), (!invalid(diags)).into());
    m.insert("diagnostics".into(), diags.iter().map(diagnostic).collect());
    m.insert("counts".into(), counts(diags));
    m.insert("overridden".into(), json!([]));
    m.insert("repair_hint".into(), REPAIR_HINT.into());
    m
}
