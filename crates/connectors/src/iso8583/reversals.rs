//! Automatic reversals. An authorization or purchase whose answer never
//! came (timeout, closed connection, garbage) is reversed with 0400 (DE 90
//! naming the original), retried until a 0410 arrives. ISO 8583 has no
//! status query, so crash recovery of an authorization whose outcome the
//! gateway never committed ([`crate::Connector::recover_authorization`])
//! is a reversal too, and the attempt ends as failed.
//!
//! Pending reversals are kept by a [`ReversalStore`]: in the gateway's
//! database (the binary implements it over the store, so any instance
//! resumes them), or [`MemoryReversals`] (tests). An original is recorded
//! before it is sent and stays recorded until it is declined or reversed;
//! an approved one stays too, so that recovery can still reverse it if the
//! gateway dies before committing the approval. [`JournalReversals`] reads
//! the journal file earlier versions kept, once, to move it into the store.

use crate::sandbox::journal::{Journal, JournalError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

/// What a reversal needs of the original message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingReversal {
    /// Our attempt id (`pa_…`).
    pub attempt_id: String,
    /// The original's reference (see `Reference`), from which the 0400 is
    /// built.
    pub reference: String,
}

/// The store of pending reversals could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("pending reversals: {0}")]
pub struct ReversalStoreError(pub String);

/// Where pending reversals wait until a 0410 arrives.
#[async_trait::async_trait]
pub trait ReversalStore: Send + Sync {
    /// Records the original before it is sent, so a reversal can be built
    /// whatever happens next. An error means it must not be sent.
    async fn record(&self, pending: PendingReversal) -> Result<(), ReversalStoreError>;
    /// The original of an attempt, while it may still need a reversal.
    async fn find(&self, attempt_id: &str) -> Result<Option<PendingReversal>, ReversalStoreError>;
    /// The original's answer never came: it is being reversed (resumed by
    /// [`ReversalStore::reversing`] after a restart).
    async fn mark_reversing(&self, attempt_id: &str) -> Result<(), ReversalStoreError>;
    /// The original was declined, or its reversal got a 0410.
    async fn settle(&self, attempt_id: &str) -> Result<(), ReversalStoreError>;
    /// The originals being reversed, oldest first, at most `limit`.
    async fn reversing(&self, limit: usize) -> Result<Vec<PendingReversal>, ReversalStoreError>;
}

/// Originals by attempt id, each with whether it is being reversed.
type Originals = HashMap<String, (PendingReversal, bool)>;

/// Pending reversals in memory (tests).
#[derive(Default)]
pub struct MemoryReversals {
    pending: Mutex<Originals>,
}

/// Bound on originals kept in memory; the oldest are not tracked beyond it.
const MEMORY_REVERSALS_MAX: usize = 100_000;

impl MemoryReversals {
    fn locked(&self) -> Result<std::sync::MutexGuard<'_, Originals>, ReversalStoreError> {
        self.pending
            .lock()
            .map_err(|_| ReversalStoreError("poisoned".into()))
    }
}

#[async_trait::async_trait]
impl ReversalStore for MemoryReversals {
    async fn record(&self, pending: PendingReversal) -> Result<(), ReversalStoreError> {
        let mut map = self.locked()?;
        if map.len() < MEMORY_REVERSALS_MAX {
            map.entry(pending.attempt_id.clone())
                .or_insert((pending, false));
        }
        Ok(())
    }

    async fn find(&self, attempt_id: &str) -> Result<Option<PendingReversal>, ReversalStoreError> {
        Ok(self.locked()?.get(attempt_id).map(|(p, _)| p.clone()))
    }

    async fn mark_reversing(&self, attempt_id: &str) -> Result<(), ReversalStoreError> {
        if let Some(entry) = self.locked()?.get_mut(attempt_id) {
            entry.1 = true;
        }
        Ok(())
    }

    async fn settle(&self, attempt_id: &str) -> Result<(), ReversalStoreError> {
        self.locked()?.remove(attempt_id);
        Ok(())
    }

    async fn reversing(&self, limit: usize) -> Result<Vec<PendingReversal>, ReversalStoreError> {
        Ok(self
            .locked()?
            .values()
            .filter(|(_, reversing)| *reversing)
            .map(|(p, _)| p.clone())
            .take(limit)
            .collect())
    }
}

/// One line of the reversal journal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
enum ReversalEvent {
    Pending(PendingReversal),
    Settled { attempt_id: String },
}

/// The pending-reversal journal file of earlier versions: read once at
/// start (what it still holds is moved into the store), never written.
pub struct JournalReversals;

impl JournalReversals {
    /// The originals `path` still holds as pending (none when the file does
    /// not exist).
    pub fn pending_in(path: &Path) -> Result<Vec<PendingReversal>, JournalError> {
        if !path.exists() {
            return Ok(Vec::new());
        }
        let (_, events) = Journal::open::<ReversalEvent>(path)?;
        let mut pending = HashMap::new();
        for event in events {
            match event {
                ReversalEvent::Pending(original) => {
                    pending.insert(original.attempt_id.clone(), original);
                }
                ReversalEvent::Settled { attempt_id } => {
                    pending.remove(&attempt_id);
                }
            }
        }
        Ok(pending.into_values().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(id: &str) -> PendingReversal {
        PendingReversal {
            attempt_id: id.to_owned(),
            reference: format!("ref-{id}"),
        }
    }

    #[test]
    fn the_old_journal_is_read_for_what_it_still_holds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reversals.jsonl");
        let lines = [
            serde_json::json!({"event": "pending", "attempt_id": "pa_1", "reference": "ref-pa_1"}),
            serde_json::json!({"event": "pending", "attempt_id": "pa_2", "reference": "ref-pa_2"}),
            serde_json::json!({"event": "settled", "attempt_id": "pa_1"}),
        ];
        let mut text = String::new();
        for line in lines {
            text.push_str(&line.to_string());
            text.push('\n');
        }
        std::fs::write(&path, text).unwrap();
        assert_eq!(
            JournalReversals::pending_in(&path).unwrap(),
            vec![pending("pa_2")]
        );
        assert!(JournalReversals::pending_in(&dir.path().join("none"))
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn memory_reversals_resume_only_those_being_reversed() {
        let store = MemoryReversals::default();
        store.record(pending("pa_1")).await.unwrap();
        store.record(pending("pa_2")).await.unwrap();
        store.mark_reversing("pa_2").await.unwrap();
        assert_eq!(store.reversing(10).await.unwrap(), vec![pending("pa_2")]);
        store.settle("pa_2").await.unwrap();
        assert_eq!(store.find("pa_1").await.unwrap(), Some(pending("pa_1")));
        assert!(store.reversing(10).await.unwrap().is_empty());
    }
}
