//! The registry of running `serve` instances: each stamps its row every
//! few seconds, and the count of rows stamped recently is how many
//! instances share the database (the rate limiter divides its budget by it).

use super::{fixed, Dialect, Sql};
use crate::model::SqlValue;

pub(crate) fn stamp(d: Dialect, instance_id: &str, now_ms: i64) -> Sql {
    fixed(
        d,
        "INSERT INTO gateway_instances (id, seen_ms) VALUES (?1, ?2) \
         ON CONFLICT (id) DO UPDATE SET seen_ms = excluded.seen_ms",
        vec![
            SqlValue::Text(instance_id.to_owned()),
            SqlValue::Integer(now_ms),
        ],
    )
}

pub(crate) fn count_live(d: Dialect, seen_since_ms: i64) -> Sql {
    fixed(
        d,
        "SELECT COUNT(*) FROM gateway_instances WHERE seen_ms >= ?1",
        vec![SqlValue::Integer(seen_since_ms)],
    )
}

/// Forgets instances gone for long (their rows no longer count anyway).
pub(crate) fn forget_before(d: Dialect, seen_before_ms: i64) -> Sql {
    fixed(
        d,
        "DELETE FROM gateway_instances WHERE seen_ms < ?1",
        vec![SqlValue::Integer(seen_before_ms)],
    )
}

pub(crate) fn leave(d: Dialect, instance_id: &str) -> Sql {
    fixed(
        d,
        "DELETE FROM gateway_instances WHERE id = ?1",
        vec![SqlValue::Text(instance_id.to_owned())],
    )
}
