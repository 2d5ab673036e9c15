//! The sandbox acquirer's memory of attempts and refunds.
//!
//! Every call is decided in two steps: a decision reads the book and returns
//! the [`Event`]s it causes together with the answer; the events are then
//! journaled (when there is a journal) and applied. The book changes only
//! through [`Book::apply`], so replaying the journal rebuilds exactly what
//! the live calls built. Events hold the last four digits and the brand of a
//! card at most, never its number or CVC.

use super::test_cards::{AfterApproval, AfterChallenge, DeclineKind, TestCard};
use crate::connector::{
    AttemptRecord, AttemptState, AuthorizeOutcome, CaptureOutcome, ConnectorError, CvcCheck,
    DisputeNotice, RefundOutcome,
};
use portcullis_domain::cards::CardBrand;
use portcullis_domain::ids::{new_id, random_base62};
use portcullis_domain::money::{Amount, Currency};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::time::Duration;
use tokio::time::Instant;

/// Longest attempt id, merchant id or refund id the sandbox accepts.
const ID_LEN_MAX: usize = 255;
/// Length of an authorization code.
const AUTHORIZATION_CODE_LEN: usize = 6;
/// Stripe's dispute reason for the disputed test card.
const DISPUTE_REASON_FRAUDULENT: &str = "fraudulent";
/// Stripe's refund failure reason for the failing-refund test card.
const REFUND_FAILURE_REASON: &str = "expired_or_canceled_card";

/// A change to the book: one journal line each.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(crate) enum Event {
    AttemptDecided(AttemptDecided),
    Captured {
        reference: String,
        amount_minor: i64,
        dispute: Option<DisputeNotice>,
    },
    Voided {
        reference: String,
    },
    Refunded {
        refund_id: String,
        reference: String,
        amount_minor: i64,
        status: RefundOutcome,
    },
    RefundSettled {
        refund_id: String,
        status: RefundOutcome,
    },
}

/// A new attempt was decided, or one waiting for authentication was
/// continued (same attempt id, same reference).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AttemptDecided {
    attempt_id: String,
    reference: String,
    merchant_id: String,
    amount_minor: i64,
    currency: Currency,
    card_last4: String,
    card_brand: CardBrand,
    capture: bool,
    after: AfterApproval,
    outcome: AuthorizeOutcome,
}

/// The events a decision causes, and the answer to give once they are durable.
pub(crate) type Decided<T> = Result<(Vec<Event>, T), ConnectorError>;

/// An authorization request with the card reduced to what the sandbox keeps:
/// its test-card behaviour, last four digits and brand.
#[derive(Clone, Debug)]
pub(crate) struct AuthorizeInput {
    pub attempt_id: String,
    pub merchant_id: String,
    pub amount_minor: i64,
    pub currency: Currency,
    pub card: TestCard,
    pub card_last4: String,
    pub card_brand: CardBrand,
    pub capture: bool,
    pub authenticated: bool,
    pub off_session: bool,
    /// A CVC came with the card (the sandbox holds every given CVC right,
    /// except on the test card that declines `incorrect_cvc`).
    pub cvc_given: bool,
}

#[derive(Debug)]
struct Attempt {
    reference: String,
    merchant_id: String,
    amount_minor: i64,
    currency: Currency,
    card_last4: String,
    card_brand: CardBrand,
    capture: bool,
    after: AfterApproval,
    state: AttemptState,
    /// The answer a repeat of the attempt gets.
    answer: AuthorizeOutcome,
    captured_minor: i64,
    dispute: Option<DisputeNotice>,
    refund_ids: Vec<String>,
}

impl Attempt {
    fn same_request(&self, input: &AuthorizeInput) -> bool {
        self.merchant_id == input.merchant_id
            && self.amount_minor == input.amount_minor
            && self.currency == input.currency
            && self.card_last4 == input.card_last4
            && self.card_brand == input.card_brand
            && self.capture == input.capture
    }
}

