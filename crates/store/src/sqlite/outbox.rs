//! The webhook outbox on SQLite. The one process claims through the
//! writer thread with a plain `UPDATE … RETURNING`: writes are serialised,
//! so no two claims can overlap.

use super::{execute, query_all, query_opt, SqliteStore, D};
use crate::sql::webhooks as sql;
use crate::webhooks::{
    AttemptLog, AttemptRecord, ClaimedDelivery, DeliveryClaim, DeliveryFilter, DeliveryKey,
    DeliveryPage, DeliveryRecord, DeliveryState, Redelivery, DELIVERY_PAGE_MAX,
};
use crate::{Scope, StoreError};
use portcullis_domain::ids::MerchantId;
use rusqlite::Row;

impl SqliteStore {
    pub async fn claim_deliveries(
        &self,
        claim: &DeliveryClaim,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let sql = sql::claim(D, claim);
        self.writer
            .write(move |c| query_all(c, &sql, claimed_from_row)?.into_iter().collect())
            .await
    }

    pub async fn release_deliveries(
        &self,
        worker: &str,
        keys: &[DeliveryKey],
    ) -> Result<(), StoreError> {
        let sqls: Vec<_> = keys
            .iter()
            .map(|key| sql::release(D, worker, key))
            .collect();
        self.writer
            .write(move |c| sqls.iter().try_for_each(|s| execute(c, s).map(drop)))
            .await
    }

    pub async fn record_attempt(
        &self,
        record: &AttemptRecord,
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let finish = sql::finish_attempt(D, record);
        let log = sql::log_attempt(D, record);
        let succeeded = record.state == DeliveryState::Delivered;
        let health = sql::endpoint_health(D, &record.key.endpoint_id, succeeded, now_ms);
        self.writer
            .write(move |c| {
                if execute(c, &finish)? == 0 {
                    return Err(StoreError::ClaimLost);
                }
                execute(c, &log)?;
                let since = query_opt(c, &health, |row| row.get::<_, Option<i64>>(0))?;
                Ok(since.flatten())
            })
            .await
    }

    pub async fn abandon_delivery(
        &self,
        worker: &str,
        key: &DeliveryKey,
        reason: &str,
    ) -> Result<(), StoreError> {
        let sql = sql::abandon(D, worker, key, reason);
        self.writer
            .write(move |c| match execute(c, &sql)? {
                0 => Err(StoreError::ClaimLost),
                _ => Ok(()),
            })
            .await
    }

    pub async fn list_deliveries(
        &self,
        scope: &Scope,
        filter: &DeliveryFilter,
        limit: usize,
    ) -> Result<DeliveryPage, StoreError> {
        let limit = limit.clamp(1, DELIVERY_PAGE_MAX);
        let sql = sql::list(D, scope, filter, limit);
        self.read(move |c| {
            let rows: Result<Vec<_>, _> =
                query_all(c, &sql, delivery_from_row)?.into_iter().collect();
            Ok(crate::webhooks::page(rows?, limit))
        })
        .await
    }

    pub async fn webhook_backlog(&self) -> Result<crate::webhooks::Backlog, StoreError> {
        let sql = sql::backlog(D);
        self.read(move |c| {
            let found = query_opt(c, &sql, |row| {
                Ok(crate::webhooks::Backlog {
                    pending: row.get(0)?,
                    oldest_created_ms: row.get(1)?,
                })
            })?;
            Ok(found.unwrap_or(crate::webhooks::Backlog {
                pending: 0,
                oldest_created_ms: None,
            }))
        })
        .await
    }

    pub async fn delivery_attempts(
        &self,
        key: &DeliveryKey,
        limit: usize,
    ) -> Result<Vec<AttemptLog>, StoreError> {
        let sql = sql::attempts(D, key, limit.clamp(1, DELIVERY_PAGE_MAX));
        self.read(move |c| query_all(c, &sql, attempt_from_row))
            .await
    }

    pub async fn redeliver(
        &self,
        scope: &Scope,
        event_id: &str,
        one: Option<&Redelivery>,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        let sql = sql::redeliver(D, scope, event_id, one, now_ms);
        self.writer
            .write(move |c| execute(c, &sql).map(|n| n as u64))
            .await
    }
}

fn claimed_from_row(row: &Row<'_>) -> rusqlite::Result<Result<ClaimedDelivery, StoreError>> {
    let merchant_id: String = row.get(0)?;
    let Some(merchant_id) = MerchantId::parse(&merchant_id) else {
        return Ok(Err(StoreError::Corrupt(format!(
            "merchant id {merchant_id:?}"
        ))));
    };
    Ok(Ok(ClaimedDelivery {
        scope: Scope {
            merchant_id,
            livemode: row.get(1)?,
        },
        key: DeliveryKey {
            event_id: row.get(2)?,
            endpoint_id: row.get(3)?,
        },
        attempts: row.get(4)?,
        created_ms: row.get(5)?,
    }))
}

fn delivery_from_row(row: &Row<'_>) -> rusqlite::Result<Result<DeliveryRecord, StoreError>> {
    let state: String = row.get(4)?;
    let Some(state) = sql::state_of(&state) else {
        return Ok(Err(StoreError::Corrupt(format!(
            "delivery state {state:?}"
        ))));
    };
    Ok(Ok(DeliveryRecord {
        key: DeliveryKey {
            event_id: row.get(0)?,
            endpoint_id: row.get(1)?,
        },
        event_type: row.get(2)?,
        created_ms: row.get(3)?,
        state,
        attempts: row.get(5)?,
        next_attempt_at_ms: row.get(6)?,
        last_status_code: row.get(7)?,
        last_error: row.get(8)?,
    }))
}

fn attempt_from_row(row: &Row<'_>) -> rusqlite::Result<AttemptLog> {
    Ok(AttemptLog {
        attempt: row.get(0)?,
        started_at_ms: row.get(1)?,
        latency_ms: row.get(2)?,
        status_code: row.get(3)?,
        error: row.get(4)?,
        next_retry_at_ms: row.get(5)?,
    })
}
