//! Bulk writes ([`crate::Store::commit_bulk`]): a large write set of new
//! rows (seeded payment history) turned into few statements. Documents of
//! one table that set the same columns go into multi-row inserts, in the
//! order they were given (so `seq` keeps it); events fan out to webhook
//! endpoints in multi-event statements (`webhooks::FanOuts`), when their
//! scope has an enabled endpoint at all (read in the same transaction);
//! risk counter additions to the same bucket are summed
//! ([`risk_statements`], which every write set's risk writes go through);
//! ledger appends are linked in one pass
//! ([`crate::ledger::chain_batch`]). Anything else (updates, redeliveries)
//! is applied as `commit` applies it, after the inserts.

use crate::model::WriteSet;
use crate::model::{RiskMetric, RiskSubjectKind, RiskWrite, Scope, Table, WriteOp};
use crate::sql::{docs, webhooks, Dialect, Sql};
use portcullis_ledger::LedgerTransaction;
use std::collections::{HashMap, HashSet};

/// Most values bound in one statement: below SQLite's 32,766 and
/// PostgreSQL's 65,535.
pub(crate) const PARAMS_PER_STATEMENT_MAX: usize = 30_000;
/// Most rows in one multi-row insert. Chunks are this size but for the
/// last, so each table needs few distinct prepared statements.
const ROWS_PER_STATEMENT_MAX: usize = 200;
/// Values a document row binds besides its indexed columns: id,
/// merchant_id, livemode, created and body.
const STANDARD_VALUES_PER_ROW: usize = 5;

/// A bulk write set, planned.
pub(crate) struct BulkPlan {
    /// Multi-row document inserts.
    pub documents: Vec<Sql>,
    /// The events' webhook fan-outs, to run only when one of the
    /// `fan_out_checks` (one per scope with events) finds an endpoint.
    pub fan_outs: Vec<Sql>,
    pub fan_out_checks: Vec<Sql>,
    /// Operations that are not inserts, counters or ledger appends.
    pub rest: WriteSet,
    /// Risk writes, same-bucket counts summed, as multi-row upserts in
    /// key order (`sql::risk_bulk`).
    pub risk: Vec<Sql>,
    /// Ledger appends, in the order given.
    pub ledger: Vec<LedgerTransaction>,
}

