//! `ralph-mcp probe` and `ralph-mcp call`: one handshake, or one tool call, from the shell.

use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use ralph_mcp_lifecycle::client::{McpConnection, probe};
use ralph_mcp_session::names::{AGENT_AUTH_TOKEN_ENV, AUTH_TOKEN_ENV, ENDPOINT_ENV};
use serde_json::Value;

/// Arguments of `probe`.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Endpoint URL, e.g. http://127.0.0.1:8765/mcp (default: $RALPH_MCP_ENDPOINT).
    #[arg(env = ENDPOINT_ENV)]
    pub url: String,
    /// Bearer token (default: $RALPH_MCP_AUTH_TOKEN, then $MCP_AUTH_TOKEN).
    #[arg(long, env = AGENT_AUTH_TOKEN_ENV, hide_env_values = true)]
    pub token: Option<String>,
    /// A tool that must be listed (raw name or mcp__ralph__ alias); repeatable.
    #[arg(long = "require", value_name = "TOOL")]
    pub require: Vec<String>,
    /// Give up after this many milliseconds.
    #[arg(long, default_value_t = 5000)]
    pub timeout_ms: u64,
    /// Probe this many times (each a fresh connection and handshake) and print
    /// the latency median, p99, min and max.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub count: u32,
}

/// One token story: the agent's variable first, then the server's own, so the
/// same shell that started `serve` with `MCP_AUTH_TOKEN` can probe and call it.
fn token_or_server_env(token: Option<String>) -> Option<String> {
    token
        .filter(|t| !t.is_empty())
        .or_else(|| std::env::var(AUTH_TOKEN_ENV).ok().filter(|t| !t.is_empty()))
}

/// Runs `probe`; the exit code is 0 when healthy, 1 otherwise.
pub async fn run_probe(mut args: ProbeArgs) -> Result<i32> {
    args.token = token_or_server_env(args.token);
    if args.count > 1 {
        return probe_many(&args).await;
    }
    match probe(
        &args.url,
        args.token.as_deref(),
        &args.require,
        Duration::from_millis(args.timeout_ms),
    )
    .await
    {
        Ok(hs) => {
            println!(
                "ok tools={} protocol={} latency_ms={:.3}",
                hs.tools.len(),
                hs.protocol_version,
                hs.latency.as_secs_f64() * 1000.0
            );
            Ok(0)
        }
        Err(e) => {
            println!("fail {e}");
            Ok(1)
        }
    }
}

async fn probe_many(args: &ProbeArgs) -> Result<i32> {
    let mut ms = Vec::with_capacity(args.count as usize);
    for _ in 0..args.count {
        let hs = probe(
            &args.url,
            args.token.as_deref(),
            &args.require,
            Duration::from_millis(args.timeout_ms),
        )
        .await;
        match hs {
            Ok(hs) => ms.push(hs.latency.as_secs_f64() * 1000.0),
            Err(e) => {
                println!("fail after {} probes: {e}", ms.len());
                return Ok(1);
            }
        }
    }
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    println!(
        "ok probes={} median_ms={:.3} p99_ms={:.3} min_ms={:.3} max_ms={:.3}",
        ms.len(),
        at(0.5),
        at(0.99),
        ms[0],
        ms[ms.len() - 1]
    );
    Ok(0)
}

/// Arguments of `call`.
#[derive(Debug, Args)]
pub struct CallArgs {
    /// Endpoint URL (use `-` for $RALPH_MCP_ENDPOINT).
    pub url: String,
    /// Tool name.
    pub tool: String,
    /// Arguments as a JSON object (default {}).
    pub json: Option<String>,
    /// Bearer token (default: $RALPH_MCP_AUTH_TOKEN, then $MCP_AUTH_TOKEN).
    #[arg(long, env = AGENT_AUTH_TOKEN_ENV, hide_env_values = true)]
    pub token: Option<String>,
    /// Print the raw JSON result instead of the text blocks.
    #[arg(long)]
    pub raw: bool,
}

/// Runs `call`; the exit code is 0 on success, 1 when the tool returned `isError`.
pub async fn run_call(mut args: CallArgs) -> Result<i32> {
    args.token = token_or_server_env(args.token);
    let url = if args.url == "-" {
        std::env::var(ENDPOINT_ENV).with_context(|| format!("`-` needs ${ENDPOINT_ENV}"))?
    } else {
        args.url.clone()
    };
    let arguments: Value = match &args.json {
        Some(text) => serde_json::from_str(text)
            .with_context(|| format!("tool arguments are not valid JSON: {text}"))?,
        None => Value::Object(Default::default()),
    };
    let mut conn = McpConnection::connect(&url, args.token.as_deref()).await?;
    conn.handshake().await?;
    let result = conn.call_tool(&args.tool, arguments).await?;
    let is_error = result
        .get("isError")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if args.raw {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        for block in result
            .get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            match block.get("text").and_then(Value::as_str) {
                Some(t) => println!("{t}"),
                None => println!("{block}"),
            }
        }
    }
    Ok(if is_error { 1 } else { 0 })
}
