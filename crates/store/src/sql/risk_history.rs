//! A payment's risk history read in one statement, on both backends: the
//! card's last sighting, and each subject's counters and (where the query
//! asks for them) distinct cards (`sql::risk::{sighting, counters,
//! cards}`), joined by `UNION ALL`. One statement where there were up to
//! 1 + 2 × subjects: on PostgreSQL one Bind/Execute/Sync and one reply for
//! the server, on SQLite one statement step loop, one read transaction
//! (each statement in autocommit opens and closes its own) and one
//! statement-cache lookup and reset.
//!
//! Each row is `(part, metric, a, b, c, d)`: part 0 is the sighting
//! (a, b, c: latitude, longitude, seen at), part 1 + 2k a counters row of
//! query k (metric; a–d: hourly, daily, lifetime count and amount), part
//! 2 + 2k the cards row of query k (a–d as `sql::risk::cards` answers),
//! absent when query k skips its cards (`RiskCardsRead::Skipped`).

use super::risk::{self, CounterRow};
use super::{Builder, Dialect, Sql};
use crate::model::Scope;
use crate::model::{RiskCardsRead, RiskCounterQuery, RiskCounters, RiskHistory, RiskSighting};
use crate::StoreError;

/// Most queries one statement reads: SQLite refuses a compound `SELECT` of
/// more than 500 terms (`SQLITE_MAX_COMPOUND_SELECT`), and a statement has
/// at most 1 + 2 × this many. Longer reads (`portcullis seed`'s check of
/// every subject) take one statement per this many queries.
pub(crate) const QUERIES_PER_STATEMENT_MAX: usize = 200;

/// The one statement of a risk history read of `queries` (at most
/// [`QUERIES_PER_STATEMENT_MAX`]).
pub(crate) fn statement(
    dialect: Dialect,
    queries: &[RiskCounterQuery],
    scope: &Scope,
    card: &str,
) -> Sql {
    assert!(
        queries.len() <= QUERIES_PER_STATEMENT_MAX,
        "a risk history statement reads at most {QUERIES_PER_STATEMENT_MAX} queries"
    );
    let mut union = Builder::new(
        dialect,
        "SELECT 0, CAST(NULL AS TEXT), s.*, CAST(0 AS BIGINT) FROM (",
    );
    union.append(risk::sighting(dialect, scope, card));
    for (k, q) in queries.iter().enumerate() {
        let (counters_part, cards_part) = (1 + 2 * k, 2 + 2 * k);
        union.push(&format!(
            ") AS s UNION ALL SELECT {counters_part}, s.* FROM ("
        ));
        union.append(risk::counters(dialect, q));
        if q.cards == RiskCardsRead::Counted {
            union.push(&format!(
                ") AS s UNION ALL SELECT {cards_part}, CAST(NULL AS TEXT), s.* FROM ("
            ));
            union.append(risk::cards(dialect, q));
        }
    }
    union.push(") AS s");
    union.finish()
}

/// `queries` cut into the runs one [`statement`] reads each: one run
/// (empty) when there are no queries, as the sighting is still read.
pub(crate) fn runs(queries: &[RiskCounterQuery]) -> Vec<&[RiskCounterQuery]> {
    if queries.is_empty() {
        return vec![queries];
    }
    queries.chunks(QUERIES_PER_STATEMENT_MAX).collect()
}

/// Adds the history of a later run (its counters after the ones held) to
/// `history`, which keeps its sighting: every run reads the same one.
pub(crate) fn extend(history: &mut RiskHistory, later: RiskHistory) {
    history.counters.extend(later.counters);
    history.sighting = history.sighting.or(later.sighting);
}

/// One row of [`statement`], as either backend reads it.
pub(crate) struct HistoryRow {
    pub part: i64,
    pub metric: Option<String>,
    pub values: [i64; 4],
}

/// The history of `query_count` queries from the rows of [`statement`].
pub(crate) fn history_of(
    rows: impl IntoIterator<Item = HistoryRow>,
    query_count: usize,
) -> Result<RiskHistory, StoreError> {
    let mut sighting = None;
    let mut counter_rows: Vec<Vec<CounterRow>> = vec![vec![]; query_count];
    let mut cards = vec![[0_i64; 4]; query_count];
    for row in rows {
        let [a, b, c, d] = row.values;
        let k = usize::try_from(row.part - 1).map(|p| p / 2);
        match (row.part, k, row.metric) {
            (0, _, _) => {
                sighting = Some(RiskSighting {
                    latitude_micro: a,
                    longitude_micro: b,
                    seen_at: c,
                })
            }
            (part, Ok(k), Some(metric)) if k < query_count && part % 2 == 1 => {
                counter_rows[k].push((metric, a, b, c, d))
            }
            (part, Ok(k), None) if k < query_count && part % 2 == 0 => {
                cards[k] = row.values;
            }
            (part, _, _) => {
                return Err(StoreError::Corrupt(format!(
                    "a risk history row of part {part}"
                )))
            }
        }
    }
    let counters: Vec<RiskCounters> = counter_rows
        .into_iter()
        .zip(cards)
        .map(|(rows, cards)| risk::fold(rows, cards))
        .collect();
    Ok(RiskHistory { counters, sighting })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RiskSubjectKind;

    fn query(kind: RiskSubjectKind, cards: RiskCardsRead) -> RiskCounterQuery {
        RiskCounterQuery {
            scope: Scope::of_test_merchant(),
            kind,
            subject: "s".into(),
            hour_from: 10,
            day_from: 1,
            card: Some("fp".into()),
            cards,
        }
    }

    #[test]
    fn a_query_that_skips_its_cards_has_no_cards_term() {
        let scope = Scope::of_test_merchant();
        let counted = query(RiskSubjectKind::Ip, RiskCardsRead::Counted);
        let skipped = query(RiskSubjectKind::Card, RiskCardsRead::Skipped);
        let both = statement(Dialect::Sqlite, &[skipped, counted], &scope, "fp");
        assert_eq!(both.text.matches("UNION ALL").count(), 3);
        assert_eq!(both.text.matches("risk_card_members").count(), 1);
        // Sighting 3, counters 6 + 6, cards 7: each placeholder bound once.
        assert_eq!(both.params.len(), 22);
        assert!(both.text.contains("?22") && !both.text.contains("?23"));
    }

    #[test]
    fn rows_fold_into_their_query_and_a_skipped_cards_row_reads_zero() {
        let row = |part, metric: Option<&str>, values| HistoryRow {
            part,
            metric: metric.map(str::to_owned),
            values,
        };
        let rows = vec![
            row(0, None, [7, 8, 9, 0]),
            row(1, Some("total"), [1, 2, 0, 0]),
            row(3, Some("authorized"), [3, 4, 5, 600]),
            row(4, None, [2, 3, 1, 1]),
        ];
        let history = history_of(rows, 2).unwrap();
        assert_eq!(history.sighting.unwrap().seen_at, 9);
        let [first, second] = &history.counters[..] else {
            panic!("two queries");
        };
        assert_eq!((first.total.daily, first.cards.daily), (2, 0));
        assert!(!first.card_seen_daily);
        assert_eq!((second.history_count, second.history_usd_cents), (5, 600));
        assert_eq!((second.cards.hourly, second.cards.daily), (2, 3));
        assert!(second.card_seen_hourly && second.card_seen_daily);
        assert!(history_of(vec![row(5, None, [0; 4])], 2).is_err());
    }
}
