//! SQL for the risk counters: upserts that add to hourly buckets, the
//! distinct cards per subject, each card's last location, and the reads
//! of one subject's windows. Every read names the full key prefix of its
//! table's primary key, so it is an index range, never a scan.

use super::{fixed, Builder, Sql};
use crate::model::{RiskCounterQuery, RiskWrite, Scope, SqlValue};
use crate::sql::Dialect;

fn text(value: &str) -> SqlValue {
    SqlValue::Text(value.to_owned())
}

fn scope_values(scope: &Scope) -> [SqlValue; 2] {
    [
        SqlValue::Text(scope.merchant_id.to_string()),
        SqlValue::Bool(scope.livemode),
    ]
}

/// The two risk writes that are upserts of one row each, which a bulk
/// write set (`risk_bulk`) batches into multi-row statements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Upsert {
    /// A counter addition (`risk_counters`).
    Count,
    /// A card seen for a subject (`risk_card_members`).
    CardSeen,
}

impl Upsert {
    fn head(self) -> &'static str {
        match self {
            Upsert::Count => "INSERT INTO risk_counters (merchant_id, livemode, subject_kind, subject, metric, bucket_hour, count, amount_usd_cents) VALUES ",
            Upsert::CardSeen => "INSERT INTO risk_card_members (merchant_id, livemode, subject_kind, subject, bucket_hour, card) VALUES ",
        }
    }

    fn tail(self) -> &'static str {
        match self {
            Upsert::Count => {
                " ON CONFLICT (merchant_id, livemode, subject_kind, subject, metric, bucket_hour) DO UPDATE \
                 SET count = risk_counters.count + excluded.count, \
                 amount_usd_cents = risk_counters.amount_usd_cents + excluded.amount_usd_cents"
            }
            Upsert::CardSeen => " ON CONFLICT DO NOTHING",
        }
    }
}

/// The upsert `op` is and its row's values; `None` for the writes that are
/// not one-row upserts.
pub(crate) fn upsert_row(op: &RiskWrite) -> Option<(Upsert, Vec<SqlValue>)> {
    let (upsert, scope, mut rest) = match op {
        RiskWrite::Count {
            scope,
            kind,
            subject,
            metric,
            bucket_hour,
            count,
            amount_usd_cents,
        } => (
            Upsert::Count,
            scope,
            vec![
                text(kind.as_str()),
                text(subject),
                text(metric.as_str()),
                SqlValue::Integer(*bucket_hour),
                SqlValue::Integer(*count),
                SqlValue::Integer(*amount_usd_cents),
            ],
        ),
        RiskWrite::CardSeen {
            scope,
            kind,
            subject,
            bucket_hour,
            card,
        } => (
            Upsert::CardSeen,
            scope,
            vec![
                text(kind.as_str()),
                text(subject),
                SqlValue::Integer(*bucket_hour),
                text(card),
            ],
        ),
        RiskWrite::RoutingOutcome { .. } | RiskWrite::Sighting { .. } => return None,
    };
    let mut row = scope_values(scope).to_vec();
    row.append(&mut rest);
    Some((upsert, row))
}

/// One `upsert` statement of `rows` (each a row of [`upsert_row`]'s).
pub(crate) fn upsert(dialect: Dialect, upsert: Upsert, rows: &[Vec<SqlValue>]) -> Sql {
    let mut b = Builder::new(dialect, upsert.head());
    for (i, row) in rows.iter().enumerate() {
        b.push(if i > 0 { ", (" } else { "(" });
        for (j, value) in row.iter().enumerate() {
            if j > 0 {
                b.push(", ");
            }
            b.bind(value.clone());
        }
        b.push(")");
    }
    b.push(upsert.tail());
    b.finish()
}

