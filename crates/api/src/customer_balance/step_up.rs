//! Step-up before paying from the balance (issue 15 item 4): a payment
//! above `accounts_balance_step_up_above` (minor units, any currency) does
//! not move money when confirmed. The intent answers `requires_action`
//! with `next_action.redirect_to_url` (the hosted step-up page); the
//! account holder steps up on that page (passkey, password or a code by
//! email), which completes it at once; an app may instead step up through
//! the API and call `POST /v1/accounts/payment_intents/{id}/authorize`:
//! with a fresh step-up the intent is paid from the balance and succeeds;
//! without one, or when the holder declines (`…/decline`, the page's
//! "Cancel payment", too many failed attempts), it fails cleanly, back to
//! `requires_payment_method` with `payment_intent_authentication_failure`,
//! and the balance is unchanged.

use crate::error::{ApiError, ApiResult};
use crate::events::event;
use crate::idempotency::Executed;
use crate::payments::confirm::{intent_write, ConfirmInput};
use crate::payments::render::render_payment_intent;
use crate::payments::Ctx;
use crate::state::AppState;
use portcullis_domain::payment_intents::{
    IntentEvent, NextAction, PaymentIntent, PaymentIntentStatus,
};
use portcullis_store::{Doc, Scope, WriteSet};

/// Whether paying `amount_minor` from the balance needs a step-up first.
pub fn needed(state: &AppState, amount_minor: i64) -> bool {
    matches!(state.settings.accounts.balance_step_up_above, Some(above) if amount_minor > above)
}

/// The hosted step-up page the holder is sent to for the intent `id`.
pub fn page_url(state: &AppState, id: &str) -> String {
    format!("{}/account/step_up?payment_intent={id}", state.base_url())
}

/// `intent` (stored as `doc`, or new) waiting for its holder's step-up:
/// `requires_action`, nothing debited.
pub fn ask(
    ctx: &Ctx<'_>,
    doc: Option<&Doc>,
    mut intent: PaymentIntent,
    mut writes: WriteSet,
    input: &ConfirmInput,
) -> ApiResult<Executed> {
    if let Some(url) = &input.return_url {
        intent.return_url = Some(url.clone());
    }
    for event in [
        IntentEvent::PaymentMethodGiven,
        IntentEvent::AuthenticationRequired,
    ] {
        intent
            .apply(event, "confirmed")
            .map_err(|_| crate::payments::unexpected_state(&intent, "confirmed"))?;
    }
    intent.payment_method = None;
    intent.last_payment_error = None;
    intent.next_action = Some(NextAction::RedirectToUrl {
        url: page_url(ctx.state, &intent.id),
        return_url: intent.return_url.clone(),
    });
    let body = render_payment_intent(&intent);
    writes.push(intent_write(ctx.scope, doc, &intent)?);
    writes.push(event(
        ctx.scope,
        "payment_intent.requires_action",
        &body,
        None,
        ctx.origin,
        ctx.state.now(),
    ));
    Ok(Executed::ok(body, writes))
}

/// Whether `intent` waits for a balance step-up.
pub fn waits_for_step_up(intent: &PaymentIntent) -> bool {
    intent.status == PaymentIntentStatus::RequiresAction
        && intent.payment_method.is_none()
        && intent.wallet.is_none()
        && intent
            .payment_method_types
            .iter()
            .any(|t| t == super::payments::METHOD_TYPE)
}

/// Counts one failed step-up (a wrong password or code) against the
/// balance payment `id` of `customer` while it waits for step-up; the
/// failures counted on that intent so far, or `None` when it no longer
/// waits. Per intent: two payments waiting at once keep their own counts
/// (the account-wide lockout counts every failure, elsewhere).
pub(crate) async fn count_failure(
    state: &AppState,
    scope: &Scope,
    id: &str,
    customer: &str,
) -> ApiResult<Option<i64>> {
    let _lock = state.locks.lock(id).await;
    let (doc, mut intent) =
        crate::payments::records::load::<PaymentIntent>(state, scope, id, "payment_intent").await?;
    if intent.customer.as_deref() != Some(customer) || !waits_for_step_up(&intent) {
        return Ok(None);
    }
    intent.step_up_failures = intent.step_up_failures.saturating_add(1);
    let ops = vec![intent_write(scope, Some(&doc), &intent)?];
    state.store.commit(WriteSet { ops }).await?;
    Ok(Some(intent.step_up_failures))
}

/// Completes the balance payment `id` of `customer` that waits for
/// step-up: paid when the holder's step-up is `fresh`, else failed.
pub(crate) async fn complete(
    ctx: &Ctx<'_>,
    id: &str,
    customer: &str,
    fresh: bool,
) -> ApiResult<Executed> {
    let _lock = ctx.state.locks.lock(id).await;
    let (doc, intent) =
        crate::payments::records::load::<PaymentIntent>(ctx.state, ctx.scope, id, "payment_intent")
            .await?;
    if intent.customer.as_deref() != Some(customer) {
        return Err(ApiError::no_such("payment_intent", id, "payment_intent"));
    }
    if !waits_for_step_up(&intent) {
        return Err(crate::payments::unexpected_state(&intent, "authorized"));
    }
    if fresh {
        return super::payments::pay_stepped_up(ctx, doc, intent).await;
    }
    let failed = crate::payments::outcome::authentication_failed(ctx, intent)?;
    let mut writes = failed.writes;
    writes.push(intent_write(ctx.scope, Some(&doc), &failed.intent)?);
    Ok(Executed::ok(failed.body, writes))
}
