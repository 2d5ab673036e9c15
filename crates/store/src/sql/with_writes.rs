//! A write set's consecutive writes as one PostgreSQL statement of
//! data-modifying common table expressions,
//! `WITH w0 AS (INSERT …), w1 AS (UPDATE … RETURNING 1) SELECT (SELECT
//! count(*) FROM w1)`: one Bind/Execute/Sync, one protocol round and one
//! executor start for the server where there was one per write (a
//! payment's phase one was six statements, its phase two five).
//!
//! What changes, and why it is safe when [`WithWrites::admits`] says so:
//! the parts of one statement run on one snapshot, in no order PostgreSQL
//! promises, so a part does not see the rows another part writes. A part
//! therefore joins only if it neither reads nor writes a table an earlier
//! part of the statement writes: it would not see their rows (an update of
//! a row inserted before it, a redelivery of a delivery a fan-out just
//! made), and two inserts into one table would take `seq` in no defined
//! order. Reading a table that a *later* part writes is what running them
//! one by one did too. Constraints (unique ids, foreign keys to merchants)
//! are checked as before, and the first that fails fails the statement,
//! and so its write set, as it failed the write that broke it. The
//! document tables have no triggers (the ledger's, which have, are not
//! written here).
//!
//! Row counts: a part whose row count is checked (an update at an expected
//! version, the idempotency completion) returns a row per row it changed
//! (`RETURNING 1`), and the statement's one row holds one count per such
//! part, in order ([`Counted::Returned`]), which the caller checks as it
//! checked each statement's count. SQLite has no data-modifying CTEs (and
//! no protocol round per statement): its writer runs the writes one by one.

use super::{Builder, Dialect, Sql};

/// Most parts of one statement: bounds its text and the shapes a
/// connection's prepared-statement cache holds.
pub(crate) const PARTS_MAX: usize = 16;
/// Most values one statement binds (PostgreSQL's limit is 65,535); a part
/// that binds more alone is a statement of its own.
pub(crate) const PARAMS_MAX: usize = crate::bulk::PARAMS_PER_STATEMENT_MAX;

/// The tables one write reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Touches {
    /// The table it writes (and reads, as an update's `WHERE` does).
    pub writes: &'static str,
    /// Another table it reads, if any (a fan-out reads the endpoints).
    pub reads: Option<&'static str>,
}

/// One write of a statement in the making.
#[derive(Debug)]
struct Part {
    sql: Sql,
    counted: bool,
}

/// How a statement from [`WithWrites::take`] answers the row counts of its
/// counted parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Counted {
    /// A write alone, as it was built: its row count is the statement's.
    Affected,
    /// Several: one row, one `BIGINT` column per counted part, in order.
    Returned,
}

/// Consecutive writes gathered into one statement while they may share
/// one snapshot ([`WithWrites::admits`]).
#[derive(Debug, Default)]
pub(crate) struct WithWrites {
    parts: Vec<Part>,
    written: Vec<&'static str>,
    params: usize,
}

impl WithWrites {
    /// Whether a write touching `touches` and binding `params` values may
    /// join the statement held: it reads and writes no table a part before
    /// it writes, and the statement stays within [`PARTS_MAX`] and
    /// [`PARAMS_MAX`]. An empty statement admits any write.
    pub(crate) fn admits(&self, touches: Touches, params: usize) -> bool {
        let written = |table: &str| self.written.contains(&table);
        self.parts.is_empty()
            || (!written(touches.writes)
                && !touches.reads.is_some_and(written)
                && self.parts.len() < PARTS_MAX
                && self.params + params <= PARAMS_MAX)
    }

    /// Adds `sql`, a write touching `touches`, whose row count is checked
    /// if `counted`; answers the statement held before, to be run first,
    /// if the write may not join it.
    pub(crate) fn add(
        &mut self,
        sql: Sql,
        touches: Touches,
        counted: bool,
    ) -> Option<(Sql, Counted)> {
        let before = if self.admits(touches, sql.params.len()) {
            None
        } else {
            self.take()
        };
        self.written.push(touches.writes);
        self.params += sql.params.len();
        self.parts.push(Part { sql, counted });
        before
    }

    /// The statement held, if any; the holder is then empty. A write alone
    /// is answered as it was built.
    pub(crate) fn take(&mut self) -> Option<(Sql, Counted)> {
        self.written.clear();
        self.params = 0;
        let mut parts = std::mem::take(&mut self.parts);
        match parts.len() {
            0 => None,
            1 => parts.pop().map(|part| (part.sql, Counted::Affected)),
            _ => Some((with_statement(parts), Counted::Returned)),
        }
    }
}

