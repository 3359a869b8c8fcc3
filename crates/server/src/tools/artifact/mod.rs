//! The markdown-artifact tools, with Ralph 0.9.30's names, arguments and
//! capabilities (`ralph/mcp/tools/md_artifact.py`): check, submit, stage,
//! edit, read back, discard and finalize a document of a registered type
//! (Ralph's, or one the workspace declares in `.agent/artifact-types/`).
//! Validation is [`ralph_mcp_artifacts::validate`]; persistence is
//! [`store`] and [`receipts`].

mod payload;
pub mod receipts;
mod retry_hint;
pub mod store;

use std::sync::{Arc, LazyLock, Mutex};

use ralph_mcp_artifacts::document::Document;
use ralph_mcp_artifacts::hooks::{analysis, design_verdict};
use ralph_mcp_artifacts::{Diagnostic, Registry, Spec, validate};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::write::{TextEdit, apply_edits};
use super::{ToolContext, ToolError, ToolResult};
use rmcp::model::CallToolResult;
use store::Dir;

/// Ralph's bundled artifact types, parsed once.
static BUILTIN: LazyLock<Registry> = LazyLock::new(Registry::builtin);

/// Submissions, edits and drafts of one server happen one at a time, so two
/// concurrent calls never interleave a draft, an artifact and its receipt.
static MUTATE: Mutex<()> = Mutex::new(());

/// Arguments naming a type and carrying a document.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentArgs {
    /// The artifact type, e.g. `plan`, `development_result`, `issues`, `commit_message`.
    pub artifact_type: String,
    /// The whole markdown document.
    pub content: String,
}

/// How `ralph_stage_md_artifact` combines content with the draft.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StageMode {
    /// Append to the draft (default).
    #[default]
    Append,
    /// Replace the draft.
    ReplaceAll,
}

/// Arguments of `ralph_stage_md_artifact`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StageArgs {
    /// The artifact type.
    pub artifact_type: String,
    /// Markdown to add to the draft.
    pub content: String,
    /// `append` (default) or `replace_all`.
    #[serde(default)]
    pub mode: StageMode,
}

/// Arguments of `ralph_edit_md_artifact`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EditArgs {
    /// The artifact type.
    pub artifact_type: String,
    /// Replacements applied in order to the draft, all or nothing.
    pub edits: Vec<TextEdit>,
    /// Show the diff without writing or submitting.
    #[serde(default)]
    pub dry_run: bool,
    /// Fail closed unless the draft's SHA-256 (hex) is this value.
    pub expected_content_hash: Option<String>,
}

/// Arguments naming only a type.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TypeArgs {
    /// The artifact type.
    pub artifact_type: String,
}

fn invalid_args(tool: &str, message: impl Into<String>) -> ToolError {
    ToolError::InvalidArgs {
        tool: tool.into(),
        message: message.into(),
    }
}

fn io_failed(what: &str, e: std::io::Error) -> ToolError {
    ToolError::failed(format!("{what}: {e}"))
}

/// A JSON result, `isError` when `error`.
fn result(value: Value, error: bool) -> CallToolResult {
    super::text_or_error(value.to_string(), error)
}

/// A parallel worker's namespace: its `worker_namespace`, or the parent of its
/// `worker_artifact_dir` (as Ralph derives it).
fn worker_namespace(ctx: &ToolContext) -> Option<std::path::PathBuf> {
    let payload = &ctx.session.payload;
    payload.worker_namespace.clone().or_else(|| {
        payload
            .worker_artifact_dir
            .as_ref()
            .and_then(|d| d.parent().map(std::path::Path::to_path_buf))
    })
}

