//! Per-object locks within one process: requests that change the same
//! object (50 refunds of one charge, a capture racing a cancel) queue here
//! instead of colliding in the database. Across instances the store's
//! version checks still decide; these locks only spare the retries.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::OwnedMutexGuard;

/// Most objects tracked at once; idle entries are dropped past this.
const TRACKED_OBJECTS_MAX: usize = 10_000;

#[derive(Default)]
pub struct ObjectLocks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl ObjectLocks {
    /// Waits for, then holds, the lock of object `id` until the guard drops.
    pub async fn lock(&self, id: &str) -> OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.locks.lock();
            if locks.len() >= TRACKED_OBJECTS_MAX {
                // Only entries nobody holds or waits for can go.
                locks.retain(|_, lock| Arc::strong_count(lock) > 1);
            }
            locks.entry(id.to_owned()).or_default().clone()
        };
        lock.lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idle_locks_never_exceed_their_bound() {
        let locks = ObjectLocks::default();
        for n in 0..TRACKED_OBJECTS_MAX * 2 + 3 {
            drop(locks.lock(&format!("ch_{n}")).await);
            assert!(locks.locks.lock().len() <= TRACKED_OBJECTS_MAX);
        }
        // A lock someone holds survives the sweep.
        let held = locks.lock("ch_held").await;
        for n in 0..TRACKED_OBJECTS_MAX {
            drop(locks.lock(&format!("re_{n}")).await);
        }
        assert!(locks.locks.lock().contains_key("ch_held"));
        drop(held);
    }

    #[tokio::test]
    async fn a_panic_while_the_registry_is_held_does_not_poison_it() {
        let locks = Arc::new(ObjectLocks::default());
        let held = locks.clone();
        let panicked = std::thread::spawn(move || {
            let _registry = held.locks.lock();
            panic!("a bug while the lock registry is held");
        })
        .join();
        assert!(panicked.is_err());
        let guard = locks.lock("ch_1").await;
        drop(guard);
        let _again = locks.lock("ch_1").await;
    }
}
