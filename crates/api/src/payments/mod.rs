//! Card payments: payment methods, payment intents (confirm, capture,
//! cancel), charges, refunds, the hosted authentication page, and the
//! recovery worker that settles attempts a crash left in flight.

pub(crate) mod attempts;
pub use attempts::AttemptKind;
pub(crate) mod authenticate;
pub(crate) mod capture;
pub mod cards;
pub(crate) mod charge_wire;
mod charges;
pub(crate) mod confirm;
mod failover;
pub(crate) mod follow_ups;
pub mod history;
pub(crate) mod intent_wire;
pub(crate) mod intents;
pub(crate) mod ledger_postings;
pub(crate) mod methods;
pub(crate) mod outcome;
pub(crate) mod records;
pub mod recovery;
pub(crate) mod refunds;
pub(crate) mod render;
mod request_params;
pub(crate) mod reviews;
pub(crate) mod risk;
mod risk_signals;
mod stripe_notify;
pub mod wallets;

use crate::error::ApiError;
use crate::events::Origin;
use crate::routes::Routes;
use crate::state::AppState;
use parking_lot::Mutex;
use portcullis_domain::cards::Cvc;
use portcullis_domain::payment_intents::PaymentIntent;
use portcullis_store::Scope;
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub fn routes() -> Routes {
    Routes::new()
        .merge(methods::routes())
        .merge(intents::routes())
        .merge(charges::routes())
        .merge(refunds::routes())
        .merge(authenticate::routes())
        .merge(reviews::routes())
        .merge(wallets::routes())
        .merge(stripe_notify::routes())
}

/// Payment tunables, each bounded and named with its unit.
#[derive(Clone, Debug)]
pub struct PaymentSettings {
    /// Longest wait for a connector's answer.
    pub connector_timeout_ms: u64,
    /// An attempt pending longer than this is presumed orphaned by a crash
    /// and settled by asking the connector. Must exceed the timeout.
    pub attempt_stale_ms: u64,
    /// How often the recovery worker looks for stale attempts and unsettled refunds.
    pub recovery_interval_ms: u64,
    /// How long a succeeded refund is still polled, since acquirers may
    /// report a failure after first accepting it.
    pub refund_settle_window_ms: u64,
    /// Percent (0–100) of payments success-rate routing sends to a
    /// candidate drawn uniformly (`routing.exploration_percent`).
    pub routing_exploration_percent: u8,
    /// How far back success-rate routing looks, in seconds.
    pub routing_success_window_s: u64,
    /// TEST FAULT: abort the process between the connector's answer to
    /// this kind of call and the phase-two commit. Only the crash-recovery
    /// tests set it.
    pub fault_crash_after: Option<AttemptKind>,
}

impl Default for PaymentSettings {
    fn default() -> Self {
        Self {
            connector_timeout_ms: 30_000,
            attempt_stale_ms: 60_000,
            recovery_interval_ms: 5_000,
            refund_settle_window_ms: 60_000,
            routing_exploration_percent: 5,
            routing_success_window_s: 600,
            fault_crash_after: None,
        }
    }
}

impl PaymentSettings {
    pub fn connector_timeout(&self) -> Duration {
        Duration::from_millis(self.connector_timeout_ms)
    }

    /// TEST FAULT: aborts the process when the fault is set for `kind`.
    /// Called right after the connector answered, before phase two.
    pub fn crash_if_faulted(&self, kind: AttemptKind) {
        if self.fault_crash_after == Some(kind) {
            tracing::error!(
                ?kind,
                "test fault: aborting between the connector's answer and the commit"
            );
            std::process::abort();
        }
    }
}

/// The context of one payment operation.
pub struct Ctx<'a> {
    pub state: &'a AppState,
    pub scope: &'a Scope,
    pub origin: &'a Origin,
}

impl Ctx<'_> {
    /// Where this server is reached, for links in `next_action`.
    pub fn base_url(&self) -> String {
        self.state.base_url()
    }
}

/// `body` with the requested expansions applied.
pub async fn expanded(
    state: &AppState,
    caller: &crate::auth::Caller,
    mut body: serde_json::Value,
    expand: &crate::expand::Expand,
) -> crate::error::ApiResult<serde_json::Value> {
    if !expand.is_empty() {
        expand.apply(state, caller, &mut body, None).await?;
    }
    Ok(body)
}

