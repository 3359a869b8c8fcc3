//! The parser of the closed markdown grammar (Ralph 0.9.30,
//! `ralph/mcp/artifacts/markdown/_parser.py`). It recognises four shapes inside
//! `## Section`s — `- [ID] text` items, indented item continuation lines,
//! `### [ID] Title` blocks and plain body lines — and never rejects a shape by
//! itself: which shapes a section admits is the spec's decision. It never fails;
//! grammar errors come back as diagnostics (`MD001`, `MD002`, `MD005`–`MD007`).

use std::sync::LazyLock;

use regex::Regex;

use crate::diagnostic::Diagnostic;
use crate::document::{Block, Document, Item, Line, Section};
use crate::pytext;

/// Python's `\S` (Unicode non-whitespace, where whitespace includes U+001C..U+001F).
const NON_SPACE: &str = r"[^\s\x1c-\x1f]";

fn anchored(pattern: &str) -> Regex {
    Regex::new(&format!("^(?:{})$", pattern.replace(r"\S", NON_SPACE))).expect("static pattern")
}

/// The one grammar rule for stable IDs.
pub const ID: &str = r"[A-Za-z][A-Za-z0-9_-]*";

static FRONTMATTER_FIELD: LazyLock<Regex> =
    LazyLock::new(|| anchored(r"(?P<key>[A-Za-z][A-Za-z0-9_-]*): (?P<value>\S(?:.*\S)?)"));
static HEADING: LazyLock<Regex> =
    LazyLock::new(|| anchored(r"(?P<marks>#{1,6}) (?P<name>\S(?:.*\S)?)"));
static BLOCK_HEADING: LazyLock<Regex> = LazyLock::new(|| {
    anchored(&format!(
        r"(?P<marks>#{{3,6}}) \[(?P<id>{ID})\] (?P<title>\S(?:.*\S)?)"
    ))
});
static ITEM: LazyLock<Regex> = LazyLock::new(|| {
    anchored(&format!(
        r"- (?:(?P<checked>\[[ xX]\]) )?\[(?P<id>{ID})\] (?P<text>\S(?:.*\S)?)"
    ))
});
static LIST_PREFIX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^- (?:\[[ xX]\] )?").expect("static pattern"));

/// Why a parser-level error blocks the document, shared by its messages.
const ROUTING: &str = "the artifact spec registry routes the parsed markdown structure to the registered validator and a parser-level error blocks routing";

struct SectionBuilder {
    section: Section,
    block: Option<Block>,
}

impl SectionBuilder {
    fn new(name: &str, line: usize, level: usize) -> Self {
        Self {
            section: Section {
                name: name.to_owned(),
                line,
                level,
                lines: Vec::new(),
                items: Vec::new(),
                blocks: Vec::new(),
            },
            block: None,
        }
    }

    fn finish_block(&mut self) {
        if let Some(block) = self.block.take() {
            self.section.blocks.push(block);
        }
    }

    fn finish(mut self) -> Section {
        self.finish_block();
        self.section
    }
}

/// Parses `text`; with `nested`, `#`..`######` headings all open sections and
/// `###`..`######` `[ID]` headings all open blocks.
pub fn parse(text: &str, nested: bool) -> (Document, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let lines = pytext::splitlines(text);
    let mut doc = Document::default();
    let start = if lines.first() == Some(&"---") {
        parse_frontmatter(&lines, &mut doc, &mut diagnostics)
    } else {
        0
    };
    let mut current: Option<SectionBuilder> = None;
    let mut last_item: Option<Item> = None;

    fn finish_item(current: &mut Option<SectionBuilder>, last_item: &mut Option<Item>) {
        if let Some(item) = last_item.take()
            && let Some(cur) = current.as_mut()
        {
            cur.section.items.push(item);
        }
    }

    for (index, line) in lines.iter().enumerate().skip(start) {
        let number = index + 1;
        if let Some(caps) = BLOCK_HEADING.captures(line)
            && (nested || &caps["marks"] == "###")
        {
            finish_item(&mut current, &mut last_item);
            let Some(cur) = current.as_mut() else {
                diagnostics.push(Diagnostic::error(
                    number,
                    None,
                    "MD002",
                    "step blocks must follow a markdown heading",
                    "put the '### [ID] Title' block under a '## Section' heading",
                ));
                continue;
            };
            cur.finish_block();
            cur.block = Some(Block {
                identifier: caps["id"].to_owned(),
                title: caps["title"].to_owned(),
                line: number,
                lines: Vec::new(),
            });
            continue;
        }
        if let Some(caps) = HEADING.captures(line)
            && (nested || &caps["marks"] == "##")
        {
            finish_item(&mut current, &mut last_item);
            if let Some(done) = current.take() {
                doc.sections.push(done.finish());
            }
            current = Some(SectionBuilder::new(
                &caps["name"],
                number,
                caps["marks"].len(),
            ));
            continue;
        }
        if pytext::strip(line).is_empty() {
            continue;
        }
        let Some(cur) = current.as_mut() else {
            diagnostics.push(Diagnostic::error(
                number,
                None,
                "MD002",
                format!("content must be inside a '## Heading' section; blocking because {ROUTING}"),
                "move the line into a '## Heading' section so the parser can route it to a validator",
            ));
            continue;
        };
        if line.starts_with('#') {
            diagnostics.push(Diagnostic::error(
                number,
                Some(&cur.section.name),
                "MD001",
                "headings must use '## Section' or '### [ID] Title'",
                "write section headings as '## Name' and sub-blocks as '### [ID] Title'",
            ));
            continue;
        }
        if let Some(caps) = ITEM.captures(line) {
            if let Some(item) = last_item.take() {
                cur.section.items.push(item);
            }
            cur.finish_block();
            last_item = Some(Item {
                identifier: caps["id"].to_owned(),
                text: caps["text"].to_owned(),
                line: number,
                checked: caps
                    .name("checked")
                    .map(|m| m.as_str().eq_ignore_ascii_case("[x]")),
                fields: Vec::new(),
            });
            continue;
        }
        let stripped = Line {
            line: number,
            text: pytext::strip(line).to_owned(),
        };
        if let Some(block) = cur.block.as_mut() {
            block.lines.push(stripped);
            continue;
        }
        if line.chars().next().is_some_and(pytext::is_space)
            && let Some(item) = last_item.as_mut()
        {
            item.fields.push(stripped);
            continue;
        }
        if let Some(item) = last_item.take() {
            cur.section.items.push(item);
        }
        cur.section.lines.push(stripped);
    }
    finish_item(&mut current, &mut last_item);
    if let Some(done) = current {
        doc.sections.push(done.finish());
    }
    (doc, diagnostics)
}