/// The artifact types this workspace knows: Ralph's, plus its own declarations.
fn registry(ctx: &ToolContext) -> Registry {
    let Ok(dir) = ctx.agent.dir("artifact-types", false) else {
        return BUILTIN.clone();
    };
    let mut names: Vec<String> = crate::confine::ops::read_names(std::os::fd::AsFd::as_fd(&dir))
        .unwrap_or_default()
        .into_iter()
        .filter_map(|n| n.into_string().ok())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    names.sort();
    let mut registry = BUILTIN.clone();
    for name in names {
        let file = format!(".agent/artifact-types/{name}");
        let loaded = ctx
            .agent
            .read("artifact-types", &name, 1 << 20)
            .map_err(|e| e.to_string())
            .and_then(|b| String::from_utf8(b).map_err(|_| "not UTF-8".to_owned()))
            .and_then(|text| registry.add_toml(&file, &text).map_err(|e| e.to_string()));
        if let Err(e) = loaded {
            tracing::warn!("artifact type skipped: {file}: {e}");
        }
    }
    registry
}

fn spec(ctx: &ToolContext, tool: &str, kind: &str) -> Result<Arc<Spec>, ToolError> {
    if kind.is_empty() {
        return Err(invalid_args(tool, "missing 'artifact_type'"));
    }
    registry(ctx).get(kind).map_err(|e| invalid_args(tool, e))
}

/// The directory this session's artifacts and drafts live in.
fn artifact_dir(ctx: &ToolContext) -> Result<Dir, ToolError> {
    match &ctx.session.payload.worker_artifact_dir {
        Some(dir) => Dir::open_abs(dir),
        None => Dir::agent(&ctx.agent, "artifacts"),
    }
    .map_err(|e| io_failed("the artifact directory cannot be opened", e))
}

/// Where the hand-off copy of `kind` goes, if it has one.
fn handoff(ctx: &ToolContext, kind: &str) -> Result<Option<(Dir, &'static str)>, ToolError> {
    let Some(name) = store::handoff_name(kind) else {
        return Ok(None);
    };
    let dir = match worker_namespace(ctx) {
        Some(ns) => Dir::open_abs(&ns.join("handoffs")),
        None => Dir::agent(&ctx.agent, ""),
    }
    .map_err(|e| io_failed("the hand-off directory cannot be opened", e))?;
    Ok(Some((dir, name)))
}

/// Validates `content` as `spec`, plus the run-scoped checks of submission.
fn check(dir: &Dir, spec: &Spec, content: &str) -> Vec<Diagnostic> {
    let outcome = validate(content, spec);
    let mut diags = outcome.diagnostics;
    let valid = !diags.iter().any(Diagnostic::is_error);
    match spec.artifact_type.as_str() {
        "design_verdict" if valid => {
            diags.extend(design_verdict::submission_checks(&outcome.document));
        }
        // Ralph checks provenance on the normalized content, which a rejected
        // document does not have: its run id always reads as missing.
        "design_verdict" => diags.extend(design_verdict::submission_checks(&Document::default())),
        "planning_analysis_decision" if valid => {
            diags.extend(plan_targets(dir, &outcome.document));
        }
        _ => {}
    }
    diags
}

/// `ANALYSIS004` for planning findings that name a step the submitted plan lacks.
fn plan_targets(dir: &Dir, doc: &Document) -> Vec<Diagnostic> {
    let targets = analysis::finding_targets(doc);
    if targets.is_empty() {
        return Vec::new();
    }
    let mut lines = std::collections::HashMap::new();
    for name in ["What Came Up Short", "Criterion Verdicts"] {
        for s in doc.sections_named(name) {
            for i in &s.items {
                lines.insert(i.identifier.clone(), i.line);
            }
        }
    }
    let line = |id: &str| lines.get(id).copied().unwrap_or(1);
    let Ok(Some(plan)) = dir.read("plan.md") else {
        return targets
            .iter()
            .map(|(id, _, _)| {
                Diagnostic::error(line(id), Some("What Came Up Short"), "ANALYSIS004", "planning finding target cannot be validated because no submitted plan is available", "submit the plan first, or target 'Plan-level:'")
            })
            .collect();
    };
    let (plan, _) = ralph_mcp_artifacts::parse::parse(&plan, false);
    let steps: std::collections::HashSet<&str> = plan
        .sections
        .iter()
        .flat_map(|s| s.blocks.iter().map(|b| b.identifier.as_str()))
        .filter(|id| {
            id.strip_prefix("S-").is_some_and(|n| {
                !n.starts_with('0') && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
            })
        })
        .collect();
    targets
        .iter()
        .filter(|(_, t, _)| t != "plan-level" && !steps.contains(t.as_str()))
        .map(|(id, t, _)| {
            Diagnostic::error(
                line(id),
                Some("What Came Up Short"),
                "ANALYSIS004",
                format!("planning finding references unknown step '{t}'; use an existing submitted plan step or 'Plan-level:'"),
                format!("the submitted plan's steps are: {}", {
                    let mut s: Vec<&str> = steps.iter().copied().collect();
                    s.sort_unstable();
                    s.join(", ")
                }),
            )
        })
        .collect()
}

