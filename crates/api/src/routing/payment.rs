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
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::http::StatusCode;
use portcullis_connectors::Connector;
use portcullis_domain::payment_intents::PaymentIntent;
use portcullis_domain::payment_methods::PaymentMethod;
use portcullis_routing::{DecidedBy, Decision};
use portcullis_store::Scope;
use serde_json::{json, Value};
use std::sync::Arc;

/// Where an authorization goes, and why.
pub struct Route {
    pub connector: Arc<dyn Connector>,
    /// `None`: the server's own connector (no accounts in this mode).
    pub account: Option<String>,
    pub decision: Decision,
}

impl Route {
    /// The charge's `routing`, with the attempt (`pa_…`) made under it.
    pub fn explained(&self, attempt_id: &str) -> Value {
        let mut body = render_decision(&self.decision);
        body["attempts"] = json!([{ "id": attempt_id, "connector_account": self.account }]);
        body
    }
}

/// The route for `intent` paid by `method`.
pub async fn route(
    state: &AppState,
    scope: &Scope,
    intent: &PaymentIntent,
    method: &PaymentMethod,
) -> ApiResult<Route> {
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
        });
    }
    let facts = PaymentFacts {
        amount_minor: intent.amount.minor(),
        currency: intent.currency,
        card_brand: method.card.brand,
        bin: Some(&method.card.bin),
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
    let decision = decision::decide(&inputs, &payment, scope.livemode);
    let Some(chosen) = decision.connector_account.clone() else {
        if scope.livemode {
            state.connector_for(true)?;
        }
        return Err(no_account(&payment));
    };
    let stored = inputs
        .accounts
        .iter()
        .find(|s| s.account.id == chosen)
        .ok_or_else(|| ApiError::internal(&"decided on an account not loaded"))?;
    Ok(Route {
        connector: connector_of(state, stored)?,
        account: Some(chosen),
        decision,
    })
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
