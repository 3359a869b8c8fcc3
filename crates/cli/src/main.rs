//! The `ralph-mcp` command line: thin glue over the server and lifecycle crates.
// The command line prints its results on stdout by design; the libraries never do.
#![allow(clippy::print_stdout)]

mod artifact_cmd;
mod client_cmd;
mod docs_cmd;
mod exit;
mod run_cmd;
mod serve_cmd;
mod swap_cmd;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// Printed after `--help`: what the commands read from the environment, what
/// their exit codes mean, and what each drain grants.
const AFTER_HELP: &str = "\
Environment:
  RALPH_MCP_SESSION_FILE, RALPH_MCP_SESSION_JSON   the session `serve` serves (without either,
                                                   a standalone session with every capability)
  MCP_AUTH_TOKEN          bearer token `serve` requires; `probe`/`call` send it too
  RALPH_MCP_AUTH_TOKEN    bearer token for `probe`/`call` (wins over MCP_AUTH_TOKEN)
  RALPH_MCP_ENDPOINT      endpoint for `probe`/`call` when given as `-`
  RALPH_MCP_LOG           log filter (warn), e.g. info or ralph_mcp_server=debug
  RALPH_MCP_PREFLIGHT_TIMEOUT_MS, RALPH_MCP_PROBE_TIMEOUT_MS, RALPH_MCP_SUPERVISION_INTERVAL_MS
                          the lifecycle's timing under `run`
  RALPH_MCP_EXEC_SOFT_BUDGET_MS   when a long `exec` detaches into a job (45000)
  RALPH_UPSTREAM_MCP_CONFIG       upstream MCP servers as Ralph's JSON list