/// `body` with the requested expansions applied, seeing the request's own
/// uncommitted `pending` writes as if committed.
pub async fn expanded_after(
    state: &AppState,
    caller: &crate::auth::Caller,
    body: crate::idempotency::AnswerBody,
    expand: &crate::expand::Expand,
    pending: &portcullis_store::WriteSet,
) -> crate::error::ApiResult<crate::idempotency::AnswerBody> {
    if expand.is_empty() {
        return Ok(body);
    }
    let mut tree = body.into_tree()?;
    expand
        .apply(state, caller, &mut tree, Some(pending))
        .await?;
    Ok(tree.into())
}

/// A payment object rendered from its stored body.
pub fn render_stored(
    table: portcullis_store::Table,
    body: &str,
) -> crate::error::ApiResult<Option<serde_json::Value>> {
    use portcullis_store::Table;
    let decode = |e: serde_json::Error| ApiError::internal(&e);
    Ok(match table {
        Table::PaymentIntents => Some(render::render_payment_intent(
            &serde_json::from_str(body).map_err(decode)?,
        )),
        Table::Charges => Some(render::render_charge(
            &serde_json::from_str(body).map_err(decode)?,
        )),
        Table::PaymentMethods => Some(render::render_payment_method(
            &serde_json::from_str(body).map_err(decode)?,
        )),
        _ => None,
    })
}

/// A payment object for `expand[]`, if the caller may see it.
pub async fn render_by_id(
    state: &AppState,
    scope: &Scope,
    id: &str,
) -> crate::error::ApiResult<Option<serde_json::Value>> {
    use portcullis_domain::charges::Charge;
    let found = match id.split('_').next() {
        Some("pi") => records::load::<PaymentIntent>(state, scope, id, "id")
            .await
            .map(|(_, r)| render::render_payment_intent(&r)),
        Some("ch") => records::load::<Charge>(state, scope, id, "id")
            .await
            .map(|(_, r)| render::render_charge(&r)),
        Some("pm") => methods::load(state, scope, id, "id")
            .await
            .map(|(_, r)| render::render_payment_method(&r)),
        _ => return Ok(None),
    };
    match found {
        Ok(value) => Ok(Some(value)),
        Err(err) if err.status == axum::http::StatusCode::NOT_FOUND => Ok(None),
        Err(err) => Err(err),
    }
}

/// 400 `payment_intent_unexpected_state`, naming the intent's status.
pub fn unexpected_state(intent: &PaymentIntent, action: &str) -> ApiError {
    let mut err = ApiError::invalid(
        "payment_intent_unexpected_state",
        format!(
            "This PaymentIntent's status is {}; it cannot be {action}.",
            intent.status.as_str()
        ),
        "intent",
    );
    err.extra.insert(
        "payment_intent".into(),
        render::render_payment_intent(intent),
    );
    err
}

/// CVCs held in memory only, between the request that gave one and the
/// authorization that uses it (PCI DSS 3.3.1): never written anywhere,
/// zeroized when taken, dropped after a short time.
pub struct CvcCache {
    held: Mutex<HashMap<String, (Cvc, Instant)>>,
}

/// How long a CVC waits for its authorization.
const CVC_HOLD: Duration = Duration::from_secs(600);
/// Most CVCs held at once.
const CVCS_HELD_MAX: usize = 50_000;

impl Default for CvcCache {
    fn default() -> Self {
        Self {
            held: Mutex::new(HashMap::new()),
        }
    }
}

impl CvcCache {
    pub fn hold(&self, payment_method: &str, cvc: Cvc) {
        let mut held = self.held.lock();
        if held.len() >= CVCS_HELD_MAX {
            held.retain(|_, (_, at)| at.elapsed() < CVC_HOLD);
        }
        if held.len() < CVCS_HELD_MAX {
            held.insert(payment_method.to_owned(), (cvc, Instant::now()));
        }
    }

    /// The CVC for `payment_method`, removed: it serves one authorization.
    pub fn take(&self, payment_method: &str) -> Option<Cvc> {
        let taken = self.held.lock().remove(payment_method);
        taken
            .filter(|(_, at)| at.elapsed() < CVC_HOLD)
            .map(|(cvc, _)| cvc)
    }
}

