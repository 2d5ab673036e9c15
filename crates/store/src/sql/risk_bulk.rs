//! The risk writes of a write set (`crate::bulk::risk_statements`: a bulk
//! write set, one payment's, or a PostgreSQL batch's) in few statements:
//! counter additions and cards seen as multi-row upserts (their keys
//! unique once `bulk::coalesce_risk` has merged them, as a multi-row
//! upsert requires), routing outcomes of one bucket summed into one
//! statement, card locations as `risk::write` writes them. Statements go
//! table by table and rows in key order (a stable sort: repeated card
//! locations keep their order), so concurrent writers lock shared rows in
//! one global order.

use super::risk::{add_routing_outcomes, upsert, upsert_row, RoutingKey, Upsert};
use super::{Dialect, Sql};
use crate::model::{RiskWrite, SqlValue};

/// Most rows in one multi-row upsert.
const ROWS_PER_STATEMENT_MAX: usize = 200;

/// A routing bucket's key and its summed (authorized, declined).
type RoutingSum<'a> = (RoutingKey<'a>, i64, i64);

/// `writes` (coalesced: no two counter additions or card sightings with
/// the same key) as statements.
pub(crate) fn statements(dialect: Dialect, writes: &[RiskWrite]) -> Vec<Sql> {
    let mut counts: Vec<Vec<SqlValue>> = vec![];
    let mut cards: Vec<Vec<SqlValue>> = vec![];
    let mut routing: Vec<RoutingSum<'_>> = vec![];
    let mut sightings: Vec<&RiskWrite> = vec![];
    for write in writes {
        if let Some((kind, row)) = upsert_row(write) {
            match kind {
                Upsert::Count => counts.push(row),
                Upsert::CardSeen => cards.push(row),
            }
            continue;
        }
        match write {
            RiskWrite::RoutingOutcome {
                scope,
                segment,
                connector_account,
                slot,
                bucket_start,
                authorized,
            } => {
                let (yes, no) = if *authorized { (1, 0) } else { (0, 1) };
                let same = routing.iter_mut().find(|(key, _, _)| {
                    key.scope == scope
                        && key.segment == segment
                        && key.connector_account == connector_account
                        && key.slot == *slot
                        && key.bucket_start == *bucket_start
                });
                match same {
                    Some((_, total_yes, total_no)) => {
                        *total_yes += yes;
                        *total_no += no;
                    }
                    None => routing.push((
                        RoutingKey {
                            scope,
                            segment,
                            connector_account,
                            slot: *slot,
                            bucket_start: *bucket_start,
                        },
                        yes,
                        no,
                    )),
                }
            }
            _ => sightings.push(write),
        }
    }
    counts.sort();
    cards.sort();
    routing.sort_by(|(a, _, _), (b, _, _)| routing_order(a).cmp(&routing_order(b)));
    sightings.sort_by(|a, b| sighting_order(a).cmp(&sighting_order(b)));
    let mut statements = multi_row(dialect, Upsert::Count, &counts);
    statements.extend(multi_row(dialect, Upsert::CardSeen, &cards));
    statements.extend(
        routing
            .iter()
            .map(|(key, yes, no)| add_routing_outcomes(dialect, key, *yes, *no)),
    );
    statements.extend(
        sightings
            .into_iter()
            .map(|write| super::risk::write(dialect, write)),
    );
    statements
}

fn routing_order<'a>(key: &RoutingKey<'a>) -> (&'a str, bool, &'a str, &'a str, i64, i64) {
    (
        key.scope.merchant_id.as_str(),
        key.scope.livemode,
        key.segment,
        key.connector_account,
        key.slot,
        key.bucket_start,
    )
}

/// A card location's key; `None` for the other writes, which do not reach here.
fn sighting_order(write: &RiskWrite) -> Option<(&str, bool, &str)> {
    match write {
        RiskWrite::Sighting { scope, card, .. } => {
            Some((scope.merchant_id.as_str(), scope.livemode, card.as_str()))
        }
        _ => None,
    }
}

