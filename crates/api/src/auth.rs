//! Who is calling: the API key from `Authorization` (Bearer, or Basic with
//! the key as user name), checked by its keyed hash, and what that key may do.
//!
//! Looked-up keys are cached for `key_cache_ttl_ms`, so the hot path costs
//! one HMAC and one map lookup, and a revoked key stops working on every
//! instance within that time. The cache is a bounded LRU, and misses have
//! their own bounded LRU (see [`KeyCache`]).

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};
use base64::Engine;
use lru::LruCache;
use parking_lot::Mutex;
use portcullis_domain::api_keys::{
    Access, ApiKeyRecord, ApiKeySecret, KeyKind, KeyMode, Permissions,
};
use portcullis_domain::ids::{ApiKeyId, MerchantId};
use portcullis_store::{Scope, Store};
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

/// The authenticated caller of a request.
#[derive(Clone, Debug)]
pub struct Caller {
    pub merchant_id: MerchantId,
    pub key_id: ApiKeyId,
    pub kind: KeyKind,
    pub mode: KeyMode,
    pub permissions: Option<Permissions>,
}

impl Caller {
    /// The objects this caller may see: its merchant's, in its key's mode.
    pub fn scope(&self) -> Scope {
        Scope {
            merchant_id: self.merchant_id.clone(),
            livemode: self.mode.is_live(),
        }
    }

    pub fn livemode(&self) -> bool {
        self.mode.is_live()
    }

    /// Refuses (403) a key that may not `access` `resource`. Publishable
    /// keys reach only the few endpoints that call [`Caller::allow_publishable`].
    pub fn require(&self, resource: &str, access: Access) -> ApiResult<()> {
        let allowed = match self.kind {
            KeyKind::Secret => true,
            KeyKind::Publishable => false,
            KeyKind::Restricted => self
                .permissions
                .as_ref()
                .is_some_and(|p| p.allows(resource, access)),
        };
        if allowed {
            return Ok(());
        }
        tracing::warn!(key_id = %self.key_id, resource, ?access, "key lacks permission");
        Err(ApiError::forbidden(match self.kind {
            KeyKind::Publishable => "This API call cannot be made with a publishable API key. Please use a secret API key.".to_owned(),
            _ => format!("The provided key does not have the required permissions for this endpoint ({resource}: {access:?})."),
        }))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let presented = presented_key(parts)?;
        let Some(key) = ApiKeySecret::parse(&presented) else {
            return Err(invalid_key(&presented));
        };
        let hash = state.key_hasher.hash(&key);
        match state.keys.lookup(&state.store, &hash).await? {
            Some(record) if record.is_active() => {
                state
                    .rate_limits
                    .check(record.id.as_str(), record.merchant_id.as_str())?;
                Ok(Caller {
                    merchant_id: record.merchant_id,
                    key_id: record.id,
                    kind: record.kind,
                    mode: record.mode,
                    permissions: record.permissions,
                })
            }
            Some(record) => {
                tracing::warn!(key_id = %record.id, "revoked API key presented");
                Err(invalid_key(&presented))
            }
            None => Err(invalid_key(&presented)),
        }
    }
}

fn presented_key(parts: &Parts) -> ApiResult<String> {
    let missing = || {
        ApiError::unauthenticated(
            "You did not provide an API key. Provide it in the Authorization header as a Bearer token, or as the Basic auth user name.",
        )
    };
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(missing)?;
    let value = value.to_str().map_err(|_| missing())?.trim();
    if let Some(token) = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
    {
        return Ok(token.trim().to_owned());
    }
    if let Some(encoded) = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))
    {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(missing)?;
        let user = decoded.split(':').next().unwrap_or_default();
        return Ok(user.to_owned());
    }
    Err(missing())
}

/// 401 naming the key by its first characters only.
fn invalid_key(presented: &str) -> ApiError {
    let shown: String = presented.chars().take(8).collect();
    tracing::warn!(key_prefix = %shown, "invalid API key presented");
    ApiError::unauthenticated(format!("Invalid API Key provided: {shown}***"))
}

/// Recently looked-up keys, each trusted for `ttl`: a bounded LRU of keys
/// found, and a separate, smaller bounded LRU of hashes not found. Misses
/// live apart so that a flood of random well-formed keys only churns the
/// negative cache: it can neither evict real keys nor make every request
/// read the database again.
pub struct KeyCache {
    found: Mutex<LruCache<String, (ApiKeyRecord, Instant)>>,
    missing: Mutex<LruCache<String, Instant>>,
    ttl: Duration,
}

