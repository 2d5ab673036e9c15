//! The signed-in holder's own wallet actions: a withdrawal of their stored
//! value as a payout (`POST /v1/accounts/balance/payouts`), the same
//! payout the merchant makes with `POST /v1/payouts` and `customer=`
//! (`customer_balance::payouts`). Money leaving the wallet is a sensitive
//! action: it needs a fresh passkey step-up when the account has one.

use super::{session, step_up};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::events::Origin;
use crate::idempotency;
use crate::ledger::payouts::{CreateRequest, DESCRIPTION_CHARS_MAX};
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use portcullis_domain::metadata::Metadata;
use portcullis_domain::money::{Amount, Currency};

fn parse(request: &mut ApiRequest) -> ApiResult<CreateRequest> {
    let params = &mut request.params;
    let amount = params
        .integer("amount")?
        .ok_or_else(|| ApiError::missing_parameter("amount"))?;
    let amount = Amount::parse_minor(amount)
        .map_err(|e| ApiError::invalid(e.code(), e.to_string(), "amount"))?;
    let currency = Currency::parse(&params.required_string("currency", 3)?)
        .map_err(|e| ApiError::invalid(e.code(), e.to_string(), "currency"))?;
    let description = params.string("description", DESCRIPTION_CHARS_MAX)?;
    std::mem::take(params).finish()?;
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
        let mut create = parse(&mut request)?;
        let signed_in = session::signed_in(&state, &caller, &headers).await?;
        step_up::require_fresh(&state, &signed_in).await?;
        create.customer = Some(signed_in.account.customer.to_string());
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
