//! The one restart policy: how many restarts a supervised child gets, what counts
//! as a quick crash, and how long to wait between quick crashes. Used by the
//! lifecycle for the server and by the server for its upstreams.

use std::time::Duration;

/// Budget, quick-crash window and exponential back-off of a supervised child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    /// Restarts allowed in all.
    pub budget: u32,
    /// A child that dies sooner than this after starting crashed quickly.
    pub quick_crash: Duration,
    /// The back-off after the second quick crash in a row; it doubles from there.
    pub base: Duration,
    /// The longest back-off.
    pub cap: Duration,
}

impl RestartPolicy {
    /// The policy of the server under `ralph-mcp run` and of upstreams: 20
    /// restarts, quick crashes within 2 s, back-off from 50 ms doubling to 2 s.
    pub const DEFAULT: Self = Self {
        budget: 20,
        quick_crash: Duration::from_secs(2),
        base: Duration::from_millis(50),
        cap: Duration::from_secs(2),
    };

    /// The same policy with another budget.
    pub const fn with_budget(self, budget: u32) -> Self {
        Self { budget, ..self }
    }

    /// True when a child that lived `lived` crashed quickly.
    pub fn is_quick(&self, lived: Duration) -> bool {
        lived < self.quick_crash
    }

    /// The wait before restarting after `quick_crashes` quick crashes in a row:
    /// none for the first (a single crash restarts at once), then `base`,
    /// doubling, never more than `cap`.
    pub fn delay(&self, quick_crashes: u32) -> Duration {
        if quick_crashes <= 1 {
            return Duration::ZERO;
        }
        let exp = (quick_crashes - 2).min(16);
        self.base.saturating_mul(1u32 << exp).min(self.cap)
    }

    /// True when `used` restarts exhaust the budget.
    pub fn exhausted(&self, used: u32) -> bool {
        used >= self.budget
    }
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_crash_restarts_at_once_then_back_off_doubles_to_the_cap() {
        let p = RestartPolicy::DEFAULT;
        let ms: Vec<u128> = (0..10).map(|n| p.delay(n).as_millis()).collect();
        assert_eq!(ms, [0, 0, 50, 100, 200, 400, 800, 1600, 2000, 2000]);
        assert_eq!(p.delay(u32::MAX), p.cap);
    }

    #[test]
    fn quick_crashes_and_budget() {
        let p = RestartPolicy::DEFAULT.with_budget(3);
        assert!(p.is_quick(Duration::from_millis(1999)));
        assert!(!p.is_quick(Duration::from_secs(2)));
        assert!(!p.exhausted(2));
        assert!(p.exhausted(3));
        assert!(RestartPolicy::DEFAULT.with_budget(0).exhausted(0));
    }

    proptest::proptest! {
        #[test]
        fn delays_never_shrink_and_never_pass_the_cap(n in 0u32..100_000) {
            let p = RestartPolicy::DEFAULT;
            proptest::prop_assert!(p.delay(n) <= p.cap);
            proptest::prop_assert!(p.delay(n) <= p.delay(n + 1));
        }
    }
}
