//! SQL for the webhook outbox: fan-out of an event to its deliveries,
//! claims with leases, attempt records, the delivery log and redelivery.

use super::{fixed, Builder, Dialect, Sql};
use crate::model::{Scope, SqlValue, Table};
use crate::webhooks::{
    AttemptRecord, DeliveryClaim, DeliveryFilter, DeliveryKey, DeliveryState, Redelivery,
    CLAIM_EXCLUDED_MAX, CLAIM_LIMIT_MAX,
};

fn text(value: &str) -> SqlValue {
    SqlValue::Text(value.to_owned())
}

fn int(value: i64) -> SqlValue {
    SqlValue::Integer(value)
}

fn opt_int(value: Option<i64>) -> SqlValue {
    value.map_or(SqlValue::Null, SqlValue::Integer)
}

/// Most events in one fan-out statement (five values each).
const EVENTS_PER_FAN_OUT_MAX: usize = 200;

/// The webhook fan-outs of a write set's events, gathered as its inserts
/// are planned and run as one statement per scope (and per
/// `EVENTS_PER_FAN_OUT_MAX` events): each event gets one pending delivery
/// per enabled, undeleted endpoint of its scope that takes its type (or
/// `*`), due at the event's created time. The statements run inside the
/// transaction that inserts the events, so they see exactly the endpoints
/// that exist then.
#[derive(Debug, Default)]
pub(crate) struct FanOuts {
    /// Per scope, per event: its position, id, type, created (ms), `,type,`.
    scopes: Vec<(Scope, Vec<[SqlValue; 5]>)>,
}

