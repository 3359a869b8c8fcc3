//! Secrets that must not stay readable in this process's environment block.
//!
//! `/proc/<pid>/environ` shows the environment block the process was started
//! with, not the current environment: `unsetenv` leaves the text there. So the
//! bearer token is read once, its bytes in that block are overwritten in place,
//! and the variable is removed; the value lives on only in this module.

use std::ffi::CStr;
use std::sync::OnceLock;

static BEARER: OnceLock<Option<String>> = OnceLock::new();
static BROKER: OnceLock<Option<String>> = OnceLock::new();

/// Ralph's broker-owned secret: it keys the HMAC on completion sentinels so an
/// agent that can write under `.agent/` cannot forge one.
pub const BROKER_SECRET_ENV: &str = "RALPH_BROKER_SECRET";

unsafe extern "C" {
    static mut environ: *mut *mut libc::c_char;
}

/// Reads `name`, blanks its value in the environment block, and removes it.
///
/// # Safety
/// Must run before any other thread exists (it changes the environment).
pub unsafe fn take_env(name: &str) -> Option<String> {
    let value = std::env::var(name).ok();
    // SAFETY: single-threaded (caller's contract); `environ` is a NULL-terminated
    // array of NUL-terminated strings owned by the C runtime.
    unsafe {
        let mut p = environ;
        while !p.is_null() && !(*p).is_null() {
            let entry = CStr::from_ptr(*p).to_bytes();
            if entry.len() > name.len()
                && entry.starts_with(name.as_bytes())
                && entry[name.len()] == b'='
            {
                let start = (*p).add(name.len() + 1);
                std::ptr::write_bytes(start, 0, entry.len() - name.len() - 1);
            }
            p = p.add(1);
        }
        std::env::remove_var(name);
    }
    value
}

/// Records the server's bearer token (once).
pub fn set_bearer(token: Option<String>) {
    let _ = BEARER.set(token.filter(|t| !t.is_empty()));
}

/// The server's bearer token, if any.
pub fn bearer() -> Option<&'static str> {
    BEARER.get().and_then(|t| t.as_deref())
}

/// Records Ralph's broker secret (once).
pub fn set_broker_secret(secret: Option<String>) {
    let _ = BROKER.set(secret.filter(|t| !t.is_empty()));
}

/// Ralph's broker secret, if the session has one.
pub fn broker_secret() -> Option<&'static str> {
    BROKER.get().and_then(|t| t.as_deref())
}

static RELAY: OnceLock<(Option<String>, Option<String>)> = OnceLock::new();

/// Records Ralph's activity-relay endpoint and credential (once).
pub fn set_activity_relay(endpoint: Option<String>, credential: Option<String>) {
    let _ = RELAY.set((endpoint, credential));
}

/// Ralph's activity-relay controls, as taken from the environment at start.
pub fn activity_relay(name: &str) -> Option<String> {
    let (endpoint, credential) = RELAY.get()?;
    match name {
        crate::ralph::relay::ENDPOINT_ENV => endpoint.clone(),
        crate::ralph::relay::CREDENTIAL_ENV => credential.clone(),
        _ => None,
    }
}
