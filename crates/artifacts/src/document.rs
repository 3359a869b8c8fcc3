//! The parse result of the closed markdown grammar: frontmatter, `## Section`s,
//! and within them body lines, stable-ID items and `### [ID] Title` blocks.

use std::collections::BTreeMap;

/// A non-empty content line (stripped) with its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// 1-based line number.
    pub line: usize,
    /// The stripped text.
    pub text: String,
}

/// A `- [ID] text` (or `- [ ] [ID] text`) list item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The stable ID.
    pub identifier: String,
    /// The text after the ID.
    pub text: String,
    /// 1-based line number.
    pub line: usize,
    /// `Some(checked)` for a checkbox item.
    pub checked: Option<bool>,
    /// Indented continuation lines right after the item.
    pub fields: Vec<Line>,
}

/// A `### [ID] Title` block and its body lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The stable ID.
    pub identifier: String,
    /// The title.
    pub title: String,
    /// 1-based line number of the heading.
    pub line: usize,
    /// Body lines.
    pub lines: Vec<Line>,
}

/// One `## Section`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The heading text.
    pub name: String,
    /// 1-based line number of the heading.
    pub line: usize,
    /// Number of `#` marks.
    pub level: usize,
    /// Plain body lines.
    pub lines: Vec<Line>,
    /// Stable-ID items.
    pub items: Vec<Item>,
    /// Stable-ID blocks.
    pub blocks: Vec<Block>,
}

/// A parsed document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Document {
    /// Frontmatter fields.
    pub frontmatter: BTreeMap<String, String>,
    /// The line of each frontmatter field, in document order.
    pub frontmatter_lines: Vec<(String, usize)>,
    /// Sections in document order.
    pub sections: Vec<Section>,
}

impl Document {
    /// The first section named `name`.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// Every section named `name`, in order.
    pub fn sections_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Section> + 'a {
        self.sections.iter().filter(move |s| s.name == name)
    }

    /// The line of frontmatter field `key`.
    pub fn frontmatter_line(&self, key: &str) -> Option<usize> {
        self.frontmatter_lines
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, l)| *l)
    }

    /// Frontmatter field `key`.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.frontmatter.get(key).map(String::as_str)
    }

    /// The item texts of the first section named `name`.
    pub fn item_texts(&self, name: &str) -> Vec<&str> {
        self.section(name)
            .map(|s| s.items.iter().map(|i| i.text.as_str()).collect())
            .unwrap_or_default()
    }
}