/// What the cache knows of a hash.
#[derive(Debug, PartialEq)]
enum Cached {
    Found(ApiKeyRecord),
    Missing,
    Unknown,
}

impl KeyCache {
    pub fn new(ttl_ms: u64, entries_max: usize, misses_max: usize) -> Self {
        let bound = |n: usize| NonZeroUsize::new(n.max(1)).unwrap_or(NonZeroUsize::MIN);
        Self {
            found: Mutex::new(LruCache::new(bound(entries_max))),
            missing: Mutex::new(LruCache::new(bound(misses_max))),
            ttl: Duration::from_millis(ttl_ms),
        }
    }

    pub async fn lookup(&self, store: &Store, hash: &str) -> ApiResult<Option<ApiKeyRecord>> {
        let now = Instant::now();
        match self.cached(hash, now) {
            Cached::Found(record) => return Ok(Some(record)),
            Cached::Missing => return Ok(None),
            Cached::Unknown => {}
        }
        let record = store.find_api_key_by_hash(hash).await?;
        self.remember(hash, record.as_ref(), now);
        Ok(record)
    }

    fn cached(&self, hash: &str, now: Instant) -> Cached {
        let fresh = |fetched: Instant| now.duration_since(fetched) < self.ttl;
        if let Some((record, fetched)) = self.found.lock().get(hash) {
            if fresh(*fetched) {
                return Cached::Found(record.clone());
            }
        }
        match self.missing.lock().get(hash) {
            Some(fetched) if fresh(*fetched) => Cached::Missing,
            _ => Cached::Unknown,
        }
    }

    fn remember(&self, hash: &str, record: Option<&ApiKeyRecord>, now: Instant) {
        match record {
            Some(record) => {
                self.missing.lock().pop(hash);
                self.found
                    .lock()
                    .put(hash.to_owned(), (record.clone(), now));
            }
            None => {
                self.found.lock().pop(hash);
                self.missing.lock().put(hash.to_owned(), now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_domain::api_keys::KeyHashSecret;

    fn record(n: i64) -> ApiKeyRecord {
        let hasher = KeyHashSecret::new(vec![7; 32]).unwrap();
        let merchant = MerchantId::generate();
        ApiKeyRecord::issue(&merchant, KeyKind::Secret, KeyMode::Test, None, &hasher, n).0
    }

    #[test]
    fn misses_never_evict_found_keys() {
        let cache = KeyCache::new(60_000, 4, 8);
        let now = Instant::now();
        let real = record(0);
        cache.remember("real", Some(&real), now);
        for n in 0..1_000 {
            cache.remember(&format!("random{n}"), None, now);
        }
        assert_eq!(cache.cached("real", now), Cached::Found(real));
        assert_eq!(cache.cached("random999", now), Cached::Missing);
        assert_eq!(
            cache.cached("random0", now),
            Cached::Unknown,
            "misses are bounded"
        );
    }

    #[test]
    fn found_keys_are_evicted_least_recently_used_first() {
        let cache = KeyCache::new(60_000, 2, 2);
        let now = Instant::now();
        cache.remember("a", Some(&record(1)), now);
        cache.remember("b", Some(&record(2)), now);
        assert!(matches!(cache.cached("a", now), Cached::Found(_)));
        cache.remember("c", Some(&record(3)), now);
        assert!(matches!(cache.cached("a", now), Cached::Found(_)));
        assert_eq!(cache.cached("b", now), Cached::Unknown);
        assert!(matches!(cache.cached("c", now), Cached::Found(_)));
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let cache = KeyCache::new(1_000, 2, 2);
        let then = Instant::now();
        cache.remember("a", Some(&record(1)), then);
        cache.remember("x", None, then);
        let later = then + Duration::from_millis(1_001);
        assert_eq!(cache.cached("a", later), Cached::Unknown);
        assert_eq!(cache.cached("x", later), Cached::Unknown);
    }

    #[test]
    fn a_panic_while_the_cache_is_locked_does_not_poison_it() {
        let cache = std::sync::Arc::new(KeyCache::new(60_000, 2, 2));
        let held = cache.clone();
        let panicked = std::thread::spawn(move || {
            let _guard = held.found.lock();
            panic!("a bug while the key cache is held");
        })
        .join();
        assert!(panicked.is_err());
        let now = Instant::now();
        cache.remember("a", Some(&record(1)), now);
        assert!(matches!(cache.cached("a", now), Cached::Found(_)));
    }
}
