//! The webhook outbox on PostgreSQL, shared by several instances: claims
//! lock candidate rows with `FOR UPDATE SKIP LOCKED` and stamp them with
//! the claimant and a lease, so each attempt is made by one instance, and
//! a crashed instance's claims fall to the others when the lease ends.

use super::convert::map_err;
use super::{execute, query, PgStore, D};
use crate::sql::webhooks as sql;
use crate::webhooks::{
    AttemptLog, AttemptRecord, ClaimedDelivery, DeliveryClaim, DeliveryFilter, DeliveryKey,
    DeliveryPage, DeliveryRecord, DeliveryState, Redelivery, DELIVERY_PAGE_MAX,
};
use crate::{Scope, StoreError};
use portcullis_domain::ids::MerchantId;
use tokio_postgres::Row;

impl PgStore {
    pub async fn claim_deliveries(
        &self,
        claim: &DeliveryClaim,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let rows = query(&self.client().await?, &sql::claim(D, claim)).await?;
        rows.iter().map(claimed_of).collect()
    }

    pub async fn release_deliveries(
        &self,
        worker: &str,
        keys: &[DeliveryKey],
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        for key in keys {
            execute(&client, &sql::release(D, worker, key)).await?;
        }
        Ok(())
    }

    pub async fn record_attempt(
        &self,
        record: &AttemptRecord,
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        if execute(&tx, &sql::finish_attempt(D, record)).await? == 0 {
            return Err(StoreError::ClaimLost);
        }
        execute(&tx, &sql::log_attempt(D, record)).await?;
        let succeeded = record.state == DeliveryState::Delivered;
        let health = sql::endpoint_health(D, &record.key.endpoint_id, succeeded, now_ms);
        let rows = query(&tx, &health).await?;
        let since = rows.first().and_then(|row| row.get::<_, Option<i64>>(0));
        tx.commit().await.map_err(map_err)?;
        Ok(since)
    }

    pub async fn abandon_delivery(
        &self,
        worker: &str,
        key: &DeliveryKey,
        reason: &str,
    ) -> Result<(), StoreError> {
        let sql = sql::abandon(D, worker, key, reason);
        match execute(&self.client().await?, &sql).await? {
            0 => Err(StoreError::ClaimLost),
            _ => Ok(()),
        }
    }

    pub async fn list_deliveries(
        &self,
        scope: &Scope,
        filter: &DeliveryFilter,
        limit: usize,
    ) -> Result<DeliveryPage, StoreError> {
        let limit = limit.clamp(1, DELIVERY_PAGE_MAX);
        let rows = query(&self.client().await?, &sql::list(D, scope, filter, limit)).await?;
        let deliveries: Result<Vec<_>, _> = rows.iter().map(delivery_of).collect();
        Ok(crate::webhooks::page(deliveries?, limit))
    }

    pub async fn webhook_backlog(&self) -> Result<crate::webhooks::Backlog, StoreError> {
        let rows = query(&self.client().await?, &sql::backlog(D)).await?;
        Ok(crate::webhooks::Backlog {
            pending: rows.first().map_or(0, |row| row.get(0)),
            oldest_created_ms: rows.first().and_then(|row| row.get(1)),
        })
    }

    pub async fn delivery_attempts(
        &self,
        key: &DeliveryKey,
        limit: usize,
    ) -> Result<Vec<AttemptLog>, StoreError> {
        let sql = sql::attempts(D, key, limit.clamp(1, DELIVERY_PAGE_MAX));
        let rows = query(&self.client().await?, &sql).await?;
        Ok(rows.iter().map(attempt_of).collect())
    }

    pub async fn redeliver(
        &self,
        scope: &Scope,
        event_id: &str,
        one: Option<&Redelivery>,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        let sql = sql::redeliver(D, scope, event_id, one, now_ms);
        execute(&self.client().await?, &sql).await
    }
}

fn claimed_of(row: &Row) -> Result<ClaimedDelivery, StoreError> {
    let merchant_id: String = row.get(0);
    let merchant_id = MerchantId::parse(&merchant_id)
        .ok_or_else(|| StoreError::Corrupt(format!("merchant id {merchant_id:?}")))?;
    Ok(ClaimedDelivery {
        scope: Scope {
            merchant_id,
            livemode: row.get(1),
        },
        key: DeliveryKey {
            event_id: row.get(2),
            endpoint_id: row.get(3),
        },
        attempts: row.get(4),
        created_ms: row.get(5),
    })
}

fn delivery_of(row: &Row) -> Result<DeliveryRecord, StoreError> {
    let state: String = row.get(4);
    let state = sql::state_of(&state)
        .ok_or_else(|| StoreError::Corrupt(format!("delivery state {state:?}")))?;
    Ok(DeliveryRecord {
        key: DeliveryKey {
            event_id: row.get(0),
            endpoint_id: row.get(1),
        },
        event_type: row.get(2),
        created_ms: row.get(3),
        state,
        attempts: row.get(5),
        next_attempt_at_ms: row.get(6),
        last_status_code: row.get(7),
        last_error: row.get(8),
    })
}

fn attempt_of(row: &Row) -> AttemptLog {
    AttemptLog {
        attempt: row.get(0),
        started_at_ms: row.get(1),
        latency_ms: row.get(2),
        status_code: row.get(3),
        error: row.get(4),
        next_retry_at_ms: row.get(5),
    }
}
