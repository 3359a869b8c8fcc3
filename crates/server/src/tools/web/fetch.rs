//! One bounded fetch: a GET that follows at most ten redirects, each hop checked
//! by the [`guard`](super::guard), the whole of it within `timeout_ms`, the body
//! read up to a cap. Failures carry Ralph's status words (`timeout`,
//! `unreachable`, `http_error`, `unsupported_content`, `too_large`,
//! `blocked_by_policy`, `invalid_url`).

use std::time::Duration;

use reqwest::Url;
use serde_json::{Value, json};

use super::guard::{Policy, RESOLVED_INTERNAL, Refusal};

const MAX_REDIRECTS: usize = 10;

/// The content types `visit_url` reads.
pub const READABLE: &[&str] = &[
    "text/html",
    "text/plain",
    "application/xhtml+xml",
    "application/xml",
    "text/xml",
];

/// A fetched body.
#[derive(Debug)]
pub struct Fetched {
    /// Where it came from after redirects.
    pub effective_url: String,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// A failed fetch.
#[derive(Debug)]
pub struct Failure {
    /// Ralph's status word.
    pub status: &'static str,
    /// What happened.
    pub error: String,
    /// The URL being fetched when it failed.
    pub effective_url: String,
    /// The HTTP status, when one came back.
    pub http_status: Option<u16>,
}

impl Failure {
    fn new(status: &'static str, error: impl Into<String>, url: &str) -> Self {
        Self {
            status,
            error: error.into(),
            effective_url: url.to_owned(),
            http_status: None,
        }
    }

    /// The same, after an HTTP answer with `code`.
    fn after(
        status: &'static str,
        error: impl Into<String>,
        url: &str,
        code: reqwest::StatusCode,
    ) -> Self {
        Self {
            http_status: Some(code.as_u16()),
            ..Self::new(status, error, url)
        }
    }

    /// Ralph's error payload.
    pub fn payload(&self) -> Value {
        json!({
            "status": self.status,
            "error": self.error,
            "effective_url": self.effective_url,
            "http_status": self.http_status,
        })
    }
}

/// The base of a `Content-Type` header, lower-cased.
pub fn base_type(header: Option<&str>) -> Option<String> {
    header.map(|h| {
        h.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    })
}

fn describe(e: &reqwest::Error) -> String {
    crate::tls::describe(e)
}

/// Fetches `url`; `readable_only` refuses content types `visit_url` cannot read.
pub async fn fetch(
    client: &reqwest::Client,
    policy: &Policy,
    url: &str,
    max_bytes: u64,
    timeout: Duration,
    readable_only: bool,
) -> Result<Fetched, Failure> {
    match tokio::time::timeout(
        timeout,
        follow(client, policy, url, max_bytes, readable_only),
    )
    .await
    {
        Ok(outcome) => outcome,
        Err(_) => Err(Failure::new(
            "timeout",
            format!("no complete answer within {} ms", timeout.as_millis()),
            url,
        )),
    }
}

async fn follow(
    client: &reqwest::Client,
    policy: &Policy,
    url: &str,
    max_bytes: u64,
    readable_only: bool,
) -> Result<Fetched, Failure> {
    let mut current = Url::parse(url)
        .map_err(|e| Failure::new("invalid_url", format!("malformed URL: {e}"), url))?;
    for _ in 0..=MAX_REDIRECTS {
        let here = current.to_string();
        policy.check(&current).map_err(|r| match r {
            Refusal::InvalidUrl(why) => Failure::new("invalid_url", why, &here),
            Refusal::Blocked(why) => Failure::new("blocked_by_policy", why, &here),
        })?;
        let response = client.get(current.clone()).send().await.map_err(|e| {
            let text = describe(&e);
            if text.contains(RESOLVED_INTERNAL) {
                Failure::new("blocked_by_policy", text, &here)
            } else if e.is_timeout() {
                Failure::new("timeout", text, &here)
            } else {
                Failure::new("unreachable", text, &here)
            }
        })?;
        let status = response.status();
        if status.is_redirection() {
            let Some(location) = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
            else {
                return Err(Failure::after(
                    "http_error",
                    format!("redirect {status} without a Location"),
                    &here,
                    status,
                ));
            };
            current = current.join(location).map_err(|e| {
                Failure::new(
                    "invalid_url",
                    format!("redirect to a malformed URL `{location}`: {e}"),
                    &here,
                )
            })?;
            continue;
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if !status.is_success() {
            return Err(Failure::after(
                "http_error",
                format!("HTTP {status}"),
                &here,
                status,
            ));
        }
        if readable_only
            && !base_type(content_type.as_deref()).is_some_and(|t| READABLE.contains(&t.as_str()))
        {
            return Err(Failure::after(
                "unsupported_content",
                format!(
                    "content type {} is not readable text; use download_url to save it",
                    content_type.as_deref().unwrap_or("(none)")
                ),
                &here,
                status,
            ));
        }
        if response.content_length().is_some_and(|n| n > max_bytes) {
            return Err(Failure::after(
                "too_large",
                format!("response body exceeds {max_bytes} bytes"),
                &here,
                status,
            ));
        }
        let mut body = Vec::new();
        let mut response = response;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| Failure::new("unreachable", describe(&e), &here))?
        {
            if body.len() as u64 + chunk.len() as u64 > max_bytes {
                return Err(Failure::after(
                    "too_large",
                    format!("response body exceeds {max_bytes} bytes"),
                    &here,
                    status,
                ));
            }
            body.extend_from_slice(&chunk);
        }
        return Ok(Fetched {
            effective_url: here,
            content_type,
            body,
        });
    }
    Err(Failure::new(
        "http_error",
        format!("more than {MAX_REDIRECTS} redirects"),
        url,
    ))
}