#[derive(Debug)]
struct Refund {
    reference: String,
    amount_minor: i64,
    status: RefundOutcome,
    after: AfterApproval,
    /// When the refund was made (or replayed): settling counts from here.
    recorded_at: Instant,
}

/// Attempts by attempt id, plus the indexes to find them by reference and
/// refund id. Holds at most `attempts_max` attempts: beyond that the oldest
/// is forgotten with its refunds, as if it had been purged.
#[derive(Debug)]
pub(crate) struct Book {
    attempts: HashMap<String, Attempt>,
    attempt_id_by_reference: HashMap<String, String>,
    refunds: HashMap<String, Refund>,
    /// Attempt ids, oldest first.
    order: VecDeque<String>,
    attempts_max: usize,
    refund_settle_delay: Duration,
}

fn refused(reason: &str) -> ConnectorError {
    ConnectorError::Refused(reason.to_owned())
}

fn check_id(id: &str, what: &str) -> Result<(), ConnectorError> {
    if id.is_empty() || id.len() > ID_LEN_MAX {
        return Err(ConnectorError::Refused(format!(
            "{what} must be 1 to {ID_LEN_MAX} bytes"
        )));
    }
    Ok(())
}

fn authorization_code() -> String {
    random_base62(AUTHORIZATION_CODE_LEN).to_ascii_uppercase()
}

impl Book {
    pub(crate) fn new(attempts_max: usize, refund_settle_delay: Duration) -> Book {
        assert!(attempts_max > 0, "attempts_max must be positive");
        Book {
            attempts: HashMap::new(),
            attempt_id_by_reference: HashMap::new(),
            refunds: HashMap::new(),
            order: VecDeque::new(),
            attempts_max,
            refund_settle_delay,
        }
    }

    /// How many attempts the book remembers.
    pub(crate) fn attempts_len(&self) -> usize {
        self.attempts.len()
    }

    fn attempt_by_reference(&self, reference: &str) -> Result<&Attempt, ConnectorError> {
        self.attempt_id_by_reference
            .get(reference)
            .and_then(|attempt_id| self.attempts.get(attempt_id))
            .ok_or_else(|| ConnectorError::UnknownReference(reference.to_owned()))
    }

    pub(crate) fn authorize(&self, input: &AuthorizeInput) -> Decided<AuthorizeOutcome> {
        check_id(&input.attempt_id, "attempt id")?;
        check_id(&input.merchant_id, "merchant id")?;
        Amount::parse_minor(input.amount_minor).map_err(|_| refused("amount out of range"))?;
        let Some(existing) = self.attempts.get(&input.attempt_id) else {
            return Ok(decide(input, new_id("sbx")));
        };
        if !existing.same_request(input) {
            return Err(refused("attempt id reused with different parameters"));
        }
        let awaiting_authentication = existing.answer == AuthorizeOutcome::AuthenticationRequired;
        match existing.state {
            AttemptState::AuthenticationRequired if input.authenticated => {
                Ok(decide(input, existing.reference.clone()))
            }
            AttemptState::Voided if awaiting_authentication && input.authenticated => {
                Err(refused("attempt was voided while awaiting authentication"))
            }
            _ => Ok((Vec::new(), existing.answer.clone())),
        }
    }

    pub(crate) fn capture(&self, reference: &str, amount_minor: i64) -> Decided<CaptureOutcome> {
        let attempt = self.attempt_by_reference(reference)?;
        match attempt.state {
            AttemptState::Authorized => {}
            AttemptState::Captured => return Err(refused("already captured")),
            AttemptState::Voided => return Err(refused("authorization was voided")),
            AttemptState::Declined | AttemptState::AuthenticationRequired => {
                return Err(refused("attempt was not approved"))
            }
        }
        if amount_minor < 1 || amount_minor > attempt.amount_minor {
            return Err(refused(
                "capture amount must be between 1 and the authorized amount",
            ));
        }
        let dispute =
            (attempt.after == AfterApproval::DisputedAsFraudulent).then(|| DisputeNotice {
                reason: DISPUTE_REASON_FRAUDULENT.to_owned(),
                amount_minor,
            });
        let event = Event::Captured {
            reference: reference.to_owned(),
            amount_minor,
            dispute: dispute.clone(),
        };
        let outcome = CaptureOutcome {
            captured_minor: amount_minor,
            dispute,
        };
        Ok((vec![event], outcome))
    }

