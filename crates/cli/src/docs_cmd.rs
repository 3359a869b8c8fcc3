//! `tools`, `completions` and `man`: documentation generated from the code, so it
//! cannot drift from what the binary does.

use std::io::Write;

use anyhow::Result;
use clap::Args;

/// Arguments of `tools`.
#[derive(Debug, Args)]
pub struct ToolsArgs {
    /// Print Markdown (the default and only format; kept for scripts that ask for it).
    #[arg(long)]
    pub markdown: bool,
}

/// Arguments of `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    pub shell: clap_complete::Shell,
}

/// Prints the tool reference.
pub fn tools(_args: &ToolsArgs) -> Result<()> {
    let text = ralph_mcp_server::tool_reference_markdown();
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(())
}

/// Prints a completion script for `shell`.
pub fn completions(args: &CompletionsArgs, cmd: &mut clap::Command) {
    clap_complete::generate(args.shell, cmd, "ralph-mcp", &mut std::io::stdout());
}

/// Prints the man page.
pub fn man(cmd: clap::Command) -> Result<()> {
    clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?;
    Ok(())
}
