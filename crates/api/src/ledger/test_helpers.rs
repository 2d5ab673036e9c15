//! Test helpers (test mode only, as Stripe's `/v1/test_helpers/…`): move a
//! sandbox's money through time without waiting for it. Each does exactly
//! what the ledger worker would do once the delay has passed — the same
//! write sets, the same ledger movements, the same events — only now, so
//! `portcullis ledger verify` holds after them as after the worker.
//!
//! - `POST /v1/test_helpers/balance/settle`: every pending balance
//!   transaction of the caller (optionally of one `currency`) becomes
//!   available now; answers the `balance`.
//! - `POST /v1/test_helpers/payouts/{id}/pay`: a pending payout is paid now
//!   (reserved → external, `payout.paid`); answers the payout.
//!
//! A live-mode key is refused with 400 `livemode_mismatch`: live money
//! moves on its schedule only.

use super::balance::balance_of;
use super::records::{Payout, PayoutStatus, PENDING};
use super::worker::{pay, settle};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::events::Origin;
use crate::idempotency::{self, json_response, Executed};
use crate::payments::records::load;
use crate::routes::{doc, Routes};
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_domain::api_keys::Access;
use portcullis_domain::money::Currency;
use portcullis_store::{CreatedRange, ListQuery, PageCursor, Scope, SqlValue, Table};
use serde_json::Value;

/// Balance transactions settled per page of the settle helper.
const SETTLE_PAGE_SIZE: usize = 100;
/// Pages one settle call goes through at most (10,000 transactions): what
/// remains pending after that is still shown as pending in the answer.
const SETTLE_PAGES_MAX: usize = 100;

use crate::routes::params as p;

const SETTLE: &[p::Param] = &[p::string("currency", 3)];

pub fn routes() -> Routes {
    Routes::new()
        .post(
            doc(
                "/v1/test_helpers/balance/settle",
                "Test mode: make every pending balance transaction available now",
                "balance",
            )
            .params(SETTLE),
            settle_balance,
        )
        .post(
            doc(
                "/v1/test_helpers/payouts/{id}/pay",
                "Test mode: pay a pending payout now",
                "payout",
            )
            .params(p::EXPAND_ONLY),
            pay_payout,
        )
}

/// Refuses a live-mode caller.
fn test_mode_only(caller: &Caller) -> ApiResult<()> {
    if caller.scope().livemode {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            crate::error::ErrorType::InvalidRequest,
            Some("livemode_mismatch"),
            "Test helpers only run in test mode: use a test-mode key (sk_test_…). \
             Live funds settle and live payouts are paid on their schedule only.",
        ));
    }
    Ok(())
}

async fn settle_balance(
    State(state): State<AppState>,
    caller: Caller,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        caller.require("balance", Access::Write)?;
        test_mode_only(&caller)?;
        let params = &mut request.params;
        let currency = match params.string("currency", 3)? {
            Some(code) => Some(
                Currency::parse(&code)
                    .map_err(|e| ApiError::invalid(e.code(), e.to_string(), "currency"))?,
            ),
            None => None,
        };
        std::mem::take(params).finish()?;
        let scope = caller.scope();
        settle_pending(&state, &scope, currency).await?;
        balance_of(&state, &scope).await
    };
    answer(result.await)
}

/// Settles the scope's pending balance transactions, a page at a time,
/// newest first; returns how many it settled.
async fn settle_pending(
    state: &AppState,
    scope: &Scope,
    currency: Option<Currency>,
) -> ApiResult<usize> {
    let mut filters = vec![("status", SqlValue::Text(PENDING.to_owned()))];
    if let Some(currency) = currency {
        filters.push(("currency", SqlValue::Text(currency.to_string())));
    }
    let query = ListQuery {
        scope: scope.clone(),
        filters,
        one_of: vec![],
        created: CreatedRange::default(),
        cursor: PageCursor::Newest,
        limit: SETTLE_PAGE_SIZE,
    };
    let now = state.now();
    let mut settled = 0;
    for _ in 0..SETTLE_PAGES_MAX {
        let page = state.store.list(Table::BalanceTransactions, &query).await?;
        for doc in &page.docs {
            match settle(state, scope, doc, now).await {
                Ok(()) => settled += 1,
                // The worker settled it meanwhile: nothing left to do.
                Err(err) if err.retry_on_fresh_state => {}
                Err(err) => return Err(err),
            }
        }
        if !page.has_more {
            break;
        }
    }
    Ok(settled)
}

async fn pay_payout(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Response {
    let parsed = caller
        .require("payouts", Access::Write)
        .and_then(|()| test_mode_only(&caller))
        .and_then(|()| {
            request.params.expand()?;
            std::mem::take(&mut request.params).finish()
        });
    if let Err(err) = parsed {
        return err.into_response();
    }
    idempotency::respond(&state, &caller, &request, || async {
        let scope = caller.scope();
        let (doc, payout) = load::<Payout>(&state, &scope, &id, "id").await?;
        if payout.status != PayoutStatus::Pending {
            return Err(ApiError::invalid(
                "payout_not_pending",
                format!(
                    "Only pending payouts can be paid; this one is {}.",
                    payout.status.as_str()
                ),
                "id",
            ));
        }
        let origin = Origin::of(&request);
        let (body, writes) = pay(&state, &scope, &doc, payout, &origin, state.now())?;
        Ok(Executed::ok(body, writes))
    })
    .await
}

fn answer(result: ApiResult<Value>) -> Response {
    match result {
        Ok(body) => json_response(StatusCode::OK, body.to_string()),
        Err(err) => err.into_response(),
    }
}
