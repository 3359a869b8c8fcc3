//! Ralph Workflow's internal contracts that ralph-mcp speaks, in one place.
//!
//! Read from `ralph-workflow` 0.9.30 (PyPI): `ralph/mcp/tools/coordination.py`
//! (result texts, the completion sentinel), `ralph/agents/completion_signals.py`
//! and `ralph/agents/invoke/_session.py` (how Ralph reads them back), and
//! `ralph/agents/execution_state/_helpers.py` (the progress parser); and
//! [`handover`], its make-before-break replacement; [`wrapup`], the
//! development-timebox notice. These are Ralph's
//! internals, not a published protocol: when Ralph changes them, this module is
//! what changes.

pub mod catalog;
pub mod handover;
pub mod relay;
pub mod wrapup;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Ralph 0.9.30's tools that ralph-mcp does not serve yet. A call to one is
/// answered with what is missing instead of a bare "unknown tool".
/// (`media_capture` is listed by Ralph only in a workspace whose design-system
/// policy declares a web UI to capture.)
pub const TOOLS_NOT_SERVED: &[&str] = &["media_capture"];

/// Last line of every progress result; Ralph's idle watchdog keys on it.
pub const PROGRESS_MARKER: &str = "[Progress event emitted to pipeline]";
/// Last line of every completion result.
pub const COMPLETION_MARKER: &str = "[Completion event emitted to pipeline]";

/// A value made safe for a `'…'` field: control characters become one space
/// (a field never spans lines) and `'` becomes `"` (the first `'` after the
/// opening one is always the closing delimiter). Nothing the agent wrote is lost.
pub fn quotable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_control = false;
    for c in text.chars() {
        if c.is_ascii_control() {
            if !in_control {
                out.push(' ');
            }
            in_control = true;
            continue;
        }
        in_control = false;
        out.push(if c == '\'' { '"' } else { c });
    }
    out
}

/// `report_progress`'s result: Ralph's watchdog reads `status='…'` and `note='…'`.
pub fn progress_text(status: &str, note: &str, unix_secs: u64) -> String {
    format!(
        "Progress reported: status='{}', note='{}', timestamp={unix_secs}\n{PROGRESS_MARKER}",
        quotable(status),
        quotable(note)
    )
}

/// `declare_complete`'s result: the completion line on its own line (Ralph's
/// transcript parser anchors it at both ends), then the marker.
pub fn completion_text(
    session_id: &str,
    summary: &str,
    partial_reason: Option<&str>,
    unix_secs: u64,
) -> String {
    let partial = partial_reason
        .map(|r| format!("partial_reason='{}', ", quotable(r)))
        .unwrap_or_default();
    format!(
        "Task declared complete: session_id={session_id}, summary='{}', {partial}timestamp={unix_secs}\n{COMPLETION_MARKER}",
        quotable(summary)
    )
}

/// The summary Ralph records when the agent gives none.
pub const NO_SUMMARY: &str = "No summary provided";

/// File name of the completion sentinel under `.agent/`, which Ralph's
/// completion check reads when its run-state database has no row for the run.
pub fn sentinel_file_name(run_id: &str) -> String {
    format!("completion_seen_{run_id}.json")
}

/// The sentinel's JSON: the run id and, when the broker set a secret, the
/// HMAC-SHA256 of the run id under it (hex), which Ralph verifies.
pub fn sentinel_payload(run_id: &str, broker_secret: Option<&str>) -> String {
    let mut payload = serde_json::json!({ "run_id": run_id });
    if let Some(secret) = broker_secret {
        payload["hmac"] = sentinel_hmac(secret, run_id).into();
    }
    payload.to_string()
}

/// HMAC-SHA256(secret, run id), lower-case hex.
pub fn sentinel_hmac(secret: &str, run_id: &str) -> String {
    // HMAC takes a key of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(run_id.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hmac_matches_pythons_hmac_module() {
        // python3 -c "import hmac,hashlib;print(hmac.new(b'key',b'run-1',hashlib.sha256).hexdigest())"
        assert_eq!(
            sentinel_hmac("key", "run-1"),
            "565d5bd85e4ddb34e83ad2bf1b13ac3719ee3daddb29e9fa779f2006545db5b2"
        );
    }

    #[test]
    fn completion_line_has_ralphs_shape() {
        let t = completion_text("s-1", "did it", None, 1_764_000_000);
        assert_eq!(
            t,
            "Task declared complete: session_id=s-1, summary='did it', timestamp=1764000000\n[Completion event emitted to pipeline]"
        );
        let p = completion_text("s-1", "half", Some("no network"), 1);
        assert!(p.contains("summary='half', partial_reason='no network', timestamp=1\n"));
    }

    proptest! {
        #[test]
        fn fields_never_break_their_quotes_or_lines(s in any::<String>()) {
            let q = quotable(&s);
            prop_assert!(!q.contains('\''));
            prop_assert!(!q.chars().any(|c| c.is_ascii_control()));
            let text = progress_text(&s, &s, 5);
            prop_assert_eq!(text.lines().count(), 2);
        }
    }
}

/// `serde_json` output with Python's `json.dumps` separators (`", "` and `": "`),
/// for texts Ralph formats with it.
pub fn python_json(value: &serde_json::Value) -> String {
    fn comma<W: ?Sized + std::io::Write>(writer: &mut W, first: bool) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }
    struct Spaced;
    impl serde_json::ser::Formatter for Spaced {
        fn begin_array_value<W: ?Sized + std::io::Write>(
            &mut self,
            writer: &mut W,
            first: bool,
        ) -> std::io::Result<()> {
            comma(writer, first)
        }
        fn begin_object_key<W: ?Sized + std::io::Write>(
            &mut self,
            writer: &mut W,
            first: bool,
        ) -> std::io::Result<()> {
            comma(writer, first)
        }
        fn begin_object_value<W: ?Sized + std::io::Write>(
            &mut self,
            writer: &mut W,
        ) -> std::io::Result<()> {
            writer.write_all(b": ")
        }
    }
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, Spaced);
    if serde::Serialize::serialize(value, &mut ser).is_err() {
        return value.to_string();
    }
    String::from_utf8(out).unwrap_or_else(|_| value.to_string())
}

/// Ralph's `coordinate` result text (0.9.30, `tools/coordination.py`).
pub fn coordination_text(
    action: &str,
    session_id: &str,
    unix_s: u64,
    work_unit_id: Option<&str>,
    payload: Option<&serde_json::Value>,
) -> String {
    let mut text = format!(
        "Coordination action '{action}' processed: session_id={session_id}, timestamp={unix_s}"
    );
    if let Some(unit) = work_unit_id {
        text.push_str(&format!(", work_unit_id={unit}"));
    }
    if let Some(p) = payload {
        text.push_str(&format!(", payload={}", python_json(p)));
    }
    text.push_str("\n[Coordination event emitted to pipeline]");
    text
}

#[cfg(test)]
mod coordination_tests {
    use super::*;

    #[test]
    fn payloads_are_spelled_like_pythons_json_dumps() {
        let p = serde_json::json!({"a": [1, 2], "b": {"c": "é"}});
        assert_eq!(python_json(&p), r#"{"a": [1, 2], "b": {"c": "é"}}"#);
        let t = coordination_text("claim", "s1", 7, Some("u-1"), Some(&p));
        assert_eq!(
            t,
            "Coordination action 'claim' processed: session_id=s1, timestamp=7, work_unit_id=u-1, payload={\"a\": [1, 2], \"b\": {\"c\": \"é\"}}\n[Coordination event emitted to pipeline]"
        );
    }
}
