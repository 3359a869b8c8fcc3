//! The one validation path every entry point uses (Ralph 0.9.30,
//! `ralph/mcp/artifacts/markdown/_spec.py`): parse, text checks, structure,
//! cross-section rules, then the requirements a valid structure must meet.
//! Each stage after the structure runs only when the ones before found no error,
//! so the first thing the agent sees is the first thing to fix.

use std::collections::HashSet;

use crate::diagnostic::{Diagnostic, has_errors};
use crate::document::{Document, Item, Section};
use crate::hooks::Hook;
use crate::parse::{self, parse};
use crate::pytext;
use crate::spec::{SectionRule, Spec};

/// The result of validating one document.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The parsed document.
    pub document: Document,
    /// Every finding, in the order found.
    pub diagnostics: Vec<Diagnostic>,
}

impl Outcome {
    /// True when nothing blocks submission.
    pub fn is_valid(&self) -> bool {
        !has_errors(&self.diagnostics)
    }
}

const BODY_GRAMMAR: [&str; 4] = ["MD001", "MD002", "MD003", "MD004"];

/// Validates `text` against `spec`.
pub fn validate(text: &str, spec: &Spec) -> Outcome {
    if spec.hook == Some(Hook::Plan) {
        return crate::hooks::plan::validate(text);
    }
    let (document, mut diagnostics) = parse(text, spec.nested_headings);
    if let Some(hook) = spec.hook {
        diagnostics.extend(hook.validate_text(text));
    }
    teach_duplicate_fields(&mut diagnostics, spec);
    if !spec.structured_body {
        diagnostics.retain(|d| !BODY_GRAMMAR.contains(&d.rule_id.as_str()));
    }
    diagnostics.extend(structure(&document, text, spec));
    if !has_errors(&diagnostics) && spec.structured_body {
        diagnostics.extend(item_shapes(&document, spec));
        if let Some(hook) = spec.hook {
            diagnostics.extend(hook.validate_document(&document));
        }
    }
    if !has_errors(&diagnostics)
        && let Err(found) = requirements(&document, spec)
    {
        diagnostics.push(found);
    }
    Outcome {
        document,
        diagnostics,
    }
}

/// Rewrites a duplicate-field diagnostic to name the field's closed vocabulary.
fn teach_duplicate_fields(diagnostics: &mut [Diagnostic], spec: &Spec) {
    for d in diagnostics.iter_mut().filter(|d| d.rule_id == "MD006") {
        for (field, vocab) in &spec.frontmatter.closed {
            if d.message
                .starts_with(&format!("duplicate frontmatter field '{field}'"))
            {
                d.fix = format!(
                    "keep exactly one '{field}' field whose value is one of: {}",
                    vocab.values.join(", ")
                );
            }
        }
    }
}

fn structure(doc: &Document, text: &str, spec: &Spec) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if let Some(max) = spec.max_characters
        && pytext::len(text) > max
    {
        out.push(Diagnostic::error(
            1,
            None,
            "SPEC001",
            "document exceeds its character limit",
            format!("shorten the document to at most {max} characters"),
        ));
    }
    let fm = &spec.frontmatter;
    for key in &fm.required {
        if !doc.frontmatter.contains_key(key) {
            out.push(missing_field(spec, key));
        }
    }
    for (field, vocab) in &fm.closed {
        if let Some(value) = doc.field(field)
            && !vocab.values.iter().any(|v| v == value)
        {
            out.push(Diagnostic::error(
                doc.frontmatter_line(field).unwrap_or(1),
                None,
                &vocab.rule,
                format!(
                    "frontmatter '{field}' must be one of: {}",
                    vocab.values.join(", ")
                ),
                format!(
                    "set '{field}' to one of: {} (not '{value}')",
                    vocab.values.join(", ")
                ),
            ));
        }
    }
    if !spec.allow_unknown_frontmatter {
        for (key, line) in &doc.frontmatter_lines {
            let known = fm.required.contains(key)
                || fm.optional.contains(key)
                || fm.closed.contains_key(key);
            if !known {
                out.push(Diagnostic::error(
                    *line,
                    None,
                    "SPEC003",
                    format!("unknown frontmatter field '{key}'"),
                    format!(
                        "remove '{key}'; this artifact accepts: {}",
                        known_fields(spec)
                    ),
                ));
            }
        }
    }
    if !spec.structured_body {
        return out;
    }
    let mut seen: HashSet<&str> = HashSet::new();
    for section in &doc.sections {
        let rule = match spec.sections.get(&section.name) {
            Some(rule) => rule,
            None if spec.allow_unknown_sections => continue,
            None => match &spec.unknown_section {
                Some(rule) => rule,
                None => {
                    out.push(Diagnostic::error(
                        section.line,
                        Some(&section.name),
                        "SPEC004",
                        "unknown section",
                        format!(
                            "rename or remove the section; this artifact's sections are: {}",
                            spec.sections.keys().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    ));
                    continue;
                }
            },
        };
        if seen.contains(section.name.as_str()) && !rule.repeatable {
            out.push(Diagnostic::error(
                section.line,
                Some(&section.name),
                "SPEC005",
                "duplicate section",
                "merge the two sections into one",
            ));
        }
        seen.insert(&section.name);
        if rule.require_items && section.items.is_empty() {
            out.push(Diagnostic::error(
                section.line,
                Some(&section.name),
                "SPEC006",
                "section requires list items",
                "add at least one item '- [ID] text' to the section",
            ));
        }
        if let Some(max) = rule.max_items
            && section.items.len() > max
        {
            out.push(Diagnostic::error(
                section.line,
                Some(&section.name),
                "SPEC007",
                "section exceeds its item limit",
                format!("keep at most {max} item(s) in the section"),
            ));
        }
        out.extend(unique_ids(
            section
                .items
                .iter()
                .map(|i| (i.identifier.as_str(), i.line)),
            &section.name,
            rule.case_sensitive_ids,
        ));
        out.extend(shapes(section, rule));
    }
    for (name, rule) in &spec.sections {
        if rule.required && !seen.contains(name.as_str()) {
            out.push(Diagnostic::error(
                1,
                Some(name),
                "SPEC008",
                format!("missing required section '{name}'"),
                format!("add a '## {name}' section"),
            ));
        }
    }
    out
}

