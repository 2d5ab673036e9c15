//! A circuit breaker per connector account, as a pure state machine over
//! milliseconds the caller hands in.
//!
//! - **Closed**: calls go through. It opens after
//!   [`BreakerPolicy::consecutive_failures_max`] soft failures in a row, or
//!   when at least [`BreakerPolicy::window_calls_min`] calls in the last
//!   [`BreakerPolicy::window_ms`] failed at
//!   [`BreakerPolicy::error_rate_percent_max`] percent or more.
//! - **Open**: calls are refused (routing skips the account) for
//!   [`BreakerPolicy::open_ms`].
//! - **Half-open**: then one call at a time goes through as a probe; a
//!   success closes the breaker, a failure opens it again. A probe that never
//!   reports back frees its place after `open_ms`.
//!
//! A soft failure is the account's fault, not the card's: a timeout, an
//! unreachable or failing processor (5xx), an answer that makes no sense, a
//! `processing_error`. Approvals and card declines are successes: the
//! institution works.

use serde::Serialize;
use std::collections::VecDeque;

/// When a breaker opens and how long it stays open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerPolicy {
    pub consecutive_failures_max: u32,
    pub window_ms: u64,
    pub window_calls_min: u32,
    pub error_rate_percent_max: u32,
    pub open_ms: u64,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        BreakerPolicy {
            consecutive_failures_max: 3,
            window_ms: 30_000,
            window_calls_min: 20,
            error_rate_percent_max: 50,
            open_ms: 5_000,
        }
    }
}

/// Most calls a window remembers (older ones are forgotten first).
const WINDOW_CALLS_MAX: usize = 1_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// Whether a call may go to the account now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// Allowed as the half-open breaker's probe.
    Probe,
    Refused,
}

impl Admission {
    pub fn allowed(self) -> bool {
        self != Admission::Refused
    }
}

/// How a call to the account went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallOutcome {
    Success,
    SoftFailure,
}

/// A change of state, for events and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    pub from: BreakerState,
    pub to: BreakerState,
}

#[derive(Clone, Debug)]
pub struct Breaker {
    policy: BreakerPolicy,
    state: BreakerState,
    consecutive_failures: u32,
    /// (when, failed) of recent calls, oldest first.
    window: VecDeque<(u64, bool)>,
    opened_at_ms: Option<u64>,
    probe_since_ms: Option<u64>,
}

/// What `health` shows of a breaker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Health {
    pub state: BreakerState,
    pub consecutive_failures: u32,
    pub window_calls: u32,
    pub window_failures: u32,
    /// Unix milliseconds of the last opening, while open or half-open.
    pub opened_at_ms: Option<u64>,
}

impl Breaker {
    pub fn new(policy: BreakerPolicy) -> Breaker {
        Breaker {
            policy,
            state: BreakerState::Closed,
            consecutive_failures: 0,
            window: VecDeque::new(),
            opened_at_ms: None,
            probe_since_ms: None,
        }
    }

    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// Whether a call may go now; an open breaker whose time is up turns
    /// half-open and lets this call through as its probe.
    pub fn admit(&mut self, now_ms: u64) -> (Admission, Option<Transition>) {
        match self.state {
            BreakerState::Closed => (Admission::Allowed, None),
            BreakerState::Open => {
                let opened = self.opened_at_ms.unwrap_or(0);
                if now_ms.saturating_sub(opened) < self.policy.open_ms {
                    return (Admission::Refused, None);
                }
                let transition = self.move_to(BreakerState::HalfOpen);
                self.probe_since_ms = Some(now_ms);
                (Admission::Probe, transition)
            }
            BreakerState::HalfOpen => match self.probe_since_ms {
                Some(since) if now_ms.saturating_sub(since) < self.policy.open_ms => {
                    (Admission::Refused, None)
                }
                _ => {
                    self.probe_since_ms = Some(now_ms);
                    (Admission::Probe, None)
                }
            },
        }
    }

    /// Records how a call went.
    pub fn record(&mut self, now_ms: u64, outcome: CallOutcome) -> Option<Transition> {
        let failed = outcome == CallOutcome::SoftFailure;
        self.window.push_back((now_ms, failed));
        self.forget_before(now_ms);
        if !failed {
            self.consecutive_failures = 0;
            self.probe_since_ms = None;
            if self.state == BreakerState::Closed {
                return None;
            }
            // A success closes; the failures that opened it are history.
            self.window.clear();
            self.opened_at_ms = None;
            return self.move_to(BreakerState::Closed);
        }
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        match self.state {
            BreakerState::Closed if self.trips() => self.open(now_ms),
            BreakerState::Closed => None,
            // A failed probe (or a call admitted before opening) re-opens.
            BreakerState::HalfOpen | BreakerState::Open => self.open(now_ms),
        }
    }

