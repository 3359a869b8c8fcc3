//! Artifact specifications as data. A spec declares, for one artifact type, the
//! frontmatter it requires and the closed vocabularies of its fields, the
//! sections it knows and the shapes each admits, the shape of its items, and
//! the requirements that hold between fields and sections. Ralph's built-in
//! types are bundled as TOML files (`crates/artifacts/specs/`); a workspace
//! declares its own in `.agent/artifact-types/<type>.toml` with the same
//! format (see `docs/artifacts.md`). Rules a declaration cannot express live
//! in a named [`Hook`](crate::hooks::Hook).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::hooks::Hook;

/// One artifact type's specification.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The artifact type, e.g. `issues`.
    #[serde(rename = "type")]
    pub artifact_type: String,
    /// What the artifact is for (shown by `ralph-mcp artifact types`).
    #[serde(default)]
    pub description: String,
    /// Where the rules were read from, e.g. `ralph-workflow 0.9.30: ralph/mcp/artifacts/markdown/specs/issues.py`.
    #[serde(default)]
    pub source: String,
    /// Frontmatter rules.
    #[serde(default)]
    pub frontmatter: FrontmatterRules,
    /// Known sections and what each admits.
    #[serde(default)]
    pub sections: BTreeMap<String, SectionRule>,
    /// The rule for sections not listed (when unknown sections are neither
    /// allowed nor refused outright).
    #[serde(default)]
    pub unknown_section: Option<SectionRule>,
    /// Sections not listed are accepted unchecked.
    #[serde(default)]
    pub allow_unknown_sections: bool,
    /// Frontmatter fields not listed are accepted.
    #[serde(default)]
    pub allow_unknown_frontmatter: bool,
    /// `#`..`######` headings all open sections (instead of `##` only).
    #[serde(default)]
    pub nested_headings: bool,
    /// False: the body below the frontmatter is free-form prose; only the
    /// frontmatter rules apply.
    #[serde(default = "yes")]
    pub structured_body: bool,
    /// Largest document, in characters (code points).
    #[serde(default)]
    pub max_characters: Option<usize>,
    /// Requirements between fields and sections, checked once the structure is valid.
    #[serde(default)]
    pub requires: Vec<Requirement>,
    /// Code for the rules a declaration cannot express.
    #[serde(default)]
    pub hook: Option<Hook>,
}

fn yes() -> bool {
    true
}

/// Frontmatter rules.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrontmatterRules {
    /// Fields that must be present.
    #[serde(default)]
    pub required: Vec<String>,
    /// Fields that may be present.
    #[serde(default)]
    pub optional: Vec<String>,
    /// Fields whose value must come from a closed list.
    #[serde(default)]
    pub closed: BTreeMap<String, Vocabulary>,
    /// Why a required field matters, used in its missing-field message.
    #[serde(default)]
    pub hints: BTreeMap<String, String>,
}

/// A closed vocabulary for one frontmatter field.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vocabulary {
    /// The accepted values.
    pub values: Vec<String>,
    /// The diagnostic code for any other value.
    #[serde(default = "spec010")]
    pub rule: String,
}

fn spec010() -> String {
    "SPEC010".into()
}

/// What one section admits. Every shape is off unless opted into.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionRule {
    /// The section must be present.
    #[serde(default = "yes")]
    pub required: bool,
    /// The section must hold at least one item.
    #[serde(default)]
    pub require_items: bool,
    /// At most this many items.
    #[serde(default)]
    pub max_items: Option<usize>,
    /// IDs differing only in case are distinct.
    #[serde(default = "yes")]
    pub case_sensitive_ids: bool,
    /// Plain body lines (prose or `Key: value`) and item continuation lines are allowed.
    #[serde(default)]
    pub allow_body: bool,
    /// `### [ID] Title` blocks are allowed.
    #[serde(default)]
    pub allow_blocks: bool,
    /// At least one block is required.
    #[serde(default)]
    pub require_blocks: bool,
    /// The section may appear more than once.
    #[serde(default)]
    pub repeatable: bool,
    /// Items are allowed (default: exactly when blocks are not).
    #[serde(default)]
    pub allow_items: Option<bool>,
    /// The shape every item's text must have.
    #[serde(default)]
    pub item: Option<ItemShape>,
}

impl SectionRule {
    /// Whether stable-ID items are admitted.
    pub fn items_allowed(&self) -> bool {
        self.allow_items.unwrap_or(!self.allow_blocks)
    }
}

/// The shape of an item's text: `parts` fields joined by `separator`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemShape {
    /// The separator between fields, e.g. `" | "`.
    pub separator: String,
    /// The field names, e.g. `["path", "severity", "summary"]`.
    pub fields: Vec<String>,
    /// The diagnostic code for an item without exactly these fields.
    pub rule: String,
    /// The diagnostic message for such an item.
    pub message: String,
    /// Every field must be non-empty (checked with the requirements; `SPEC010`).
    #[serde(default)]
    pub non_empty: bool,
    /// The content key the items map to, for the non-empty message (`issues.0.severity`).
    #[serde(default)]
    pub key: Option<String>,
}

impl ItemShape {
    /// Splits `text` into at most `fields.len()` parts, like Python's `split(sep, n - 1)`.
    pub fn split<'a>(&self, text: &'a str) -> Vec<&'a str> {
        text.splitn(self.fields.len(), self.separator.as_str())
            .collect()
    }
}

/// A requirement checked once the structure is valid: when the condition holds,
/// the named section must hold items.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    /// The condition (always, when absent).
    #[serde(default)]
    pub when: Option<Condition>,
    /// The section that must hold at least one item.
    pub items_in: String,
    /// What is wrong when it does not.
    pub message: String,
}

/// A frontmatter field equal to a value.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// The frontmatter field.
    pub field: String,
    /// The value it must equal.
    pub equals: String,
}

/// A spec that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// Not valid TOML or not the spec format.
    #[error("{0}")]
    Format(#[from] toml::de::Error),
    /// A rule that contradicts itself.
    #[error("{0}")]
    Invalid(String),
}

impl Spec {
    /// Parses and checks one spec from TOML text.
    pub fn from_toml(text: &str) -> Result<Self, SpecError> {
        let spec: Spec = toml::from_str(text)?;
        spec.check()?;
        Ok(spec)
    }

    fn check(&self) -> Result<(), SpecError> {
        let bad = |m: String| Err(SpecError::Invalid(m));
        if self.artifact_type.is_empty()
            || !self
                .artifact_type
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return bad(format!(
                "type `{}` must be non-empty and use only ASCII letters, digits, `_` and `-` (it names files)",
                self.artifact_type
            ));
        }
        for (name, rule) in &self.sections {
            if let Some(shape) = &rule.item
                && (shape.fields.len() < 2 || shape.separator.is_empty())
            {
                return bad(format!(
                    "section `{name}`: an item shape needs a non-empty separator and at least two fields"
                ));
            }
        }
        for req in &self.requires {
            if !self.sections.contains_key(&req.items_in) {
                return bad(format!(
                    "requirement on `{}` names a section the spec does not declare; add [sections.\"{}\"]",
                    req.items_in, req.items_in
                ));
            }
        }
        Ok(())
    }

    /// The draft size cap: `max_characters`, else 4,000,000 (Ralph's default).
    pub fn draft_cap(&self) -> usize {
        self.max_characters.unwrap_or(DEFAULT_DRAFT_CAP)
    }
}

/// Ralph's default draft cap (`DEFAULT_MD_DRAFT_CHARACTER_CAP`).
pub const DEFAULT_DRAFT_CAP: usize = 4_000_000;
