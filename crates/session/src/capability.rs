//! Capabilities: Ralph's vocabulary, matching rules and the default grants per drain.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// One thing a session may do. The dotted form (`workspace.read`) is canonical;
/// the CamelCase MCP form (`WorkspaceRead`) and any mix of `.`, `-`, `_` parse too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Capability {
    /// `workspace.read`: read files, list and search directories.
    WorkspaceRead,
    /// `workspace.metadata_read`: stat paths.
    WorkspaceMetadataRead,
    /// `workspace.write_ephemeral`: create new files and write untracked ones.
    WorkspaceWriteEphemeral,
    /// `workspace.write_tracked`: overwrite files that git's index tracks.
    WorkspaceWriteTracked,
    /// `workspace.edit`: edit, append, move, copy, create directories.
    WorkspaceEdit,
    /// `workspace.delete`: delete files and directories.
    WorkspaceDelete,
    /// `process.exec_bounded`: run policy-checked commands with a timeout.
    ProcessExecBounded,
    /// `process.exec_unbounded`: run raw shell commands.
    ProcessExecUnbounded,
    /// `git.status_read`: `git status`, `git log`, `git show`.
    GitStatusRead,
    /// `git.diff_read`: `git diff`.
    GitDiffRead,
    /// `run.report_progress`: emit progress events.
    RunReportProgress,
    /// `artifact.submit`: submit markdown artifacts and declare completion.
    ArtifactSubmit,
    /// `artifact.plan_read`: check markdown artifacts and read staged drafts.
    ArtifactPlanRead,
    /// `artifact.plan_write`: the planning drain's right to write the plan.
    ArtifactPlanWrite,
    /// `env.read`: read environment variables (redacted).
    EnvRead,
    /// `media.read`: read images and other media.
    MediaRead,
    /// `upstream.tool_use`: call tools proxied from upstream MCP servers.
    UpstreamToolUse,
    /// `web.search`: search the web.
    WebSearch,
    /// `web.visit`: fetch a page as readable text.
    WebVisit,
    /// `web.download`: download a URL into the workspace.
    WebDownload,
}

/// Every capability, in canonical order.
pub const ALL_CAPABILITIES: &[Capability] = &[
    Capability::WorkspaceRead,
    Capability::WorkspaceMetadataRead,
    Capability::WorkspaceWriteEphemeral,
    Capability::WorkspaceWriteTracked,
    Capability::WorkspaceEdit,
    Capability::WorkspaceDelete,
    Capability::ProcessExecBounded,
    Capability::ProcessExecUnbounded,
    Capability::GitStatusRead,
    Capability::GitDiffRead,
    Capability::RunReportProgress,
    Capability::ArtifactSubmit,
    Capability::ArtifactPlanRead,
    Capability::ArtifactPlanWrite,
    Capability::EnvRead,
    Capability::MediaRead,
    Capability::UpstreamToolUse,
    Capability::WebSearch,
    Capability::WebVisit,
    Capability::WebDownload,
];

impl Capability {
    /// The canonical dotted name, e.g. `workspace.write_tracked`.
    pub fn dotted(self) -> &'static str {
        match self {
            Self::WorkspaceRead => "workspace.read",
            Self::WorkspaceMetadataRead => "workspace.metadata_read",
            Self::WorkspaceWriteEphemeral => "workspace.write_ephemeral",
            Self::WorkspaceWriteTracked => "workspace.write_tracked",
            Self::WorkspaceEdit => "workspace.edit",
            Self::WorkspaceDelete => "workspace.delete",
            Self::ProcessExecBounded => "process.exec_bounded",
            Self::ProcessExecUnbounded => "process.exec_unbounded",
            Self::GitStatusRead => "git.status_read",
            Self::GitDiffRead => "git.diff_read",
            Self::RunReportProgress => "run.report_progress",
            Self::ArtifactSubmit => "artifact.submit",
            Self::ArtifactPlanRead => "artifact.plan_read",
            Self::ArtifactPlanWrite => "artifact.plan_write",
            Self::EnvRead => "env.read",
            Self::MediaRead => "media.read",
            Self::UpstreamToolUse => "upstream.tool_use",
            Self::WebSearch => "web.search",
            Self::WebVisit => "web.visit",
            Self::WebDownload => "web.download",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.dotted())
    }
}

