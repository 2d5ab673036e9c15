//! The built-in sandbox acquirer: a [`Connector`] that behaves exactly as the
//! test-card table of api-contract.md says, decided by the full card number,
//! and keeps a journal so that what it authorized survives a restart of the
//! process (what the gateway's crash recovery needs to `query` an attempt).
//!
//! Rules beyond the table (see also [`ConnectorError`]):
//! - `authorize` is idempotent per attempt id: a repeat gets the recorded
//!   answer and reference. A repeat with `authenticated = true` of an attempt
//!   that answered `AuthenticationRequired` continues it (same reference).
//!   A repeat with other parameters (merchant, amount, currency, card last4
//!   or brand, capture) is `Refused`.
//! - `capture` takes 1 to the authorized amount, once, of an `Authorized`
//!   attempt; anything else is `Refused` (an unknown reference is
//!   `UnknownReference`). The dispute of `4000000000000259` is reported on
//!   the capture: in `CaptureOutcome::dispute`, or in `Approved::dispute` when
//!   authorize captured at once; `query` shows it too.
//! - `void` releases an authorized attempt (or one awaiting authentication);
//!   voiding a voided or declined attempt changes nothing and succeeds; a
//!   captured one is `Refused`.
//! - `refund` needs a captured attempt; the refunds that have not failed
//!   never sum above the captured amount. A repeat of a refund id (same
//!   reference and amount) refunds nothing and answers the refund's current
//!   status; with other parameters it is `Refused`.
//! - Refunds of `4000000000007726` answer `Pending` and settle to `Succeeded`
//!   after `refund_settle_delay`; those of `4000000000005126` answer
//!   `Succeeded` and turn `Failed { reason: "expired_or_canceled_card" }`
//!   after the same delay. The delay is measured with tokio's clock from the
//!   refund (or from the replay, for a refund not yet settled before a
//!   restart); a settlement is journaled the first time a call observes it.
//!
//! Each call acts at once; its answer then takes `call_latency` to arrive. A
//! caller that gives up meanwhile (a timeout, a crash) leaves a change it did
//! not hear of, exactly the case `query` is for.
//!
//! With a journal, every state change is on disk before the call that made
//! it returns, and so is every change a call *saw* (a query waits too). The
//! journal is group-committed: calls decide and apply under one short lock
//! and leave their lines in a buffer; the journal's own thread
//! (`syncer`) writes everything buffered in one write and one `sync_data`
//! and answers every call waiting. The buffer holds the decisions made
//! since the last write, at most one per call in flight. If a write fails, the acquirer stops (every call answers
//! `Unavailable`) until it is recreated, because its memory and its file
//! may no longer agree.

mod book;
pub mod journal;
mod syncer;
mod test_cards;

pub use journal::JournalError;
pub use test_cards::network_decline;

use crate::connector::{
    AttemptRecord, AuthorizeOutcome, AuthorizeRequest, CaptureOutcome, Connector, ConnectorError,
    RefundOutcome,
};
use book::{AuthorizeInput, Book, Decided};
use journal::Journal;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use test_cards::{AfterApproval, DeclineKind, TestCard};

/// What the sandbox does with a card its test-card table does not list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnlistedCards {
    /// Approve it (the table's rule).
    Approve,
    /// Decline it `generic_decline` (an issuer saying no).
    Decline,
}
use tokio::time::Instant;

/// How long refunds of the settling test cards take to change, by default.
pub const REFUND_SETTLE_DELAY_DEFAULT: Duration = Duration::from_secs(2);
/// How many attempts the sandbox remembers, by default (a few hundred bytes
/// each).
pub const ATTEMPTS_MAX_DEFAULT: usize = 100_000;

/// How a [`SandboxAcquirer`] behaves. `Default`: no latency, a 2 s refund
/// settle delay, no journal, 100,000 attempts remembered.
#[derive(Clone, Debug)]
pub struct SandboxOptions {
    /// How long each answer takes to arrive, after the acquirer has acted.
    pub call_latency: Duration,
    /// How long after a refund its status moves (`pending` → `succeeded`,
    /// or `succeeded` → `failed`, for the test cards that do so).
    pub refund_settle_delay: Duration,
    /// Where to journal state changes; `None` keeps them in memory only.
    pub journal_path: Option<PathBuf>,
    /// How many attempts the sandbox remembers; beyond that the oldest is
    /// forgotten with its refunds (`query` answers `None` for it). Positive.
    pub attempts_max: usize,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            call_latency: Duration::ZERO,
            refund_settle_delay: REFUND_SETTLE_DELAY_DEFAULT,
            journal_path: None,
            attempts_max: ATTEMPTS_MAX_DEFAULT,
        }
    }
}

/// The sandbox acquirer (see the module documentation for its rules).
/// `Debug` shows its settings, not its (possibly large) memory.
pub struct SandboxAcquirer {
    shared: Arc<Mutex<State>>,
    /// Wakes the journal's thread (with `shared`'s lock).
    wake: Arc<Condvar>,
    /// The journal's thread, when there is a journal.
    syncer: Option<syncer::Syncer>,
    call_latency: Duration,
}

