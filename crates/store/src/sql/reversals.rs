//! The ISO 8583 connector's pending reversals (`iso8583_reversals`).

use super::{fixed, Dialect, Sql};
use crate::model::SqlValue;
use crate::reversals::{PendingReversalRow, ReversalState};

/// Records an original before it is sent; a repeat of the attempt keeps
/// the first row.
pub(crate) fn record(d: Dialect, row: &PendingReversalRow) -> Sql {
    fixed(
        d,
        "INSERT INTO iso8583_reversals (attempt_id, connector, reference, state, created) \
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (attempt_id) DO NOTHING",
        vec![
            SqlValue::Text(row.attempt_id.clone()),
            SqlValue::Text(row.connector.clone()),
            SqlValue::Text(row.reference.clone()),
            SqlValue::Text(row.state.as_str().to_owned()),
            SqlValue::Integer(row.created),
        ],
    )
}

pub(crate) fn find(d: Dialect, attempt_id: &str) -> Sql {
    fixed(
        d,
        "SELECT attempt_id, connector, reference, state, created FROM iso8583_reversals \
         WHERE attempt_id = ?1",
        vec![SqlValue::Text(attempt_id.to_owned())],
    )
}

pub(crate) fn set_state(d: Dialect, attempt_id: &str, state: ReversalState) -> Sql {
    fixed(
        d,
        "UPDATE iso8583_reversals SET state = ?2 WHERE attempt_id = ?1",
        vec![
            SqlValue::Text(attempt_id.to_owned()),
            SqlValue::Text(state.as_str().to_owned()),
        ],
    )
}

pub(crate) fn settle(d: Dialect, attempt_id: &str) -> Sql {
    fixed(
        d,
        "DELETE FROM iso8583_reversals WHERE attempt_id = ?1",
        vec![SqlValue::Text(attempt_id.to_owned())],
    )
}

/// The oldest `limit` rows of `connector` in `state`.
pub(crate) fn in_state(d: Dialect, connector: &str, state: ReversalState, limit: usize) -> Sql {
    fixed(
        d,
        "SELECT attempt_id, connector, reference, state, created FROM iso8583_reversals \
         WHERE connector = ?1 AND state = ?2 ORDER BY created LIMIT ?3",
        vec![
            SqlValue::Text(connector.to_owned()),
            SqlValue::Text(state.as_str().to_owned()),
            SqlValue::Integer(limit as i64),
        ],
    )
}

/// Forgets `sent` rows recorded before `created_before`: originals the
/// gateway committed long ago (a pending attempt is recovered within
/// minutes, so nobody can need them any more).
pub(crate) fn forget_sent_before(d: Dialect, created_before: i64) -> Sql {
    fixed(
        d,
        "DELETE FROM iso8583_reversals WHERE state = 'sent' AND created < ?1",
        vec![SqlValue::Integer(created_before)],
    )
}
