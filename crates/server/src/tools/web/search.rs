//! The search backends Ralph 0.9.30 supports (`websearch/backends/`), each over
//! its HTTP API: DuckDuckGo's HTML endpoint (`ddgs`), SearXNG's JSON API, Brave,
//! Tavily and Exa with their keys from the configuration or the environment.

use std::time::Duration;

use serde_json::{Value, json};

use super::config::{BackendSpec, WebSearchConfig};

/// One result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// Title.
    pub title: String,
    /// URL.
    pub url: String,
    /// Snippet.
    pub snippet: String,
}

fn default_url(backend: &str) -> &'static str {
    match backend {
        "brave" => "https://api.search.brave.com/res/v1/web/search",
        "tavily" => "https://api.tavily.com/search",
        "exa" => "https://api.exa.ai/search",
        _ => "https://html.duckduckgo.com/html/",
    }
}

/// The spec for backend `name`: its `[web_search.backends.<name>]` table, or
/// the defaults of the backend it names.
fn spec_for(config: &WebSearchConfig, name: &str) -> Result<BackendSpec, String> {
    if let Some(spec) = config.backends.get(name) {
        return Ok(spec.clone());
    }
    match name {
        "ddgs" => Ok(BackendSpec {
            backend: "ddgs".into(),
            url: None,
            api_key: None,
            api_key_env: None,
            timeout_seconds: None,
        }),
        _ => Err(format!(
            "backend '{name}' not configured; add [web_search.backends.{name}] with its key (api_key or api_key_env)"
        )),
    }
}

fn key(spec: &BackendSpec) -> Result<String, String> {
    if let Some(k) = spec
        .api_key
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        return Ok(k.to_owned());
    }
    let env = spec
        .api_key_env
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .ok_or("configure exactly one of 'api_key' or 'api_key_env'")?;
    std::env::var(env)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("environment variable '{env}' is not set"))
}

fn text_of(v: &Value, keys: &[&str]) -> String {
    keys.iter()
        .find_map(|k| {
            v.get(*k)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
        })
        .unwrap_or("")
        .to_owned()
}

fn hits(items: Option<&Value>, snippet_keys: &[&str], limit: usize) -> Vec<Hit> {
    items
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|item| {
                    let title = text_of(item, &["title"]);
                    let url = text_of(item, &["url", "href"]);
                    (!title.is_empty() && !url.is_empty()).then(|| Hit {
                        title,
                        url,
                        snippet: text_of(item, snippet_keys),
                    })
                })
                .take(limit)
                .collect()
        })
        .unwrap_or_default()
}

/// Runs `query` on backend `name`.
pub async fn search(
    client: &reqwest::Client,
    config: &WebSearchConfig,
    name: &str,
    query: &str,
    limit: usize,
) -> Result<Vec<Hit>, String> {
    let spec = spec_for(config, name)?;
    let timeout = Duration::from_secs_f64(
        spec.timeout_seconds
            .unwrap_or(config.web_search_default_timeout_seconds),
    );
    let url = spec
        .url
        .clone()
        .unwrap_or_else(|| default_url(&spec.backend).to_owned());
    let fail = |e: reqwest::Error| {
        format!(
            "{} search failed: {}",
            spec.backend,
            crate::tls::describe(&e)
        )
    };
    let request = match spec.backend.as_str() {
        "ddgs" => client.post(&url).form(&[("q", query), ("kl", "wt-wt")]),
        "searxng" => client
            .post(format!("{}/search", url.trim_end_matches('/')))
            .form(&[("q", query), ("format", "json")]),
        "brave" => client
            .get(&url)
            .query(&[("q", query), ("count", &limit.to_string())])
            .header("Accept", "application/json")
            .header("X-Subscription-Token", key(&spec)?),
        "tavily" => client
            .post(&url)
            .bearer_auth(key(&spec)?)
            .json(&json!({"query": query, "max_results": limit})),
        "exa" => client
            .post(&url)
            .header("x-api-key", key(&spec)?)
            .json(&json!({"query": query, "numResults": limit, "contents": {"text": true}})),
        other => return Err(format!("unsupported backend: '{other}'")),
    };
    let response = request
        .timeout(timeout)
        .send()
        .await
        .map_err(fail)?
        .error_for_status()
        .map_err(fail)?;
    if spec.backend == "ddgs" {
        let html = response.text().await.map_err(fail)?;
        return Ok(duckduckgo(&html, limit));
    }
    let body: Value = response.json().await.map_err(|e| {
        format!(
            "{} returned an invalid response: {}",
            spec.backend,
            crate::tls::describe(&e)
        )
    })?;
    Ok(match spec.backend.as_str() {
        "brave" => hits(
            body.get("web").and_then(|w| w.get("results")),
            &["description"],
            limit,
        ),
        "exa" => hits(body.get("results"), &["text", "summary"], limit),
        _ => hits(body.get("results"), &["content"], limit),
    })
}

/// Results from DuckDuckGo's HTML page (`.result__a` links, `.result__snippet`).
fn duckduckgo(html: &str, limit: usize) -> Vec<Hit> {
    let doc = dom_query::Document::from(html);
    let mut out = Vec::new();
    for result in &doc.select(".result") {
        let link = result.select("a.result__a");
        let title = link.text().trim().to_owned();
        let href = link.attr("href").map(|h| h.to_string()).unwrap_or_default();
        let url = unwrap_redirect(&href);
        if title.is_empty() || url.is_empty() {
            continue;
        }
        let snippet = result.select(".result__snippet").text().trim().to_owned();
        out.push(Hit {
            title,
            url,
            snippet,
        });
        if out.len() >= limit {
            break;
        }
    }
    out
}

/// DuckDuckGo links through `//duckduckgo.com/l/?uddg=<target>`; the target is what counts.
fn unwrap_redirect(href: &str) -> String {
    let absolute = if href.starts_with("//") {
        format!("https:{href}")
    } else {
        href.to_owned()
    };
    match reqwest::Url::parse(&absolute) {
        Ok(u) if u.path() == "/l/" => u
            .query_pairs()
            .find(|(k, _)| k == "uddg")
            .map(|(_, v)| v.into_owned())
            .unwrap_or(absolute),
        _ => absolute,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duckduckgo_results_are_read_and_unwrapped() {
        let html = r#"<div class="result"><a class="result__a" href="//duckduckgo.com/l/?uddg=https%3A%2F%2Fdocs.rs%2Ftokio&rut=x">Tokio docs</a><a class="result__snippet">An async runtime.</a></div>
                      <div class="result"><a class="result__a" href="https://example.com/">Example</a></div>"#;
        let hits = duckduckgo(html, 10);
        assert_eq!(
            hits[0],
            Hit {
                title: "Tokio docs".into(),
                url: "https://docs.rs/tokio".into(),
                snippet: "An async runtime.".into()
            }
        );
        assert_eq!(hits[1].url, "https://example.com/");
        assert_eq!(duckduckgo(html, 1).len(), 1);
    }

    #[test]
    fn keys_come_from_the_config_or_the_environment() {
        let mut spec = BackendSpec {
            backend: "brave".into(),
            url: None,
            api_key: Some(" k ".into()),
            api_key_env: None,
            timeout_seconds: None,
        };
        assert_eq!(key(&spec).unwrap(), "k");
        spec.api_key = None;
        spec.api_key_env = Some("RALPH_MCP_TEST_SURELY_UNSET_KEY".into());
        assert!(
            key(&spec)
                .unwrap_err()
                .contains("RALPH_MCP_TEST_SURELY_UNSET_KEY")
        );
    }
}
