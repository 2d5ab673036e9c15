//! When a failed delivery is tried again: capped exponential backoff with
//! jitter, within a horizon counted from the event's creation.

/// Most attempts of one delivery, whatever the settings say.
pub const ATTEMPTS_MAX: i64 = 64;

/// The retry schedule, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetrySchedule {
    /// The delay before the first retry; each later one doubles.
    pub base_ms: i64,
    /// No delay exceeds this.
    pub cap_ms: i64,
    /// No attempt is scheduled later than this after the event.
    pub horizon_ms: i64,
}

impl RetrySchedule {
    /// The delay after attempt `attempt` (1-based) failed, before jitter.
    pub fn delay_ms(&self, attempt: i64) -> i64 {
        let doublings = (attempt - 1).clamp(0, 40) as u32;
        self.base_ms
            .max(1)
            .saturating_mul(1_i64 << doublings)
            .min(self.cap_ms.max(1))
    }

    /// When to try again after attempt `attempt` failed at `now_ms`, or
    /// `None` when that was the last attempt. `jitter` in [0, 1] picks the
    /// delay within [delay/2, delay], so that receivers coming back from an
    /// outage are not met by every retry at once.
    pub fn next_attempt_at_ms(
        &self,
        created_ms: i64,
        attempt: i64,
        now_ms: i64,
        jitter: f64,
    ) -> Option<i64> {
        if attempt >= ATTEMPTS_MAX {
            return None;
        }
        let delay_ms = self.delay_ms(attempt);
        let jittered_ms = delay_ms / 2 + ((delay_ms / 2) as f64 * jitter.clamp(0.0, 1.0)) as i64;
        let at_ms = now_ms.saturating_add(jittered_ms.max(1));
        (at_ms <= created_ms.saturating_add(self.horizon_ms)).then_some(at_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SCHEDULE: RetrySchedule = RetrySchedule {
        base_ms: 1_000,
        cap_ms: 10_000,
        horizon_ms: 60_000,
    };

    #[test]
    fn delays_double_from_the_base_up_to_the_cap() {
        let delays: Vec<i64> = (1..=6).map(|n| SCHEDULE.delay_ms(n)).collect();
        assert_eq!(delays, [1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
        assert_eq!(SCHEDULE.delay_ms(1_000), 10_000);
    }

    #[test]
    fn no_attempt_is_scheduled_past_the_horizon() {
        assert_eq!(SCHEDULE.next_attempt_at_ms(0, 1, 1_000, 1.0), Some(2_000));
        assert_eq!(SCHEDULE.next_attempt_at_ms(0, 5, 55_000, 0.0), Some(60_000));
        assert_eq!(SCHEDULE.next_attempt_at_ms(0, 5, 55_001, 0.0), None);
    }

    proptest! {
        #[test]
        fn retries_come_later_within_jitter_and_horizon(
            attempt in 1_i64..100, now in 0_i64..100_000, jitter in 0.0f64..=1.0,
        ) {
            if let Some(at) = SCHEDULE.next_attempt_at_ms(0, attempt, now, jitter) {
                let delay = SCHEDULE.delay_ms(attempt);
                prop_assert!(at > now && at - now >= delay / 2 && at - now <= delay);
                prop_assert!(at <= SCHEDULE.horizon_ms);
                prop_assert!(attempt < ATTEMPTS_MAX);
            }
        }
    }
}
