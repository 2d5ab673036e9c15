//! Who is calling: the API key from `Authorization` (Bearer, or Basic with
//! the key as user name), checked by its keyed hash, and what that key may do.
//!
//! Looked-up keys are cached for `key_cache_ttl_ms`, so the hot path costs
//! one HMAC and one map lookup, and a revoked key stops working on every
//! instance within that time.

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};
use base64::Engine;
use portcullis_domain::api_keys::{
    Access, ApiKeyRecord, ApiKeySecret, KeyKind, KeyMode, Permissions,
};
use portcullis_domain::ids::{ApiKeyId, MerchantId};
use portcullis_store::{Scope, Store};
use std::collections::HashMap;
use std::sync::Mutex;
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
            Some(record) if record.is_active() => Ok(Caller {
                merchant_id: record.merchant_id,
                key_id: record.id,
                kind: record.kind,
                mode: record.mode,
                permissions: record.permissions,
            }),
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

/// Recently looked-up keys (and misses), each trusted for a bounded time.
pub struct KeyCache {
    entries: Mutex<HashMap<String, (Option<ApiKeyRecord>, Instant)>>,
    ttl: Duration,
    entries_max: usize,
}

impl KeyCache {
    pub fn new(ttl_ms: u64, entries_max: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            ttl: Duration::from_millis(ttl_ms),
            entries_max,
        }
    }

    pub async fn lookup(&self, store: &Store, hash: &str) -> ApiResult<Option<ApiKeyRecord>> {
        let now = Instant::now();
        if let Some((record, fetched)) = self.entries.lock().expect("key cache lock").get(hash) {
            if now.duration_since(*fetched) < self.ttl {
                return Ok(record.clone());
            }
        }
        let record = store.find_api_key_by_hash(hash).await?;
        let mut entries = self.entries.lock().expect("key cache lock");
        if entries.len() >= self.entries_max {
            // Bounded: dropping everything is simple and only costs re-reads.
            entries.clear();
        }
        entries.insert(hash.to_owned(), (record.clone(), now));
        Ok(record)
    }
}