impl std::fmt::Debug for SandboxAcquirer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxAcquirer")
            .field("call_latency", &self.call_latency)
            .field("journaled", &self.syncer.is_some())
            .finish_non_exhaustive()
    }
}

struct State {
    book: Book,
    /// A journal write failed: memory and file may disagree, so stop.
    journal_failed: bool,
    /// Journal lines of decisions applied but not yet written.
    unwritten: Vec<u8>,
    /// Decisions applied so far (the last one's number).
    decided_seq: u64,
    /// Every decision up to this number is on disk.
    synced_seq: u64,
    /// Calls waiting for the journal's next write.
    waiting: Vec<syncer::Durability>,
    /// The acquirer is dropped: the journal's thread stops once idle.
    closing: bool,
}

const STOPPED_AFTER_JOURNAL_FAILURE: &str = "sandbox journal write failed; restart the acquirer";

impl SandboxAcquirer {
    /// Every attempt the sandbox remembers with what it knows of it, oldest
    /// first: for reconciliation after a crash test (`portcullis soak`).
    pub fn attempts(&self) -> Result<Vec<(String, AttemptRecord)>, ConnectorError> {
        let state = self.shared.lock().map_err(|_| lost_to_panic())?;
        Ok(state
            .book
            .attempt_ids()
            .into_iter()
            .filter_map(|id| state.book.query(&id).map(|record| (id, record)))
            .collect())
    }

    /// Builds the acquirer and, with a journal, replays it. Reads the file
    /// synchronously: call it at start-up. Panics if `attempts_max` is zero.
    pub fn new(options: SandboxOptions) -> Result<SandboxAcquirer, JournalError> {
        let mut book = Book::new(options.attempts_max, options.refund_settle_delay);
        let journal = match &options.journal_path {
            None => None,
            Some(path) => {
                let (journal, events) = Journal::open::<book::Event>(path)?;
                let (events_len, now) = (events.len(), Instant::now());
                let mut skipped: usize = 0;
                for event in events {
                    if !book.apply(event, now) {
                        skipped += 1;
                    }
                }
                tracing::info!(
                    path = %path.display(),
                    events = events_len,
                    events_skipped = skipped,
                    attempts = book.attempts_len(),
                    "sandbox journal replayed"
                );
                Some(journal)
            }
        };
        let shared = Arc::new(Mutex::new(State {
            book,
            journal_failed: false,
            unwritten: Vec::new(),
            decided_seq: 0,
            synced_seq: 0,
            waiting: Vec::new(),
            closing: false,
        }));
        let wake = Arc::new(Condvar::new());
        let syncer = match journal {
            None => None,
            Some(journal) => {
                let started = syncer::Syncer::start(journal, shared.clone(), wake.clone());
                Some(started.map_err(|source| JournalError::Io {
                    path: options.journal_path.clone().unwrap_or_default(),
                    source,
                })?)
            }
        };
        Ok(SandboxAcquirer {
            syncer,
            shared,
            wake,
            call_latency: options.call_latency,
        })
    }

    /// Decides under the lock, journals, applies, then delays the answer by
    /// `call_latency`. The decision is applied before the first await, so it
    /// completes even if the caller stops waiting; with a journal the answer
    /// waits until the journal's thread has it on disk.
    async fn execute<T, F>(&self, decision: F) -> Result<T, ConnectorError>
    where
        T: Send + 'static,
        F: FnOnce(&Book, Instant) -> Decided<T> + Send + 'static,
    {
        let journaled = self.syncer.is_some();
        let decided = decide(&self.shared, decision, Instant::now(), journaled);
        let result = match decided {
            Ok((answer, seq)) if journaled => syncer::durable(&self.shared, &self.wake, seq)
                .await
                .map(|()| answer),
            decided => decided.map(|(answer, _)| answer),
        };
        if !self.call_latency.is_zero() {
            tokio::time::sleep(self.call_latency).await;
        }
        result
    }
}