pub(crate) fn write(dialect: Dialect, op: &RiskWrite) -> Sql {
    if let Some((kind, row)) = upsert_row(op) {
        return upsert(dialect, kind, &[row]);
    }
    match op {
        RiskWrite::Count { .. } | RiskWrite::CardSeen { .. } => {
            unreachable!("counter additions and card sightings are upserts")
        }
        RiskWrite::RoutingOutcome {
            scope,
            segment,
            connector_account,
            slot,
            bucket_start,
            authorized,
        } => {
            let (yes, no) = if *authorized { (1, 0) } else { (0, 1) };
            let key = RoutingKey {
                scope,
                segment: segment.as_str(),
                connector_account: connector_account.as_str(),
                slot: *slot,
                bucket_start: *bucket_start,
            };
            add_routing_outcomes(dialect, &key, yes, no)
        }
        RiskWrite::Sighting {
            scope,
            card,
            latitude_micro,
            longitude_micro,
            seen_at,
        } => {
            let [merchant, livemode] = scope_values(scope);
            fixed(
                dialect,
                "INSERT INTO risk_card_sightings (merchant_id, livemode, card, latitude_micro, longitude_micro, seen_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (merchant_id, livemode, card) DO UPDATE \
                 SET latitude_micro = excluded.latitude_micro, longitude_micro = excluded.longitude_micro, seen_at = excluded.seen_at \
                 WHERE risk_card_sightings.seen_at <= excluded.seen_at",
                vec![
                    merchant,
                    livemode,
                    text(card),
                    SqlValue::Integer(*latitude_micro),
                    SqlValue::Integer(*longitude_micro),
                    SqlValue::Integer(*seen_at),
                ],
            )
        }
    }
}

/// Which success-rate bucket a routing outcome counts in.
pub(crate) struct RoutingKey<'a> {
    pub scope: &'a Scope,
    pub segment: &'a str,
    pub connector_account: &'a str,
    pub slot: i64,
    pub bucket_start: i64,
}

/// Adds `authorized` and `declined` outcomes to one success-rate bucket
/// (resetting an older bucket in the slot first).
pub(crate) fn add_routing_outcomes(
    dialect: Dialect,
    key: &RoutingKey<'_>,
    authorized: i64,
    declined: i64,
) -> Sql {
    let [merchant, livemode] = scope_values(key.scope);
    fixed(
        dialect,
        "INSERT INTO routing_outcomes (merchant_id, livemode, segment, connector_account, slot, bucket_start, authorized, declined) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
         ON CONFLICT (merchant_id, livemode, segment, connector_account, slot) DO UPDATE SET \
         authorized = CASE WHEN routing_outcomes.bucket_start = excluded.bucket_start THEN routing_outcomes.authorized + excluded.authorized ELSE excluded.authorized END, \
         declined = CASE WHEN routing_outcomes.bucket_start = excluded.bucket_start THEN routing_outcomes.declined + excluded.declined ELSE excluded.declined END, \
         bucket_start = excluded.bucket_start \
         WHERE routing_outcomes.bucket_start <= excluded.bucket_start",
        vec![
            merchant,
            livemode,
            text(key.segment),
            text(key.connector_account),
            SqlValue::Integer(key.slot),
            SqlValue::Integer(key.bucket_start),
            SqlValue::Integer(authorized),
            SqlValue::Integer(declined),
        ],
    )
}

/// Rows `(metric, hourly, daily, lifetime count, lifetime amount)`.
pub(crate) fn counters(dialect: Dialect, q: &RiskCounterQuery) -> Sql {
    let [merchant, livemode] = scope_values(&q.scope);
    fixed(
        dialect,
        "SELECT metric, \
         CAST(COALESCE(SUM(CASE WHEN bucket_hour >= ?5 THEN count ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN bucket_hour >= ?6 THEN count ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN bucket_hour = 0 THEN count ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN bucket_hour = 0 THEN amount_usd_cents ELSE 0 END), 0) AS BIGINT) \
         FROM risk_counters WHERE merchant_id = ?1 AND livemode = ?2 AND subject_kind = ?3 AND subject = ?4 \
         AND (bucket_hour >= ?6 OR bucket_hour = 0) GROUP BY metric",
        vec![
            merchant,
            livemode,
            text(q.kind.as_str()),
            text(&q.subject),
            SqlValue::Integer(q.hour_from),
            SqlValue::Integer(q.day_from),
        ],
    )
}

