//! Paying a Checkout Session from its customer's stored value (the
//! e-wallet, `payment_method_types[]=customer_balance`). Only the
//! session's own customer may: the hosted account pages (whose cookie the
//! checkout page never sees) say who is signed in, and call [`view`] for
//! what the page shows and [`pay`] to pay. The session's PaymentIntent
//! (created on the first attempt, as for cards) is confirmed from the
//! balance through the same path as `POST /v1/payment_intents/…/confirm`:
//! it succeeds at once (the wallet debited in the same commit), or asks
//! for the holder's step-up (`next_action.redirect_to_url`, coming back to
//! `/checkout/{id}/return`). A balance too small or a limit breached
//! answers a message in the page's language, nothing moved.

use super::page::{find, locale_of};
use super::pay::{check_payable, confirm_for, return_url, settle, Confirmed, Outcome};
use super::texts::Texts;
use crate::customer_balance::step_up::HolderDevice;
use crate::error::ApiResult;
use crate::events::Origin;
use crate::hosted::money::format_amount;
use crate::hosted::Locale;
use crate::payments::confirm::{ConfirmInput, MethodSource};
use crate::payments::Ctx;
use crate::state::AppState;
use axum::http::HeaderMap;
use portcullis_domain::checkout::{CheckoutMethod, CheckoutSession};
use portcullis_domain::ids::CustomerId;
use portcullis_store::Scope;
use serde_json::{json, Value};

/// The parameter a refusal of the method names.
const PARAM: &str = "payment_method_types";

/// Whether the holder signed in to `realm` as `customer` is session's.
fn is_payer(
    session_scope: &Scope,
    session: &CheckoutSession,
    realm: &Scope,
    customer: &str,
) -> bool {
    session_scope == realm && session.customer.as_deref() == Some(customer)
}

/// What the page shows the signed-in `customer` of `realm` for session
/// `id`: their available balance in the session's currency (formatted for
/// `locale`) and whether it covers the total, or why they cannot pay.
pub async fn view(
    state: &AppState,
    id: &str,
    realm: &Scope,
    customer: &str,
    locale: Locale,
) -> ApiResult<Value> {
    let (scope, _, session) = find(state, id).await?;
    check_payable(state, &session, CheckoutMethod::CustomerBalance, PARAM)?;
    let t = Texts::of(locale);
    let Some(customer_id) =
        CustomerId::parse(customer).filter(|_| is_payer(&scope, &session, realm, customer))
    else {
        return Ok(
            json!({ "signed_in": true, "payer": false, "message": t.balance_wrong_customer }),
        );
    };
    let held =
        crate::customer_balance::held_minor(state, &scope, &customer_id, session.currency).await?;
    let sufficient = held >= session.amount_total_minor;
    Ok(json!({
        "signed_in": true,
        "payer": true,
        "available": format_amount(held, session.currency, locale),
        "sufficient": sufficient,
        "message": if sufficient { Value::Null } else { json!(t.balance_insufficient) },
    }))
}

/// Pays session `id` from the balance of `holder`, signed in to `realm`:
/// what the page's script does next ([`Outcome`]). A session of a device
/// the holder has not proven themself on waits for their step-up
/// (`new_device`), as an app's confirmation with `Account-Session` does.
pub async fn pay(
    state: &AppState,
    id: &str,
    realm: &Scope,
    holder: HolderDevice,
    query_locale: Option<&str>,
    headers: &HeaderMap,
    origin: &Origin,
) -> ApiResult<Value> {
    // One payment at a time per session, as for cards and wallets.
    let _lock = state.locks.lock(id).await;
    let (scope, doc, session) = find(state, id).await?;
    let locale = locale_of(query_locale, &session, headers);
    let t = Texts::of(locale);
    check_payable(state, &session, CheckoutMethod::CustomerBalance, PARAM)?;
    if !is_payer(&scope, &session, realm, &holder.customer) {
        return Ok(Outcome::Failed(t.balance_wrong_customer).into_json());
    }
    let Some(counted) = session.attempted() else {
        return Ok(Outcome::Failed(t.too_many_attempts).into_json());
    };
    let ctx = Ctx {
        state,
        scope: &scope,
        origin,
    };
    let input = ConfirmInput {
        method: Some(MethodSource::CustomerBalance),
        return_url: Some(return_url(state, &session, query_locale)),
        off_session: false,
        customer_ip: None,
        wallet_options: Default::default(),
        holder: Some(holder),
    };
    let done = match confirm_for(&ctx, &doc, &session, counted, &input).await {
        Ok(Confirmed::Done(done)) => done,
        Ok(Confirmed::AlreadyPaid(outcome)) => return Ok(outcome.into_json()),
        // Refused before anything moved: too little, or over a limit.
        Err(err) if is_wallet_refusal(err.code) => {
            return Ok(Outcome::Failed(t.failure(err.code, None)).into_json())
        }
        Err(err) => return Err(err),
    };
    Ok(settle(&ctx, &session, done, locale).await?.into_json())
}

fn is_wallet_refusal(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("balance_insufficient" | "balance_limit_exceeded")
    )
}