impl SandboxAcquirer {
    /// Authorizes as the test-card table says, except that a card the
    /// table does not list (one it would simply approve, like 4242…) is
    /// declined `generic_decline` when `unlisted` says so: how
    /// `portcullis processor-sim` applies its approval rate. A repeat of an
    /// attempt answers what the first call did, whatever `unlisted` says.
    pub async fn authorize_with(
        &self,
        request: &AuthorizeRequest<'_>,
        unlisted: UnlistedCards,
    ) -> Result<AuthorizeOutcome, ConnectorError> {
        let number = request.card.number;
        let card = match (TestCard::of(number), unlisted) {
            (TestCard::Approve(AfterApproval::Ordinary), UnlistedCards::Decline) => {
                TestCard::Decline(DeclineKind::Generic)
            }
            (card, _) => card,
        };
        let input = AuthorizeInput {
            attempt_id: request.attempt_id.to_owned(),
            merchant_id: request.merchant_id.to_owned(),
            amount_minor: request.amount_minor,
            currency: request.currency,
            card,
            card_last4: number.last4(),
            card_brand: number.brand(),
            capture: request.capture,
            authenticated: request.authenticated,
            off_session: request.off_session,
            cvc_given: request.card.cvc.is_some(),
        };
        let result = self.execute(move |book, _| book.authorize(&input)).await;
        match &result {
            Ok(outcome) => tracing::debug!(
                attempt_id = request.attempt_id,
                card_last4 = %number.last4(),
                outcome = outcome_name(outcome),
                "sandbox authorize"
            ),
            Err(error) => tracing::debug!(
                attempt_id = request.attempt_id,
                %error,
                "sandbox authorize failed"
            ),
        }
        result
    }
}

fn lost_to_panic() -> ConnectorError {
    ConnectorError::Unavailable("sandbox state lost to a panic".into())
}

fn stopped() -> ConnectorError {
    ConnectorError::Unavailable(STOPPED_AFTER_JOURNAL_FAILURE.into())
}

/// Decides and applies under the lock; with `journaled`, leaves the
/// decision's lines to be written. Returns the answer and the number of the
/// last decision applied, which must be durable before the answer is given.
fn decide<T>(
    shared: &Mutex<State>,
    decision: impl FnOnce(&Book, Instant) -> Decided<T>,
    now: Instant,
    journaled: bool,
) -> Result<(T, u64), ConnectorError> {
    let mut guard = shared.lock().map_err(|_| lost_to_panic())?;
    let state = &mut *guard;
    if state.journal_failed {
        return Err(stopped());
    }
    let (events, answer) = decision(&state.book, now)?;
    if events.is_empty() {
        return Ok((answer, state.decided_seq));
    }
    if journaled {
        if let Err(error) = Journal::encode(&events, &mut state.unwritten) {
            tracing::error!(%error, "sandbox journal encoding failed; the acquirer stops until recreated");
            state.journal_failed = true;
            return Err(stopped());
        }
    }
    state.decided_seq += 1;
    for event in events {
        let applied = state.book.apply(event, now);
        assert!(
            applied,
            "a live decision produced an event the book rejects"
        );
    }
    Ok((answer, state.decided_seq))
}

fn outcome_name(outcome: &AuthorizeOutcome) -> &'static str {
    match outcome {
        AuthorizeOutcome::Approved { .. } => "approved",
        AuthorizeOutcome::Declined(_) => "declined",
        AuthorizeOutcome::AuthenticationRequired => "authentication_required",
    }
}

#[async_trait::async_trait]
impl Connector for SandboxAcquirer {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    async fn authorize(
        &self,
        request: &AuthorizeRequest<'_>,
    ) -> Result<AuthorizeOutcome, ConnectorError> {
        self.authorize_with(request, UnlistedCards::Approve).await
    }

    async fn capture(
        &self,
        reference: &str,
        amount_minor: i64,
    ) -> Result<CaptureOutcome, ConnectorError> {
        let owned = reference.to_owned();
        let result = self
            .execute(move |book, _| book.capture(&owned, amount_minor))
            .await;
        tracing::debug!(
            reference,
            amount_minor,
            ok = result.is_ok(),
            "sandbox capture"
        );
        result
    }

    async fn void(&self, reference: &str) -> Result<(), ConnectorError> {
        let owned = reference.to_owned();
        let result = self.execute(move |book, _| book.void(&owned)).await;
        tracing::debug!(reference, ok = result.is_ok(), "sandbox void");
        result
    }

    async fn refund(
        &self,
        reference: &str,
        refund_id: &str,
        amount_minor: i64,
    ) -> Result<RefundOutcome, ConnectorError> {
        let (owned_reference, owned_refund_id) = (reference.to_owned(), refund_id.to_owned());
        let result = self
            .execute(move |book, now| {
                book.refund(&owned_reference, &owned_refund_id, amount_minor, now)
            })
            .await;
        tracing::debug!(
            reference,
            refund_id,
            amount_minor,
            ok = result.is_ok(),
            "sandbox refund"
        );
        result
    }

    async fn refund_status(&self, refund_id: &str) -> Result<RefundOutcome, ConnectorError> {
        let owned = refund_id.to_owned();
        self.execute(move |book, now| book.refund_status(&owned, now))
            .await
    }

    async fn cancel_refund(&self, refund_id: &str) -> Result<bool, ConnectorError> {
        let owned = refund_id.to_owned();
        self.execute(move |book, now| book.cancel_refund(&owned, now))
            .await
    }

    async fn query(&self, attempt_id: &str) -> Result<Option<AttemptRecord>, ConnectorError> {
        let owned = attempt_id.to_owned();
        self.execute(move |book, _| Ok((Vec::new(), book.query(&owned))))
            .await
    }
}