/// The diagnostic for a body line in a section that admits none.
pub fn stray_line(line: &Line, section: &str) -> Diagnostic {
    if LIST_PREFIX.is_match(&line.text) {
        Diagnostic::error(
            line.line,
            Some(section),
            "MD003",
            "list items must use '- [ID] text' or '- [ ] [ID] text'",
            "give the item a stable ID, e.g. '- [A-1] text'",
        )
    } else {
        Diagnostic::error(
            line.line,
            Some(section),
            "MD004",
            "section content must be a stable-ID list item",
            "turn the line into an item '- [ID] text' or remove it",
        )
    }
}

fn parse_frontmatter(
    lines: &[&str],
    doc: &mut Document,
    diagnostics: &mut Vec<Diagnostic>,
) -> usize {
    for (index, line) in lines.iter().enumerate().skip(1) {
        let number = index + 1;
        if *line == "---" {
            return index + 1;
        }
        let Some(caps) = FRONTMATTER_FIELD.captures(line) else {
            diagnostics.push(Diagnostic::error(
                number,
                None,
                "MD005",
                format!("frontmatter fields must use 'key: value'; blocking because {ROUTING}"),
                "rewrite the line as 'key: value' with no leading spaces and a single space after the colon",
            ));
            continue;
        };
        let key = &caps["key"];
        if doc.frontmatter.contains_key(key) {
            diagnostics.push(Diagnostic::error(
                number,
                None,
                "MD006",
                format!("duplicate frontmatter field '{key}'; blocking because {ROUTING}"),
                format!("keep exactly one '{key}' field"),
            ));
            continue;
        }
        doc.frontmatter
            .insert(key.to_owned(), caps["value"].to_owned());
        doc.frontmatter_lines.push((key.to_owned(), number));
    }
    diagnostics.push(Diagnostic::error(
        1,
        None,
        "MD007",
        format!("unterminated frontmatter block; blocking because {ROUTING}"),
        "add the closing '---' line after the frontmatter fields",
    ));
    lines.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_every_shape() {
        let text = "---\ntype: x\n---\n## A\nbody\n- [I-1] one\n  Key: v\n- [ ] [I-2] two\n### [B-1] Block\nin block\n";
        let (doc, diags) = parse(text, false);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(doc.field("type"), Some("x"));
        let a = doc.section("A").unwrap();
        assert_eq!(a.lines[0].text, "body");
        assert_eq!(a.items.len(), 2);
        assert_eq!(a.items[0].fields[0].text, "Key: v");
        assert_eq!(a.items[1].checked, Some(false));
        assert_eq!(a.blocks[0].lines[0].text, "in block");
        assert_eq!(a.blocks[0].line, 9);
    }

    #[test]
    fn grammar_errors_are_line_anchored() {
        let (_, diags) = parse("---\nbad line\n", false);
        let codes: Vec<_> = diags.iter().map(|d| (d.rule_id.as_str(), d.line)).collect();
        assert_eq!(codes, [("MD005", 2), ("MD007", 1)]);
        let (_, diags) = parse("stray\n## S\n# top\n", false);
        let codes: Vec<_> = diags.iter().map(|d| (d.rule_id.as_str(), d.line)).collect();
        assert_eq!(codes, [("MD002", 1), ("MD001", 3)]);
    }

    proptest! {
        #[test]
        fn never_panics_and_lines_are_in_range(text in "(---|## [a-z]{1,3}|- \\[[A-Z]-?[0-9]\\] [a-z ]{0,5}|  [a-z:]{0,6}|### \\[x\\] t|#|[a-z ]{0,8}|\r|\u{2028})(\n(---|## S|- \\[A\\] t|  k: v|x|### \\[B\\] t|\t)){0,12}") {
            let (doc, diags) = parse(&text, false);
            let n = pytext::splitlines(&text).len().max(1);
            for d in diags { prop_assert!(d.line >= 1 && d.line <= n); }
            for s in doc.sections { prop_assert!(s.line <= n); }
        }
    }
}
