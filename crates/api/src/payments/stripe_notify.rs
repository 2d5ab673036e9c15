//! `POST /notify/stripe/{ca_…}`: the signed webhooks of a `stripe`
//! account's upstream (Stripe, or another Portcullis), as asynchronous
//! updates of what we sent it.
//!
//! The delivery must carry `Stripe-Signature: t=…,v1=…` made with the
//! account's `credentials[webhook_secret]` over the raw body, its `t`
//! within [`TOLERANCE_S`] of our clock. Then:
//! - a `payment_intent` object whose `metadata[portcullis_attempt]` names
//!   one of our attempts sent through this account: if that payment still
//!   has an attempt pending (an authorization, capture or void whose
//!   answer was lost), it is settled now as recovery would (by asking the
//!   upstream, never by trusting the event's body);
//! - a `refund` object whose `metadata[portcullis_refund]` names one of
//!   our refunds: the refund is settled by asking its status.
//!
//! Anything else is acknowledged without effect. A refused delivery gets
//! a 400 (our fault: 500), so that the upstream retries.

use super::attempts::Attempt;
use super::wallets::notify::Refusal;
use crate::connector_accounts;
use crate::error::{ApiError, ApiResult};
use crate::routes::{doc, params, Routes};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use portcullis_connectors::stripe::wire::{ATTEMPT_KEY, REFUND_KEY};
use portcullis_domain::connector_accounts::ConnectorType;
use portcullis_domain::payment_intents::PaymentIntent;
use portcullis_domain::refunds::Refund;
use portcullis_domain::webhooks::{signature::verified_timestamp, WebhookSecret};
use portcullis_store::{Scope, Table};
use serde_json::Value;

/// How far a delivery's signed timestamp may be from our clock (Stripe's
/// libraries' default).
pub const TOLERANCE_S: i64 = 300;

pub fn routes() -> Routes {
    Routes::new().post(
        doc(
            "/notify/stripe/{id}",
            "A `stripe` connector account's upstream webhook (signed with its webhook_secret)",
            "",
        )
        .params(params::NONE)
        .public()
        .not_json(),
        receive,
    )
}

async fn receive(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match take(&state, &id, &headers, &body).await {
        Ok(effect) => {
            tracing::info!(account = %id, effect, "stripe webhook taken");
            (
                StatusCode::OK,
                axum::Json(serde_json::json!({"received": true})),
            )
                .into_response()
        }
        Err(refusal) => {
            tracing::warn!(account = %id, reason = %refusal.reason, "stripe webhook refused");
            let status = if refusal.ours {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::BAD_REQUEST
            };
            (status, axum::Json(serde_json::json!({"received": false}))).into_response()
        }
    }
}

/// The verified event's object, with the account's scope.
async fn verified(
    state: &AppState,
    id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Scope, Value), Refusal> {
    let Some((scope, stored)) = super::wallets::account::by_id(state, id).await? else {
        return Err(Refusal::theirs(format!("no connector account {id}")));
    };
    if stored.account.kind != ConnectorType::Stripe {
        return Err(Refusal::theirs(format!("{id} is not a stripe account")));
    }
    let secrets = connector_accounts::open(state, &stored)?;
    let secret = secrets
        .get("webhook_secret")
        .ok_or_else(|| Refusal::theirs(format!("{id} has no credentials[webhook_secret]")))?;
    let header = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Refusal::theirs("no Stripe-Signature header"))?;
    let signed_at = verified_timestamp(header, &WebhookSecret::from_stored(secret.clone()), body)
        .ok_or_else(|| Refusal::theirs("signature does not verify"))?;
    if (state.now() - signed_at).abs() > TOLERANCE_S {
        return Err(Refusal::theirs("signature timestamp outside the tolerance"));
    }
    let event: Value =
        serde_json::from_slice(body).map_err(|_| Refusal::theirs("body is not JSON"))?;
    let object = event
        .pointer("/data/object")
        .cloned()
        .ok_or_else(|| Refusal::theirs("event without data.object"))?;
    Ok((scope, object))
}

async fn take(
    state: &AppState,
    id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<&'static str, Refusal> {
    let (scope, object) = verified(state, id, headers, body).await?;
    let ours = |key: &str| {
        object
            .get("metadata")
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    match object.get("object").and_then(Value::as_str) {
        Some("payment_intent") => match ours(ATTEMPT_KEY) {
            Some(attempt) => Ok(settle_payment(state, &scope, id, &attempt).await?),
            None => Ok("not ours"),
        },
        Some("refund") => match ours(REFUND_KEY) {
            Some(refund) => Ok(settle_refund(state, &scope, &refund).await?),
            None => Ok("not ours"),
        },
        _ => Ok("ignored"),
    }
}

async fn attempt(state: &AppState, scope: &Scope, id: &str) -> ApiResult<Option<Attempt>> {
    let Some(doc) = state.store.get(Table::PaymentAttempts, scope, id).await? else {
        return Ok(None);
    };
    serde_json::from_str(&doc.body)
        .map(Some)
        .map_err(|e| ApiError::internal(&e))
}

/// Settles the attempt pending on the payment of our authorization
/// `attempt_id`, when it was sent through account `account`.
async fn settle_payment(
    state: &AppState,
    scope: &Scope,
    account: &str,
    attempt_id: &str,
) -> Result<&'static str, Refusal> {
    let Some(authorization) = attempt(state, scope, attempt_id).await? else {
        return Ok("unknown attempt");
    };
    if authorization.connector_account.as_deref() != Some(account) {
        return Err(Refusal::theirs(
            "the attempt was not sent through this account",
        ));
    }
    let (_, intent) = super::records::load::<PaymentIntent>(
        state,
        scope,
        &authorization.payment_intent,
        "payment_intent",
    )
    .await?;
    let Some(pending_id) = intent.pending_attempt.as_deref() else {
        return Ok("nothing pending");
    };
    let Some(pending) = attempt(state, scope, pending_id).await? else {
        return Ok("nothing pending");
    };
    if pending.resolved || pending.authorization_id() != attempt_id {
        return Ok("nothing pending");
    }
    super::recovery::settle(state, scope, &pending).await?;
    Ok("pending attempt settled")
}

async fn settle_refund(
    state: &AppState,
    scope: &Scope,
    refund_id: &str,
) -> Result<&'static str, Refusal> {
    let Some(doc) = state
        .store
        .get(Table::Refunds, scope, refund_id)
        .await
        .map_err(ApiError::from)?
    else {
        return Ok("unknown refund");
    };
    let refund: Refund = serde_json::from_str(&doc.body).map_err(|e| ApiError::internal(&e))?;
    let Some(charge) = refund.charge.as_deref() else {
        return Ok("not a card refund");
    };
    super::refunds::settle(state, scope, charge, &refund.id).await?;
    Ok("refund settled")
}