impl FanOuts {
    /// Adds the event an insert into [`Table::Events`] is; answers whether
    /// this insert is one.
    pub(crate) fn add_insert(
        &mut self,
        table: Table,
        scope: &Scope,
        id: &str,
        created_s: i64,
        columns: &[(&'static str, SqlValue)],
    ) -> bool {
        if table != Table::Events {
            return false;
        }
        let event_type = columns.iter().find_map(|(name, value)| match value {
            SqlValue::Text(text) if *name == "event_type" => Some(text.as_str()),
            _ => None,
        });
        let event_type = event_type.expect("every event row names its event_type");
        let events = match self.scopes.iter().position(|(known, _)| known == scope) {
            Some(index) => &mut self.scopes[index].1,
            None => {
                self.scopes.push((scope.clone(), vec![]));
                &mut self.scopes.last_mut().expect("just pushed").1
            }
        };
        events.push([
            int(events.len() as i64),
            text(id),
            text(event_type),
            int(created_s * 1000),
            text(&format!(",{event_type},")),
        ]);
        true
    }

    /// The statements of the events added since the last call; none when
    /// there were none. An endpoint's deliveries take `seq` in the order
    /// its events were added.
    pub(crate) fn take_statements(&mut self, d: Dialect) -> Vec<Sql> {
        let mut statements = vec![];
        for (scope, mut events) in std::mem::take(&mut self.scopes) {
            while !events.is_empty() {
                let rest = events.split_off(events.len().min(EVENTS_PER_FAN_OUT_MAX));
                statements.push(fan_out(d, &scope, events));
                events = rest;
            }
        }
        statements
    }
}

/// One statement fanning out `events` (rows of [`FanOuts`]) of `scope`.
/// The scope's endpoints are the outer loop (SQLite keeps a `CROSS JOIN`'s
/// order, and reads them in `seq` order from their scope index), so a scope
/// with no enabled endpoint costs one index probe and never reads the
/// events; PostgreSQL, which may join in either order, is told the order.
fn fan_out(d: Dialect, scope: &Scope, events: Vec<[SqlValue; 5]>) -> Sql {
    // PostgreSQL cannot infer the types of placeholders in a VALUES list.
    let (casts, find, order) = match d {
        Dialect::Sqlite => (["", "", "", "", ""], "instr", ""),
        Dialect::Postgres => (
            ["::BIGINT", "::TEXT", "::TEXT", "::BIGINT", "::TEXT"],
            "strpos",
            " ORDER BY e.seq, f.column1",
        ),
    };
    let mut b = Builder::new(
        d,
        "INSERT INTO webhook_deliveries \
         (merchant_id, livemode, event_id, endpoint_id, event_type, created_ms, state, attempts, next_attempt_at_ms) \
         SELECT e.merchant_id, e.livemode, f.column2, e.id, f.column3, f.column4, 'pending', 0, f.column4 \
         FROM webhook_endpoints e CROSS JOIN (VALUES ",
    );
    for (n, event) in events.into_iter().enumerate() {
        b.push(if n > 0 { ", (" } else { "(" });
        for (i, (value, cast)) in event.into_iter().zip(casts).enumerate() {
            if i > 0 {
                b.push(", ");
            }
            b.bind(value).push(cast);
        }
        b.push(")");
    }
    b.push(") AS f WHERE e.merchant_id = ")
        .bind(text(scope.merchant_id.as_str()));
    b.push(" AND e.livemode = ")
        .bind(SqlValue::Bool(scope.livemode));
    b.push(" AND e.status = 'enabled' AND NOT e.deleted AND (e.enabled_events = ',*,' OR ")
        .push(find)
        .push("(e.enabled_events, f.column5) > 0)")
        .push(order);
    b.finish()
}

/// Whether `scope` has an endpoint an event could fan out to (enabled,
/// not deleted): a row when it has, none otherwise.
pub(crate) fn enabled_endpoint_of(d: Dialect, scope: &Scope) -> Sql {
    fixed(
        d,
        "SELECT 1 FROM webhook_endpoints WHERE merchant_id = ?1 AND livemode = ?2 \
         AND status = 'enabled' AND NOT deleted LIMIT 1",
        vec![
            text(scope.merchant_id.as_str()),
            SqlValue::Bool(scope.livemode),
        ],
    )
}

/// Columns a claim returns, in order.
pub(crate) const CLAIMED_COLUMNS: &str =
    "merchant_id, livemode, event_id, endpoint_id, attempts, created_ms";

/// Takes up to `limit` due, unclaimed (or lease-expired) deliveries for
/// `worker`, oldest due first. PostgreSQL skips rows another instance is
/// claiming at the same moment (`FOR UPDATE SKIP LOCKED`); the outer
/// `WHERE` re-checks the claimability of each row it updates.
pub(crate) fn claim(d: Dialect, claim: &DeliveryClaim) -> Sql {
    assert!((1..=CLAIM_LIMIT_MAX).contains(&claim.limit), "claim limit");
    assert!(claim.excluded_endpoints.len() <= CLAIM_EXCLUDED_MAX);
    let mut b = Builder::new(d, "UPDATE webhook_deliveries SET claimed_by = ");
    b.bind(text(&claim.worker));
    b.push(", lease_until_ms = ")
        .bind(int(claim.now_ms + claim.lease_ms));
    b.push(" WHERE seq IN (SELECT seq FROM webhook_deliveries WHERE ");
    push_claimable(&mut b, claim.now_ms);
    if !claim.excluded_endpoints.is_empty() {
        b.push(" AND endpoint_id NOT IN (");
        for (i, endpoint) in claim.excluded_endpoints.iter().enumerate() {
            if i > 0 {
                b.push(", ");
            }
            b.bind(text(endpoint));
        }
        b.push(")");
    }
    b.push(" ORDER BY next_attempt_at_ms, seq LIMIT ")
        .bind(int(claim.limit as i64));
    if d == Dialect::Postgres {
        b.push(" FOR UPDATE SKIP LOCKED");
    }
    b.push(") AND ");
    push_claimable(&mut b, claim.now_ms);
    b.push(" RETURNING ").push(CLAIMED_COLUMNS);
    b.finish()
}

fn push_claimable(b: &mut Builder, now_ms: i64) {
    b.push("state = 'pending' AND next_attempt_at_ms <= ")
        .bind(int(now_ms));
    b.push(" AND (lease_until_ms IS NULL OR lease_until_ms <= ")
        .bind(int(now_ms))
        .push(")");
}

/// Gives a claimed delivery back untouched.
pub(crate) fn release(d: Dialect, worker: &str, key: &DeliveryKey) -> Sql {
    fixed(
        d,
        "UPDATE webhook_deliveries SET claimed_by = NULL, lease_until_ms = NULL \
         WHERE event_id = ?1 AND endpoint_id = ?2 AND claimed_by = ?3",
        vec![text(&key.event_id), text(&key.endpoint_id), text(worker)],
    )
}

/// Records an attempt's outcome on the delivery, if `worker` still holds it.
pub(crate) fn finish_attempt(d: Dialect, r: &AttemptRecord) -> Sql {
    fixed(
        d,
        "UPDATE webhook_deliveries SET state = ?4, attempts = ?5, next_attempt_at_ms = ?6, \
         last_status_code = ?7, last_error = ?8, claimed_by = NULL, lease_until_ms = NULL \
         WHERE event_id = ?1 AND endpoint_id = ?2 AND claimed_by = ?3",
        vec![
            text(&r.key.event_id),
            text(&r.key.endpoint_id),
            text(&r.worker),
            text(r.state.as_str()),
            int(r.attempt),
            opt_int(r.next_attempt_at_ms),
            opt_int(r.status_code.map(i64::from)),
            r.error.as_deref().into(),
        ],
    )
}

pub(crate) fn log_attempt(d: Dialect, r: &AttemptRecord) -> Sql {
    fixed(
        d,
        "INSERT INTO webhook_attempts (event_id, endpoint_id, attempt, started_at_ms, latency_ms, \
         status_code, error, next_retry_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        vec![
            text(&r.key.event_id),
            text(&r.key.endpoint_id),
            int(r.attempt),
            int(r.started_at_ms),
            int(r.latency_ms),
            opt_int(r.status_code.map(i64::from)),
            r.error.as_deref().into(),
            opt_int(r.next_attempt_at_ms),
        ],
    )
}

/// Starts (on a failure) or ends (on a success) the endpoint's run of
/// failures, and reads when the current run began.
pub(crate) fn endpoint_health(d: Dialect, endpoint_id: &str, succeeded: bool, now_ms: i64) -> Sql {
    let text_sql = match d {
        Dialect::Sqlite => {
            "UPDATE webhook_endpoints SET failing_since_ms = \
             CASE WHEN ?2 THEN NULL ELSE COALESCE(failing_since_ms, ?3) END \
             WHERE id = ?1 RETURNING failing_since_ms"
        }
        Dialect::Postgres => {
            "UPDATE webhook_endpoints SET failing_since_ms = \
             CASE WHEN ?2::BOOLEAN THEN NULL ELSE COALESCE(failing_since_ms, ?3::BIGINT) END \
             WHERE id = ?1 RETURNING failing_since_ms"
        }
    };
    fixed(
        d,
        text_sql,
        vec![text(endpoint_id), SqlValue::Bool(succeeded), int(now_ms)],
    )
}

/// Ends a claimed delivery as failed without an attempt (its endpoint is
/// disabled or deleted).
pub(crate) fn abandon(d: Dialect, worker: &str, key: &DeliveryKey, reason: &str) -> Sql {
    fixed(
        d,
        "UPDATE webhook_deliveries SET state = 'failed', next_attempt_at_ms = NULL, \
         last_error = ?4, claimed_by = NULL, lease_until_ms = NULL \
         WHERE event_id = ?1 AND endpoint_id = ?2 AND claimed_by = ?3",
        vec![
            text(&key.event_id),
            text(&key.endpoint_id),
            text(worker),
            text(reason),
        ],
    )
}

pub(crate) const DELIVERY_COLUMNS: &str = "event_id, endpoint_id, event_type, created_ms, state, \
     attempts, next_attempt_at_ms, last_status_code, last_error, seq";

/// A page of deliveries, newest first, fetching `limit + 1` rows.
pub(crate) fn list(d: Dialect, scope: &Scope, filter: &DeliveryFilter, limit: usize) -> Sql {
    let mut b = Builder::new(
        d,
        &format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE merchant_id = "),
    );
    b.bind(text(scope.merchant_id.as_str()));
    b.push(" AND livemode = ")
        .bind(SqlValue::Bool(scope.livemode));
    match filter {
        DeliveryFilter::Event(event_id) => {
            b.push(" AND event_id = ").bind(text(event_id));
        }
        DeliveryFilter::Endpoint {
            endpoint_id,
            starting_after,
        } => {
            b.push(" AND endpoint_id = ").bind(text(endpoint_id));
            if let Some(after) = starting_after {
                b.push(" AND seq < (SELECT seq FROM webhook_deliveries WHERE endpoint_id = ");
                b.bind(text(endpoint_id));
                b.push(" AND event_id = ").bind(text(after)).push(")");
            }
        }
    }
    b.push(" ORDER BY seq DESC LIMIT ")
        .bind(int(limit as i64 + 1));
    b.finish()
}

pub(crate) fn attempts(d: Dialect, key: &DeliveryKey, limit: usize) -> Sql {
    fixed(
        d,
        "SELECT attempt, started_at_ms, latency_ms, status_code, error, next_retry_at_ms \
         FROM webhook_attempts WHERE event_id = ?1 AND endpoint_id = ?2 \
         ORDER BY attempt DESC LIMIT ?3",
        vec![
            text(&key.event_id),
            text(&key.endpoint_id),
            int(limit as i64),
        ],
    )
}

/// How many deliveries are pending across every scope, and when the oldest
/// was created (for the operator's metrics, not for a merchant).
pub(crate) fn backlog(d: Dialect) -> Sql {
    fixed(
        d,
        "SELECT COUNT(*), MIN(created_ms) FROM webhook_deliveries WHERE state = 'pending'",
        vec![],
    )
}

/// Makes deliveries of an event due now again, except one an attempt is
/// holding right now: every delivery of the event in the scope, or the one
/// to `one`'s endpoint (created if missing).
pub(crate) fn redeliver(
    d: Dialect,
    scope: &Scope,
    event_id: &str,
    one: Option<&Redelivery>,
    now_ms: i64,
) -> Sql {
    let Some(one) = one else {
        return fixed(
            d,
            "UPDATE webhook_deliveries SET state = 'pending', next_attempt_at_ms = ?4 \
             WHERE merchant_id = ?1 AND livemode = ?2 AND event_id = ?3 \
             AND (lease_until_ms IS NULL OR lease_until_ms <= ?4)",
            vec![
                text(scope.merchant_id.as_str()),
                SqlValue::Bool(scope.livemode),
                text(event_id),
                int(now_ms),
            ],
        );
    };
    fixed(
        d,
        "INSERT INTO webhook_deliveries \
         (merchant_id, livemode, event_id, endpoint_id, event_type, created_ms, state, attempts, next_attempt_at_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', 0, ?7) \
         ON CONFLICT (event_id, endpoint_id) DO UPDATE SET state = 'pending', next_attempt_at_ms = ?7 \
         WHERE webhook_deliveries.lease_until_ms IS NULL OR webhook_deliveries.lease_until_ms <= ?7",
        vec![
            text(scope.merchant_id.as_str()),
            SqlValue::Bool(scope.livemode),
            text(event_id),
            text(&one.endpoint_id),
            text(&one.event_type),
            int(one.created_ms),
            int(now_ms),
        ],
    )
}

pub(crate) fn state_of(text_value: &str) -> Option<DeliveryState> {
    DeliveryState::parse(text_value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_domain::ids::MerchantId;

    fn scope(merchant: &str) -> Scope {
        Scope {
            merchant_id: MerchantId::parse(merchant).unwrap(),
            livemode: false,
        }
    }

    fn add(fan_outs: &mut FanOuts, scope: &Scope, table: Table, n: usize) -> bool {
        let columns = [("event_type", SqlValue::Text("charge.succeeded".to_owned()))];
        fan_outs.add_insert(table, scope, &format!("evt_{n}"), 1, &columns)
    }

    #[test]
    fn events_fan_out_in_one_statement_per_scope_and_chunk() {
        let (acme, globex) = (scope("acct_acme"), scope("acct_globex"));
        let mut fan_outs = FanOuts::default();
        assert!(!add(&mut fan_outs, &acme, Table::PaymentIntents, 0));
        for n in 0..=EVENTS_PER_FAN_OUT_MAX {
            assert!(add(&mut fan_outs, &acme, Table::Events, n));
        }
        assert!(add(&mut fan_outs, &globex, Table::Events, 0));
        let statements = fan_outs.take_statements(Dialect::Sqlite);
        let events: Vec<usize> = statements
            .iter()
            .map(|sql| (sql.params.len() - 2) / 5)
            .collect();
        assert_eq!(events, vec![EVENTS_PER_FAN_OUT_MAX, 1, 1]);
        assert_eq!(
            statements[2].params[5],
            SqlValue::Text("acct_globex".to_owned())
        );
        assert!(fan_outs.take_statements(Dialect::Sqlite).is_empty());
    }
}
