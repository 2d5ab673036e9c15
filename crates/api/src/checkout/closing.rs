//! What a session's PaymentIntent means for closing the session. A session
//! about to expire whose intent is paid is completed instead (the paying
//! commit completed it already, unless the intent was made before intents
//! named their session); one whose intent has an authorization in flight waits for its
//! outcome; otherwise its intent is canceled (`abandoned`) first, as
//! Stripe does, so no payment can succeed on an expired session.

use crate::error::ApiResult;
use crate::events::Origin;
use crate::payments::capture::cancel_intent;
use crate::payments::records::load;
use crate::payments::Ctx;
use crate::state::AppState;
use portcullis_domain::checkout::CheckoutSession;
use portcullis_domain::payment_intents::{CancellationReason, PaymentIntent, PaymentIntentStatus};
use portcullis_store::Scope;

/// What may be done with a session about to be expired.
pub enum Closing {
    /// Its intent is paid: complete the session with it instead.
    Paid(String),
    /// An authorization is in flight: decide once its outcome is known.
    InFlight,
    /// Nothing can pay it any more (its intent, if any, is now canceled).
    Expire,
}

/// Reads the session's intent and, when the session may expire, cancels
/// the intent (its writes committed here).
pub async fn before_expiry(
    state: &AppState,
    scope: &Scope,
    session: &CheckoutSession,
    origin: &Origin,
) -> ApiResult<Closing> {
    let Some(intent_id) = &session.payment_intent else {
        return Ok(Closing::Expire);
    };
    let (_, intent) = load::<PaymentIntent>(state, scope, intent_id, "payment_intent").await?;
    if is_paid(&intent) {
        return Ok(Closing::Paid(intent.id));
    }
    if intent.pending_attempt.is_some() || intent.status == PaymentIntentStatus::Processing {
        return Ok(Closing::InFlight);
    }
    if intent.status != PaymentIntentStatus::Canceled {
        let ctx = Ctx {
            state,
            scope,
            origin,
        };
        let done =
            cancel_intent(&ctx, intent_id, Some(CancellationReason::Abandoned), None).await?;
        state.store.commit(done.writes).await?;
    }
    Ok(Closing::Expire)
}

/// The session's intent, when it is paid (succeeded, or authorized for a
/// manual capture).
pub async fn paid_intent(
    state: &AppState,
    scope: &Scope,
    session: &CheckoutSession,
) -> ApiResult<Option<String>> {
    let Some(intent_id) = &session.payment_intent else {
        return Ok(None);
    };
    let (_, intent) = load::<PaymentIntent>(state, scope, intent_id, "payment_intent").await?;
    Ok(is_paid(&intent).then_some(intent.id))
}

/// Whether the session's intent waits for a wallet trade to be paid (the
/// customer may come back from the wallet's page before its notification).
pub async fn awaits_wallet(
    state: &AppState,
    scope: &Scope,
    session: &CheckoutSession,
) -> ApiResult<bool> {
    let Some(intent_id) = &session.payment_intent else {
        return Ok(false);
    };
    let (_, intent) = load::<PaymentIntent>(state, scope, intent_id, "payment_intent").await?;
    Ok(intent.wallet.is_some() && intent.status == PaymentIntentStatus::RequiresAction)
}

pub fn is_paid(intent: &PaymentIntent) -> bool {
    matches!(
        intent.status,
        PaymentIntentStatus::Succeeded | PaymentIntentStatus::RequiresCapture
    )
}
