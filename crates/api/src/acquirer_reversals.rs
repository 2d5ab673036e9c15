//! The ISO 8583 connector's pending reversals in the gateway's database
//! (`iso8583_reversals`, migration 0009), so that any instance on the
//! database resumes them: the connector records an original before
//! sending it, and the recovery worker of whichever instance finds the
//! attempt stale reverses it. Rows are kept per connector: a settings-file
//! acquirer's name, or an `iso8583` connector account's id (`ca_…`).

use portcullis_connectors::iso8583::reversals::{
    PendingReversal, ReversalStore, ReversalStoreError,
};
use portcullis_store::{PendingReversalRow, ReversalState, Store};

pub struct StoredReversals {
    store: Store,
    connector: String,
}

fn failed(error: portcullis_store::StoreError) -> ReversalStoreError {
    ReversalStoreError(error.to_string())
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl StoredReversals {
    /// The reversals of `connector` (a settings-file name or a `ca_…`).
    pub fn new(store: Store, connector: &str) -> StoredReversals {
        StoredReversals {
            store,
            connector: connector.to_owned(),
        }
    }
}

#[async_trait::async_trait]
impl ReversalStore for StoredReversals {
    async fn record(&self, pending: PendingReversal) -> Result<(), ReversalStoreError> {
        let row = PendingReversalRow {
            attempt_id: pending.attempt_id,
            connector: self.connector.clone(),
            reference: pending.reference,
            state: ReversalState::Sent,
            created: now_s(),
        };
        self.store.record_reversal(&row).await.map_err(failed)
    }

    async fn find(&self, attempt_id: &str) -> Result<Option<PendingReversal>, ReversalStoreError> {
        let row = self.store.find_reversal(attempt_id).await.map_err(failed)?;
        Ok(row.map(|row| PendingReversal {
            attempt_id: row.attempt_id,
            reference: row.reference,
        }))
    }

    async fn mark_reversing(&self, attempt_id: &str) -> Result<(), ReversalStoreError> {
        self.store
            .set_reversal_state(attempt_id, ReversalState::Reversing)
            .await
            .map_err(failed)
    }

    async fn settle(&self, attempt_id: &str) -> Result<(), ReversalStoreError> {
        self.store.settle_reversal(attempt_id).await.map_err(failed)
    }

    async fn reversing(&self, limit: usize) -> Result<Vec<PendingReversal>, ReversalStoreError> {
        let rows = self
            .store
            .reversals_in_state(&self.connector, ReversalState::Reversing, limit)
            .await
            .map_err(failed)?;
        Ok(rows
            .into_iter()
            .map(|row| PendingReversal {
                attempt_id: row.attempt_id,
                reference: row.reference,
            })
            .collect())
    }
}
