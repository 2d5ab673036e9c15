//! The webhook outbox's vocabulary: deliveries (one per event and matching
//! endpoint), claims on due deliveries, and the attempt log.
//!
//! Deliveries are never written by callers: inserting a row into
//! [`crate::Table::Events`] inserts, in the same transaction, one pending
//! delivery for every enabled, undeleted webhook endpoint of the event's
//! scope whose `enabled_events` column holds the event's type or `*`. The
//! event and its deliveries are durable together or not at all, and no
//! call site can forget them.

use crate::model::Scope;

/// Most deliveries one claim may take.
pub const CLAIM_LIMIT_MAX: usize = 256;
/// Most endpoints a claim may exclude.
pub const CLAIM_EXCLUDED_MAX: usize = 256;
/// Most deliveries or attempts one read returns.
pub const DELIVERY_PAGE_MAX: usize = 100;

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryState {
    /// Waiting for its next attempt (or in one, while claimed).
    Pending,
    /// A receiver answered 2xx.
    Delivered,
    /// No attempt is left: the retry horizon passed, or the endpoint was
    /// disabled or deleted.
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(DeliveryState::Pending),
            "delivered" => Some(DeliveryState::Delivered),
            "failed" => Some(DeliveryState::Failed),
            _ => None,
        }
    }
}

/// Which delivery: an event to one endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DeliveryKey {
    pub event_id: String,
    pub endpoint_id: String,
}

/// A request to claim due deliveries for one worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryClaim {
    /// The claiming worker's id, unique per process.
    pub worker: String,
    pub now_ms: i64,
    /// The claim holds until `now_ms + lease_ms`; after that another
    /// worker may take the delivery (its claimant is presumed dead).
    pub lease_ms: i64,
    /// 1 to [`CLAIM_LIMIT_MAX`].
    pub limit: usize,
    /// Endpoints to skip (this worker has no capacity left for them); at
    /// most [`CLAIM_EXCLUDED_MAX`].
    pub excluded_endpoints: Vec<String>,
}

/// A delivery this worker now holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimedDelivery {
    pub scope: Scope,
    pub key: DeliveryKey,
    /// Attempts made before this one.
    pub attempts: i64,
    /// When the event was created, the start of the retry horizon.
    pub created_ms: i64,
}

/// What one attempt found and what follows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptRecord {
    pub key: DeliveryKey,
    /// The worker that holds the claim; the record is refused
    /// ([`crate::StoreError::ClaimLost`]) if another worker took it over.
    pub worker: String,
    /// 1 for the first attempt.
    pub attempt: i64,
    pub started_at_ms: i64,
    pub latency_ms: i64,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<u16>,
    /// Why the attempt failed, if it did (never a secret or a body).
    pub error: Option<String>,
    /// `Delivered`, `Failed` (the last attempt), or `Pending` with
    /// `next_attempt_at_ms`.
    pub state: DeliveryState,
    pub next_attempt_at_ms: Option<i64>,
}

/// A delivery as read back for the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub key: DeliveryKey,
    pub event_type: String,
    pub created_ms: i64,
    pub state: DeliveryState,
    pub attempts: i64,
    pub next_attempt_at_ms: Option<i64>,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
}

/// One logged attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptLog {
    pub attempt: i64,
    pub started_at_ms: i64,
    pub latency_ms: i64,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub next_retry_at_ms: Option<i64>,
}

/// Which deliveries to read, within a scope, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryFilter {
    /// Every delivery of one event.
    Event(String),
    /// The deliveries to one endpoint, optionally after (older than) the
    /// delivery of the event `starting_after`.
    Endpoint {
        endpoint_id: String,
        starting_after: Option<String>,
    },
}

/// The outbox's backlog across every merchant: deliveries pending, and the
/// creation time (ms) of the oldest of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backlog {
    pub pending: i64,
    pub oldest_created_ms: Option<i64>,
}

/// A page of deliveries and whether more follow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryPage {
    pub deliveries: Vec<DeliveryRecord>,
    pub has_more: bool,
}

/// Which endpoint a redelivery of an event is for, when only one: its
/// delivery is created if the endpoint did not exist (or did not take the
/// event's type) when the event was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redelivery {
    pub endpoint_id: String,
    pub event_type: String,
    /// The event's `created`, in milliseconds.
    pub created_ms: i64,
}

/// `limit + 1` fetched rows as a page.
pub(crate) fn page(mut deliveries: Vec<DeliveryRecord>, limit: usize) -> DeliveryPage {
    let has_more = deliveries.len() > limit;
    deliveries.truncate(limit);
    DeliveryPage {
        deliveries,
        has_more,
    }
}
