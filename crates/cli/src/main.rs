//! The `ralph-mcp` command line: thin glue over the server and lifecycle crates.
// The command line prints its results on stdout by design; the libraries never do.
#![allow(clippy::print_stdout)]

mod client_cmd;
mod run_cmd;
mod serve_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// An MCP tool server and supervisor for AI coding agents.
#[derive(Debug, Parser)]
#[command(name = "ralph-mcp", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve one agent session over Streamable HTTP.
    Serve(serve_cmd::ServeArgs),
    /// Run the MCP handshake once and report the result.
    Probe(client_cmd::ProbeArgs),
    /// Call one tool and print its result.
    Call(client_cmd::CallArgs),
    /// Run an agent with a supervised server wired into its MCP config.
    Run(run_cmd::RunArgs),
    /// Print the MCP config snippet an agent needs for an endpoint.
    AgentConfig(run_cmd::AgentConfigArgs),
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RALPH_MCP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

fn client_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(ralph_mcp_server::sandbox::SHIM_SUBCOMMAND) {
        let code = ralph_mcp_server::sandbox::shim::main(&args[2..]);
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    let cli = Cli::parse();
    if matches!(cli.command, Command::Serve(_)) {
        // SAFETY: no other thread exists yet. The token must not stay readable in
        // /proc/<pid>/environ, where an exec job could find it.
        let token =
            unsafe { ralph_mcp_server::secret::take_env(ralph_mcp_session::names::AUTH_TOKEN_ENV) };
        ralph_mcp_server::secret::set_bearer(token);
    }
    init_tracing();
    let outcome = match cli.command {
        Command::Serve(args) => serve_cmd::run(args).map(|()| 0),
        Command::Probe(args) => {
            client_runtime().and_then(|rt| rt.block_on(client_cmd::run_probe(args)))
        }
        Command::Call(args) => {
            client_runtime().and_then(|rt| rt.block_on(client_cmd::run_call(args)))
        }
        // A current-thread runtime: every child is forked from the main thread, so
        // the parent-death signal is tied to this process, not to a worker thread.
        Command::Run(args) => client_runtime()
            .and_then(|rt| rt.block_on(run_cmd::run(args)))
            .map(i32::from),
        Command::AgentConfig(args) => run_cmd::agent_config(args).map(i32::from),
    };
    match outcome {
        Ok(code) => ExitCode::from(code as u8),
        Err(err) => {
            eprintln!("ralph-mcp: error: {err:#}");
            ExitCode::from(2)
        }
    }
}
