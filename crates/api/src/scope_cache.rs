//! What a merchant's configuration is, per scope (merchant and mode),
//! kept for a TTL so a payment does not read and parse it again, as API
//! keys are cached. A change made through this instance is seen at once
//! (its writer forgets the scope after its commit); one made through
//! another instance within the TTL. Bounded in entries: the least
//! recently used scope goes first.

use lru::LruCache;
use parking_lot::Mutex;
use portcullis_store::Scope;
use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A scope: its merchant and mode.
type ScopeKey = (String, bool);

pub struct ScopeCache<T> {
    entries: Mutex<Entries<T>>,
    ttl: Duration,
}

struct Entries<T> {
    lru: LruCache<ScopeKey, (Arc<T>, Instant)>,
    /// Counts [`ScopeCache::forget`]s: a read that began before one is not
    /// kept (it may predate the change that was forgotten).
    forgets: u64,
}

fn key(scope: &Scope) -> ScopeKey {
    (scope.merchant_id.to_string(), scope.livemode)
}

impl<T> ScopeCache<T> {
    /// `ttl_ms` 0 turns the cache off.
    pub fn new(ttl_ms: u64, entries_max: usize) -> Self {
        let bound = NonZeroUsize::new(entries_max.max(1)).unwrap_or(NonZeroUsize::MIN);
        Self {
            entries: Mutex::new(Entries {
                lru: LruCache::new(bound),
                forgets: 0,
            }),
            ttl: Duration::from_millis(ttl_ms),
        }
    }

    /// The value of `scope` if read less than the TTL ago.
    pub fn get(&self, scope: &Scope, now: Instant) -> Option<Arc<T>> {
        let entries = &mut self.entries.lock().lru;
        let key = key(scope);
        match entries.get(&key) {
            Some((value, read)) if now.duration_since(*read) < self.ttl => Some(value.clone()),
            Some(_) => {
                entries.pop(&key);
                None
            }
            None => None,
        }
    }

    /// Keeps `value` of `scope`, read at `read` (before the store was asked).
    pub fn put(&self, scope: &Scope, value: Arc<T>, read: Instant) {
        self.put_unless_forgotten(scope, value, read, None);
    }

    /// Keeps `value` unless a scope was forgotten since `forgets` was read.
    fn put_unless_forgotten(
        &self,
        scope: &Scope,
        value: Arc<T>,
        read: Instant,
        forgets: Option<u64>,
    ) {
        let mut entries = self.entries.lock();
        if self.ttl.is_zero() || forgets.is_some_and(|seen| seen != entries.forgets) {
            return;
        }
        entries.lru.put(key(scope), (value, read));
    }

    /// Forgets `scope` (what it caches was just changed here), and keeps no
    /// read already under way.
    pub fn forget(&self, scope: &Scope) {
        let mut entries = self.entries.lock();
        entries.forgets = entries.forgets.wrapping_add(1);
        entries.lru.pop(&key(scope));
    }

    /// The value of `scope` from the cache while fresh, else from `read`
    /// (then kept, timed from before the read began).
    pub async fn get_or_read<E, F>(&self, scope: &Scope, read: F) -> Result<Arc<T>, E>
    where
        F: Future<Output = Result<T, E>>,
    {
        let now = Instant::now();
        if let Some(value) = self.get(scope, now) {
            return Ok(value);
        }
        let forgets = self.entries.lock().forgets;
        let value = Arc::new(read.await?);
        self.put_unless_forgotten(scope, value.clone(), now, Some(forgets));
        Ok(value)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().lru.len()
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

    #[test]
    fn entries_expire_after_the_ttl_are_forgotten_and_stay_bounded() {
        let cache = ScopeCache::<u32>::new(1_000, 2);
        let start = Instant::now();
        cache.put(&scope("acct_1"), Arc::new(1), start);
        assert!(cache.get(&scope("acct_1"), start).is_some());
        assert!(cache
            .get(&scope("acct_1"), start + Duration::from_millis(1_000))
            .is_none());
        cache.put(&scope("acct_1"), Arc::new(1), start);
        cache.forget(&scope("acct_1"));
        assert!(cache.get(&scope("acct_1"), start).is_none());
        for n in 0..5 {
            cache.put(&scope(&format!("acct_{n}")), Arc::new(n), start);
        }
        assert_eq!(cache.len(), 2);
        // The two most recently kept remain.
        assert_eq!(cache.get(&scope("acct_4"), start).as_deref(), Some(&4));
        assert!(cache.get(&scope("acct_0"), start).is_none());
        let off = ScopeCache::<u32>::new(0, 2);
        off.put(&scope("acct_1"), Arc::new(1), start);
        assert!(off.get(&scope("acct_1"), start).is_none());
    }

    #[tokio::test]
    async fn a_read_is_kept_and_served_until_forgotten() {
        let cache = ScopeCache::<u32>::new(60_000, 2);
        let first: Result<_, ()> = cache.get_or_read(&scope("acct_1"), async { Ok(1) }).await;
        assert_eq!(*first.unwrap(), 1);
        let cached: Result<_, ()> = cache.get_or_read(&scope("acct_1"), async { Ok(2) }).await;
        assert_eq!(*cached.unwrap(), 1, "served from the cache");
        cache.forget(&scope("acct_1"));
        let fresh: Result<_, ()> = cache.get_or_read(&scope("acct_1"), async { Ok(3) }).await;
        assert_eq!(*fresh.unwrap(), 3, "read again once forgotten");
        let failed = cache
            .get_or_read(&scope("acct_2"), async { Err::<u32, _>("down") })
            .await;
        assert!(failed.is_err());
        assert!(
            cache.get(&scope("acct_2"), Instant::now()).is_none(),
            "errors are not kept"
        );
        // A change forgotten while a read was under way: that read (maybe
        // of the old state) is answered but not kept.
        let third = scope("acct_3");
        let racing = cache.get_or_read(&third, async {
            cache.forget(&third);
            Ok::<_, ()>(4)
        });
        assert_eq!(*racing.await.unwrap(), 4);
        assert!(
            cache.get(&scope("acct_3"), Instant::now()).is_none(),
            "not kept"
        );
    }
}
