//! The web tools, with Ralph 0.9.30's names, arguments and capabilities
//! (`tools/webvisit.py`, `tools/websearch.py`): `visit_url` (`web.visit`)
//! returns a page as readable text, `download_url` (`web.download`) saves a URL
//! into the workspace through the confinement layer, and `web_search`
//! (`web.search`) asks the configured backends in order. Fetches of URLs an
//! agent names go through the [`guard`]; the search backends are the
//! operator's, named in `[web_search]`.

pub mod config;
mod extract;
mod fetch;
pub mod guard;
mod search;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{ToolContext, ToolError, ToolResult};
use rmcp::model::CallToolResult;

pub use config::{WebSearchConfig, WebVisitConfig};

/// The web settings and the two HTTP clients (built on first use).
#[derive(Debug, Default)]
pub struct Web {
    /// `[web_search]`.
    pub search: WebSearchConfig,
    /// `[web_visit]`.
    pub visit: WebVisitConfig,
    guarded: OnceLock<Result<reqwest::Client, String>>,
    plain: OnceLock<Result<reqwest::Client, String>>,
}

impl Web {
    /// The settings of a configuration file.
    pub fn new(search: WebSearchConfig, visit: WebVisitConfig) -> Self {
        Self {
            search,
            visit,
            ..Default::default()
        }
    }

    fn policy(&self) -> guard::Policy {
        guard::Policy {
            allow_private: self.visit.allow_private_networks,
            allowed_hosts: self.visit.allowed_hosts.clone(),
        }
    }

    /// The client for URLs an agent names: no redirects followed by itself, no
    /// proxy from the environment, names resolved through the guard.
    fn guarded(&self) -> Result<&reqwest::Client, ToolError> {
        self.guarded
            .get_or_init(|| {
                crate::tls::builder(&[])?
                    .redirect(reqwest::redirect::Policy::none())
                    .no_proxy()
                    .dns_resolver(Arc::new(guard::GuardedResolver::new(Arc::new(
                        self.policy(),
                    ))))
                    .user_agent(self.visit.user_agent.clone())
                    .connect_timeout(Duration::from_millis(self.visit.timeout_ms))
                    .build()
                    .map_err(|e| crate::tls::describe(&e))
            })
            .as_ref()
            .map_err(|e| ToolError::failed(format!("the web client cannot be built: {e}")))
    }

    /// The client for the configured search backends.
    fn plain(&self) -> Result<&reqwest::Client, ToolError> {
        self.plain
            .get_or_init(|| {
                crate::tls::builder(&[])?
                    .user_agent(self.visit.user_agent.clone())
                    .build()
                    .map_err(|e| crate::tls::describe(&e))
            })
            .as_ref()
            .map_err(|e| ToolError::failed(format!("the web client cannot be built: {e}")))
    }
}

fn result(value: Value, error: bool) -> CallToolResult {
    super::text_or_error(value.to_string(), error)
}

fn text(text: String, error: bool) -> CallToolResult {
    super::text_or_error(text, error)
}

/// Compact JSON with `bytes_out` equal to the length of the JSON that holds it.
fn with_bytes_out(mut m: Map<String, Value>) -> String {
    let mut n = 0usize;
    loop {
        m.insert("bytes_out".into(), n.into());
        let s = Value::Object(m.clone()).to_string();
        if s.len() == n {
            return s;
        }
        n = s.len();
    }
}

/// `raw` or another format word, checked against what a tool accepts.
fn format_of(tool: &str, given: Option<&str>, allowed: [&str; 2]) -> Result<String, ToolError> {
    let f = given.unwrap_or("raw");
    if allowed.contains(&f) {
        return Ok(f.to_owned());
    }
    Err(ToolError::InvalidArgs {
        tool: tool.into(),
        message: format!(
            "invalid format '{f}'; expected '{}' or '{}'",
            allowed[0], allowed[1]
        ),
    })
}

