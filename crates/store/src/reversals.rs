//! The vocabulary of the ISO 8583 connector's pending reversals, kept in
//! the database so that any instance resumes them (`iso8583_reversals`).

use crate::error::StoreError;

/// Where a recorded original stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReversalState {
    /// Sent (or about to be), or approved while the gateway commits it:
    /// reversed only by crash recovery of that authorization.
    Sent,
    /// Its answer never came: a 0400 is retried until a 0410 arrives.
    Reversing,
}

impl ReversalState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReversalState::Sent => "sent",
            ReversalState::Reversing => "reversing",
        }
    }

    pub fn parse(text: &str) -> Result<ReversalState, StoreError> {
        match text {
            "sent" => Ok(ReversalState::Sent),
            "reversing" => Ok(ReversalState::Reversing),
            other => Err(StoreError::Corrupt(format!(
                "unknown reversal state {other:?}"
            ))),
        }
    }
}

/// One row of `iso8583_reversals`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingReversalRow {
    /// The gateway's attempt id (`pa_…`).
    pub attempt_id: String,
    /// The `[connectors.<name>]` it was sent through.
    pub connector: String,
    /// The original's reference, from which the 0400 is built.
    pub reference: String,
    pub state: ReversalState,
    /// Unix seconds.
    pub created: i64,
}

/// Most rows one resumption reads.
pub const REVERSALS_PAGE_MAX: usize = 1000;