fn known_fields(spec: &Spec) -> String {
    let fm = &spec.frontmatter;
    let mut all: Vec<&str> = fm
        .required
        .iter()
        .chain(&fm.optional)
        .chain(fm.closed.keys())
        .map(String::as_str)
        .collect();
    all.sort_unstable();
    all.dedup();
    all.join(", ")
}

fn missing_field(spec: &Spec, key: &str) -> Diagnostic {
    let (why, fix) = if let Some(vocab) = spec.frontmatter.closed.get(key) {
        (
            format!(
                "the closed vocabulary for '{key}' is consumed downstream and the value cannot be inferred"
            ),
            format!("set '{key}' to one of: {}", vocab.values.join(", ")),
        )
    } else if let Some(hint) = spec.frontmatter.hints.get(key) {
        (hint.clone(), format!("add a '{key}: …' frontmatter field"))
    } else {
        (
            format!("the validator routes the document by its '{key}' value"),
            format!("add a '{key}: {}' frontmatter field", spec.artifact_type),
        )
    };
    Diagnostic::error(
        1,
        None,
        "SPEC002",
        format!("missing required frontmatter '{key}'; blocking because {why}"),
        fix,
    )
}

/// `REF002` for a repeated stable ID.
pub fn unique_ids<'a>(
    ids: impl Iterator<Item = (&'a str, usize)>,
    section: &str,
    case_sensitive: bool,
) -> Vec<Diagnostic> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (id, line) in ids {
        let key = if case_sensitive {
            id.to_owned()
        } else {
            id.to_lowercase()
        };
        if !seen.insert(key) {
            out.push(Diagnostic::error(
                line,
                Some(section),
                "REF002",
                format!("duplicate ID '{id}'"),
                "give each item its own ID and rewrite references to the others",
            ));
        }
    }
    out
}

fn shapes(section: &Section, rule: &SectionRule) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if rule.allow_blocks {
        out.extend(unique_ids(
            section
                .blocks
                .iter()
                .map(|b| (b.identifier.as_str(), b.line)),
            &section.name,
            rule.case_sensitive_ids,
        ));
        if !rule.items_allowed() {
            out.extend(section.items.iter().map(|i| {
                Diagnostic::error(
                    i.line,
                    Some(&section.name),
                    "SPEC011",
                    "section content must be '### [ID] Title' blocks",
                    "turn the item into a '### [ID] Title' block",
                )
            }));
        }
    } else {
        out.extend(section.blocks.iter().map(|b| {
            Diagnostic::error(
                b.line,
                Some(&section.name),
                "MD001",
                "headings must use '## Section' or '### [ID] Title'",
                "this section takes no '### [ID] Title' blocks; use items '- [ID] text'",
            )
        }));
    }
    if rule.require_blocks && section.blocks.is_empty() {
        out.push(Diagnostic::error(
            section.line,
            Some(&section.name),
            "SPEC012",
            "section requires at least one '### [ID] Title' block",
            "add a '### [ID] Title' block",
        ));
    }
    if !rule.allow_body {
        out.extend(
            section
                .lines
                .iter()
                .map(|l| parse::stray_line(l, &section.name)),
        );
        out.extend(
            section
                .items
                .iter()
                .flat_map(|i| &i.fields)
                .map(|l| parse::stray_line(l, &section.name)),
        );
    }
    out
}

/// The declared item shapes (checked once the structure is valid).
fn item_shapes(doc: &Document, spec: &Spec) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (name, rule) in &spec.sections {
        let (Some(shape), Some(section)) = (&rule.item, doc.section(name)) else {
            continue;
        };
        for item in &section.items {
            if shape.split(&item.text).len() != shape.fields.len() {
                out.push(Diagnostic::error(
                    item.line,
                    Some(name),
                    &shape.rule,
                    shape.message.clone(),
                    format!(
                        "write the item as '- [{}] {}'",
                        item.identifier,
                        shape.fields.join(&shape.separator)
                    ),
                ));
            }
        }
    }
    out
}