/// Sample payment objects for the OpenAPI document's schemas.
pub fn render_samples() -> Vec<(&'static str, serde_json::Value)> {
    use portcullis_domain::cards::{CardBrand, CardFunding};
    use portcullis_domain::charges::{Charge, ChargeStatus, Outcome};
    use portcullis_domain::money::{Amount, Currency};
    use portcullis_domain::payment_methods::{BillingDetails, CardDetails, PaymentMethod};
    use portcullis_domain::refunds::{Refund, RefundStatus};
    let usd = Currency::parse("usd").expect("usd exists");
    let card = CardDetails {
        brand: CardBrand::Visa,
        last4: "4242".into(),
        bin: "424242".into(),
        exp_month: 12,
        exp_year: 2030,
        funding: CardFunding::Credit,
        country: Some("US".into()),
        fingerprint: "fp".into(),
        cvc_check: None,
    };
    let method = PaymentMethod {
        id: "pm_sample".into(),
        created: 0,
        livemode: false,
        customer: None,
        billing_details: BillingDetails::default(),
        kind: Default::default(),
        card: Some(card.clone()),
        metadata: Default::default(),
        test_card: None,
    };
    let intent = PaymentIntent::create(
        Amount::parse_minor(100).expect("valid"),
        usd,
        vec!["card".into()],
        false,
        0,
    );
    let outcome = Outcome {
        network_status: "approved_by_network".into(),
        network_decline_code: None,
        reason: None,
        risk_level: "normal".into(),
        risk_score: 0,
        rule: None,
        seller_message: String::new(),
        kind: "authorized".into(),
        signals: Default::default(),
    };
    let charge = Charge {
        id: "ch_sample".into(),
        created: 0,
        livemode: false,
        amount_minor: 100,
        amount_captured_minor: 0,
        amount_refunded_minor: 0,
        currency: usd,
        captured: false,
        status: ChargeStatus::Succeeded,
        payment_intent: intent.id.clone(),
        payment_method: Some(method.id.clone()),
        customer: None,
        description: None,
        failure_code: None,
        failure_message: None,
        outcome,
        card: Some(card),
        disputed: false,
        connector_reference: None,
        attempt: "pa_sample".into(),
        balance_transaction: Some("txn_sample".into()),
        fee_minor: 0,
        fee_returned_minor: 0,
        review: None,
        presence: Default::default(),
        routing: None,
        wallet: None,
        receivable: None,
    };
    let refund = Refund {
        id: "re_sample".into(),
        created: 0,
        livemode: false,
        amount_minor: 100,
        currency: usd,
        charge: Some(charge.id.clone()),
        payment_intent: intent.id.clone(),
        customer: None,
        payment_method: Some(method.id.clone()),
        reason: None,
        status: RefundStatus::Succeeded,
        failure_reason: None,
        metadata: Default::default(),
        sent_to_connector: true,
        settled: true,
        balance_transaction: Some("txn_sample".into()),
        fee_returned_minor: 0,
        failure_balance_transaction: None,
        wallet: None,
    };
    vec![
        ("payment_method", render::render_payment_method(&method)),
        ("payment_intent", render::render_payment_intent(&intent)),
        ("charge", render::render_charge(&charge)),
        ("refund", render::render_refund(&refund)),
    ]
}

#[cfg(test)]
mod bound_tests {
    use super::{CvcCache, CVCS_HELD_MAX};
    use portcullis_domain::cards::{CardBrand, Cvc};

    #[test]
    fn held_cvcs_never_exceed_their_bound() {
        let cvcs = CvcCache::default();
        let cvc = || Cvc::parse("123", CardBrand::Visa).expect("a CVC");
        for n in 0..CVCS_HELD_MAX + 10 {
            cvcs.hold(&format!("pm_{n}"), cvc());
        }
        assert_eq!(cvcs.held.lock().len(), CVCS_HELD_MAX);
        // Past the bound a new CVC is not held (none has expired yet)…
        assert!(cvcs.take(&format!("pm_{}", CVCS_HELD_MAX + 5)).is_none());
        // …and taking one frees its place.
        assert!(cvcs.take("pm_0").is_some());
        cvcs.hold("pm_new", cvc());
        assert!(cvcs.take("pm_new").is_some());
    }
}