fn multi_row(dialect: Dialect, kind: Upsert, rows: &[Vec<SqlValue>]) -> Vec<Sql> {
    rows.chunks(ROWS_PER_STATEMENT_MAX)
        .map(|chunk| upsert(dialect, kind, chunk))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{RiskMetric, RiskSubjectKind, Scope};

    fn outcome(slot: i64, authorized: bool) -> RiskWrite {
        RiskWrite::RoutingOutcome {
            scope: Scope::of_test_merchant(),
            segment: "card:usd".to_owned(),
            connector_account: "ca_1".to_owned(),
            slot,
            bucket_start: 600,
            authorized,
        }
    }

    #[test]
    fn routing_outcomes_of_one_bucket_are_summed() {
        let writes = vec![
            outcome(1, true),
            outcome(1, false),
            outcome(1, true),
            outcome(2, true),
        ];
        let statements = statements(Dialect::Sqlite, &writes);
        assert_eq!(statements.len(), 2);
        let tail = |sql: &Sql| sql.params[6..].to_vec();
        assert_eq!(
            tail(&statements[0]),
            vec![SqlValue::Integer(2), SqlValue::Integer(1)]
        );
        assert_eq!(
            tail(&statements[1]),
            vec![SqlValue::Integer(1), SqlValue::Integer(0)]
        );
    }

    fn sighting(card: &str, seen_at: i64) -> RiskWrite {
        RiskWrite::Sighting {
            scope: Scope::of_test_merchant(),
            card: card.to_owned(),
            latitude_micro: 1,
            longitude_micro: 2,
            seen_at,
        }
    }

    #[test]
    fn routing_buckets_and_card_locations_go_in_key_order_repeats_as_given() {
        let writes = vec![
            sighting("fp_b", 9),
            outcome(2, true),
            sighting("fp_a", 8),
            sighting("fp_b", 7),
            outcome(1, true),
        ];
        let statements = statements(Dialect::Sqlite, &writes);
        let keys: Vec<(SqlValue, SqlValue)> = statements
            .iter()
            .map(|sql| (sql.params[2].clone(), sql.params[4].clone()))
            .collect();
        let text = |s: &str| SqlValue::Text(s.to_owned());
        assert_eq!(
            keys,
            vec![
                (text("card:usd"), SqlValue::Integer(1)),
                (text("card:usd"), SqlValue::Integer(2)),
                (text("fp_a"), SqlValue::Integer(2)),
                (text("fp_b"), SqlValue::Integer(2)),
                (text("fp_b"), SqlValue::Integer(2)),
            ]
        );
        let seen_at: Vec<SqlValue> = statements[2..]
            .iter()
            .map(|sql| sql.params[5].clone())
            .collect();
        assert_eq!(
            seen_at,
            vec![
                SqlValue::Integer(8),
                SqlValue::Integer(9),
                SqlValue::Integer(7)
            ]
        );
    }

    #[test]
    fn counts_become_sorted_multi_row_upserts_of_at_most_the_chunk_size() {
        let writes: Vec<RiskWrite> = (0..250)
            .rev()
            .map(|n| RiskWrite::Count {
                scope: Scope::of_test_merchant(),
                kind: RiskSubjectKind::Customer,
                subject: format!("cus_{n:03}"),
                metric: RiskMetric::Total,
                bucket_hour: 7,
                count: 1,
                amount_usd_cents: 100,
            })
            .collect();
        let statements = statements(Dialect::Postgres, &writes);
        assert_eq!(statements.len(), 2);
        assert_eq!(statements[0].params.len(), 200 * 8);
        assert_eq!(statements[1].params.len(), 50 * 8);
        assert_eq!(
            statements[0].params[3],
            SqlValue::Text("cus_000".to_owned())
        );
        assert!(statements[0].text.contains("$1600"));
    }
}