Exit codes:
  0-255  under `run`, the agent's own exit code, except the codes below
  2      the command line is wrong (a usage error)
  124    `run`: supervision gave up (the server's restart budget is spent)
  125    ralph-mcp itself failed: bad configuration or session, the server could not start
  127    `run`: the agent command could not be started
  128+N  ended by signal N (143 after SIGTERM, 130 after SIGINT)
  `run --status-file FILE` records which of these ended the run, unambiguously.

Drains (`run --drain`; each also gets workspace.read, workspace.metadata_read,
git.status_read, git.diff_read, artifact.submit, process.exec_bounded, media.read):
  development, fix   + writes, edits, deletes, run.report_progress, env.read,
                       process.exec_unbounded
  review, analysis   + run.report_progress (read-only)
  commit             + run.report_progress, workspace.write_ephemeral
  Every drain but commit gets upstream.tool_use when upstreams are configured.

Reference: docs/reference.md and docs/tools.md in the repository.";

/// An MCP tool server and supervisor for AI coding agents.
#[derive(Debug, Parser)]
#[command(name = "ralph-mcp", version, about, after_help = AFTER_HELP)]
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
    /// Validate markdown artifacts (plans, results, decisions, commit messages).
    Artifact(artifact_cmd::ArtifactArgs),
    /// Print the tool reference (Markdown), generated from the tool catalog.
    Tools(docs_cmd::ToolsArgs),
    /// Print a shell completion script.
    Completions(docs_cmd::CompletionsArgs),
    /// Print the man page (roff).
    Man,
    /// Make Ralph Workflow start ralph-mcp as its MCP server (or stop it).
    RalphSwap(swap_cmd::SwapArgs),
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RALPH_MCP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only for a person at a terminal: never into pipes or log files.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

fn client_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// The error and its causes, each said once: a cause whose text the message
/// already carries (many of ours quote their source) is not repeated.
fn describe(err: &anyhow::Error) -> String {
    let mut text = err.to_string();
    for cause in err.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

/// Parses the command line; a usage error gets clap's message, plus a hint when
/// `run` was given its agent command without the `--` in front of it.
/// `serve` is what a supervisor starts at every restart, so its arguments are
/// parsed by a command that knows only `serve`: building the whole command
/// tree would cost a few hundred microseconds of each start. Anything that
/// command does not accept as it is (`--help`, a typo, a bad value) returns
/// `None` and goes to the full parser, so every message stays the same.
fn parse_serve_alone(args: &[std::ffi::OsString]) -> Option<Cli> {
    use clap::{Args, FromArgMatches};
    if args.get(1).is_none_or(|a| a != "serve") {
        return None;
    }
    let matches = serve_cmd::ServeArgs::augment_args(clap::Command::new("serve"))
        .try_get_matches_from(&args[1..])
        .ok()?;
    let args = serve_cmd::ServeArgs::from_arg_matches(&matches).ok()?;
    Some(Cli {
        command: Command::Serve(args),
    })
}

fn parse() -> Cli {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(cli) = parse_serve_alone(&argv) {
        return cli;
    }
    match Cli::try_parse_from(&argv) {
        Ok(cli) => cli,
        Err(err) => {
            use clap::error::ErrorKind;
            let args: Vec<String> = argv
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            let in_run = args.get(1).is_some_and(|a| a == "run");
            let misplaced = matches!(
                err.kind(),
                ErrorKind::UnknownArgument | ErrorKind::MissingRequiredArgument
            );
            if in_run {
                // clap's tip to pass an unknown flag after `--` would hand it to the
                // agent; under `run` that is never what was meant.
                let text = if std::io::stderr().is_terminal() {
                    err.render().ansi().to_string()
                } else {
                    err.render().to_string()
                };
                let kept: Vec<&str> = text
                    .lines()
                    .filter(|l| !l.contains("tip: to pass '"))
                    .collect();
                eprintln!("{}", kept.join("\n"));
            } else {
                let _ = err.print();
            }
            if in_run && misplaced && !args.iter().any(|a| a == "--") {
                eprintln!(
                    "\nhint: put the agent command after `--`, e.g.\n  ralph-mcp run --workspace DIR -- claude -p \"fix the failing test\""
                );
            }
            std::process::exit(if err.use_stderr() {
                exit::USAGE.into()
            } else {
                0
            });
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(ralph_mcp_server::sandbox::SHIM_SUBCOMMAND) {
        let code = ralph_mcp_server::sandbox::shim::main(&args[2..]);
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    let cli = parse();
    if matches!(cli.command, Command::Serve(_)) {
        // SAFETY: no other thread exists yet. The token must not stay readable in
        // /proc/<pid>/environ, where an exec job could find it.
        let token =
            unsafe { ralph_mcp_server::secret::take_env(ralph_mcp_session::names::AUTH_TOKEN_ENV) };
        ralph_mcp_server::secret::set_bearer(token);
        // SAFETY: as above.
        let broker = unsafe {
            ralph_mcp_server::secret::take_env(ralph_mcp_server::secret::BROKER_SECRET_ENV)
        };
        ralph_mcp_server::secret::set_broker_secret(broker);
        // SAFETY: as above. Ralph's activity-relay credential authenticates this
        // server to Ralph; no job may read it.
        let (endpoint, credential) = unsafe {
            (
                ralph_mcp_server::secret::take_env("RALPH_MCP_ACTIVITY_RELAY_ENDPOINT"),
                ralph_mcp_server::secret::take_env("RALPH_MCP_ACTIVITY_RELAY_CREDENTIAL"),
            )
        };
        ralph_mcp_server::secret::set_activity_relay(endpoint, credential);
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
        Command::Artifact(args) => artifact_cmd::run(args),
        Command::Tools(args) => docs_cmd::tools(&args).map(|()| 0),
        Command::Completions(args) => {
            docs_cmd::completions(&args, &mut Cli::command());
            Ok(0)
        }
        Command::Man => docs_cmd::man(Cli::command()).map(|()| 0),
        Command::RalphSwap(args) => swap_cmd::run(&args).map(|()| 0),
    };
    match outcome {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(err) => {
            eprintln!("ralph-mcp: error: {}", describe(&err));
            ExitCode::from(exit::OWN_FAILURE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_said_once() {
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let inner = anyhow::Error::new(io);
        let msg = format!("workspace /x is not usable: {inner}");
        let err = inner.context(msg);
        let text = describe(&err);
        assert_eq!(text.matches("entity not found").count(), 1, "{text}");
        let plain = anyhow::anyhow!("outer").context("top");
        assert_eq!(describe(&plain), "top: outer");
    }

    #[test]
    fn serve_alone_parses_as_the_whole_command_line_does() {
        let argv = |a: &[&str]| -> Vec<std::ffi::OsString> {
            std::iter::once("ralph-mcp")
                .chain(a.iter().copied())
                .map(Into::into)
                .collect()
        };
        for ok in [
            &["serve"][..],
            &["serve", "--port", "0", "--workspace", "/tmp"],
            &[
                "serve",
                "--listen-fd",
                "3",
                "--no-list-aliases",
                "--agent-transport",
                "claude",
            ],
            &[
                "serve",
                "--host",
                "::1",
                "--max-in-flight",
                "4",
                "--max-body-bytes",
                "4096",
            ],
            &[
                "serve",
                "--allow-remote",
                "--drain-timeout-ms",
                "10",
                "--port=8080",
            ],
        ] {
            let args = argv(ok);
            let alone = parse_serve_alone(&args).expect("accepted");
            let whole = Cli::try_parse_from(&args).expect("accepted");
            assert_eq!(format!("{alone:?}"), format!("{whole:?}"), "{ok:?}");
        }
        for refused in [
            &["serve", "--help"][..],
            &["serve", "-h"],
            &["serve", "--version"],
            &["serve", "--port", "x"],
            &["serve", "--max-in-flight", "0"],
            &["serve", "--bogus"],
            &["serve", "extra"],
            &["probe", "http://127.0.0.1:1/mcp"],
            &[],
        ] {
            assert!(parse_serve_alone(&argv(refused)).is_none(), "{refused:?}");
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