/// Saves `content` as the draft, refusing one over the type's cap.
fn write_draft(
    tool: &str,
    dir: &Dir,
    spec: &Spec,
    content: &str,
    label: &str,
) -> Result<(), ToolError> {
    let cap = spec.draft_cap();
    let len = content.chars().count();
    if len > cap {
        return Err(invalid_args(
            tool,
            format!(
                "{label} draft for '{}' would exceed its character cap ({len} > {cap}); the existing draft is unchanged",
                spec.artifact_type
            ),
        ));
    }
    store::save_draft(dir, &spec.artifact_type, content)
        .map_err(|e| io_failed("the draft could not be saved", e))
}

/// A plan over the cap is refused as a validation result (Ralph's sanity gate).
fn oversized_plan(spec: &Spec, content: &str) -> Option<CallToolResult> {
    if spec.artifact_type != "plan" || content.len() <= spec.draft_cap() {
        return None;
    }
    let diags = validate(content, spec).diagnostics;
    let (v, bad) = payload::validation(&spec.artifact_type, &diags);
    Some(result(v, bad))
}

/// Writes the artifact, its hand-off copy and its receipt, or none of them.
fn submit_canonical(
    ctx: &ToolContext,
    dir: &Dir,
    kind: &str,
    markdown: &str,
) -> Result<(), ToolError> {
    let name = format!("{kind}.md");
    let failed = |what: &str, e: std::io::Error| {
        ToolError::failed(format!(
            "the {kind} artifact was NOT submitted: {what}: {e}; the previous state is restored; fix the problem and submit again"
        ))
    };
    let before = dir
        .read(&name)
        .map_err(|e| failed("cannot read the current artifact", e))?;
    let handoff = handoff(ctx, kind)?;
    let handoff_before = match &handoff {
        Some((d, n)) => d
            .read(n)
            .map_err(|e| failed("cannot read the current hand-off copy", e))?,
        None => None,
    };
    let rollback = || {
        let _ = dir.restore(&name, before.as_deref());
        if let Some((d, n)) = &handoff {
            let _ = d.restore(n, handoff_before.as_deref());
        }
    };
    let steps = || -> Result<(), ToolError> {
        dir.write(&name, markdown)
            .map_err(|e| failed(&format!("cannot write {}", dir.path_of(&name).display()), e))?;
        if dir.read(&name).ok().flatten().as_deref() != Some(markdown) {
            return Err(ToolError::failed(format!(
                "the {kind} artifact was NOT submitted: the written file reads back differently"
            )));
        }
        if let Some((d, n)) = &handoff {
            d.write(n, markdown)
                .map_err(|e| failed(&format!("cannot write {}", d.path_of(n).display()), e))?;
        }
        let run_id = &ctx.session.payload.run_id;
        if !run_id.is_empty() {
            receipts::write(&ctx.agent, run_id, kind, crate::secret::broker_secret())
                .map_err(|e| failed("cannot store the receipt", e))?;
        }
        Ok(())
    };
    steps().inspect_err(|_| rollback())
}

/// The directory of the validation retry hint: `.agent/tmp`, or a worker's `<namespace>/tmp`.
fn hint_dir(ctx: &ToolContext) -> std::io::Result<Dir> {
    match worker_namespace(ctx) {
        Some(ns) => Dir::open_abs(&ns.join("tmp")),
        None => Dir::agent(&ctx.agent, "tmp"),
    }
}

