//! Success-rate learning on the payment path: the outcome of every routed
//! authorization is counted per (account, card brand, currency, BIN range)
//! in a sliding window kept in the database (`routing_outcomes`, shared by
//! every instance), and when no rule decides, `portcullis-routing`'s
//! Thompson sampling over those windows picks the account
//! (`decided_by: "success_rate"`); the other candidates follow in their
//! failover order. A payment only one account can take, or one whose
//! candidates have no outcome in the window yet, stays `default` (the
//! candidates' priority order).
//!
//! Segments: the BIN range is the card's first six digits; while the
//! candidates have fewer than [`BIN_OUTCOMES_MIN`] outcomes in the BIN's
//! window together, the brand-and-currency window (all BINs) decides.

use crate::error::ApiResult;
use crate::state::AppState;
use portcullis_domain::cards::CardBrand;
use portcullis_domain::money::Currency;
use portcullis_routing::success_rate::{choose, Observed};
use portcullis_routing::{DecidedBy, Decision};
use portcullis_store::{RiskWrite, RoutingOutcomeQuery, Scope, WriteOp};

/// Outcomes a BIN's window needs before it decides alone.
pub const BIN_OUTCOMES_MIN: u64 = 20;
/// A window is kept as this many time slots (two more than it spans, so
/// the oldest slot being reset is never read).
const SLOTS: i64 = 12;
const SLOTS_IN_WINDOW: i64 = 10;

/// The card a payment is made with, as success rates segment it.
#[derive(Clone, Debug)]
pub struct Segment {
    pub brand: CardBrand,
    pub currency: Currency,
    /// The first six digits, when known.
    pub bin: Option<String>,
}

impl Segment {
    fn all_bins(&self) -> String {
        format!("{}:{}:*", self.brand.as_str(), self.currency.as_str())
    }

    fn of_bin(&self) -> Option<String> {
        let bin = self.bin.as_deref()?;
        Some(format!(
            "{}:{}:{bin}",
            self.brand.as_str(),
            self.currency.as_str()
        ))
    }

    fn names(&self) -> Vec<String> {
        std::iter::once(self.all_bins())
            .chain(self.of_bin())
            .collect()
    }
}

fn bucket_seconds(state: &AppState) -> i64 {
    (state.payments.routing_success_window_s as i64 / SLOTS_IN_WINDOW).max(1)
}

/// When no rule decided and several accounts can take the payment: the
/// account success rates choose, first in `decision.candidates`.
pub async fn decide(
    state: &AppState,
    scope: &Scope,
    decision: &mut Decision,
    segment: &Segment,
) -> ApiResult<()> {
    if decision.decided_by != DecidedBy::Default || decision.candidates.len() < 2 {
        return Ok(());
    }
    let size = bucket_seconds(state);
    let now = state.now();
    let query = RoutingOutcomeQuery {
        scope: scope.clone(),
        segments: segment.names(),
        from: now - now % size - (SLOTS_IN_WINDOW - 1) * size,
    };
    let rows = state.store.routing_outcomes(&query).await?;
    let observed_in = |name: &str| -> Vec<Observed> {
        decision
            .candidates
            .iter()
            .map(|account| {
                rows.iter()
                    .find(|r| r.segment == name && r.connector_account == *account)
                    .map_or_else(Observed::default, |r| Observed {
                        authorized: r.authorized.max(0) as u64,
                        declined: r.declined.max(0) as u64,
                    })
            })
            .collect()
    };
    let by_bin = segment.of_bin().map(|name| observed_in(&name));
    let observed = match by_bin {
        Some(o) if o.iter().map(|x| x.total()).sum::<u64>() >= BIN_OUTCOMES_MIN => o,
        _ => observed_in(&segment.all_bins()),
    };
    if observed.iter().all(|o| o.total() == 0) {
        // Nothing learnt yet in this window: the default order stands.
        return Ok(());
    }
    let exploration = state.payments.routing_exploration_percent;
    let Some(index) = choose(&observed, exploration, &mut rand::thread_rng()) else {
        return Ok(());
    };
    let chosen = decision.candidates.remove(index);
    decision.candidates.insert(0, chosen.clone());
    decision.connector_account = Some(chosen);
    decision.decided_by = DecidedBy::SuccessRate;
    Ok(())
}

/// The counter writes of one authorization's outcome on `account`.
pub fn outcome_writes(
    state: &AppState,
    scope: &Scope,
    account: &str,
    segment: &Segment,
    authorized: bool,
) -> Vec<WriteOp> {
    let size = bucket_seconds(state);
    let now = state.now();
    let bucket_start = now - now % size;
    let slot = (now / size) % SLOTS;
    segment
        .names()
        .into_iter()
        .map(|name| {
            WriteOp::Risk(RiskWrite::RoutingOutcome {
                scope: scope.clone(),
                segment: name,
                connector_account: account.to_owned(),
                slot,
                bucket_start,
                authorized,
            })
        })
        .collect()
}
