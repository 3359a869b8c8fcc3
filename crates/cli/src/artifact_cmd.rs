//! `ralph-mcp artifact`: validate markdown artifacts from the command line, with
//! the same validator and the same diagnostics the server's tools return.

use std::io::{BufRead, Read, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use ralph_mcp_artifacts::{Registry, registry, validate};
use serde_json::json;

/// `ralph-mcp artifact …`.
#[derive(Debug, Args)]
pub struct ArtifactArgs {
    #[command(subcommand)]
    command: ArtifactCommand,
}

#[derive(Debug, Subcommand)]
enum ArtifactCommand {
    /// Validate markdown artifacts; exits 1 when any is invalid.
    Check(CheckArgs),
    /// List the artifact types (Ralph's and the workspace's own).
    Types(TypesArgs),
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// The artifact type (e.g. plan, issues, commit_message).
    #[arg(long = "type", value_name = "TYPE", required_unless_present = "jsonl")]
    artifact_type: Option<String>,
    /// The workspace whose `.agent/artifact-types/*.toml` declare extra types.
    #[arg(long, value_name = "DIR", default_value = ".")]
    workspace: PathBuf,
    /// Print diagnostics as JSON.
    #[arg(long)]
    json: bool,
    /// Batch mode: read one JSON object `{"type", "content"}` per line on stdin
    /// and print one `{"valid", "diagnostics"}` line per input.
    #[arg(long, conflicts_with_all = ["artifact_type", "files"])]
    jsonl: bool,
    /// Files to check (`-` or none: stdin).
    files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
struct TypesArgs {
    /// The workspace whose `.agent/artifact-types/*.toml` declare extra types.
    #[arg(long, value_name = "DIR", default_value = ".")]
    workspace: PathBuf,
}

fn load(workspace: &std::path::Path) -> Registry {
    let (registry, errors) = Registry::with_workspace(registry::workspace_files(workspace));
    for e in errors {
        eprintln!("ralph-mcp: warning: artifact type skipped: {e}");
    }
    registry
}

/// Runs the subcommand; the exit code is 0 when everything checked is valid.
pub fn run(args: ArtifactArgs) -> anyhow::Result<i32> {
    match args.command {
        ArtifactCommand::Check(a) if a.jsonl => check_jsonl(&load(&a.workspace)),
        ArtifactCommand::Check(a) => check(&a),
        ArtifactCommand::Types(a) => {
            let registry = load(&a.workspace);
            let mut out = std::io::stdout().lock();
            for spec in registry.iter() {
                writeln!(out, "{}\t{}", spec.artifact_type, spec.description)?;
            }
            Ok(0)
        }
    }
}

fn check(a: &CheckArgs) -> anyhow::Result<i32> {
    let registry = load(&a.workspace);
    let kind = a.artifact_type.as_deref().unwrap_or_default();
    let spec = registry.get(kind).map_err(anyhow::Error::msg)?;
    let files = if a.files.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        a.files.clone()
    };
    let mut all_valid = true;
    let mut out = std::io::stdout().lock();
    for file in files {
        let text = if file.as_os_str() == "-" {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading stdin")?;
            s
        } else {
            std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?
        };
        let outcome = validate(&text, &spec);
        all_valid &= outcome.is_valid();
        let name = file.display().to_string();
        if a.json {
            let line = json!({"file": name, "artifact_type": kind, "valid": outcome.is_valid(), "diagnostics": outcome.diagnostics});
            writeln!(out, "{line}")?;
        } else if outcome.diagnostics.is_empty() {
            writeln!(out, "{name}: valid {kind}")?;
        } else {
            for d in &outcome.diagnostics {
                let section = d
                    .section
                    .as_deref()
                    .map(|s| format!(" [{s}]"))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "{name}:{}: {} {}{section}: {}\n    fix: {}",
                    d.line,
                    d.rule_id,
                    severity(d),
                    d.message,
                    d.fix
                )?;
            }
        }
    }
    Ok(i32::from(!all_valid))
}

fn severity(d: &ralph_mcp_artifacts::Diagnostic) -> &'static str {
    match d.severity {
        ralph_mcp_artifacts::Severity::Error => "error",
        ralph_mcp_artifacts::Severity::Warning => "warning",
        ralph_mcp_artifacts::Severity::Info => "info",
    }
}

fn check_jsonl(registry: &Registry) -> anyhow::Result<i32> {
    let mut out = std::io::stdout().lock();
    let mut all_valid = true;
    for (n, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.context("reading stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        let input: serde_json::Value = serde_json::from_str(&line)
            .with_context(|| format!("stdin line {}: not JSON", n + 1))?;
        let (Some(kind), Some(content)) = (input["type"].as_str(), input["content"].as_str())
        else {
            anyhow::bail!(
                "stdin line {}: expected {{\"type\": string, \"content\": string}}",
                n + 1
            );
        };
        let result = match registry.get(kind) {
            Ok(spec) => {
                let outcome = validate(content, &spec);
                all_valid &= outcome.is_valid();
                json!({"valid": outcome.is_valid(), "diagnostics": outcome.diagnostics})
            }
            Err(e) => {
                all_valid = false;
                json!({"valid": false, "error": e})
            }
        };
        writeln!(out, "{result}")?;
    }
    Ok(i32::from(!all_valid))
}
