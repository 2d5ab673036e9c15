//! The signed-in holder's own wallet actions: a withdrawal of their stored
//! value as a payout (`POST /v1/accounts/balance/payouts`), the same
//! payout the merchant makes with `POST /v1/payouts` and `customer=`
//! (`customer_balance::payouts`). Money leaving the wallet is a sensitive
//! action: it needs a fresh passkey step-up when the account has one.
//! The holder also completes a payment from their balance that waits for
//! step-up (`POST /v1/accounts/payment_intents/{id}/authorize`, or
//! `…/decline` to refuse it; `customer_balance::step_up`).

use super::{session, step_up};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::events::Origin;
use crate::idempotency;
use crate::ledger::payouts::{parse_money, CreateRequest, DESCRIPTION_CHARS_MAX};
use crate::payments::Ctx;
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use portcullis_domain::metadata::Metadata;

fn parse(params: &mut crate::wire::Params) -> ApiResult<CreateRequest> {
    let (amount, currency) = parse_money(params)?;
    let description = params.string("description", DESCRIPTION_CHARS_MAX)?;
    Ok(CreateRequest {
        amount,
        currency,
        customer: None,
        description,
        metadata: Metadata::default(),
    })
}

pub async fn create_payout(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let checked = async {
        let (holder, mut create) =
            session::holder(&state, &caller, &headers, &mut request, parse).await?;
        step_up::require_fresh(&state, &holder.signed_in).await?;
        create.customer = Some(holder.signed_in.account.customer.to_string());
        Ok::<_, ApiError>(create)
    };
    let create = match checked.await {
        Ok(create) => create,
        Err(err) => return err.into_response(),
    };
    let customer = create.customer.clone().unwrap_or_default();
    idempotency::respond(&state, &caller, &request, || async {
        let (scope, origin) = (caller.scope(), Origin::of(&request));
        crate::customer_balance::payouts::withdraw(&state, &scope, &customer, &create, &origin)
            .await
    })
    .await
}

/// `POST /v1/accounts/payment_intents/{id}/authorize`: the signed-in
/// holder completes a payment from their balance that waits for step-up:
/// paid when the session's step-up (passkey, password or emailed code)
/// is fresh, else failed.
pub async fn authorize(
    state: State<AppState>,
    caller: Caller,
    id: Path<String>,
    headers: HeaderMap,
    request: ApiRequest,
) -> Response {
    finish(state, caller, id, headers, request, Finish::Authorize).await
}

/// `POST /v1/accounts/payment_intents/{id}/decline`: the holder refuses
/// it; it fails cleanly, the balance unchanged.
pub async fn decline(
    state: State<AppState>,
    caller: Caller,
    id: Path<String>,
    headers: HeaderMap,
    request: ApiRequest,
) -> Response {
    finish(state, caller, id, headers, request, Finish::Decline).await
}

/// What the holder does with a payment waiting for their step-up.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Finish {
    Authorize,
    Decline,
}

async fn finish(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    mut request: ApiRequest,
    how: Finish,
) -> Response {
    let holder = session::holder(&state, &caller, &headers, &mut request, |_| Ok(())).await;
    let holder = match holder {
        Ok((holder, ())) => holder,
        Err(err) => return err.into_response(),
    };
    // A failed or expired step-up is an answer too: it fails the intent.
    let fresh = how == Finish::Authorize
        && holder
            .signed_in
            .session
            .session
            .payment_stepped_up(state.now());
    idempotency::respond(&state, &caller, &request, || async {
        let (scope, origin) = (caller.scope(), Origin::of(&request));
        let ctx = Ctx {
            state: &state,
            scope: &scope,
            origin: &origin,
        };
        let customer = holder.signed_in.account.customer.to_string();
        crate::customer_balance::step_up::complete(&ctx, &id, &customer, fresh).await
    })
    .await
}
