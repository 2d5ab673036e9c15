//! The ISO 8583 connector's pending reversals in the gateway's database
//! (`iso8583_reversals`, migration 0009), so that any instance on the
//! database resumes them: the connector records an original before
//! sending it, and the recovery worker of whichever instance finds the
//! attempt stale reverses it. The journal file of earlier versions is moved
//! in once at start.

use anyhow::Context;
use portcullis_connectors::iso8583::reversals::{
    JournalReversals, PendingReversal, ReversalStore, ReversalStoreError,
};
use portcullis_store::{PendingReversalRow, ReversalState, Store};
use std::path::Path;

/// `sent` originals older than this are forgotten at start: approvals the
/// gateway committed (a pending attempt is recovered within minutes).
const SENT_KEPT_S: i64 = 7 * 24 * 3600;

pub struct StoredReversals {
    store: Store,
    connector: String,
}

fn failed(error: portcullis_store::StoreError) -> ReversalStoreError {
    ReversalStoreError(error.to_string())
}

fn now_s() -> i64 {
    crate::admin::now_s()
}

impl StoredReversals {
    pub fn new(store: Store, connector: &str) -> StoredReversals {
        StoredReversals {
            store,
            connector: connector.to_owned(),
        }
    }

    /// Moves what the old journal file at `path` still holds into the
    /// database (as being reversed: its answers never came), then removes
    /// the file; forgets `sent` originals committed long ago.
    pub async fn migrate_and_prune(&self, path: &Path) -> anyhow::Result<()> {
        let left = JournalReversals::pending_in(path)
            .with_context(|| format!("reading {}", path.display()))?;
        for original in &left {
            self.record(original.clone()).await?;
            self.mark_reversing(&original.attempt_id).await?;
        }
        if path.exists() {
            tracing::info!(count = left.len(), file = %path.display(), "pending reversals moved into the database");
            std::fs::remove_file(path).with_context(|| format!("removing {}", path.display()))?;
        }
        self.store
            .forget_sent_reversals(now_s() - SENT_KEPT_S)
            .await?;
        Ok(())
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
