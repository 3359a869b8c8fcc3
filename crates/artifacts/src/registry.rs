//! The artifact types a server knows: Ralph's, bundled, and any a workspace
//! declares in `.agent/artifact-types/<type>.toml`.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::spec::{Spec, SpecError};

/// The Ralph Workflow release the bundled specs were read from.
pub const RALPH_VERSION: &str = "0.9.30";

/// The bundled spec files.
pub const BUILTIN: &[(&str, &str)] = &[
    ("plan", include_str!("../specs/plan.toml")),
    (
        "development_result",
        include_str!("../specs/development_result.toml"),
    ),
    ("fix_result", include_str!("../specs/fix_result.toml")),
    ("issues", include_str!("../specs/issues.toml")),
    (
        "commit_message",
        include_str!("../specs/commit_message.toml"),
    ),
    (
        "commit_cleanup",
        include_str!("../specs/commit_cleanup.toml"),
    ),
    (
        "design_verdict",
        include_str!("../specs/design_verdict.toml"),
    ),
    (
        "development_analysis_decision",
        include_str!("../specs/development_analysis_decision.toml"),
    ),
    (
        "planning_analysis_decision",
        include_str!("../specs/planning_analysis_decision.toml"),
    ),
    (
        "review_analysis_decision",
        include_str!("../specs/review_analysis_decision.toml"),
    ),
    (
        "policy_remediation_analysis_decision",
        include_str!("../specs/policy_remediation_analysis_decision.toml"),
    ),
    (
        "smoke_test_result",
        include_str!("../specs/smoke_test_result.toml"),
    ),
    (
        "run_time_report",
        include_str!("../specs/run_time_report.toml"),
    ),
    ("product_spec", include_str!("../specs/product_spec.toml")),
];

/// Where a workspace declares its own artifact types.
pub const WORKSPACE_DIR: &str = ".agent/artifact-types";

/// A set of artifact specs by type.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    specs: BTreeMap<String, Arc<Spec>>,
}

/// A workspace spec that could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {error}")]
pub struct LoadError {
    /// The file.
    pub file: String,
    /// What is wrong.
    pub error: SpecError,
}

impl Registry {
    /// Ralph's artifact types.
    pub fn builtin() -> Self {
        let mut specs = BTreeMap::new();
        for (name, text) in BUILTIN {
            let spec = Spec::from_toml(text).unwrap_or_else(|e| panic!("bundled spec {name}: {e}"));
            specs.insert(spec.artifact_type.clone(), Arc::new(spec));
        }
        Self { specs }
    }

    /// Adds (or replaces) a spec from TOML; `file` names it in errors.
    pub fn add_toml(&mut self, file: &str, text: &str) -> Result<(), LoadError> {
        let spec = Spec::from_toml(text).map_err(|error| LoadError {
            file: file.to_owned(),
            error,
        })?;
        self.specs
            .insert(spec.artifact_type.clone(), Arc::new(spec));
        Ok(())
    }

    /// The spec for `artifact_type`, or an error listing the known types.
    pub fn get(&self, artifact_type: &str) -> Result<Arc<Spec>, String> {
        self.specs.get(artifact_type).cloned().ok_or_else(|| {
            format!(
                "no markdown spec registered for '{artifact_type}'; known artifact types: {}",
                self.specs.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })
    }

    /// Every spec, by type.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Spec>> {
        self.specs.values()
    }
}

impl Registry {
    /// Ralph's types plus every `*.toml` the workspace declares in
    /// [`WORKSPACE_DIR`], read with `read_dir`/`read` (the caller decides how
    /// files are reached). A file that cannot be used is reported and skipped.
    pub fn with_workspace<E: std::fmt::Display>(
        files: impl IntoIterator<Item = (String, Result<String, E>)>,
    ) -> (Self, Vec<String>) {
        let mut registry = Self::builtin();
        let mut errors = Vec::new();
        for (file, text) in files {
            match text {
                Ok(text) => {
                    if let Err(e) = registry.add_toml(&file, &text) {
                        errors.push(e.to_string());
                    }
                }
                Err(e) => errors.push(format!("{file}: {e}")),
            }
        }
        (registry, errors)
    }
}

/// The workspace's declared spec files, read from the file system by path
/// (for the command line; the server reads them through its confinement).
pub fn workspace_files(
    workspace: &std::path::Path,
) -> Vec<(String, Result<String, std::io::Error>)> {
    let dir = workspace.join(WORKSPACE_DIR);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| (p.display().to_string(), std::fs::read_to_string(&p)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_specs_load_and_match_their_names() {
        let r = Registry::builtin();
        for (name, _) in BUILTIN {
            assert_eq!(r.get(name).unwrap().artifact_type, *name);
        }
        assert!(
            r.get("nope")
                .unwrap_err()
                .contains("known artifact types: commit_cleanup")
        );
    }

    #[test]
    fn a_bad_workspace_spec_names_file_and_problem() {
        let mut r = Registry::builtin();
        let e = r
            .add_toml("x.toml", "type = \"a b\"")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("x.toml: type `a b`"), "{e}");
        let e = r
            .add_toml("y.toml", "type = \"t\"\nbogus = 1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bogus"), "{e}");
    }
}
