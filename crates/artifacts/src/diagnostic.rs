//! One validation finding: where it is, which rule, what is wrong and how to fix it.

use serde::Serialize;

/// How much a finding matters (Ralph's three-level model).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Blocks submission.
    Error,
    /// Advisory.
    Warning,
    /// An observation.
    Info,
}

/// One finding, anchored to a 1-based source line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// 1-based line in the submitted text (1 for document-level findings).
    pub line: usize,
    /// The `## Section` it belongs to, if any.
    pub section: Option<String>,
    /// The rule's stable code (`SPEC008`, `MD003`, `ISSUES002`, …), Ralph's codes.
    pub rule_id: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub fix: String,
    /// Error, warning or info.
    pub severity: Severity,
}

impl Diagnostic {
    /// An error.
    pub fn error(
        line: usize,
        section: Option<&str>,
        rule_id: &str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            line,
            section: section.map(str::to_owned),
            rule_id: rule_id.to_owned(),
            message: message.into(),
            fix: fix.into(),
            severity: Severity::Error,
        }
    }

    /// True for an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// True when any finding is an error.
pub fn has_errors(diagnostics: &[Diagnostic]) -> bool {
    diagnostics.iter().any(Diagnostic::is_error)
}