type GroupKey = (Table, Vec<&'static str>);

impl BulkPlan {
    pub(crate) fn of(dialect: Dialect, writes: WriteSet) -> Self {
        // Each group's inserts (`WriteOp::Insert` only), in the order given.
        let mut groups: Vec<(GroupKey, Vec<WriteOp>)> = vec![];
        let mut fan_outs = webhooks::FanOuts::default();
        let mut fan_out_scopes: Vec<Scope> = vec![];
        let mut risk = vec![];
        let mut ledger = vec![];
        let mut rest = WriteSet::new();
        for op in writes.ops {
            if let Some((table, row)) = docs::NewDoc::of_insert(&op) {
                if fan_outs.add_insert(table, row.scope, row.id, row.created, row.columns)
                    && !fan_out_scopes.contains(row.scope)
                {
                    fan_out_scopes.push(row.scope.clone());
                }
                let key = (table, row.columns.iter().map(|(name, _)| *name).collect());
                match groups.iter_mut().find(|(known, _)| *known == key) {
                    Some((_, inserts)) => inserts.push(op),
                    None => groups.push((key, vec![op])),
                }
                continue;
            }
            match op {
                WriteOp::LedgerAppend { transaction } => ledger.push(transaction),
                WriteOp::Risk(write) => risk.push(write),
                op => {
                    rest.push(op);
                }
            }
        }
        let documents = multi_row_inserts(dialect, &groups);
        let fan_out_checks = fan_out_scopes
            .iter()
            .map(|scope| webhooks::enabled_endpoint_of(dialect, scope))
            .collect();
        Self {
            documents,
            fan_outs: fan_outs.take_statements(dialect),
            fan_out_checks,
            rest,
            risk: risk_statements(dialect, risk),
            ledger,
        }
    }
}

/// Most rows of one multi-row document insert whose rows set
/// `indexed_columns` columns besides the standard ones.
pub(crate) fn rows_per_insert(indexed_columns: usize) -> usize {
    (PARAMS_PER_STATEMENT_MAX / (STANDARD_VALUES_PER_ROW + indexed_columns))
        .clamp(1, ROWS_PER_STATEMENT_MAX)
}

fn multi_row_inserts(dialect: Dialect, groups: &[(GroupKey, Vec<WriteOp>)]) -> Vec<Sql> {
    let mut statements = vec![];
    for ((table, names), rows) in groups {
        let per_statement = rows_per_insert(names.len());
        let rows: Vec<docs::NewDoc<'_>> = rows
            .iter()
            .filter_map(|op| docs::NewDoc::of_insert(op).map(|(_, row)| row))
            .collect();
        for chunk in rows.chunks(per_statement) {
            statements.push(docs::insert_docs(dialect, *table, chunk));
        }
    }
    statements
}

/// A write set's risk writes as few statements: additions to one counter
/// summed ([`coalesce_risk`]), then each kind as multi-row upserts in key
/// order (`sql::risk_bulk`).
pub(crate) fn risk_statements(dialect: Dialect, writes: Vec<RiskWrite>) -> Vec<Sql> {
    crate::sql::risk_bulk::statements(dialect, &coalesce_risk(writes))
}

type CountKey = (Scope, RiskSubjectKind, String, RiskMetric, i64);
type SeenKey = (Scope, RiskSubjectKind, String, i64, String);

/// The same risk writes with additions to one counter bucket summed and
/// repeated card sightings of one bucket kept once: the counters end where
/// applying them one by one would leave them. A sum that would overflow
/// is left as a second write.
pub(crate) fn coalesce_risk(writes: Vec<RiskWrite>) -> Vec<RiskWrite> {
    let mut out: Vec<RiskWrite> = Vec::with_capacity(writes.len());
    let mut counted: HashMap<CountKey, usize> = HashMap::new();
    let mut seen: HashSet<SeenKey> = HashSet::new();
    for write in writes {
        match write {
            RiskWrite::Count {
                scope,
                kind,
                subject,
                metric,
                bucket_hour,
                count,
                amount_usd_cents,
            } => {
                let key = (scope, kind, subject, metric, bucket_hour);
                if let Some(RiskWrite::Count {
                    count: total,
                    amount_usd_cents: total_usd,
                    ..
                }) = counted.get(&key).map(|index| &mut out[*index])
                {
                    if let (Some(sum), Some(sum_usd)) = (
                        total.checked_add(count),
                        total_usd.checked_add(amount_usd_cents),
                    ) {
                        (*total, *total_usd) = (sum, sum_usd);
                        continue;
                    }
                }
                counted.insert(key.clone(), out.len());
                let (scope, kind, subject, metric, bucket_hour) = key;
                out.push(RiskWrite::Count {
                    scope,
                    kind,
                    subject,
                    metric,
                    bucket_hour,
                    count,
                    amount_usd_cents,
                });
            }
            RiskWrite::CardSeen {
                scope,
                kind,
                subject,
                bucket_hour,
                card,
            } => {
                let key = (scope, kind, subject, bucket_hour, card);
                if seen.insert(key.clone()) {
                    let (scope, kind, subject, bucket_hour, card) = key;
                    out.push(RiskWrite::CardSeen {
                        scope,
                        kind,
                        subject,
                        bucket_hour,
                        card,
                    });
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SqlValue;

    fn count(subject: &str, hour: i64, n: i64, usd: i64) -> RiskWrite {
        RiskWrite::Count {
            scope: Scope::of_test_merchant(),
            kind: RiskSubjectKind::Customer,
            subject: subject.to_owned(),
            metric: RiskMetric::Total,
            bucket_hour: hour,
            count: n,
            amount_usd_cents: usd,
        }
    }

    fn seen(card: &str) -> RiskWrite {
        RiskWrite::CardSeen {
            scope: Scope::of_test_merchant(),
            kind: RiskSubjectKind::Customer,
            subject: "cus_1".to_owned(),
            bucket_hour: 7,
            card: card.to_owned(),
        }
    }

    #[test]
    fn same_bucket_counts_are_summed_and_others_kept_apart() {
        let writes = vec![
            count("cus_1", 7, 1, 500),
            count("cus_2", 7, 1, 100),
            count("cus_1", 7, 2, 250),
            count("cus_1", 8, 1, 50),
        ];
        assert_eq!(
            coalesce_risk(writes),
            vec![
                count("cus_1", 7, 3, 750),
                count("cus_2", 7, 1, 100),
                count("cus_1", 8, 1, 50),
            ]
        );
    }

    #[test]
    fn an_overflowing_sum_stays_a_second_write() {
        let writes = vec![count("cus_1", 7, i64::MAX, 1), count("cus_1", 7, 1, 1)];
        assert_eq!(coalesce_risk(writes.clone()), writes);
    }

    #[test]
    fn a_card_seen_twice_in_a_bucket_is_recorded_once() {
        let writes = vec![seen("fp_a"), seen("fp_b"), seen("fp_a")];
        assert_eq!(coalesce_risk(writes), vec![seen("fp_a"), seen("fp_b")]);
    }

    fn insert(table: Table, n: usize) -> WriteOp {
        WriteOp::Insert {
            table,
            scope: Scope::of_test_merchant(),
            id: format!("evt_{n}"),
            created: 1_700_000_000,
            columns: vec![("event_type", SqlValue::Text("charge.succeeded".to_owned()))],
            body: "{}".to_owned(),
        }
    }

    #[test]
    fn inserts_are_chunked_into_multi_row_statements_in_order_with_their_fan_outs() {
        let writes = WriteSet {
            ops: (0..450).map(|n| insert(Table::Events, n)).collect(),
        };
        let plan = BulkPlan::of(Dialect::Sqlite, writes);
        let inserts: Vec<&Sql> = plan
            .documents
            .iter()
            .filter(|sql| sql.text.starts_with("INSERT INTO events"))
            .collect();
        let rows: Vec<usize> = inserts
            .iter()
            .map(|sql| sql.params.len() / (STANDARD_VALUES_PER_ROW + 1))
            .collect();
        assert_eq!(rows, vec![200, 200, 50]);
        assert_eq!(inserts[0].params[0], SqlValue::Text("evt_0".to_owned()));
        assert_eq!(inserts[2].params[0], SqlValue::Text("evt_400".to_owned()));
        assert_eq!(plan.documents.len(), 3);
        assert_eq!(plan.fan_outs.len(), 3, "one fan-out per 200 events");
        assert_eq!(plan.fan_out_checks.len(), 1, "one check per scope");
    }
}
