//! Routing on the payment path: the connector that takes an authorization,
//! and what the charge shows of the decision (`routing`).
//!
//! A merchant with no card connector accounts in the mode pays through the
//! server's connector, as before routing existed (test mode only: live
//! payments are refused). With accounts, the decision of
//! `portcullis-routing` picks one; a live payment only ever goes to a live
//! account of a real institution (never the sandbox), and a payment no
//! account serves is refused before anything is stored.

use super::connectors::connector_of;
use super::decision::{self, PaymentFacts};
use super::evaluate::render_decision;
use super::health;
use super::success::{self, Segment};
use crate::connector_accounts::StoredAccount;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::http::StatusCode;
use portcullis_connectors::Connector;
use portcullis_domain::payment_intents::PaymentIntent;
use portcullis_domain::payment_methods::{CardDetails, PaymentMethod};
use portcullis_routing::{DecidedBy, Decision};
use portcullis_store::Scope;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::Arc;

/// Where an authorization goes, and why; and where it fails over to.
pub struct Route {
    pub connector: Arc<dyn Connector>,
    /// `None`: the server's own connector (no accounts in this mode).
    pub account: Option<String>,
    pub decision: Decision,
    /// The account now chosen (`None` with the server's connector).
    current: Option<StoredAccount>,
    /// The candidates not tried yet, in failover order.
    fallbacks: VecDeque<StoredAccount>,
    /// The tries made so far (`attempts` of the charge's `routing`).
    tried: Vec<Value>,
    /// What success rates count this payment under.
    pub segment: Segment,
}

impl Route {
    /// The charge's `routing`, with the attempts (`pa_…`) made under it,
    /// `attempt_id` last.
    pub fn explained(&self, attempt_id: &str) -> Value {
        let mut body = render_decision(&self.decision);
        let mut attempts = self.tried.clone();
        attempts.push(json!({ "id": attempt_id, "connector_account": self.account }));
        body["attempts"] = Value::Array(attempts);
        body
    }

    /// The account now chosen, when it is a connector account.
    pub fn current(&self) -> Option<&StoredAccount> {
        self.current.as_ref()
    }

    /// Whether another account could take the payment if this one fails.
    pub fn has_fallback(&self) -> bool {
        !self.fallbacks.is_empty()
    }

    /// After attempt `attempt_id` failed softly (`failure`), known not to
    /// have authorized: moves to the next candidate whose circuit lets it
    /// through (`decided_by: "failover"`). False when none is left.
    pub async fn fail_over(
        &mut self,
        state: &AppState,
        scope: &Scope,
        attempt_id: &str,
        failure: &str,
    ) -> ApiResult<bool> {
        let Some(next) = next_admitted(state, scope, &mut self.fallbacks).await else {
            return Ok(false);
        };
        self.tried.push(json!({
            "id": attempt_id,
            "connector_account": self.account,
            "failure": failure,
        }));
        tracing::info!(attempt = %attempt_id, from = ?self.account, to = %next.account.id, failure, "failing over to the next connector account");
        self.take(state, next)?;
        self.decision.decided_by = DecidedBy::Failover;
        Ok(true)
    }

    fn take(&mut self, state: &AppState, next: StoredAccount) -> ApiResult<()> {
        self.connector = connector_of(state, &next)?;
        self.account = Some(next.account.id.clone());
        self.decision.connector_account = self.account.clone();
        self.current = Some(next);
        Ok(())
    }
}

/// The first of `queue` whose circuit admits a call now (the others before
/// it are dropped: their circuits are open).
async fn next_admitted(
    state: &AppState,
    scope: &Scope,
    queue: &mut VecDeque<StoredAccount>,
) -> Option<StoredAccount> {
    while let Some(next) = queue.pop_front() {
        let (admission, transition) = health::admit(&next.account.id);
        if let Some(transition) = transition {
            health::announce(state, scope, &next, transition).await;
        }
        if admission.allowed() {
            return Some(next);
        }
    }
    None
}

