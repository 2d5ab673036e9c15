//! Step-up before paying from the balance (issue 15 item 4). A confirmed
//! payment does not move money, and waits for the account holder, when
//! ([`reason`]):
//!
//! - a risk rule answered `request_3ds` (`risk_rule`);
//! - it was confirmed in a holder's session opened on a device the holder
//!   has never stepped up (or signed in with a passkey) on (`new_device`;
//!   see `accounts::devices`);
//! - it is above `accounts_balance_step_up_above` (`amount`).
//!
//! The intent answers `requires_action` with `next_action.redirect_to_url`
//! (the hosted step-up page) and `balance_step_up` (`reason`,
//! `expires_at`). The holder steps up on that page (passkey, password or a
//! code by email), which completes it at once; an app may instead step up
//! through the API and call `POST /v1/accounts/payment_intents/{id}/authorize`:
//! with a fresh step-up before `expires_at` the intent is paid from the
//! balance and succeeds; without one, or when the holder declines
//! (`…/decline`, the page's "Cancel payment", too many failed attempts),
//! it fails cleanly, back to `requires_payment_method` with
//! `payment_intent_authentication_failure`, and the balance is unchanged.
//! An intent still waiting at `expires_at` is failed the same way by the
//! expiry worker ([`super::step_up_expiry`]).

use crate::error::{ApiError, ApiResult};
use crate::events::event;
use crate::idempotency::Executed;
use crate::payments::confirm::{intent_write, ConfirmInput};
use crate::payments::render::render_payment_intent;
use crate::payments::Ctx;
use crate::state::AppState;
use portcullis_domain::payment_intents::{
    BalanceStepUp, IntentEvent, NextAction, PaymentIntent, PaymentIntentStatus, StepUpReason,
};
use portcullis_risk::Action;
use portcullis_store::{Doc, Scope, WriteSet};

/// The account holder whose session a confirmation carried.
#[derive(Clone, Debug)]
pub struct HolderDevice {
    /// The holder's customer (`cus_…`).
    pub customer: String,
    /// Whether the session's device is one the holder has stepped up on
    /// (`false` also when the session was opened without a device).
    pub device_known: bool,
}

/// Why paying `amount_minor` from the balance needs the holder's step-up
/// first, given the risk rule's `action` and the confirming `holder`; the
/// strongest reason when several apply, `None` when none does.
pub fn reason(
    state: &AppState,
    amount_minor: i64,
    action: Action,
    holder: Option<&HolderDevice>,
) -> Option<StepUpReason> {
    let above = state.settings.accounts.balance_step_up_above;
    if action == Action::RequestThreeDs {
        Some(StepUpReason::RiskRule)
    } else if holder.is_some_and(|h| !h.device_known) {
        Some(StepUpReason::NewDevice)
    } else if above.is_some_and(|above| amount_minor > above) {
        Some(StepUpReason::Amount)
    } else {
        None
    }
}

/// The hosted step-up page the holder is sent to for the intent `id`.
pub fn page_url(state: &AppState, id: &str) -> String {
    format!("{}/account/step_up?payment_intent={id}", state.base_url())
}

/// `intent` (stored as `doc`, or new) waiting for its holder's step-up
/// for `reason`: `requires_action`, nothing debited.
pub fn ask(
    ctx: &Ctx<'_>,
    doc: Option<&Doc>,
    mut intent: PaymentIntent,
    mut writes: WriteSet,
    input: &ConfirmInput,
    reason: StepUpReason,
) -> ApiResult<Executed> {
    if let Some(url) = &input.return_url {
        intent.return_url = Some(url.clone());
    }
    intent
        .apply(IntentEvent::AuthenticationRequired, "confirmed")
        .map_err(|_| crate::payments::unexpected_state(&intent, "confirmed"))?;
    intent.payment_method = None;
    intent.last_payment_error = None;
    intent.next_action = Some(NextAction::RedirectToUrl {
        url: page_url(ctx.state, &intent.id),
        return_url: intent.return_url.clone(),
    });
    let (now, wait_s) = (
        ctx.state.now(),
        ctx.state.settings.accounts.balance_step_up_expires_s,
    );
    intent.balance_step_up = Some(BalanceStepUp {
        reason,
        asked_at: now,
        expires_at: now.saturating_add(wait_s),
    });
    crate::metrics::count_payment("requires_action", None);
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

/// Whether the wait of `intent` for its step-up is over at `now`.
pub(super) fn expired(intent: &PaymentIntent, now: i64) -> bool {
    intent
        .waiting_balance_step_up()
        .is_some_and(|wait| wait.expires_at <= now)
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
/// step-up: paid when the holder's step-up is `fresh` and the wait has not
/// expired, else failed.
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
    if fresh && !expired(&intent, ctx.state.now()) {
        return super::payments::pay_stepped_up(ctx, doc, intent).await;
    }
    fail(ctx, &doc, intent)
}

/// Fails `intent` (stored as `doc`), which waits for its step-up: back to
/// `requires_payment_method` with `payment_intent_authentication_failure`
/// and its `payment_intent.payment_failed` event; nothing debited. The
/// write is version-checked, so a concurrent payment or failure wins once.
pub(super) fn fail(ctx: &Ctx<'_>, doc: &Doc, intent: PaymentIntent) -> ApiResult<Executed> {
    let failed = crate::payments::outcome::authentication_failed(ctx, intent)?;
    let mut writes = failed.writes;
    writes.push(intent_write(ctx.scope, Some(doc), &failed.intent)?);
    Ok(Executed::ok(failed.body, writes))
}