/// Arguments of `visit_url`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VisitArgs {
    /// The http(s) URL to fetch.
    pub url: String,
    /// Include up to 100 absolute outbound links (default: `[web_visit] extract_links`).
    pub with_links: Option<bool>,
    /// `raw` (default: the readable text) or `metadata` (a bounded preview).
    pub format: Option<String>,
}

/// `visit_url`.
pub async fn visit_url(ctx: Arc<ToolContext>, args: VisitArgs) -> ToolResult {
    let format = format_of("visit_url", args.format.as_deref(), ["raw", "metadata"])?;
    let web = &ctx.web;
    let cfg = &web.visit;
    let fetched = match fetch::fetch(
        web.guarded()?,
        &web.policy(),
        &args.url,
        cfg.max_bytes,
        Duration::from_millis(cfg.timeout_ms),
        true,
    )
    .await
    {
        Ok(f) => f,
        Err(failure) => {
            tracing::warn!(
                status = failure.status,
                "visit_url fetch failed: {}",
                failure.error
            );
            return Ok(result(failure.payload(), true));
        }
    };
    let with_links = args.with_links.unwrap_or(cfg.extract_links);
    let body = extract::decode(&fetched.body, fetched.content_type.as_deref());
    let base = fetched.effective_url.clone();
    let ct = fetched.content_type.clone();
    let page = tokio::task::spawn_blocking(move || {
        extract::extract(&body, &base, ct.as_deref(), with_links)
    })
    .await
    .map_err(|e| ToolError::failed(format!("extraction failed: {e}")))?;
    let max_chars = usize::try_from(cfg.max_bytes / 4).unwrap_or(usize::MAX);
    let text: String = page.text.chars().take(max_chars).collect();
    if format == "metadata" {
        let chars = text.chars().count();
        let mut m = Map::new();
        m.insert("format".into(), "metadata".into());
        m.insert("status".into(), "ok".into());
        m.insert("title".into(), page.title.into());
        m.insert("effective_url".into(), fetched.effective_url.into());
        m.insert("content_type".into(), fetched.content_type.into());
        m.insert("byte_count".into(), chars.into());
        m.insert(
            "head_preview".into(),
            text.chars().take(480).collect::<String>().into(),
        );
        m.insert("bytes_in".into(), fetched.body.len().into());
        m.insert("truncated".into(), (chars > 480).into());
        if with_links {
            m.insert(
                "links".into(),
                page.links.into_iter().take(10).collect::<Vec<_>>().into(),
            );
        }
        return Ok(self::text(with_bytes_out(m), false));
    }
    let mut payload = json!({
        "status": "ok",
        "title": page.title,
        "effective_url": fetched.effective_url,
        "content_type": fetched.content_type,
        "text": text,
    });
    if with_links {
        payload["links"] = page.links.into();
    }
    Ok(result(payload, false))
}

/// Arguments of `download_url`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DownloadArgs {
    /// The http(s) URL to download.
    pub url: String,
    /// Where to save it, relative to the workspace.
    pub output_path: String,
    /// `raw` (default) or `summary` (adds a sha256 and a 240-byte preview).
    pub format: Option<String>,
}

