//! The circuit breakers of card connector accounts (this instance's view):
//! one [`Breaker`] per account, fed by every authorization routed to it,
//! asked before routing sends one. A change of state is logged and becomes
//! a `connector_account.health_changed` event; `health` on the account
//! shows the state.
//!
//! Breakers live in memory, per instance: each instance judges an account
//! by the calls it made itself, so an instance that cannot reach a
//! processor stops sending to it even while another still can.

use crate::connector_accounts::{render, StoredAccount};
use crate::events::{event, Origin};
use crate::state::AppState;
use parking_lot::Mutex;
use portcullis_routing::breaker::{
    Admission, Breaker, BreakerPolicy, BreakerState, CallOutcome, Transition,
};
use portcullis_store::{Scope, WriteSet};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::OnceLock;

/// Most breakers kept (one per account that took a payment here).
const BREAKERS_MAX: usize = 10_000;

fn breakers() -> &'static Mutex<HashMap<String, Breaker>> {
    static BREAKERS: OnceLock<Mutex<HashMap<String, Breaker>>> = OnceLock::new();
    BREAKERS.get_or_init(Default::default)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn with_breaker<T>(account: &str, f: impl FnOnce(&mut Breaker) -> T) -> T {
    let mut all = breakers().lock();
    if all.len() >= BREAKERS_MAX && !all.contains_key(account) {
        // Forget closed breakers first: they hold nothing worth keeping.
        all.retain(|_, b| b.state() != BreakerState::Closed);
    }
    let breaker = all
        .entry(account.to_owned())
        .or_insert_with(|| Breaker::new(BreakerPolicy::default()));
    f(breaker)
}

/// Whether an authorization may go to `account` now.
pub fn admit(account: &str) -> (Admission, Option<Transition>) {
    with_breaker(account, |b| b.admit(now_ms()))
}

/// Records how a call to `account` went.
pub fn record(account: &str, outcome: CallOutcome) -> Option<Transition> {
    with_breaker(account, |b| b.record(now_ms(), outcome))
}

/// The account's `health`.
pub fn health(account: &str) -> Value {
    let mut all = breakers().lock();
    let shown = match all.get_mut(account) {
        Some(breaker) => breaker.health(now_ms()),
        None => Breaker::new(BreakerPolicy::default()).health(now_ms()),
    };
    json!({
        "state": shown.state.as_str(),
        "consecutive_failures": shown.consecutive_failures,
        "window_calls": shown.window_calls,
        "window_failures": shown.window_failures,
        "opened_at": shown.opened_at_ms.map(|ms| ms / 1000),
    })
}

/// Logs `transition` of `stored`'s breaker and stores its
/// `connector_account.health_changed` event.
pub async fn announce(
    state: &AppState,
    scope: &Scope,
    stored: &StoredAccount,
    transition: Transition,
) {
    let account = &stored.account;
    let (from, to) = (transition.from.as_str(), transition.to.as_str());
    if transition.to == BreakerState::Open {
        tracing::warn!(connector_account = %account.id, from, to, "connector account circuit opened; routing skips it");
    } else {
        tracing::info!(connector_account = %account.id, from, to, "connector account health changed");
    }
    let object = render(account, &state.base_url());
    let previous = json!({ "health": { "state": from } });
    let mut writes = WriteSet::new();
    writes.push(event(
        scope,
        "connector_account.health_changed",
        &object,
        Some(previous),
        &Origin::default(),
        state.now(),
    ));
    if let Err(err) = state.store.commit(writes).await {
        tracing::warn!(connector_account = %account.id, error = %err, "could not store the health_changed event");
    }
}
