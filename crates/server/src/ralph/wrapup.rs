//! Ralph's development-timebox notice, appended to tool results once the
//! pipeline's warning point has passed.
//!
//! Read from `ralph-workflow` 0.9.30: `ralph/mcp/server/_session_wrapup.py`,
//! `ralph/mcp/protocol/cycle_deadline_env.py` and `_mcp_server.py` (the notice
//! is one more text block at the end of every `tools/call` result). The
//! pipeline publishes wall-clock epochs, so a respawned server keeps the same
//! instants.

/// The warning point, as a Unix epoch in seconds.
pub const DEV_WARN_EPOCH_ENV: &str = "RALPH_DEV_WARN_EPOCH";
/// The force-cut, as a Unix epoch in seconds.
pub const DEV_DEADLINE_EPOCH_ENV: &str = "RALPH_DEV_DEADLINE_EPOCH";

/// The development timebox the pipeline published, if any.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DevTimebox {
    warn: Option<f64>,
    deadline: Option<f64>,
}

/// An epoch as Ralph parses it: a finite number, anything else is "not published".
fn epoch(raw: Option<String>) -> Option<f64> {
    raw?.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

impl DevTimebox {
    /// Reads the published epochs through `get`.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Self {
        Self {
            warn: epoch(get(DEV_WARN_EPOCH_ENV)),
            deadline: epoch(get(DEV_DEADLINE_EPOCH_ENV)),
        }
    }

    /// The notice due at `now` (Unix seconds), if the warning point has passed.
    pub fn notice(&self, now: f64) -> Option<String> {
        let warn = self.warn?;
        if now < warn {
            return None;
        }
        Some(match self.deadline {
            Some(deadline) => {
                let minutes = ((deadline - now) / 60.0).floor().max(0.0) as u64;
                format!(
                    "⚠️ DEVELOPMENT-TIMEBOX WARNING — The uninterrupted development phase has passed its configured warning point. Approximately **{minutes} minutes remaining** before the session is force-cut. Do everything reasonably possible to complete the assigned task before submitting any artifact: if actionable plan work remains, dispatch an **independent ready group** (steps with no `Depends on:` path between any pair and pairwise disjoint `Files:` lists) concurrently rather than trimming scope, then **submit the development result before the cut** rather than after it. Use partial only as an exceptional last resort, when the remaining work is literally impossible through any developer action available in this run and requires a physical-world, operator-only, or externally controlled action. Difficulty, elapsed time, and exhausted budget never qualify. Never submit completed unless every reported item and piece of evidence is truthful. When genuinely complete, use declare_complete."
                )
            }
            None => STATIC_NOTICE.to_owned(),
        })
    }
}

const STATIC_NOTICE: &str = "⚠️ DEVELOPMENT-TIMEBOX WARNING — The uninterrupted development phase has passed its configured warning point. Do everything reasonably possible to complete the assigned task before submitting any artifact. If actionable work remains, return to it immediately. Use partial only as an exceptional last resort, when the remaining work is literally impossible through any developer action available in this run and requires a physical-world, operator-only, or externally controlled action. Difficulty, elapsed time, and exhausted budget never qualify. Never submit completed unless every reported item and piece of evidence is truthful. When genuinely complete, use declare_complete.";

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| owned.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn nothing_before_the_warning_or_without_one() {
        let t = DevTimebox::from_env(env(&[(DEV_WARN_EPOCH_ENV, "1000")]));
        assert_eq!(t.notice(999.0), None);
        assert!(t.notice(1000.0).is_some());
        assert_eq!(DevTimebox::from_env(env(&[])).notice(1e12), None);
        let nan = DevTimebox::from_env(env(&[(DEV_WARN_EPOCH_ENV, "nan")]));
        assert_eq!(nan.notice(1e12), None);
    }

    #[test]
    fn the_deadline_gives_the_minutes_left() {
        let t = DevTimebox::from_env(env(&[
            (DEV_WARN_EPOCH_ENV, "1000"),
            (DEV_DEADLINE_EPOCH_ENV, "1000"),
        ]));
        assert!(
            t.notice(1000.0 - 0.0)
                .unwrap()
                .contains("**0 minutes remaining**")
        );
        let t = DevTimebox::from_env(env(&[
            (DEV_WARN_EPOCH_ENV, "0"),
            (DEV_DEADLINE_EPOCH_ENV, "1000"),
        ]));
        assert!(
            t.notice(100.0)
                .unwrap()
                .contains("**15 minutes remaining**")
        );
        let t = DevTimebox::from_env(env(&[(DEV_WARN_EPOCH_ENV, "0")]));
        assert_eq!(t.notice(1.0).unwrap(), STATIC_NOTICE);
    }
}
