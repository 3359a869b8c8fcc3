//! Outgoing HTTPS: one way to build a `reqwest` client, with rustls (ring as the
//! crypto provider), the system's trust roots, and any extra CA certificates
//! named by the configuration or the environment.

use std::path::{Path, PathBuf};
use std::sync::Once;

/// Extra CA certificates (PEM) trusted for every upstream, besides the system's.
pub const UPSTREAM_CA_ENV: &str = "RALPH_MCP_UPSTREAM_CA_FILE";

/// Installs rustls' process-wide crypto provider, once.
pub fn install_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Reads the PEM certificates of `file`, naming it and what is wrong.
pub fn read_certificates(file: &Path) -> Result<Vec<reqwest::Certificate>, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("CA file {}: {e}", file.display()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&bytes)
        .map_err(|e| format!("CA file {}: not PEM certificates: {e}", file.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "CA file {}: holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)",
            file.display()
        ));
    }
    Ok(certs)
}

/// A client builder trusting the system's roots plus `extra_ca` files.
pub fn builder(extra_ca: &[PathBuf]) -> Result<reqwest::ClientBuilder, String> {
    install_provider();
    let mut certs = Vec::new();
    for file in extra_ca {
        certs.extend(read_certificates(file)?);
    }
    let mut builder = reqwest::Client::builder();
    if !certs.is_empty() {
        builder = builder.tls_certs_merge(certs);
    }
    Ok(builder)
}

/// An error and its causes on one line, so a TLS failure says which
/// certificate problem it was (`invalid peer certificate: UnknownIssuer`, …).
pub fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
