//! Markdown artifacts: the validated documents through which an agent hands its
//! work to an orchestrator (a plan, a development result, a review decision, a
//! commit message, …).
//!
//! The grammar and the rules are Ralph Workflow's (read from
//! [`RALPH_VERSION`]): a closed markdown grammar ([`parse`]), specifications as
//! data ([`Spec`], bundled in `specs/` and declarable per workspace), one
//! validation path ([`validate()`]) and the few rules that need code
//! ([`hooks`]). Every finding names its line, its rule and its fix.

pub mod diagnostic;
pub mod document;
pub mod hooks;
pub mod parse;
pub mod pytext;
pub mod registry;
pub mod spec;
pub mod validate;

pub use diagnostic::{Diagnostic, Severity};
pub use document::Document;
pub use registry::{RALPH_VERSION, Registry};
pub use spec::Spec;
pub use validate::{Outcome, validate};