    pub fn health(&mut self, now_ms: u64) -> Health {
        self.forget_before(now_ms);
        let failures = self.window.iter().filter(|(_, failed)| *failed).count();
        Health {
            state: self.state,
            consecutive_failures: self.consecutive_failures,
            window_calls: self.window.len() as u32,
            window_failures: failures as u32,
            opened_at_ms: self.opened_at_ms,
        }
    }

    fn trips(&self) -> bool {
        if self.consecutive_failures >= self.policy.consecutive_failures_max {
            return true;
        }
        let calls = self.window.len() as u64;
        let failures = self.window.iter().filter(|(_, failed)| *failed).count() as u64;
        calls >= u64::from(self.policy.window_calls_min)
            && failures * 100 >= calls * u64::from(self.policy.error_rate_percent_max)
    }

    fn open(&mut self, now_ms: u64) -> Option<Transition> {
        self.opened_at_ms = Some(now_ms);
        self.probe_since_ms = None;
        self.move_to(BreakerState::Open)
    }

    fn move_to(&mut self, to: BreakerState) -> Option<Transition> {
        let from = std::mem::replace(&mut self.state, to);
        (from != to).then_some(Transition { from, to })
    }

    fn forget_before(&mut self, now_ms: u64) {
        let horizon = now_ms.saturating_sub(self.policy.window_ms);
        while self
            .window
            .front()
            .is_some_and(|(at, _)| *at < horizon || self.window.len() > WINDOW_CALLS_MAX)
        {
            self.window.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(BreakerPolicy::default())
    }

    #[test]
    fn consecutive_soft_failures_open_and_a_probe_success_closes() {
        let mut b = breaker();
        assert_eq!(b.record(0, CallOutcome::SoftFailure), None);
        assert_eq!(b.record(10, CallOutcome::SoftFailure), None);
        let opened = b.record(20, CallOutcome::SoftFailure).unwrap();
        assert_eq!(opened.to, BreakerState::Open);
        assert_eq!(b.admit(4_000).0, Admission::Refused);
        let (probe, half) = b.admit(5_020);
        assert_eq!(probe, Admission::Probe);
        assert_eq!(half.unwrap().to, BreakerState::HalfOpen);
        // One probe at a time.
        assert_eq!(b.admit(5_030).0, Admission::Refused);
        let closed = b.record(5_100, CallOutcome::Success).unwrap();
        assert_eq!(
            closed,
            Transition {
                from: BreakerState::HalfOpen,
                to: BreakerState::Closed
            }
        );
        assert_eq!(b.admit(5_200).0, Admission::Allowed);
    }

    #[test]
    fn a_failed_probe_opens_again_and_a_lost_probe_frees_its_place() {
        let mut b = breaker();
        for t in 0..3 {
            b.record(t, CallOutcome::SoftFailure);
        }
        assert_eq!(b.admit(6_000).0, Admission::Probe);
        let reopened = b.record(6_100, CallOutcome::SoftFailure).unwrap();
        assert_eq!(reopened.to, BreakerState::Open);
        assert_eq!(b.admit(10_000).0, Admission::Refused);
        assert_eq!(b.admit(11_200).0, Admission::Probe);
        // The probe never reports: after open_ms another one may go.
        assert_eq!(b.admit(12_000).0, Admission::Refused);
        assert_eq!(b.admit(16_300).0, Admission::Probe);
    }

    #[test]
    fn an_error_rate_over_the_window_opens_without_a_run_of_failures() {
        let mut b = breaker();
        for t in 0..21u64 {
            let outcome = if t % 2 == 0 {
                CallOutcome::SoftFailure
            } else {
                CallOutcome::Success
            };
            let transition = b.record(t, outcome);
            assert_eq!(transition.is_some(), t == 20, "at {t}");
        }
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[test]
    fn successes_and_old_failures_keep_it_closed() {
        let mut b = breaker();
        for t in 0..10u64 {
            b.record(t * 1_000, CallOutcome::SoftFailure);
            b.record(t * 1_000 + 1, CallOutcome::SoftFailure);
            b.record(t * 1_000 + 2, CallOutcome::Success);
        }
        assert_eq!(b.state(), BreakerState::Closed);
        let health = b.health(100_000);
        assert_eq!(health.window_calls, 0, "the window forgot");
    }
}
