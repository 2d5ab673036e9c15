//! A merchant's routing inputs (parsed rules and card connector accounts)
//! per scope, kept for `routing_cache_ttl_ms` so a payment does not read
//! and parse them again, as API keys are cached. A change made through
//! this instance is seen at once (its writer forgets the scope); one made
//! through another instance within the bound.

use super::decision::RoutingInputs;
use lru::LruCache;
use parking_lot::Mutex;
use portcullis_store::Scope;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A scope: its merchant and mode.
type ScopeKey = (String, bool);

pub struct RoutingCache {
    entries: Mutex<LruCache<ScopeKey, (Arc<RoutingInputs>, Instant)>>,
    ttl: Duration,
}

fn key(scope: &Scope) -> ScopeKey {
    (scope.merchant_id.to_string(), scope.livemode)
}

impl RoutingCache {
    /// `ttl_ms` 0 turns the cache off.
    pub fn new(ttl_ms: u64, entries_max: usize) -> Self {
        let bound = NonZeroUsize::new(entries_max.max(1)).unwrap_or(NonZeroUsize::MIN);
        Self {
            entries: Mutex::new(LruCache::new(bound)),
            ttl: Duration::from_millis(ttl_ms),
        }
    }

    /// The inputs of `scope` if read less than the TTL ago.
    pub fn get(&self, scope: &Scope, now: Instant) -> Option<Arc<RoutingInputs>> {
        let mut entries = self.entries.lock();
        let key = key(scope);
        match entries.get(&key) {
            Some((inputs, read)) if now.duration_since(*read) < self.ttl => Some(inputs.clone()),
            Some(_) => {
                entries.pop(&key);
                None
            }
            None => None,
        }
    }

    /// Keeps `inputs` of `scope`, read at `read` (before the store was asked).
    pub fn put(&self, scope: &Scope, inputs: Arc<RoutingInputs>, read: Instant) {
        if !self.ttl.is_zero() {
            self.entries.lock().put(key(scope), (inputs, read));
        }
    }

    /// Forgets `scope` (its rules or accounts were just changed here).
    pub fn forget(&self, scope: &Scope) {
        self.entries.lock().pop(&key(scope));
    }
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

    fn inputs() -> Arc<RoutingInputs> {
        Arc::new(RoutingInputs {
            rules: vec![],
            accounts: vec![],
        })
    }

    #[test]
    fn entries_expire_after_the_ttl_are_forgotten_and_stay_bounded() {
        let cache = RoutingCache::new(1_000, 2);
        let start = Instant::now();
        cache.put(&scope("acct_1"), inputs(), start);
        assert!(cache.get(&scope("acct_1"), start).is_some());
        assert!(cache
            .get(&scope("acct_1"), start + Duration::from_millis(1_000))
            .is_none());
        cache.put(&scope("acct_1"), inputs(), start);
        cache.forget(&scope("acct_1"));
        assert!(cache.get(&scope("acct_1"), start).is_none());
        for n in 0..5 {
            cache.put(&scope(&format!("acct_{n}")), inputs(), start);
        }
        assert_eq!(cache.entries.lock().len(), 2);
        let off = RoutingCache::new(0, 2);
        off.put(&scope("acct_1"), inputs(), start);
        assert!(off.get(&scope("acct_1"), start).is_none());
    }
}
