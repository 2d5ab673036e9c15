//! Storage errors: what a caller can act on, and opaque failures.

/// A storage failure. `Clone` because one group commit reports the same
/// outcome to every request in its batch.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    /// An update's expected version did not match: someone else changed the
    /// document first. Read again and retry.
    #[error("the document changed concurrently")]
    Conflict,
    /// The idempotency key this request claimed was taken over by another
    /// request after the claim's lease ran out; nothing was written.
    #[error("the idempotency claim was lost")]
    ClaimLost,
    /// A unique constraint refused the write (an id or key that exists).
    #[error("a record with this key already exists")]
    Duplicate,
    /// An update or cursor named a document that does not exist.
    #[error("no such record")]
    NotFound,
    /// A ledger append would take a balance the policy floors at zero
    /// below it (e.g. a payout above the available balance). Nothing was written.
    #[error("insufficient balance in {account} ({currency})")]
    InsufficientBalance { account: String, currency: String },
    /// A limit the database enforces refused the write; the name says
    /// which (`webhook_endpoints_max`). Nothing was written.
    #[error("limit reached: {0}")]
    LimitReached(&'static str),
    /// The settings do not describe a usable database.
    #[error("database configuration: {0}")]
    Config(String),
    /// The database could not be reached or refused the operation.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database's schema is not one this binary may run on: migrated
    /// by a newer version, or an applied migration's text changed.
    #[error("database schema: {0}")]
    Schema(String),
    /// Stored data is not what this code wrote (a bug or tampering).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

/// The limits the schema enforces with triggers, by the name their error
/// carries (migration 0008).
pub(crate) const ENFORCED_LIMITS: &[&str] = &["webhook_endpoints_max"];

/// The enforced limit a database error message names, if any.
pub(crate) fn limit_named(message: &str) -> Option<&'static str> {
    ENFORCED_LIMITS
        .iter()
        .copied()
        .find(|limit| message.trim() == *limit)
}