/// The requirements a valid structure must meet; the first failure, where
/// Ralph's normalizer reports it (`SPEC010`, on the line of the frontmatter
/// field its message starts with, else line 1).
fn requirements(doc: &Document, spec: &Spec) -> Result<(), Diagnostic> {
    let raised = |message: String| normalizer_diagnostic(doc, &message, &spec.artifact_type);
    for (name, rule) in &spec.sections {
        let (Some(shape), Some(section)) = (&rule.item, doc.section(name)) else {
            continue;
        };
        if !shape.non_empty {
            continue;
        }
        let key = shape.key.as_deref().unwrap_or(name);
        for (index, item) in section.items.iter().enumerate() {
            check_parts(shape, item, key, index).map_err(raised)?;
        }
    }
    for req in &spec.requires {
        let applies = req
            .when
            .as_ref()
            .is_none_or(|c| doc.field(&c.field) == Some(c.equals.as_str()));
        if applies && doc.item_texts(&req.items_in).is_empty() {
            // Ralph's model validator reports these at `<root>`: line 1, no section.
            let why = req
                .when
                .as_ref()
                .map(|c| {
                    format!(
                        " or set '{}' to something other than '{}'",
                        c.field, c.equals
                    )
                })
                .unwrap_or_default();
            return Err(Diagnostic::error(
                1,
                None,
                "SPEC010",
                format!(
                    "{}; blocking because the canonical {} normalizer rejects the document before it is stored",
                    req.message, spec.artifact_type
                ),
                format!(
                    "add at least one '- [ID] …' item under '## {}'{why}",
                    req.items_in
                ),
            ));
        }
    }
    if let Some(hook) = spec.hook {
        hook.normalize(doc).map_err(raised)?;
    }
    Ok(())
}

fn check_parts(
    shape: &crate::spec::ItemShape,
    item: &Item,
    key: &str,
    index: usize,
) -> Result<(), String> {
    let parts = shape.split(&item.text);
    if parts.len() != shape.fields.len() {
        return Ok(());
    }
    for (part, field) in parts.iter().zip(&shape.fields) {
        if part.is_empty() {
            return Err(format!(
                "{key}.{index}.{field}: must not be empty (item [{}] on line {})",
                item.identifier, item.line
            ));
        }
    }
    Ok(())
}

/// `SPEC010`: the normalizer refused the document. Its line is the frontmatter
/// line of the field the message starts with, else 1.
pub fn normalizer_diagnostic(doc: &Document, message: &str, artifact_type: &str) -> Diagnostic {
    let first = message.split(' ').next().unwrap_or("");
    let field = first.split('.').next().unwrap_or("");
    let line = doc.frontmatter_line(field).unwrap_or(1);
    let section = doc
        .sections
        .iter()
        .find(|s| s.name.to_lowercase() == field.to_lowercase())
        .map(|s| s.name.clone());
    Diagnostic::error(
        line,
        section.as_deref(),
        "SPEC010",
        format!(
            "{}; blocking because the canonical {artifact_type} normalizer rejects the document before it is stored",
            message.trim()
        ),
        "apply the correction named in the message and resubmit",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    fn codes(kind: &str, text: &str) -> Vec<(String, usize)> {
        let spec = Registry::builtin().get(kind).unwrap();
        validate(text, &spec)
            .diagnostics
            .into_iter()
            .map(|d| (d.rule_id, d.line))
            .collect()
    }

    #[test]
    fn stages_run_in_order_and_stop_at_the_first_with_errors() {
        // A structural error hides the requirement that would fail later.
        let missing_summary =
            "---\ntype: issues\nstatus: issues_found\n---\n## Issues\n- [I-1] a | b | c\n";
        assert_eq!(codes("issues", missing_summary), [("SPEC008".into(), 1)]);
        // With the structure right, the requirement speaks, with a fix naming the section.
        let spec = Registry::builtin().get("issues").unwrap();
        let out = validate(
            "---\ntype: issues\nstatus: issues_found\n---\n## Summary\n- [S-1] x\n",
            &spec,
        );
        let d = &out.diagnostics[0];
        assert_eq!((d.rule_id.as_str(), d.line), ("SPEC010", 1));
        assert!(
            d.fix.contains("'## Issues'") && d.fix.contains("'status'"),
            "{}",
            d.fix
        );
        assert!(!out.is_valid());
    }

    #[test]
    fn a_closed_vocabulary_names_its_values_and_line() {
        let out = codes(
            "fix_result",
            "---\ntype: fixed\n---\n## Summary\n- [S] s\n## Files Changed\n- [F] f\n",
        );
        assert_eq!(out, [("FIX001".into(), 2)]);
    }
}