/// Reduces a capability token to its comparison key: lower case, with `.`, `-`
/// and `_` removed, so `workspace.write_tracked`, `WorkspaceWriteTracked` and
/// `workspace-write-tracked` all compare equal.
pub fn normalize_token(token: &str) -> String {
    token
        .chars()
        .filter(|c| !matches!(c, '.' | '-' | '_') && !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Ralph 0.9.30's capabilities for tools ralph-mcp does not serve yet (media
/// capture, web tools). Ralph grants them in most drains, so they are accepted
/// without a warning; they grant nothing here.
pub const RALPH_CAPABILITIES_NOT_SERVED: &[&str] =
    &["media.capture", "web.search", "web.visit", "web.download"];

/// A token that names no known capability.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown capability `{0}`; known capabilities: {known}", known = known_list())]
pub struct UnknownCapability(pub String);

fn known_list() -> String {
    ALL_CAPABILITIES
        .iter()
        .map(|c| c.dotted())
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for Capability {
    type Err = UnknownCapability;

    fn from_str(token: &str) -> Result<Self, Self::Err> {
        let key = normalize_token(token);
        ALL_CAPABILITIES
            .iter()
            .copied()
            .find(|c| normalize_token(c.dotted()) == key)
            .ok_or_else(|| UnknownCapability(token.to_owned()))
    }
}

/// What a tool needs before a session may call it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// Exactly this capability.
    One(Capability),
    /// Either write capability (`WorkspaceWriteAny` / `FileWrite` in Ralph's terms).
    AnyWrite,
}

impl Requirement {
    /// True when `grants` satisfies this requirement.
    pub fn is_met_by(self, grants: &CapabilitySet) -> bool {
        match self {
            Self::One(cap) => grants.contains(cap),
            Self::AnyWrite => {
                grants.contains(Capability::WorkspaceWriteEphemeral)
                    || grants.contains(Capability::WorkspaceWriteTracked)
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::One(cap) => cap.fmt(f),
            Self::AnyWrite => f.write_str("workspace.write_ephemeral or workspace.write_tracked"),
        }
    }
}

/// The set of capabilities a session holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapabilitySet(BTreeSet<Capability>);

impl CapabilitySet {
    /// An empty set: nothing allowed.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Every capability.
    pub fn all() -> Self {
        ALL_CAPABILITIES.iter().copied().collect()
    }

    /// Parses tokens in any accepted spelling. Ralph's aliases `WorkspaceWriteAny`
    /// and `FileWrite` grant both write capabilities. Unknown tokens are returned
    /// separately so the caller can warn about them.
    pub fn parse_tokens<'a>(tokens: impl IntoIterator<Item = &'a str>) -> (Self, Vec<String>) {
        let mut set = Self::empty();
        let mut unknown = Vec::new();
        for token in tokens {
            let key = normalize_token(token);
            if key == "artifactplansubmit" {
                // Ralph's legacy alias of `artifact.plan_write`.
                set.insert(Capability::ArtifactPlanWrite);
                continue;
            }
            if key == "workspacewriteany" || key == "filewrite" {
                set.insert(Capability::WorkspaceWriteEphemeral);
                set.insert(Capability::WorkspaceWriteTracked);
                continue;
            }
            match token.parse::<Capability>() {
                Ok(cap) => set.insert(cap),
                Err(_)
                    if RALPH_CAPABILITIES_NOT_SERVED
                        .iter()
                        .any(|c| normalize_token(c) == key) => {}
                Err(_) => unknown.push(token.to_owned()),
            }
        }
        (set, unknown)
    }

    /// Adds a capability.
    pub fn insert(&mut self, cap: Capability) {
        self.0.insert(cap);
    }

    /// True when the set holds `cap`.
    pub fn contains(&self, cap: Capability) -> bool {
        self.0.contains(&cap)
    }

    /// The capabilities in canonical order.
    pub fn iter(&self) -> impl Iterator<Item = Capability> + '_ {
        self.0.iter().copied()
    }

    /// Dotted names, sorted; the form written into session files.
    pub fn to_dotted(&self) -> Vec<String> {
        self.iter().map(|c| c.dotted().to_owned()).collect()
    }

    /// Number of capabilities held.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when nothing is allowed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<Capability> for CapabilitySet {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

/// The drains with their own grants, and what each adds to the base grants.
pub const DRAINS: &[(&str, &str)] = &[
    (
        "development",
        "writes, edits, deletes, run.report_progress, env.read, process.exec_unbounded, web.search, web.visit, web.download",
    ),
    (
        "fix",
        "writes, edits, deletes, run.report_progress, env.read, process.exec_unbounded, web.search, web.visit, web.download",
    ),
    (
        "review",
        "run.report_progress, web.search, web.visit (read-only)",
    ),
    (
        "analysis",
        "run.report_progress, web.search, web.visit (read-only)",
    ),
    ("commit", "run.report_progress, workspace.write_ephemeral"),
    ("planning", "artifact.plan_write, web.search, web.visit"),
];

/// True when `drain` is one of [`DRAINS`] (in any of the accepted spellings).
pub fn is_known_drain(drain: &str) -> bool {
    let key = normalize_token(drain);
    DRAINS.iter().any(|(d, _)| *d == key)
}

/// The valid drains and their grants, one per line, for error messages.
pub fn describe_drains() -> String {
    DRAINS
        .iter()
        .map(|(d, g)| format!("  {d}: base grants + {g}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The default grants for a drain (see `docs/reference.md`). Unknown drains get the base grants.
/// `upstream_configured` adds `upstream.tool_use` for every drain except commit.
/// As in Ralph, every drain but commit may search and visit the web, and
/// development and fix may download into the workspace.
pub fn default_grants(drain: &str, upstream_configured: bool) -> CapabilitySet {
    use Capability::*;
    let mut set: CapabilitySet = [
        WorkspaceRead,
        WorkspaceMetadataRead,
        GitStatusRead,
        GitDiffRead,
        ArtifactSubmit,
        ArtifactPlanRead,
        ProcessExecBounded,
        MediaRead,
    ]
    .into_iter()
    .collect();
    let drain_key = normalize_token(drain);
    let extra: &[Capability] = match drain_key.as_str() {
        "review" | "analysis" => &[RunReportProgress],
        "commit" => &[RunReportProgress, WorkspaceWriteEphemeral],
        "planning" => &[ArtifactPlanWrite],
        "development" | "fix" => &[
            WorkspaceWriteEphemeral,
            WorkspaceWriteTracked,
            WorkspaceEdit,
            WorkspaceDelete,
            RunReportProgress,
            EnvRead,
            ProcessExecUnbounded,
        ],
        _ => &[],
    };
    for cap in extra {
        set.insert(*cap);
    }
    if upstream_configured && drain_key != "commit" {
        set.insert(UpstreamToolUse);
    }
    if drain_key != "commit" {
        set.insert(WebSearch);
        set.insert(WebVisit);
    }
    if matches!(drain_key.as_str(), "development" | "fix") {
        set.insert(WebDownload);
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn camel_dotted_and_dashed_forms_match() {
        for token in [
            "workspace.write_tracked",
            "WorkspaceWriteTracked",
            "workspace-write-tracked",
            "WORKSPACE_WRITE_TRACKED",
        ] {
            assert_eq!(
                token.parse::<Capability>().unwrap(),
                Capability::WorkspaceWriteTracked,
                "{token}"
            );
        }
    }

    #[test]
    fn write_any_aliases_grant_both_write_capabilities() {
        for alias in ["WorkspaceWriteAny", "FileWrite", "file_write"] {
            let (set, unknown) = CapabilitySet::parse_tokens([alias]);
            assert!(unknown.is_empty());
            assert!(set.contains(Capability::WorkspaceWriteEphemeral));
            assert!(set.contains(Capability::WorkspaceWriteTracked));
        }
    }

    #[test]
    fn any_write_requirement_is_met_by_either_write_capability() {
        let (eph, _) = CapabilitySet::parse_tokens(["workspace.write_ephemeral"]);
        let (tracked, _) = CapabilitySet::parse_tokens(["workspace.write_tracked"]);
        let (read, _) = CapabilitySet::parse_tokens(["workspace.read"]);
        assert!(Requirement::AnyWrite.is_met_by(&eph));
        assert!(Requirement::AnyWrite.is_met_by(&tracked));
        assert!(!Requirement::AnyWrite.is_met_by(&read));
    }

    #[test]
    fn unknown_tokens_are_reported_not_granted() {
        let (set, unknown) = CapabilitySet::parse_tokens(["workspace.read", "root.everything"]);
        assert_eq!(set.len(), 1);
        assert_eq!(unknown, vec!["root.everything".to_owned()]);
    }

    #[test]
    fn ralphs_capabilities_for_unserved_tools_are_quiet_and_grant_nothing() {
        let (set, unknown) = CapabilitySet::parse_tokens(["workspace.read", "media.capture"]);
        assert_eq!(set.len(), 1);
        assert!(unknown.is_empty(), "{unknown:?}");
    }

    #[test]
    fn drain_grants_follow_the_design_table() {
        let commit = default_grants("commit", true);
        assert!(commit.contains(Capability::WorkspaceWriteEphemeral));
        assert!(!commit.contains(Capability::WorkspaceWriteTracked));
        assert!(!commit.contains(Capability::UpstreamToolUse));
        let review = default_grants("review", false);
        assert!(review.contains(Capability::RunReportProgress));
        assert!(!review.contains(Capability::WorkspaceWriteEphemeral));
        let dev = default_grants("development", true);
        assert!(dev.contains(Capability::WorkspaceWriteTracked));
        assert!(dev.contains(Capability::ProcessExecUnbounded));
        assert!(dev.contains(Capability::UpstreamToolUse));
        assert!(!default_grants("development", false).contains(Capability::UpstreamToolUse));
    }

    proptest! {
        #[test]
        fn every_capability_round_trips_through_any_spelling(idx in 0..ALL_CAPABILITIES.len(), upper in any::<bool>(), sep in prop::sample::select(vec!['.', '-', '_'])) {
            let cap = ALL_CAPABILITIES[idx];
            let mut token: String = cap.dotted().chars().map(|c| if c == '.' || c == '_' { sep } else { c }).collect();
            if upper { token = token.to_uppercase(); }
            prop_assert_eq!(token.parse::<Capability>().unwrap(), cap);
        }

        #[test]
        fn parsing_arbitrary_tokens_never_panics(tokens in prop::collection::vec(".{0,40}", 0..8)) {
            let (set, unknown) = CapabilitySet::parse_tokens(tokens.iter().map(String::as_str));
            prop_assert!(set.len() + unknown.len() <= tokens.len() * 2);
        }
    }
}