/// One row: distinct cards hourly, daily, and whether `card` is among
/// them hourly and daily (0 or 1).
pub(crate) fn cards(dialect: Dialect, q: &RiskCounterQuery) -> Sql {
    let [merchant, livemode] = scope_values(&q.scope);
    fixed(
        dialect,
        "SELECT CAST(COUNT(DISTINCT CASE WHEN bucket_hour >= ?5 THEN card END) AS BIGINT), \
         CAST(COUNT(DISTINCT card) AS BIGINT), \
         CAST(COALESCE(MAX(CASE WHEN bucket_hour >= ?5 AND card = ?7 THEN 1 ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(MAX(CASE WHEN card = ?7 THEN 1 ELSE 0 END), 0) AS BIGINT) \
         FROM risk_card_members WHERE merchant_id = ?1 AND livemode = ?2 AND subject_kind = ?3 AND subject = ?4 \
         AND bucket_hour >= ?6",
        vec![
            merchant,
            livemode,
            text(q.kind.as_str()),
            text(&q.subject),
            SqlValue::Integer(q.hour_from),
            SqlValue::Integer(q.day_from),
            text(q.card.as_deref().unwrap_or("")),
        ],
    )
}

/// Rows `(segment, account, authorized, declined)` of the windows asked
/// for: the key prefix (merchant, mode, segment) is an index range.
pub(crate) fn routing_outcomes(dialect: Dialect, q: &crate::model::RoutingOutcomeQuery) -> Sql {
    let [merchant, livemode] = scope_values(&q.scope);
    let mut sql = super::Builder::new(
        dialect,
        "SELECT segment, connector_account, \
         CAST(COALESCE(SUM(authorized), 0) AS BIGINT), CAST(COALESCE(SUM(declined), 0) AS BIGINT) \
         FROM routing_outcomes WHERE merchant_id = ",
    );
    sql.bind(merchant).push(" AND livemode = ").bind(livemode);
    sql.push(" AND bucket_start >= ")
        .bind(SqlValue::Integer(q.from));
    sql.push(" AND segment IN (");
    if q.segments.is_empty() {
        sql.push("NULL");
    }
    for (n, segment) in q.segments.iter().enumerate() {
        if n > 0 {
            sql.push(", ");
        }
        sql.bind(text(segment));
    }
    sql.push(") GROUP BY segment, connector_account");
    sql.finish()
}

pub(crate) fn sighting(dialect: Dialect, scope: &Scope, card: &str) -> Sql {
    let [merchant, livemode] = scope_values(scope);
    fixed(
        dialect,
        "SELECT latitude_micro, longitude_micro, seen_at FROM risk_card_sightings \
         WHERE merchant_id = ?1 AND livemode = ?2 AND card = ?3",
        vec![merchant, livemode, text(card)],
    )
}

/// One row of [`counters`]: metric, hourly, daily, lifetime count and amount.
pub(crate) type CounterRow = (String, i64, i64, i64, i64);

/// The counters from the rows of [`counters`] and the row of [`cards`].
pub(crate) fn fold(rows: Vec<CounterRow>, cards: [i64; 4]) -> crate::model::RiskCounters {
    use crate::model::{RiskCounters, RiskWindowCounts};
    let mut out = RiskCounters {
        cards: RiskWindowCounts {
            hourly: cards[0],
            daily: cards[1],
        },
        card_seen_hourly: cards[2] > 0,
        card_seen_daily: cards[3] > 0,
        ..RiskCounters::default()
    };
    for (metric, hourly, daily, lifetime_count, lifetime_cents) in rows {
        let window = RiskWindowCounts { hourly, daily };
        match metric.as_str() {
            "total" => out.total = window,
            "declined" => out.declined = window,
            "authorized" => {
                out.authorized = window;
                out.history_count = lifetime_count;
                out.history_usd_cents = lifetime_cents;
            }
            _ => {}
        }
    }
    out
}
