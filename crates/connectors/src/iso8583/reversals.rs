//! Automatic reversals. An authorization or purchase whose answer never
//! came (timeout, closed connection, garbage) is reversed with 0400 (DE 90
//! naming the original), retried until a 0410 arrives. ISO 8583 has no
//! status query, so [`crate::Connector::query`] of an attempt in doubt is
//! a reversal too, and the attempt ends as failed.
//!
//! Pending reversals are kept by a [`ReversalStore`]. [`MemoryReversals`]
//! keeps them in memory only: they do not survive a restart (see the
//! README's "Card networks over ISO 8583", known gaps).

use std::collections::HashMap;
use std::sync::Mutex;

/// What a reversal needs of the original message.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// whatever happens next.
    fn record(&self, pending: PendingReversal);
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
    fn record(&self, pending: PendingReversal) {
        if let Ok(mut map) = self.pending.lock() {
            if map.len() < MEMORY_REVERSALS_MAX {
                map.insert(pending.attempt_id.clone(), pending);
            }
        }
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
