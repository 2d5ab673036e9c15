//! Step-up: the account holder proves presence again, by a passkey with
//! user verification (biometrics or the device PIN), before a sensitive
//! action. A passkey assertion grants the *session* a short window
//! ([`StepUp::granted_until`]); an action that asks for step-up passes
//! only inside that window. An account with no passkey cannot step up, so
//! its credential changes keep asking for the current password alone.

use crate::UnixSeconds;

/// The step-up rule: how long a grant lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepUp {
    /// Seconds a passkey assertion counts for sensitive actions.
    pub grant_s: i64,
}

/// What an action that asks for step-up may do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepUpDecision {
    /// The session's grant is fresh, or the account has no passkey to step
    /// up with (then the action's own checks, like the current password,
    /// are all there is).
    Proceed,
    /// The holder must assert a passkey first.
    Required,
}

impl StepUp {
    /// A grant made at `now` lasts until this second (exclusive).
    pub fn granted_until(self, now: UnixSeconds) -> UnixSeconds {
        now.saturating_add(self.grant_s)
    }

    /// Whether an action guarded by step-up may go ahead.
    pub fn decide(
        self,
        has_passkey: bool,
        granted_until: Option<UnixSeconds>,
        now: UnixSeconds,
    ) -> StepUpDecision {
        if !has_passkey {
            return StepUpDecision::Proceed;
        }
        match granted_until {
            Some(until) if now < until => StepUpDecision::Proceed,
            _ => StepUpDecision::Required,
        }
    }
}

impl Default for StepUp {
    /// Five minutes: long enough for one change, short enough that a
    /// session left open does not stay stepped up.
    fn default() -> Self {
        Self { grant_s: 300 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_counts_until_it_expires_and_only_with_a_passkey() {
        let rule = StepUp { grant_s: 300 };
        let until = rule.granted_until(1_000);
        assert_eq!(until, 1_300);
        assert_eq!(
            rule.decide(true, Some(until), 1_299),
            StepUpDecision::Proceed
        );
        assert_eq!(
            rule.decide(true, Some(until), 1_300),
            StepUpDecision::Required
        );
        assert_eq!(rule.decide(true, None, 1_000), StepUpDecision::Required);
        assert_eq!(rule.decide(false, None, 1_000), StepUpDecision::Proceed);
    }
}
