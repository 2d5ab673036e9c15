//! Rate limits per API key and per merchant (GCRA token buckets from
//! `governor`): a caller over either budget gets 429, Stripe's
//! `rate_limit` error, and `Retry-After`.
//!
//! Across instances on one PostgreSQL, each instance enforces its share:
//! the configured budget divided by the number of running instances, which
//! every instance learns by stamping a row in `gateway_instances` every
//! `INSTANCE_STAMP_INTERVAL` and counting the rows stamped recently. The
//! sum of the shares never exceeds the budget, however a load balancer
//! spreads the requests, and no request pays a database round trip. The
//! price: a client pinned to one instance gets only that instance's share,
//! and while an instance joins, the others keep their larger share for at
//! most one stamp interval. A per-request shared counter row would be
//! exact but would put a contended write in front of every request, which
//! is itself a denial-of-service lever; a security review accepts a bound
//! that is never exceeded over one that is exact but costly.

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use parking_lot::RwLock;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often an instance stamps its row and recounts the instances.
pub const INSTANCE_STAMP_INTERVAL: Duration = Duration::from_secs(2);
/// An instance not stamped for this many intervals no longer counts.
const INSTANCE_LIVE_INTERVALS: u32 = 3;

/// The configured budgets, for the whole deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// Requests per second one API key may make (also its burst).
    pub per_key_per_s: u32,
    /// Requests per second one merchant may make with all its keys.
    pub per_merchant_per_s: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        // Stripe's published figure is 100 operations per second; one key
        // gets that, a merchant's keys together twice it.
        Self {
            per_key_per_s: 100,
            per_merchant_per_s: 200,
        }
    }
}

struct Buckets {
    per_key: DefaultKeyedRateLimiter<String>,
    per_merchant: DefaultKeyedRateLimiter<String>,
}

impl Buckets {
    fn new(settings: RateLimitSettings, instances: u64) -> Self {
        let share = |per_s: u32| {
            let divided = u64::from(per_s) / instances.max(1);
            let per_s = NonZeroU32::new(divided.clamp(1, u64::from(u32::MAX)) as u32)
                .unwrap_or(NonZeroU32::MIN);
            RateLimiter::keyed(Quota::per_second(per_s))
        };
        Self {
            per_key: share(settings.per_key_per_s),
            per_merchant: share(settings.per_merchant_per_s),
        }
    }
}

/// This instance's buckets, rebuilt when the number of instances changes.
pub struct RateLimits {
    settings: RateLimitSettings,
    instances: AtomicU64,
    buckets: RwLock<Arc<Buckets>>,
}

impl RateLimits {
    pub fn new(settings: RateLimitSettings) -> Self {
        Self {
            settings,
            instances: AtomicU64::new(1),
            buckets: RwLock::new(Arc::new(Buckets::new(settings, 1))),
        }
    }

    /// Takes one request from the key's and the merchant's budgets, or
    /// answers 429 with the time until the emptier one has a request again.
    pub fn check(&self, key_id: &str, merchant_id: &str) -> ApiResult<()> {
        let buckets = self.buckets.read().clone();
        let refused = buckets
            .per_key
            .check_key(&key_id.to_owned())
            .and_then(|()| buckets.per_merchant.check_key(&merchant_id.to_owned()));
        match refused {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                tracing::warn!(
                    key_id,
                    merchant_id,
                    wait_ms = wait.as_millis() as u64,
                    "rate limited"
                );
                Err(ApiError::rate_limited(wait.as_secs_f64().ceil() as u64))
            }
        }
    }

    /// Divides the budgets among `instances` (rebuilding the buckets only
    /// when that number changes), and forgets idle keys.
    pub fn share_among(&self, instances: u64) {
        let instances = instances.max(1);
        if self.instances.swap(instances, Ordering::AcqRel) != instances {
            tracing::info!(instances, "rate limit budgets divided among instances");
            *self.buckets.write() = Arc::new(Buckets::new(self.settings, instances));
        }
        let buckets = self.buckets.read().clone();
        buckets.per_key.retain_recent();
        buckets.per_merchant.retain_recent();
    }
}

/// Stamps this instance in the database every `INSTANCE_STAMP_INTERVAL`
/// and shares the rate budgets among the instances seen, until `shutdown`;
/// then removes its stamp so the others take its share at once.
pub async fn share_budgets(state: AppState, shutdown: impl std::future::Future<Output = ()>) {
    let instance_id = portcullis_domain::ids::new_id("gwi");
    tokio::pin!(shutdown);
    loop {
        let now_ms = now_ms();
        let live_since_ms =
            now_ms - (INSTANCE_STAMP_INTERVAL * INSTANCE_LIVE_INTERVALS).as_millis() as i64;
        match state
            .store
            .stamp_instance(&instance_id, now_ms, live_since_ms)
            .await
        {
            Ok(instances) => state.rate_limits.share_among(instances),
            Err(err) => {
                tracing::warn!(error = %err, "could not stamp this instance; keeping the last share")
            }
        }
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(INSTANCE_STAMP_INTERVAL) => {}
        }
    }
    if let Err(err) = state.store.leave_instance(&instance_id).await {
        tracing::warn!(error = %err, "could not remove this instance's stamp");
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_past_its_budget_is_refused_with_a_wait() {
        let limits = RateLimits::new(RateLimitSettings {
            per_key_per_s: 5,
            per_merchant_per_s: 100,
        });
        for _ in 0..5 {
            limits.check("key_a", "acct_1").unwrap();
        }
        let refused = limits.check("key_a", "acct_1").unwrap_err();
        assert_eq!(refused.status, 429);
        assert_eq!(refused.code, Some("rate_limit"));
        assert!(refused.retry_after_s.unwrap() >= 1);
        limits.check("key_b", "acct_1").unwrap();
    }

    #[test]
    fn the_merchant_budget_binds_all_its_keys() {
        let limits = RateLimits::new(RateLimitSettings {
            per_key_per_s: 100,
            per_merchant_per_s: 4,
        });
        for n in 0..4 {
            limits.check(&format!("key_{n}"), "acct_1").unwrap();
        }
        assert!(limits.check("key_9", "acct_1").is_err());
        limits.check("key_9", "acct_2").unwrap();
    }

    #[test]
    fn instances_share_the_budget() {
        let limits = RateLimits::new(RateLimitSettings {
            per_key_per_s: 10,
            per_merchant_per_s: 100,
        });
        limits.share_among(2);
        let allowed = (0..10)
            .filter(|_| limits.check("key_a", "acct_1").is_ok())
            .count();
        assert_eq!(allowed, 5);
    }
}