/// The route for `intent` paid by `method`. `pinned`: the account that
/// asked the cardholder to authenticate, which alone can continue the
/// authorization it challenged (3-D Secure): it takes the continuation, with
/// no failover, whatever a split would draw now.
pub async fn route(
    state: &AppState,
    scope: &Scope,
    intent: &PaymentIntent,
    method: &PaymentMethod,
    pinned: Option<&str>,
) -> ApiResult<Route> {
    let card = crate::payments::methods::card_of(method)?;
    let inputs = decision::load(state, scope).await?;
    if inputs.accounts.is_empty() {
        return Ok(Route {
            connector: state.connector_for(scope.livemode)?.clone(),
            account: None,
            decision: Decision {
                connector_account: None,
                decided_by: DecidedBy::Default,
                rule: None,
                candidates: vec![],
            },
            current: None,
            fallbacks: VecDeque::new(),
            tried: vec![],
            segment: segment_of(intent, card),
        });
    }
    let facts = PaymentFacts {
        amount_minor: intent.amount.minor(),
        currency: intent.currency,
        card_brand: card.brand,
        bin: Some(&card.bin),
        card_funding: None,
        card_country: None,
        payment_method_type: "card".to_owned(),
        customer: intent.customer.clone(),
        metadata: intent
            .metadata
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
    };
    let payment = decision::payment_of(state, scope.livemode, facts);
    let mut decision = decision::decide(&inputs, &payment, scope.livemode);
    let segment = segment_of(intent, card);
    match pinned.filter(|id| decision.candidates.iter().any(|c| c == id)) {
        Some(pinned) => {
            decision.connector_account = Some(pinned.to_owned());
            decision.candidates = vec![pinned.to_owned()];
        }
        None => success::decide(state, scope, &mut decision, &segment).await?,
    }
    let Some(chosen) = decision.connector_account.clone() else {
        if scope.livemode {
            state.connector_for(true)?;
        }
        return Err(no_account(&payment));
    };
    let mut queue: VecDeque<StoredAccount> = decision
        .candidates
        .iter()
        .filter_map(|id| {
            inputs
                .accounts
                .iter()
                .find(|s| s.account.id == *id)
                .cloned()
        })
        .collect();
    let first = queue
        .front()
        .cloned()
        .ok_or_else(|| ApiError::internal(&"decided on an account not loaded"))?;
    let mut route = Route {
        connector: connector_of(state, &first)?,
        account: Some(chosen.clone()),
        decision,
        current: Some(first.clone()),
        fallbacks: VecDeque::new(),
        tried: vec![],
        segment,
    };
    // Accounts whose circuit is open are skipped; when every circuit is
    // open, the decision's own account is tried all the same.
    if let Some(admitted) = next_admitted(state, scope, &mut queue).await {
        if admitted.account.id != chosen {
            tracing::info!(skipped = %chosen, to = %admitted.account.id, "circuit open; routing to the next connector account");
            route.decision.decided_by = DecidedBy::Failover;
        }
        route.take(state, admitted)?;
    }
    route.fallbacks = queue;
    Ok(route)
}

fn segment_of(intent: &PaymentIntent, card: &CardDetails) -> Segment {
    Segment {
        brand: card.brand,
        currency: intent.currency,
        bin: Some(card.bin.clone()).filter(|bin| !bin.is_empty()),
    }
}

fn no_account(payment: &portcullis_routing::Payment) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        crate::error::ErrorType::InvalidRequest,
        Some("no_connector_available"),
        format!(
            "No enabled connector account takes {} cards in {}: enable one, or list the brand and currency on one.",
            payment.card_brand.as_str(),
            payment.currency.as_str()
        ),
    )
}

/// Refuses a live payment at once when the merchant has no live card
/// account of a real institution (before anything is read or stored).
pub async fn check_live(state: &AppState, scope: &Scope) -> ApiResult<()> {
    if !scope.livemode {
        return Ok(());
    }
    let inputs = decision::load(state, scope).await?;
    let real = inputs.accounts.iter().any(|s| {
        s.account.kind.is_real_institution()
            && s.account.routing.as_ref().is_some_and(|r| r.enabled)
    });
    if real {
        return Ok(());
    }
    state.connector_for(true).map(drop)
}