    /// Voiding leaves nothing held: an authorized attempt (or one awaiting
    /// authentication) becomes voided; a voided or declined one stays as it
    /// is (a repeat is harmless); a captured one is refused (refund it).
    pub(crate) fn void(&self, reference: &str) -> Decided<()> {
        let attempt = self.attempt_by_reference(reference)?;
        match attempt.state {
            AttemptState::Authorized | AttemptState::AuthenticationRequired => {
                let event = Event::Voided {
                    reference: reference.to_owned(),
                };
                Ok((vec![event], ()))
            }
            AttemptState::Voided | AttemptState::Declined => Ok((Vec::new(), ())),
            AttemptState::Captured => Err(refused("captured payments are refunded, not voided")),
        }
    }

    pub(crate) fn refund(
        &self,
        reference: &str,
        refund_id: &str,
        amount_minor: i64,
        now: Instant,
    ) -> Decided<RefundOutcome> {
        check_id(refund_id, "refund id")?;
        if let Some(existing) = self.refunds.get(refund_id) {
            if existing.reference != reference || existing.amount_minor != amount_minor {
                return Err(refused("refund id reused with different parameters"));
            }
            return self.refund_status(refund_id, now);
        }
        let attempt = self.attempt_by_reference(reference)?;
        if attempt.state != AttemptState::Captured {
            return Err(refused("payment is not captured"));
        }
        if amount_minor < 1 {
            return Err(refused("refund amount must be positive"));
        }
        // Failed refunds gave their money back to the merchant: they no
        // longer count. Settling them is a change, journaled with the refund.
        let mut events = Vec::new();
        let mut refunded_minor: i64 = 0;
        for id in &attempt.refund_ids {
            let refund = &self.refunds[id];
            let status = match self.settlement(refund, now) {
                Some(settled) => {
                    events.push(Event::RefundSettled {
                        refund_id: id.clone(),
                        status: settled.clone(),
                    });
                    settled
                }
                None => refund.status.clone(),
            };
            if !matches!(status, RefundOutcome::Failed { .. }) {
                refunded_minor = refunded_minor.saturating_add(refund.amount_minor);
            }
        }
        let total_minor = refunded_minor.checked_add(amount_minor);
        if total_minor.is_none_or(|total| total > attempt.captured_minor) {
            return Err(refused("refunds would exceed the captured amount"));
        }
        let status = match attempt.after {
            AfterApproval::RefundsSettleLater => RefundOutcome::Pending,
            _ => RefundOutcome::Succeeded,
        };
        events.push(Event::Refunded {
            refund_id: refund_id.to_owned(),
            reference: reference.to_owned(),
            amount_minor,
            status: status.clone(),
        });
        Ok((events, status))
    }

    pub(crate) fn refund_status(&self, refund_id: &str, now: Instant) -> Decided<RefundOutcome> {
        let refund = self
            .refunds
            .get(refund_id)
            .ok_or_else(|| ConnectorError::UnknownReference(refund_id.to_owned()))?;
        match self.settlement(refund, now) {
            Some(settled) => {
                let event = Event::RefundSettled {
                    refund_id: refund_id.to_owned(),
                    status: settled.clone(),
                };
                Ok((vec![event], settled))
            }
            None => Ok((Vec::new(), refund.status.clone())),
        }
    }

    /// Cancels a refund still pending at `now`; a canceled refund counts as
    /// failed (reason `canceled`): nothing goes back to the cardholder.
    pub(crate) fn cancel_refund(&self, refund_id: &str, now: Instant) -> Decided<bool> {
        let (mut events, status) = self.refund_status(refund_id, now)?;
        if status != RefundOutcome::Pending {
            return Ok((events, false));
        }
        events.push(Event::RefundSettled {
            refund_id: refund_id.to_owned(),
            status: RefundOutcome::Failed {
                reason: "canceled".to_owned(),
            },
        });
        Ok((events, true))
    }