/// Records a rejection in the retry hint (best effort: the result says it all).
fn record_rejection(ctx: &ToolContext, kind: &str, diags: &[Diagnostic]) {
    let drain = &ctx.session.payload.drain;
    if drain.is_empty() {
        return;
    }
    let name = retry_hint::file_name(drain);
    let written = hint_dir(ctx).and_then(|dir| {
        let prior = dir.read(&name).ok().flatten().unwrap_or_default();
        dir.write(&name, &retry_hint::build(kind, diags, &prior))
    });
    if let Err(e) = written {
        tracing::warn!("validation retry hint not written: {e}");
    }
}

/// Removes the retry hint after a valid submission; true when there was one.
fn clear_rejections(ctx: &ToolContext) -> bool {
    let drain = &ctx.session.payload.drain;
    !drain.is_empty()
        && hint_dir(ctx)
            .and_then(|dir| dir.remove(&retry_hint::file_name(drain)))
            .unwrap_or(false)
}

/// How a validation that may submit ended.
struct Submission {
    diags: Vec<Diagnostic>,
    submitted: bool,
    recovered: bool,
}

/// Validates and, when valid, submits: the shared end of submit, edit and finalize.
fn validate_and_submit(
    ctx: &ToolContext,
    dir: &Dir,
    spec: &Spec,
    content: &str,
) -> Result<Submission, ToolError> {
    let diags = check(dir, spec, content);
    let submitted = !payload::invalid(&diags);
    let mut recovered = false;
    if submitted {
        submit_canonical(ctx, dir, &spec.artifact_type, content)?;
        recovered = clear_rejections(ctx);
    } else {
        record_rejection(ctx, &spec.artifact_type, &diags);
    }
    Ok(Submission {
        diags,
        submitted,
        recovered,
    })
}

/// The result of submit and finalize.
fn submission_result(kind: &str, content: &str, s: &Submission) -> CallToolResult {
    if s.submitted {
        let mut v = payload::submitted(kind, content, &s.diags);
        if s.recovered {
            v["validation_recovered"] = true.into();
            v["message"] = "VALIDATION RECOVERED".into();
        }
        result(v, false)
    } else {
        result(payload::validation(kind, &s.diags).0, true)
    }
}

fn lock() -> std::sync::MutexGuard<'static, ()> {
    MUTATE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `ralph_verify_md_artifact`.
pub fn verify(ctx: &ToolContext, args: DocumentArgs) -> ToolResult {
    let spec = spec(ctx, "ralph_verify_md_artifact", &args.artifact_type)?;
    let dir = artifact_dir(ctx)?;
    let diags = check(&dir, &spec, &args.content);
    let (v, bad) = payload::validation(&spec.artifact_type, &diags);
    Ok(result(v, bad))
}

/// `ralph_submit_md_artifact`.
pub fn submit(ctx: &ToolContext, args: DocumentArgs) -> ToolResult {
    const TOOL: &str = "ralph_submit_md_artifact";
    let spec = spec(ctx, TOOL, &args.artifact_type)?;
    if let Some(r) = oversized_plan(&spec, &args.content) {
        return Ok(r);
    }
    let dir = artifact_dir(ctx)?;
    let _guard = lock();
    write_draft(TOOL, &dir, &spec, &args.content, "submitted")?;
    let s = validate_and_submit(ctx, &dir, &spec, &args.content)?;
    Ok(submission_result(&spec.artifact_type, &args.content, &s))
}

/// `ralph_finalize_md_artifact`.
pub fn finalize(ctx: &ToolContext, args: TypeArgs) -> ToolResult {
    const TOOL: &str = "ralph_finalize_md_artifact";
    let spec = spec(ctx, TOOL, &args.artifact_type)?;
    let dir = artifact_dir(ctx)?;
    let _guard = lock();
    let Some(content) = store::load_draft(&dir, &spec.artifact_type)
        .map_err(|e| io_failed("the draft cannot be read", e))?
    else {
        return Err(invalid_args(
            TOOL,
            format!(
                "no staged draft for '{}'; stage content first or submit the complete document directly",
                spec.artifact_type
            ),
        ));
    };
    write_draft(TOOL, &dir, &spec, &content, "submitted")?;
    let s = validate_and_submit(ctx, &dir, &spec, &content)?;
    Ok(submission_result(&spec.artifact_type, &content, &s))
}