/// `WITH w0 AS (…), w1 AS (… RETURNING 1), … SELECT (SELECT count(*) FROM
/// w1), …`: every part runs to completion whether the main query reads it
/// or not; the counted ones return a row per row changed.
fn with_statement(parts: Vec<Part>) -> Sql {
    let mut b = Builder::new(Dialect::Postgres, "WITH ");
    let mut counted = vec![];
    for (n, part) in parts.into_iter().enumerate() {
        if n > 0 {
            b.push(", ");
        }
        b.push(&format!("w{n} AS ("));
        b.append(part.sql);
        if part.counted {
            b.push(" RETURNING 1");
            counted.push(n);
        }
        b.push(")");
    }
    b.push(" SELECT");
    for (i, n) in counted.iter().enumerate() {
        b.push(if i > 0 { ", " } else { " " });
        b.push(&format!("(SELECT count(*) FROM w{n})"));
    }
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SqlValue;

    fn write(text: &str, params: usize) -> Sql {
        let placeholders: Vec<String> = (1..=params).map(|n| format!("${n}")).collect();
        Sql {
            text: format!("{text} {}", placeholders.join(", ")),
            params: (0..params as i64).map(SqlValue::Integer).collect(),
        }
    }

    fn touches(writes: &'static str, reads: Option<&'static str>) -> Touches {
        Touches { writes, reads }
    }

    #[test]
    fn writes_to_other_tables_become_one_statement_counting_the_checked_ones() {
        let mut group = WithWrites::default();
        assert!(group
            .add(write("INSERT a", 2), touches("a", None), false)
            .is_none());
        assert!(group
            .add(write("UPDATE b", 1), touches("b", None), true)
            .is_none());
        assert!(group
            .add(write("INSERT c", 1), touches("c", Some("d")), false)
            .is_none());
        let (sql, counted) = group.take().unwrap();
        assert_eq!(counted, Counted::Returned);
        assert_eq!(
            sql.text,
            "WITH w0 AS (INSERT a $1, $2), w1 AS (UPDATE b $3 RETURNING 1), \
             w2 AS (INSERT c $4) SELECT (SELECT count(*) FROM w1)"
        );
        assert_eq!(sql.params.len(), 4);
        assert!(group.take().is_none());
    }

    #[test]
    fn a_write_alone_is_answered_as_built() {
        let mut group = WithWrites::default();
        group.add(write("UPDATE b", 1), touches("b", None), true);
        let (sql, counted) = group.take().unwrap();
        assert_eq!(
            (sql.text.as_str(), counted),
            ("UPDATE b $1", Counted::Affected)
        );
    }

    #[test]
    fn a_write_that_would_read_or_write_a_table_written_before_starts_a_statement() {
        let mut group = WithWrites::default();
        group.add(write("INSERT events", 1), touches("events", None), false);
        group.add(
            write("INSERT deliveries", 1),
            touches("deliveries", Some("endpoints")),
            false,
        );
        let (first, _) = group
            .add(
                write("UPDATE deliveries", 1),
                touches("deliveries", None),
                false,
            )
            .expect("a redelivery must see the fan-out's rows");
        assert!(first.text.starts_with("WITH w0 AS (INSERT events $1)"));
        group.add(
            write("INSERT endpoints", 1),
            touches("endpoints", None),
            false,
        );
        assert!(
            group
                .add(write("INSERT x", 1), touches("x", Some("endpoints")), false)
                .is_some(),
            "a read of a table written before may not join"
        );
        group.add(
            write("INSERT endpoints", 1),
            touches("endpoints", None),
            false,
        );
        assert!(
            group
                .add(
                    write("INSERT endpoints", 1),
                    touches("endpoints", None),
                    false
                )
                .is_some(),
            "two inserts into one table would take seq in no order"
        );
    }

    #[test]
    fn a_statement_holds_at_most_its_parts_and_values() {
        let mut group = WithWrites::default();
        let tables: Vec<&'static str> = (0..=PARTS_MAX)
            .map(|n| &*Box::leak(format!("t{n}").into_boxed_str()))
            .collect();
        for table in &tables[..PARTS_MAX] {
            assert!(group
                .add(write("INSERT", 1), touches(table, None), false)
                .is_none());
        }
        assert!(!group.admits(touches(tables[PARTS_MAX], None), 1));
        group.take();
        group.add(write("INSERT", PARAMS_MAX), touches("a", None), false);
        assert!(!group.admits(touches("b", None), 1));
    }
}