    /// The status a refund moves to at `now`, if it is due to move.
    fn settlement(&self, refund: &Refund, now: Instant) -> Option<RefundOutcome> {
        if now.saturating_duration_since(refund.recorded_at) < self.refund_settle_delay {
            return None;
        }
        match (refund.after, &refund.status) {
            (AfterApproval::RefundsSettleLater, RefundOutcome::Pending) => {
                Some(RefundOutcome::Succeeded)
            }
            (AfterApproval::RefundsFailLater, RefundOutcome::Succeeded) => {
                Some(RefundOutcome::Failed {
                    reason: REFUND_FAILURE_REASON.to_owned(),
                })
            }
            _ => None,
        }
    }

    /// Every attempt id the book holds, oldest first (at most `attempts_max`).
    pub(crate) fn attempt_ids(&self) -> Vec<String> {
        self.order.iter().cloned().collect()
    }

    pub(crate) fn query(&self, attempt_id: &str) -> Option<AttemptRecord> {
        let attempt = self.attempts.get(attempt_id)?;
        let (authorization_code, decline) = match &attempt.answer {
            AuthorizeOutcome::Approved {
                authorization_code, ..
            } => (Some(authorization_code.clone()), None),
            AuthorizeOutcome::Declined(decline) => (None, Some(decline.clone())),
            AuthorizeOutcome::AuthenticationRequired => (None, None),
        };
        Some(AttemptRecord {
            reference: attempt.reference.clone(),
            state: attempt.state,
            amount_minor: attempt.amount_minor,
            currency: attempt.currency,
            captured_minor: attempt.captured_minor,
            authorization_code,
            decline,
            dispute: attempt.dispute.clone(),
        })
    }

    /// Applies one event; `now` is when it happened (or was replayed).
    /// Returns false, changing nothing, for an event about an attempt or
    /// refund the book does not hold (forgotten under `attempts_max`); live
    /// decisions never produce one.
    pub(crate) fn apply(&mut self, event: Event, now: Instant) -> bool {
        match event {
            Event::AttemptDecided(decided) => {
                self.apply_decided(decided);
                true
            }
            Event::Captured {
                reference,
                amount_minor,
                dispute,
            } => self.with_attempt(&reference, |attempt| {
                attempt.state = AttemptState::Captured;
                attempt.captured_minor = amount_minor;
                attempt.dispute = dispute;
            }),
            Event::Voided { reference } => self.with_attempt(&reference, |attempt| {
                attempt.state = AttemptState::Voided;
            }),
            Event::Refunded {
                refund_id,
                reference,
                amount_minor,
                status,
            } => self.apply_refunded(refund_id, reference, amount_minor, status, now),
            Event::RefundSettled { refund_id, status } => match self.refunds.get_mut(&refund_id) {
                Some(refund) => {
                    refund.status = status;
                    true
                }
                None => false,
            },
        }
    }

    fn apply_decided(&mut self, decided: AttemptDecided) {
        let (state, captured_minor, dispute) = match &decided.outcome {
            AuthorizeOutcome::Approved {
                captured: true,
                dispute,
                ..
            } => (
                AttemptState::Captured,
                decided.amount_minor,
                dispute.clone(),
            ),
            AuthorizeOutcome::Approved { .. } => (AttemptState::Authorized, 0, None),
            AuthorizeOutcome::Declined(_) => (AttemptState::Declined, 0, None),
            AuthorizeOutcome::AuthenticationRequired => {
                (AttemptState::AuthenticationRequired, 0, None)
            }
        };
        if !self.attempts.contains_key(&decided.attempt_id) {
            self.order.push_back(decided.attempt_id.clone());
        }
        self.attempt_id_by_reference
            .insert(decided.reference.clone(), decided.attempt_id.clone());
        let attempt = Attempt {
            reference: decided.reference,
            merchant_id: decided.merchant_id,
            amount_minor: decided.amount_minor,
            currency: decided.currency,
            card_last4: decided.card_last4,
            card_brand: decided.card_brand,
            capture: decided.capture,
            after: decided.after,
            state,
            answer: decided.outcome,
            captured_minor,
            dispute,
            refund_ids: Vec::new(),
        };
        self.attempts.insert(decided.attempt_id, attempt);
        self.forget_oldest_beyond_bound();
    }