/// `ralph_stage_md_artifact`.
pub fn stage(ctx: &ToolContext, args: StageArgs) -> ToolResult {
    const TOOL: &str = "ralph_stage_md_artifact";
    let spec = spec(ctx, TOOL, &args.artifact_type)?;
    let kind = &spec.artifact_type;
    let dir = artifact_dir(ctx)?;
    let _guard = lock();
    let existing = if args.mode == StageMode::Append {
        store::load_draft(&dir, kind).map_err(|e| io_failed("the draft cannot be read", e))?
    } else {
        None
    };
    let draft = match existing {
        Some(existing) if !existing.is_empty() => {
            if store::is_seeded(&dir, kind) {
                return Err(invalid_args(
                    TOOL,
                    "draft was restored from the last submitted artifact; use mode='replace_all' for a new document or `ralph_edit_md_artifact` to repair it in place",
                ));
            }
            if existing.ends_with('\n') {
                existing + &args.content
            } else {
                format!("{existing}\n{}", args.content)
            }
        }
        _ => args.content,
    };
    if let Some(r) = oversized_plan(&spec, &draft) {
        return Ok(r);
    }
    write_draft(TOOL, &dir, &spec, &draft, "staged")?;
    let diags = validate(&draft, &spec).diagnostics;
    Ok(result(
        Value::Object(payload::draft_status(kind, &draft, None, &diags)),
        false,
    ))
}

/// `ralph_get_md_draft`.
pub fn get_draft(ctx: &ToolContext, args: TypeArgs) -> ToolResult {
    let spec = spec(ctx, "ralph_get_md_draft", &args.artifact_type)?;
    let dir = artifact_dir(ctx)?;
    let draft = store::load_draft(&dir, &spec.artifact_type)
        .map_err(|e| io_failed("the draft cannot be read", e))?;
    let text = draft.as_deref().unwrap_or("");
    let diags = validate(text, &spec).diagnostics;
    let mut m = payload::draft_status(&spec.artifact_type, text, Some(draft.is_some()), &diags);
    m.insert("content_hash".into(), sha256_hex(text).into());
    Ok(result(Value::Object(m), false))
}

