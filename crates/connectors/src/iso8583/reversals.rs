//! Automatic reversals. An authorization or purchase whose answer never
//! came (timeout, closed connection, garbage) is reversed with 0400 (DE 90
//! naming the original), retried until a 0410 arrives. ISO 8583 has no
//! status query, so [`crate::Connector::query`] of an attempt in doubt is
//! a reversal too, and the attempt ends as failed.
//!
//! Pending reversals are kept by a [`ReversalStore`]: [`JournalReversals`]
//! in a journal file (written and synced before the original is sent, so
//! they survive a crash of the gateway), or [`MemoryReversals`] (tests).

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

/// Where pending reversals wait until a 0410 arrives.
pub trait ReversalStore: Send + Sync {
    /// Records the original before it is sent, so a reversal can be built
    /// whatever happens next. An error means it must not be sent.
    fn record(&self, pending: PendingReversal) -> std::io::Result<()>;
    /// The original of an attempt, while it may still need a reversal.
    fn find(&self, attempt_id: &str) -> Option<PendingReversal>;
    /// The original got a definite answer, or its reversal a 0410.
    fn settle(&self, attempt_id: &str);
}

/// Pending reversals in memory.
#[derive(Default)]
pub struct MemoryReversals {
    pending: Mutex<HashMap<String, PendingReversal>>,
}

/// Bound on originals kept in memory; the oldest are not tracked beyond it.
const MEMORY_REVERSALS_MAX: usize = 100_000;

impl ReversalStore for MemoryReversals {
    fn record(&self, pending: PendingReversal) -> std::io::Result<()> {
        if let Ok(mut map) = self.pending.lock() {
            if map.len() < MEMORY_REVERSALS_MAX {
                map.insert(pending.attempt_id.clone(), pending);
            }
        }
        Ok(())
    }

    fn find(&self, attempt_id: &str) -> Option<PendingReversal> {
        self.pending.lock().ok()?.get(attempt_id).cloned()
    }

    fn settle(&self, attempt_id: &str) {
        if let Ok(mut map) = self.pending.lock() {
            map.remove(attempt_id);
        }
    }
}

/// One line of the reversal journal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
enum ReversalEvent {
    Pending(PendingReversal),
    Settled { attempt_id: String },
}

/// Pending reversals in a journal file: each original is recorded (synced)
/// before it is sent, and marked settled when it got a definite answer or
/// its reversal a 0410. Replayed when the gateway starts; settled pairs are
/// compacted away then.
pub struct JournalReversals {
    state: Mutex<(Journal, HashMap<String, PendingReversal>)>,
}

impl JournalReversals {
    pub fn open(path: &Path) -> Result<JournalReversals, JournalError> {
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
        let io_error = |source| JournalError::Io {
            path: path.to_owned(),
            source,
        };
        // Compact: rewrite only what is still pending, then reopen.
        let compacted = path.with_extension("compacting");
        let mut lines = Vec::new();
        let still: Vec<ReversalEvent> = pending
            .values()
            .cloned()
            .map(ReversalEvent::Pending)
            .collect();
        Journal::encode(&still, &mut lines).map_err(io_error)?;
        std::fs::write(&compacted, &lines).map_err(io_error)?;
        std::fs::File::open(&compacted)
            .and_then(|file| file.sync_all())
            .map_err(io_error)?;
        std::fs::rename(&compacted, path).map_err(io_error)?;
        let (journal, _) = Journal::open::<ReversalEvent>(path)?;
        Ok(JournalReversals {
            state: Mutex::new((journal, pending)),
        })
    }

    fn append(&self, event: ReversalEvent) -> std::io::Result<()> {
        let mut lines = Vec::new();
        Journal::encode(std::slice::from_ref(&event), &mut lines)?;
        let mut state = self
            .state
            .lock()
            .map_err(|_| std::io::Error::other("reversal journal poisoned"))?;
        state.0.write_synced(&lines)?;
        match event {
            ReversalEvent::Pending(original) => {
                state.1.insert(original.attempt_id.clone(), original);
            }
            ReversalEvent::Settled { attempt_id } => {
                state.1.remove(&attempt_id);
            }
        }
        Ok(())
    }

    /// The originals still waiting for a reversal.
    pub fn pending(&self) -> Vec<PendingReversal> {
        self.state
            .lock()
            .map(|state| state.1.values().cloned().collect())
            .unwrap_or_default()
    }
}

impl ReversalStore for JournalReversals {
    fn record(&self, pending: PendingReversal) -> std::io::Result<()> {
        self.append(ReversalEvent::Pending(pending))
    }

    fn find(&self, attempt_id: &str) -> Option<PendingReversal> {
        self.state.lock().ok()?.1.get(attempt_id).cloned()
    }

    fn settle(&self, attempt_id: &str) {
        if self.find(attempt_id).is_none() {
            return;
        }
        let settled = ReversalEvent::Settled {
            attempt_id: attempt_id.to_owned(),
        };
        if let Err(error) = self.append(settled) {
            tracing::error!(%error, attempt = %attempt_id, "could not record a settled reversal; it will be reversed again after a restart");
        }
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
    fn pending_reversals_survive_reopening_and_settled_ones_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reversals.jsonl");
        let store = JournalReversals::open(&path).unwrap();
        store.record(pending("pa_1")).unwrap();
        store.record(pending("pa_2")).unwrap();
        store.settle("pa_1");
        drop(store);
        let store = JournalReversals::open(&path).unwrap();
        assert_eq!(store.find("pa_1"), None);
        assert_eq!(store.find("pa_2"), Some(pending("pa_2")));
        assert_eq!(store.pending(), vec![pending("pa_2")]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 1, "compacted: {text}");
    }
}
