//! Ralph's `[web_search]` and `[web_visit]` sections of `.agent/mcp.toml`
//! (Ralph 0.9.30, `config/web_search_config.py`, `_web_search_backend_spec.py`,
//! `web_service_configs.py`), validated the same way, plus what ralph-mcp adds:
//! `allowed_hosts` (private addresses allowed one host at a time),
//! `download_max_bytes`, and `url` for every search backend (Ralph reads it for
//! SearXNG only; elsewhere it replaces the service's endpoint, e.g. for a proxy).

use std::collections::BTreeMap;

use serde::Deserialize;

/// Ralph's `WEBSEARCH_BACKEND_TIMEOUT_SECONDS`.
pub const DEFAULT_SEARCH_TIMEOUT_S: f64 = 10.0;
/// The search backends, as Ralph names them.
pub const BACKENDS: &[&str] = &["ddgs", "searxng", "tavily", "brave", "exa"];

/// `[web_visit]`: `visit_url` and `download_url`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WebVisitConfig {
    /// The tools are offered.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Time allowed for the whole fetch, redirects included (ms, > 0).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Largest body `visit_url` reads (bytes, > 0).
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// Largest body `download_url` writes (bytes; default `max_bytes`).
    #[serde(default)]
    pub download_max_bytes: Option<u64>,
    /// The `User-Agent` sent.
    #[serde(default = "default_user_agent")]
    pub user_agent: String,
    /// Let URLs reach loopback, private, link-local and other non-public addresses.
    #[serde(default)]
    pub allow_private_networks: bool,
    /// `host` or `host:port` entries that may be reached although private.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// `visit_url` returns the page's links unless `with_links` says otherwise.
    #[serde(default)]
    pub extract_links: bool,
}

fn yes() -> bool {
    true
}
fn default_timeout_ms() -> u64 {
    15_000
}
fn default_max_bytes() -> u64 {
    2_097_152
}
fn default_user_agent() -> String {
    format!(
        "ralph-mcp/{} (+https://ralph-workflow.dev)",
        env!("CARGO_PKG_VERSION")
    )
}

impl Default for WebVisitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            timeout_ms: default_timeout_ms(),
            max_bytes: default_max_bytes(),
            download_max_bytes: None,
            user_agent: default_user_agent(),
            allow_private_networks: false,
            allowed_hosts: Vec::new(),
            extract_links: false,
        }
    }
}

impl WebVisitConfig {
    /// The download cap.
    pub fn download_cap(&self) -> u64 {
        self.download_max_bytes.unwrap_or(self.max_bytes)
    }

    fn check(&self) -> Result<(), String> {
        if self.timeout_ms == 0 {
            return Err("key `web_visit.timeout_ms` must be greater than 0".into());
        }
        if self.max_bytes == 0 || self.download_max_bytes == Some(0) {
            return Err("keys `web_visit.max_bytes` and `web_visit.download_max_bytes` must be greater than 0".into());
        }
        Ok(())
    }
}

/// One search backend's settings.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BackendSpec {
    /// `ddgs`, `searxng`, `tavily`, `brave` or `exa`.
    pub backend: String,
    /// The endpoint (SearXNG's base URL; for the others, replaces the service's).
    #[serde(default)]
    pub url: Option<String>,
    /// The API key itself.
    #[serde(default)]
    pub api_key: Option<String>,
    /// The environment variable holding the API key.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Per-call timeout (seconds).
    #[serde(default)]
    pub timeout_seconds: Option<f64>,
}

/// `[web_search]`: `web_search`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebSearchConfig {
    /// The tool is offered.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The first backend tried.
    #[serde(default = "default_backend")]
    pub backend: String,
    /// Backends tried next, in order, when one fails.
    #[serde(default)]
    pub fallback: Vec<String>,
    /// Settings per backend name.
    #[serde(default)]
    pub backends: BTreeMap<String, BackendSpec>,
    /// Timeout of a backend without its own.
    #[serde(default = "default_search_timeout")]
    pub web_search_default_timeout_seconds: f64,
}

fn default_backend() -> String {
    "ddgs".into()
}
fn default_search_timeout() -> f64 {
    DEFAULT_SEARCH_TIMEOUT_S
}

impl Default for WebSearchConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            backend: default_backend(),
            fallback: Vec::new(),
            backends: BTreeMap::new(),
            web_search_default_timeout_seconds: DEFAULT_SEARCH_TIMEOUT_S,
        }
    }
}

impl WebSearchConfig {
    fn check(&self) -> Result<(), String> {
        let default = self.web_search_default_timeout_seconds;
        if default.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            return Err(
                "key `web_search.web_search_default_timeout_seconds` must be greater than 0".into(),
            );
        }
        for name in std::iter::once(&self.backend).chain(&self.fallback) {
            if !BACKENDS.contains(&name.as_str()) && !self.backends.contains_key(name) {
                return Err(format!(
                    "key `web_search.backend`/`fallback`: `{name}` is not a backend; use one of {} or a name under [web_search.backends]",
                    BACKENDS.join(", ")
                ));
            }
        }
        for (name, spec) in &self.backends {
            let at = |k: &str| format!("web_search.backends.{name}.{k}");
            if !BACKENDS.contains(&spec.backend.as_str()) {
                return Err(format!(
                    "key `{}`: `{}` is not one of {}",
                    at("backend"),
                    spec.backend,
                    BACKENDS.join(", ")
                ));
            }
            if spec.backend == "searxng" && spec.url.is_none() {
                return Err(format!(
                    "key `{}`: the searxng backend needs its url",
                    at("url")
                ));
            }
            if matches!(spec.backend.as_str(), "tavily" | "brave" | "exa")
                && spec.api_key.is_some() == spec.api_key_env.is_some()
            {
                return Err(format!(
                    "[web_search.backends.{name}]: give exactly one of `api_key` and `api_key_env` (the {} backend needs a key)",
                    spec.backend
                ));
            }
            if let Some(t) = spec.timeout_seconds
                && t.partial_cmp(&default)
                    .is_none_or(std::cmp::Ordering::is_lt)
            {
                return Err(format!(
                    "key `{}` ({t}) must be >= web_search_default_timeout_seconds ({default})",
                    at("timeout_seconds")
                ));
            }
            if let Some(url) = &spec.url
                && !url.starts_with("http://")
                && !url.starts_with("https://")
            {
                return Err(format!(
                    "key `{}`: `{url}` must be an http:// or https:// URL",
                    at("url")
                ));
            }
        }
        Ok(())
    }
}

/// Validates both sections.
pub fn check(search: &WebSearchConfig, visit: &WebVisitConfig) -> Result<(), String> {
    search.check()?;
    visit.check()
}
