//! The move of the ISO 8583 connector's old journal file of pending
//! reversals into the database (`portcullis_api::acquirer_reversals`),
//! once at start, and the pruning of originals committed long ago.

use anyhow::Context;
use portcullis_api::acquirer_reversals::StoredReversals;
use portcullis_connectors::iso8583::reversals::{JournalReversals, ReversalStore};
use portcullis_store::Store;
use std::path::Path;

/// `sent` originals older than this are forgotten at start: approvals the
/// gateway committed (a pending attempt is recovered within minutes).
const SENT_KEPT_S: i64 = 7 * 24 * 3600;

/// Moves what the old journal file at `path` still holds into `reversals`
/// (as being reversed: its answers never came), then removes the file;
/// forgets `sent` originals committed long ago.
pub async fn migrate_and_prune(
    reversals: &StoredReversals,
    store: &Store,
    path: &Path,
) -> anyhow::Result<()> {
    let left = JournalReversals::pending_in(path)
        .with_context(|| format!("reading {}", path.display()))?;
    for original in &left {
        reversals.record(original.clone()).await?;
        reversals.mark_reversing(&original.attempt_id).await?;
    }
    if path.exists() {
        tracing::info!(count = left.len(), file = %path.display(), "pending reversals moved into the database");
        std::fs::remove_file(path).with_context(|| format!("removing {}", path.display()))?;
    }
    store
        .forget_sent_reversals(crate::admin::now_s() - SENT_KEPT_S)
        .await?;
    Ok(())
}