/// `ralph_discard_md_draft`.
pub fn discard(ctx: &ToolContext, args: TypeArgs) -> ToolResult {
    let spec = spec(ctx, "ralph_discard_md_draft", &args.artifact_type)?;
    let dir = artifact_dir(ctx)?;
    let _guard = lock();
    let discarded = store::delete_draft(&dir, &spec.artifact_type)
        .map_err(|e| io_failed("the draft cannot be removed", e))?;
    Ok(result(
        json!({"artifact_type": spec.artifact_type, "discarded": discarded}),
        false,
    ))
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Edits whose `oldText` matches more than once where it is applied.
fn ambiguous(draft: &str, edits: &[TextEdit]) -> Vec<Value> {
    let mut current = draft.to_owned();
    let mut out = Vec::new();
    for (i, e) in edits.iter().enumerate() {
        let n = current.matches(e.old_text.as_str()).count();
        if n > 1 {
            out.push(json!({"edit_index": i, "occurrences": n}));
        }
        let Some(at) = current.find(&e.old_text) else {
            break;
        };
        current.replace_range(at..at + e.old_text.len(), &e.new_text);
    }
    out
}

/// `ralph_edit_md_artifact`.
pub fn edit(ctx: &ToolContext, args: EditArgs) -> ToolResult {
    const TOOL: &str = "ralph_edit_md_artifact";
    let spec = spec(ctx, TOOL, &args.artifact_type)?;
    let kind = spec.artifact_type.clone();
    if args.edits.is_empty() {
        return Err(invalid_args(
            TOOL,
            "'edits' must be a non-empty list of {oldText, newText}",
        ));
    }
    if let Some(i) = args.edits.iter().position(|e| e.old_text.is_empty()) {
        return Err(invalid_args(
            TOOL,
            format!("Edit {i}: 'oldText' must be non-empty"),
        ));
    }
    let dir = artifact_dir(ctx)?;
    let _guard = lock();
    let Some(draft) =
        store::load_draft(&dir, &kind).map_err(|e| io_failed("the draft cannot be read", e))?
    else {
        return Err(invalid_args(
            TOOL,
            format!("no staged draft for '{kind}'; stage or submit content first"),
        ));
    };
    let current_hash = sha256_hex(&draft);
    if let Some(expected) = &args.expected_content_hash
        && *expected != current_hash
    {
        let mut m = serde_json::Map::new();
        m.insert("status".into(), "stale_evidence".into());
        m.insert("artifact_type".into(), kind.clone().into());
        m.insert("expected_content_hash".into(), expected.clone().into());
        m.insert("current_content_hash".into(), current_hash.into());
        m.insert("reason".into(), "content_changed".into());
        m.insert("repair_hint".into(), payload::REPAIR_HINT.into());
        return Ok(result(Value::Object(m), true));
    }
    let cap = spec.draft_cap();
    let draft_len = draft.chars().count();
    for (i, e) in args.edits.iter().enumerate() {
        if (draft_len + e.new_text.chars().count()).saturating_sub(e.old_text.chars().count()) > cap
        {
            return Err(invalid_args(
                TOOL,
                format!(
                    "Edit {i}: replacement would exceed the draft character cap ({cap}); the existing draft is unchanged"
                ),
            ));
        }
    }
    let ambiguous_edits = ambiguous(&draft, &args.edits);
    let label = store::draft_name(&kind);
    let edited = match apply_edits(&draft, &args.edits) {
        Ok(t) => t,
        Err((index, reason)) => {
            return Ok(result(
                json!({"status": "no_match", "edit_index": index, "reason": reason, "repair_hint": payload::REPAIR_HINT}),
                true,
            ));
        }
    };
    if let Some(r) = oversized_plan(&spec, &edited) {
        return Ok(r);
    }
    if edited.chars().count() > cap {
        return Err(invalid_args(
            TOOL,
            format!(
                "edited draft for '{kind}' would exceed its character cap ({} > {cap}); the existing draft is unchanged",
                edited.chars().count()
            ),
        ));
    }
    let diff = super::write::unified_diff(&draft, &edited, &label);
    let edit_fields = |m: &mut serde_json::Map<String, Value>, status: &str, submitted: bool| {
        m.insert("status".into(), status.into());
        m.insert("diff".into(), diff.clone().into());
        m.insert("edits_applied".into(), args.edits.len().into());
        m.insert("ambiguous_edits".into(), ambiguous_edits.clone().into());
        m.insert("submitted".into(), submitted.into());
    };
    if args.dry_run {
        let diags = validate(&draft, &spec).diagnostics;
        let mut m = payload::draft_status(&kind, &draft, None, &diags);
        edit_fields(&mut m, "preview", false);
        return Ok(result(Value::Object(m), false));
    }
    store::save_draft(&dir, &kind, &edited)
        .map_err(|e| io_failed("the draft could not be saved", e))?;
    let s = validate_and_submit(ctx, &dir, &spec, &edited)?;
    let mut m = payload::draft_status(&kind, &edited, None, &s.diags);
    edit_fields(&mut m, "applied", s.submitted);
    m.insert("content_hash".into(), sha256_hex(&edited).into());
    if s.submitted {
        m.insert(
            "persisted_document".into(),
            payload::document_summary(&edited),
        );
        if s.recovered {
            m.insert("validation_recovered".into(), true.into());
            m.insert("message".into(), "VALIDATION RECOVERED".into());
        }
    } else {
        payload::add_failure_envelope(&mut m, &kind, &s.diags);
    }
    Ok(result(Value::Object(m), !s.submitted))
}
