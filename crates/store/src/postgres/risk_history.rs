//! A payment's risk history read in one statement: the card's last
//! sighting, and each subject's counters and distinct cards
//! (`sql::risk::{sighting, counters, cards}`), joined by `UNION ALL`. One
//! Bind/Execute/Sync and one reply for the server where the three reads
//! were three; the request path's round trip is the same one.
//!
//! Each row is `(part, metric, a, b, c, d)`: part 0 is the sighting
//! (a, b, c: latitude, longitude, seen at), part 1 + 2k a counters row of
//! query k (metric; a–d: hourly, daily, lifetime count and amount), part
//! 2 + 2k the cards row of query k (a–d as `sql::risk::cards` answers).

use super::D;
use crate::model::{RiskCounterQuery, RiskCounters, RiskHistory, RiskSighting, Scope};
use crate::sql::risk::{self, CounterRow};
use crate::sql::{Builder, Sql};
use crate::StoreError;

/// The one statement of a risk history read: the three reads' own
/// statements nested, their placeholders renumbered (`Builder::append`).
pub(super) fn statement(queries: &[RiskCounterQuery], scope: &Scope, card: &str) -> Sql {
    let mut union = Builder::new(
        D,
        "SELECT 0, CAST(NULL AS TEXT), a, b, c, CAST(0 AS BIGINT) FROM (",
    );
    union.append(risk::sighting(D, scope, card));
    union.push(") AS s (a, b, c)");
    for (k, q) in queries.iter().enumerate() {
        let (counters_part, cards_part) = (1 + 2 * k, 2 + 2 * k);
        union.push(&format!(
            " UNION ALL SELECT {counters_part}, m, a, b, c, d FROM ("
        ));
        union.append(risk::counters(D, q));
        union.push(") AS s (m, a, b, c, d)");
        union.push(&format!(
            " UNION ALL SELECT {cards_part}, CAST(NULL AS TEXT), a, b, c, d FROM ("
        ));
        union.append(risk::cards(D, q));
        union.push(") AS s (a, b, c, d)");
    }
    union.finish()
}

/// The history of `query_count` queries from the rows of [`statement`].
pub(super) fn history_of(
    rows: &[tokio_postgres::Row],
    query_count: usize,
) -> Result<RiskHistory, StoreError> {
    let mut sighting = None;
    let mut counter_rows: Vec<Vec<CounterRow>> = vec![vec![]; query_count];
    let mut cards = vec![[0_i64; 4]; query_count];
    for row in rows {
        let part: i32 = row.get(0);
        let k = usize::try_from(part - 1).map(|p| p / 2);
        match (part, k) {
            (0, _) => {
                sighting = Some(RiskSighting {
                    latitude_micro: row.get(2),
                    longitude_micro: row.get(3),
                    seen_at: row.get(4),
                })
            }
            (part, Ok(k)) if k < query_count && part % 2 == 1 => {
                counter_rows[k].push((row.get(1), row.get(2), row.get(3), row.get(4), row.get(5)))
            }
            (_, Ok(k)) if k < query_count => {
                cards[k] = [row.get(2), row.get(3), row.get(4), row.get(5)];
            }
            _ => {
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