/// `download_url`.
pub async fn download_url(ctx: Arc<ToolContext>, args: DownloadArgs) -> ToolResult {
    let format = format_of("download_url", args.format.as_deref(), ["raw", "summary"])?;
    let web = &ctx.web;
    let cfg = &web.visit;
    let fetched = match fetch::fetch(
        web.guarded()?,
        &web.policy(),
        &args.url,
        cfg.download_cap(),
        Duration::from_millis(cfg.timeout_ms),
        false,
    )
    .await
    {
        Ok(f) => f,
        Err(failure) => {
            tracing::warn!(
                status = failure.status,
                "download_url fetch failed: {}",
                failure.error
            );
            return Ok(result(failure.payload(), true));
        }
    };
    let body = Arc::new(fetched.body);
    let (writer, path, bytes) = (ctx.clone(), args.output_path.clone(), body.clone());
    let written = tokio::task::spawn_blocking(move || {
        super::write::write_confined(&writer, "download_url", &path, &bytes)
    })
    .await
    .map_err(|e| ToolError::failed(format!("the write failed: {e}")))?;
    if let Err(e) = written {
        return Ok(text(
            format!(
                "Failed to write downloaded content to '{}': {e}. Re-issuing the identical call will fail again — free space, fix permissions, or choose a different output_path.",
                args.output_path
            ),
            true,
        ));
    }
    let mut m = Map::new();
    m.insert("status".into(), "ok".into());
    m.insert("effective_url".into(), fetched.effective_url.into());
    m.insert("content_type".into(), fetched.content_type.into());
    m.insert("output_path".into(), args.output_path.into());
    m.insert("bytes_written".into(), body.len().into());
    if format == "raw" {
        return Ok(result(Value::Object(m), false));
    }
    let head = &body[..body.len().min(240)];
    let mut preview = String::from_utf8_lossy(head).into_owned();
    if body.len() > head.len() {
        preview.push_str(&format!("... [+{} bytes]", body.len() - head.len()));
    }
    m.insert("format".into(), "summary".into());
    m.insert(
        "sha256".into(),
        hex::encode(Sha256::digest(body.as_slice()))[..16].into(),
    );
    m.insert("head_preview".into(), preview.into());
    Ok(text(with_bytes_out(m), false))
}

/// Arguments of `web_search`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchArgs {
    /// What to search for.
    pub query: String,
    /// How many results (1 to 25, default 10).
    pub limit: Option<i64>,
    /// `raw` (default: Title/URL/Snippet blocks) or `summary` (a compact JSON envelope).
    pub format: Option<String>,
}

/// `web_search`.
pub async fn web_search(ctx: Arc<ToolContext>, args: SearchArgs) -> ToolResult {
    let format = format_of("web_search", args.format.as_deref(), ["raw", "summary"])?;
    let limit = usize::try_from(args.limit.unwrap_or(10).clamp(1, 25)).unwrap_or(10);
    let cfg = &ctx.web.search;
    let mut order: Vec<&str> = Vec::new();
    for name in std::iter::once(&cfg.backend).chain(&cfg.fallback) {
        if !order.contains(&name.as_str()) {
            order.push(name);
        }
    }
    let client = ctx.web.plain()?;
    let mut failures = Vec::new();
    let mut used = Vec::new();
    for name in order {
        match search::search(client, cfg, name, &args.query, limit).await {
            Ok(hits) => {
                used.push(name.to_owned());
                if format == "summary" {
                    return Ok(text(summary(&hits, &used, &args.query), false));
                }
                let blocks: Vec<String> = hits
                    .iter()
                    .map(|h| format!("Title: {}\nURL: {}\nSnippet: {}", h.title, h.url, h.snippet))
                    .collect();
                let body = if blocks.is_empty() {
                    "(no results)".to_owned()
                } else {
                    blocks.join("\n\n")
                };
                return Ok(text(body, false));
            }
            Err(e) => {
                tracing::warn!("web_search backend {name} failed: {e}; trying the next");
                failures.push(format!("{name}: {e}"));
            }
        }
    }
    Ok(text(
        format!("all web_search backends failed: {}", failures.join("; ")),
        true,
    ))
}

fn summary(hits: &[search::Hit], used: &[String], query: &str) -> String {
    let cards: Vec<Value> = hits
        .iter()
        .map(|h| {
            let mut snippet: String = h.snippet.chars().take(240).collect();
            if h.snippet.chars().count() > 240 {
                snippet.push_str("...");
            }
            json!({"title": h.title, "url": h.url, "snippet_budget_bytes": snippet.len(), "snippet": snippet})
        })
        .collect();
    let mut m = Map::new();
    m.insert("format".into(), "summary".into());
    m.insert("query_length".into(), query.chars().count().into());
    m.insert("result_count".into(), cards.len().into());
    m.insert("results".into(), cards.into());
    m.insert("backend_chain_used".into(), used.to_vec().into());
    m.insert(
        "bytes_in".into(),
        hits.iter()
            .map(|h| h.title.len() + h.url.len() + h.snippet.len())
            .sum::<usize>()
            .into(),
    );
    with_bytes_out(m)
}
