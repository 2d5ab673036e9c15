//! Check values of secrets kept outside the database: the first process
//! records one per secret, later ones read it back and compare.

use super::{fixed, Dialect, Sql};
use crate::model::SqlValue;

/// Records `check_value` under `name` unless one is recorded already.
pub(crate) fn record(d: Dialect, name: &str, check_value: &str, now_s: i64) -> Sql {
    fixed(
        d,
        "INSERT INTO secret_checks (name, check_value, created) VALUES (?1, ?2, ?3) \
         ON CONFLICT (name) DO NOTHING",
        vec![
            SqlValue::Text(name.to_owned()),
            SqlValue::Text(check_value.to_owned()),
            SqlValue::Integer(now_s),
        ],
    )
}

pub(crate) fn read(d: Dialect, name: &str) -> Sql {
    fixed(
        d,
        "SELECT check_value FROM secret_checks WHERE name = ?1",
        vec![SqlValue::Text(name.to_owned())],
    )
}