    fn apply_refunded(
        &mut self,
        refund_id: String,
        reference: String,
        amount_minor: i64,
        status: RefundOutcome,
        now: Instant,
    ) -> bool {
        let Some(attempt) = self
            .attempt_id_by_reference
            .get(&reference)
            .and_then(|attempt_id| self.attempts.get_mut(attempt_id))
        else {
            return false;
        };
        attempt.refund_ids.push(refund_id.clone());
        let refund = Refund {
            after: attempt.after,
            reference,
            amount_minor,
            status,
            recorded_at: now,
        };
        self.refunds.insert(refund_id, refund);
        true
    }

    fn with_attempt(&mut self, reference: &str, change: impl FnOnce(&mut Attempt)) -> bool {
        let attempt = self
            .attempt_id_by_reference
            .get(reference)
            .and_then(|attempt_id| self.attempts.get_mut(attempt_id));
        match attempt {
            Some(attempt) => {
                change(attempt);
                true
            }
            None => false,
        }
    }

    fn forget_oldest_beyond_bound(&mut self) {
        while self.order.len() > self.attempts_max {
            let Some(attempt_id) = self.order.pop_front() else {
                return;
            };
            if let Some(attempt) = self.attempts.remove(&attempt_id) {
                self.attempt_id_by_reference.remove(&attempt.reference);
                for refund_id in &attempt.refund_ids {
                    self.refunds.remove(refund_id);
                }
            }
        }
    }
}

/// The answer of the test-card table to `input`, under `reference`.
fn decide(input: &AuthorizeInput, reference: String) -> (Vec<Event>, AuthorizeOutcome) {
    let approve = |after: AfterApproval| {
        let dispute = (input.capture && after == AfterApproval::DisputedAsFraudulent).then(|| {
            DisputeNotice {
                reason: DISPUTE_REASON_FRAUDULENT.to_owned(),
                amount_minor: input.amount_minor,
            }
        });
        let outcome = AuthorizeOutcome::Approved {
            reference: reference.clone(),
            captured: input.capture,
            authorization_code: authorization_code(),
            dispute,
            cvc_check: if input.cvc_given {
                CvcCheck::Pass
            } else {
                CvcCheck::Unavailable
            },
        };
        (outcome, after)
    };
    let decline = |kind: DeclineKind| {
        (
            AuthorizeOutcome::Declined(kind.decline()),
            AfterApproval::Ordinary,
        )
    };
    let (outcome, after) = match input.card {
        TestCard::Approve(after) => approve(after),
        TestCard::Decline(kind) => decline(kind),
        TestCard::Challenge(then) if input.authenticated => match then {
            AfterChallenge::Approve => approve(AfterApproval::Ordinary),
            AfterChallenge::DeclineInsufficientFunds => decline(DeclineKind::InsufficientFunds),
        },
        TestCard::Challenge(_) if input.off_session => decline(DeclineKind::AuthenticationRequired),
        TestCard::Challenge(_) => (
            AuthorizeOutcome::AuthenticationRequired,
            AfterApproval::Ordinary,
        ),
    };
    let event = Event::AttemptDecided(AttemptDecided {
        attempt_id: input.attempt_id.clone(),
        reference: reference.clone(),
        merchant_id: input.merchant_id.clone(),
        amount_minor: input.amount_minor,
        currency: input.currency,
        card_last4: input.card_last4.clone(),
        card_brand: input.card_brand,
        capture: input.capture,
        after,
        outcome: outcome.clone(),
    });
    (vec![event], outcome)
}
