//! The rules a declaration cannot express, one module per artifact family,
//! each ported from the Ralph 0.9.30 module it names. A spec opts into one with
//! `hook = "<name>"`.

pub mod analysis;
pub mod commit;
pub mod design_verdict;
pub mod plan;

use serde::Deserialize;

use crate::diagnostic::Diagnostic;
use crate::document::Document;

/// A named piece of code a spec can call on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hook {
    /// Plans: a sanity check of the raw text only (`_plan_not_a_plan.py`).
    Plan,
    /// Planning, review and policy-remediation decisions (`analysis_decision.py`).
    AnalysisDecision,
    /// Design verdicts (`design_verdict.py`).
    DesignVerdict,
    /// Commit messages (`commit_message.py`).
    CommitMessage,
    /// Commit clean-ups (`commit_cleanup.py`).
    CommitCleanup,
}

impl Hook {
    /// Checks of the raw text, before the structure.
    pub fn validate_text(self, _text: &str) -> Vec<Diagnostic> {
        Vec::new()
    }

    /// Cross-section rules, once the structure is valid.
    pub fn validate_document(self, doc: &Document) -> Vec<Diagnostic> {
        match self {
            Self::AnalysisDecision => analysis::validate_document(doc),
            Self::DesignVerdict => design_verdict::validate_document(doc),
            Self::Plan | Self::CommitMessage | Self::CommitCleanup => Vec::new(),
        }
    }

    /// The normalizer's checks, once everything else passed: `Err` carries the
    /// message whose first word names the field at fault.
    pub fn normalize(self, doc: &Document) -> Result<(), String> {
        match self {
            Self::DesignVerdict => design_verdict::normalize(doc),
            Self::CommitMessage => commit::normalize_message(doc),
            Self::CommitCleanup => commit::normalize_cleanup(doc),
            Self::Plan | Self::AnalysisDecision => Ok(()),
        }
    }
}
