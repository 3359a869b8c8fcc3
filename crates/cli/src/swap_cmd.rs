//! `ralph-swap`: puts ralph-mcp in place of Ralph Workflow's own MCP server for
//! one Python installation, and takes it out again.
//!
//! Ralph starts its server as `python -m ralph.mcp.server --host H --port P
//! --workspace W` with the listening socket and everything else in its
//! environment. The swap adds two files to that Python's `site-packages`: a
//! `.pth` line that imports a small module at interpreter start-up, and the
//! module, which, only when the interpreter was started as
//! `-m ralph.mcp.server`, execs `ralph-mcp serve` with the same arguments. The
//! process keeps its pid, environment and inherited fds, so Ralph's lifecycle
//! code supervises ralph-mcp as its own server. Nothing of Ralph is modified;
//! `remove` deletes the two files; `RALPH_MCP_SWAP=0` in Ralph's environment
//! runs Ralph's own server while the files stay.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};

/// The `.pth` file's name.
const PTH: &str = "ralph_mcp_swap.pth";
/// The module's name.
const MODULE: &str = "ralph_mcp_swap.py";
/// The Ralph release whose server contract ralph-mcp was built against.
const RALPH_VERSION: &str = "0.9.30";

/// Arguments of `ralph-swap`.
#[derive(Debug, Args)]
pub struct SwapArgs {
    #[command(subcommand)]
    action: SwapAction,
}

#[derive(Debug, Subcommand)]
enum SwapAction {
    /// Make Ralph start ralph-mcp instead of its own server.
    Install(Target),
    /// Give Ralph its own server back.
    Remove(Target),
    /// Say whether the swap is installed, and for which binary.
    Status(Target),
}

/// Which Python installation.
#[derive(Debug, Args)]
struct Target {
    /// The Python interpreter Ralph runs under. Default: the one named by the
    /// `#!` line of `ralph` on PATH.
    #[arg(long, value_name = "PATH")]
    python: Option<PathBuf>,
}

/// What the interpreter said about itself.
struct Site {
    python: PathBuf,
    purelib: PathBuf,
    ralph_version: String,
}

fn python_of_ralph_on_path() -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let ralph = std::env::split_paths(&path)
        .map(|d| d.join("ralph"))
        .find(|p| p.is_file())
        .context(
            "no `ralph` on PATH; pass --python with the interpreter Ralph Workflow is installed in",
        )?;
    let text = std::fs::read_to_string(&ralph)
        .with_context(|| format!("cannot read {}", ralph.display()))?;
    let shebang = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("#!"))
        .map(str::trim)
        .with_context(|| format!("{} has no #! line; pass --python", ralph.display()))?;
    Ok(PathBuf::from(
        shebang.split_whitespace().next().unwrap_or(shebang),
    ))
}

fn site(target: &Target) -> Result<Site> {
    let python = match &target.python {
        Some(p) => p.clone(),
        None => python_of_ralph_on_path()?,
    };
    let out = Command::new(&python)
        .args([
            "-c",
            "import sysconfig, importlib.metadata as m; print(sysconfig.get_paths()['purelib']); print(m.version('ralph-workflow'))",
        ])
        .env("RALPH_MCP_SWAP", "0")
        .output()
        .with_context(|| format!("cannot run {}", python.display()))?;
    if !out.status.success() {
        bail!(
            "{} has no ralph-workflow installed ({}); pass --python with the interpreter Ralph runs under (the #! line of `ralph`)",
            python.display(),
            String::from_utf8_lossy(&out.stderr)
                .trim()
                .lines()
                .last()
                .unwrap_or("no output")
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let purelib = PathBuf::from(lines.next().unwrap_or_default());
    let ralph_version = lines.next().unwrap_or_default().to_string();
    Ok(Site {
        python,
        purelib,
        ralph_version,
    })
}

/// The module installed beside the `.pth` line.
fn module_text(binary: &Path) -> String {
    let bin = binary
        .display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    format!(
        r#""""Installed by `ralph-mcp ralph-swap install`: Ralph Workflow's MCP server
(`python -m ralph.mcp.server ...`) runs as `ralph-mcp serve ...` instead.
Undo with `ralph-mcp ralph-swap remove` (or delete this file and {PTH});
RALPH_MCP_SWAP=0 in the environment runs Ralph's own server."""

import os
import sys

BINARY = "{bin}"


def _swap():
    argv = getattr(sys, "orig_argv", [])
    if "-m" not in argv or os.environ.get("RALPH_MCP_SWAP", "1") == "0":
        return
    i = argv.index("-m")
    if argv[i + 1 : i + 2] != ["ralph.mcp.server"]:
        return
    os.execv(BINARY, [BINARY, "serve", *argv[i + 2 :]])


_swap()
"#
    )
}

/// Runs `ralph-swap`.
pub fn run(args: &SwapArgs) -> Result<()> {
    match &args.action {
        SwapAction::Install(target) => {
            let site = site(target)?;
            let binary = std::env::current_exe()
                .and_then(std::fs::canonicalize)
                .context("cannot tell where this ralph-mcp binary is")?;
            write_atomic(&site.purelib.join(MODULE), &module_text(&binary))?;
            write_atomic(&site.purelib.join(PTH), "import ralph_mcp_swap\n")?;
            println!(
                "installed: Ralph Workflow {} under {} now starts {} as its MCP server",
                site.ralph_version,
                site.python.display(),
                binary.display()
            );
            println!(
                "files: {}, {}",
                site.purelib.join(PTH).display(),
                site.purelib.join(MODULE).display()
            );
            if site.ralph_version != RALPH_VERSION {
                eprintln!(
                    "warning: ralph-mcp follows Ralph Workflow {RALPH_VERSION}'s server contract; this is {}",
                    site.ralph_version
                );
            }
            println!(
                "undo: ralph-mcp ralph-swap remove --python {}",
                site.python.display()
            );
        }
        SwapAction::Remove(target) => {
            let site = site(target)?;
            let mut removed = 0;
            for name in [PTH, MODULE] {
                match std::fs::remove_file(site.purelib.join(name)) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(e).with_context(|| {
                            format!("cannot remove {}", site.purelib.join(name).display())
                        });
                    }
                }
            }
            if removed == 0 {
                println!(
                    "not installed under {}; nothing to remove",
                    site.python.display()
                );
            } else {
                println!(
                    "removed: Ralph Workflow under {} starts its own MCP server again",
                    site.python.display()
                );
            }
        }
        SwapAction::Status(target) => {
            let site = site(target)?;
            let module = site.purelib.join(MODULE);
            match std::fs::read_to_string(&module) {
                Ok(text) if site.purelib.join(PTH).is_file() => {
                    let binary = text
                        .lines()
                        .find_map(|l| l.strip_prefix("BINARY = \""))
                        .and_then(|l| l.strip_suffix('"'))
                        .unwrap_or("?");
                    let exists = Path::new(binary).is_file();
                    println!(
                        "installed under {}: Ralph Workflow {} starts {}{}",
                        site.python.display(),
                        site.ralph_version,
                        binary,
                        if exists {
                            ""
                        } else {
                            " (missing: Ralph falls back to its own server)"
                        }
                    );
                }
                _ => println!(
                    "not installed under {}: Ralph Workflow {} starts its own MCP server",
                    site.python.display(),
                    site.ralph_version
                ),
            }
        }
    }
    Ok(())
}

fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let dir = path.parent().context("no parent directory")?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    std::io::Write::write_all(&mut tmp, text.as_bytes())?;
    // Readable by whoever runs that Python, like the rest of site-packages.
    tmp.as_file()
        .set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
