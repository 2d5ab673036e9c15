//! `/v1/payouts`: create (from the available balance, which it may not
//! exceed: 400 `balance_insufficient`), retrieve, list, and cancel while
//! pending. A payout reserves its amount at once; the worker pays it on
//! its `arrival_date`, when the reserve leaves the system.
//!
//! With `customer=cus_…` the payout is a withdrawal of that customer's
//! stored value instead (`customer_balance::payouts`): the same object,
//! worker and cancel, the money coming from and returning to the wallet.

use super::booking::{book, header, ledger_failure, parties, View};
use super::records::{render_payout, Payout, PayoutStatus};
use crate::auth::Caller;
use crate::customer_balance;
use crate::error::{ApiError, ApiResult};
use crate::events::{event, Origin};
use crate::idempotency::{self, json_response, Executed};
use crate::lists;
use crate::payments::records::{self, decode_all, load};
use crate::routes::{doc, Routes};
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_domain::api_keys::Access;
use portcullis_domain::ids::{new_id, CustomerId};
use portcullis_domain::metadata::{Metadata, MetadataUpdate};
use portcullis_domain::money::{Amount, Currency};
use portcullis_ledger::{movements, Account, Bucket, TransactionKind};
use portcullis_store::{ListQuery, Scope, SqlValue, StoreError, Table, WriteSet};
use serde_json::Value;

const RESOURCE: &str = "payouts";
/// Longest payout description accepted.
pub(crate) const DESCRIPTION_CHARS_MAX: usize = 1_000;

use crate::routes::params::{self as p, Param};

const CREATE: &[Param] = &[
    p::integer("amount").required(),
    p::string("currency", 3).required(),
    p::string("customer", 64),
    p::string("description", DESCRIPTION_CHARS_MAX),
    p::METADATA,
    p::EXPAND,
];
const LIST: &[Param] = crate::routes::params::list_params![
    expand;
    p::string("status", 30),
];

pub fn routes() -> Routes {
    Routes::new()
        .post(
            doc("/v1/payouts", "Pay out available funds", "payout").params(CREATE),
            create,
        )
        .get(
            doc("/v1/payouts", "List payouts, newest first", "list").params(LIST),
            list,
        )
        .get(
            doc("/v1/payouts/{id}", "Retrieve a payout", "payout").params(p::EXPAND_ONLY),
            retrieve,
        )
        .post(
            doc(
                "/v1/payouts/{id}/cancel",
                "Cancel a pending payout",
                "payout",
            )
            .params(p::EXPAND_ONLY),
            cancel,
        )
}

/// A payout asked for: of the merchant's available funds, or of
/// `customer`'s stored value.
pub(crate) struct CreateRequest {
    pub amount: Amount,
    pub currency: Currency,
    pub customer: Option<String>,
    pub description: Option<String>,
    pub metadata: Metadata,
}

/// A payout's required `amount` (positive minor units) and `currency`.
pub(crate) fn parse_money(params: &mut crate::wire::Params) -> ApiResult<(Amount, Currency)> {
    let amount = params
        .integer("amount")?
        .ok_or_else(|| ApiError::missing_parameter("amount"))?;
    let amount = Amount::parse_minor(amount)
        .map_err(|e| ApiError::invalid(e.code(), e.to_string(), "amount"))?;
    let currency = params.required_string("currency", 3)?;
    let currency = Currency::parse(&currency)
        .map_err(|e| ApiError::invalid(e.code(), e.to_string(), "currency"))?;
    Ok((amount, currency))
}

fn parse_create(request: &mut ApiRequest) -> ApiResult<CreateRequest> {
    let params = &mut request.params;
    let (amount, currency) = parse_money(params)?;
    let customer = params.string("customer", 64)?;
    let description = params.string("description", DESCRIPTION_CHARS_MAX)?;
    let metadata = Metadata::default()
        .updated(&params.metadata()?.unwrap_or(MetadataUpdate::Clear))
        .map_err(|e| ApiError::invalid("parameter_invalid", e.to_string(), e.param()))?;
    params.expand()?;
    std::mem::take(params).finish()?;
    Ok(CreateRequest {
        amount,
        currency,
        customer,
        description,
        metadata,
    })
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    mut request: ApiRequest,
) -> Response {
    let parsed = caller
        .require(RESOURCE, Access::Write)
        .and_then(|()| parse_create(&mut request));
    let create = match parsed {
        Ok(create) => create,
        Err(err) => return err.into_response(),
    };
    idempotency::respond(&state, &caller, &request, || async {
        let (scope, origin) = (caller.scope(), Origin::of(&request));
        match &create.customer {
            Some(customer) => {
                customer_balance::payouts::withdraw(&state, &scope, customer, &create, &origin)
                    .await
            }
            None => payout(&state, &scope, &create, &origin).await,
        }
    })
    .await
}

async fn available_minor(state: &AppState, scope: &Scope, currency: Currency) -> ApiResult<i64> {
    let account =
        Account::merchant(&scope.merchant_id, scope.livemode, Bucket::Available).to_string();
    let rows = state.store.ledger_balances(&[account]).await?;
    Ok(rows
        .iter()
        .filter(|row| row.currency == currency.as_str())
        .map(|row| row.balance_minor)
        .sum())
}

async fn payout(
    state: &AppState,
    scope: &Scope,
    create: &CreateRequest,
    origin: &Origin,
) -> ApiResult<Executed> {
    let amount_minor = create.amount.minor();
    // A clear answer for the common case; the store's floor on the
    // available balance decides under concurrency.
    if amount_minor > available_minor(state, scope, create.currency).await? {
        return Err(ApiError::insufficient_balance());
    }
    let now = state.now();
    let id = new_id("po");
    let p = parties(state, scope, create.currency);
    let transaction =
        movements::payout(header(TransactionKind::Payout, &id, now), &p, amount_minor)
            .map_err(ledger_failure)?;
    let view = View {
        kind: "payout",
        reporting_category: "payout",
        amount_minor: -amount_minor,
        fee_minor: 0,
        pending_until: None,
        description: create.description.clone(),
    };
    let (txn, ops) = book(scope, transaction, create.currency, view)?;
    let payout = pending(state, scope, (id, now), create, txn.id, None);
    Ok(created(scope, &payout, WriteSet { ops }, origin)?)
}

/// A new pending payout `id` made at `now` as `create` asks, recorded by
/// `balance_transaction`, of `customer`'s stored value or (`None`) of the
/// merchant's funds; due after the merchant's payout delay.
pub(crate) fn pending(
    state: &AppState,
    scope: &Scope,
    (id, now): (String, i64),
    create: &CreateRequest,
    balance_transaction: String,
    customer: Option<CustomerId>,
) -> Payout {
    let policy = state.ledger.policy(&scope.merchant_id);
    Payout {
        id,
        created: now,
        livemode: scope.livemode,
        amount_minor: create.amount.minor(),
        currency: create.currency,
        arrival_date: now.saturating_add(policy.payout_delay_s),
        status: PayoutStatus::Pending,
        description: create.description.clone(),
        metadata: create.metadata.clone(),
        balance_transaction,
        cancel_balance_transaction: None,
        customer,
    }
}

/// `writes` with the new `payout` stored and its `payout.created` event.
pub(crate) fn created(
    scope: &Scope,
    payout: &Payout,
    mut writes: WriteSet,
    origin: &Origin,
) -> ApiResult<Executed> {
    let body = render_payout(payout);
    writes.push(records::insert(scope, payout)?);
    writes.push(event(
        scope,
        "payout.created",
        &body,
        None,
        origin,
        payout.created,
    ));
    Ok(Executed::ok(body, writes))
}

async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Response {
    let parsed = caller.require(RESOURCE, Access::Write).and_then(|()| {
        request.params.expand()?;
        std::mem::take(&mut request.params).finish()
    });
    if let Err(err) = parsed {
        return err.into_response();
    }
    idempotency::respond(&state, &caller, &request, || async {
        let scope = caller.scope();
        let (doc, mut payout) = load::<Payout>(&state, &scope, &id, "id").await?;
        if payout.status != PayoutStatus::Pending {
            return Err(ApiError::invalid(
                "payout_not_cancelable",
                format!(
                    "Only pending payouts can be canceled; this one is {}.",
                    payout.status.as_str()
                ),
                "id",
            ));
        }
        let now = state.now();
        let (txn_id, ops) = match &payout.customer {
            Some(customer) => {
                customer_balance::payouts::returned(&state, &scope, &payout, customer).await?
            }
            None => returned_to_available(&state, &scope, &payout, now)?,
        };
        payout.status = PayoutStatus::Canceled;
        payout.cancel_balance_transaction = Some(txn_id);
        let body = render_payout(&payout);
        let mut writes = WriteSet { ops };
        writes.push(records::update(&scope, &doc, &payout)?);
        writes.push(event(
            &scope,
            "payout.canceled",
            &body,
            None,
            &Origin::of(&request),
            now,
        ));
        Ok(Executed::ok(body, writes))
    })
    .await
}

/// A canceled merchant payout's reserve made available again: its
/// `payout_cancel` balance transaction and the writes booking it.
fn returned_to_available(
    state: &AppState,
    scope: &Scope,
    payout: &Payout,
    now: i64,
) -> ApiResult<(String, Vec<portcullis_store::WriteOp>)> {
    let p = parties(state, scope, payout.currency);
    let header = header(TransactionKind::PayoutCanceled, &payout.id, now);
    let transaction =
        movements::payout_canceled(header, &p, payout.amount_minor).map_err(ledger_failure)?;
    let view = View {
        kind: "payout_cancel",
        reporting_category: "payout_reversal",
        amount_minor: payout.amount_minor,
        fee_minor: 0,
        pending_until: None,
        description: Some(format!("Cancellation of {}", payout.id)),
    };
    let (txn, ops) = book(scope, transaction, payout.currency, view)?;
    Ok((txn.id, ops))
}

async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        caller.require(RESOURCE, Access::Read)?;
        request.params.expand()?;
        std::mem::take(&mut request.params).finish()?;
        let (_, payout) = load::<Payout>(&state, &caller.scope(), &id, "id").await?;
        Ok(render_payout(&payout))
    };
    answer(result.await)
}

async fn list(State(state): State<AppState>, caller: Caller, mut request: ApiRequest) -> Response {
    let result = async {
        caller.require(RESOURCE, Access::Read)?;
        let params = &mut request.params;
        let mut filters = vec![];
        if let Some(status) = params.string("status", 30)? {
            filters.push(("status", SqlValue::Text(status)));
        }
        let query = ListQuery {
            scope: caller.scope(),
            filters,
            one_of: vec![],
            created: lists::created(params)?,
            cursor: lists::cursor(params)?,
            limit: lists::limit(params)?,
        };
        params.expand()?;
        std::mem::take(params).finish()?;
        let page = state
            .store
            .list(Table::Payouts, &query)
            .await
            .map_err(|err| match err {
                StoreError::NotFound => lists::cursor_not_found("payout", &query.cursor),
                other => other.into(),
            })?;
        let data = decode_all::<Payout>(&page.docs)?
            .iter()
            .map(render_payout)
            .collect();
        Ok(lists::list_object("/v1/payouts", data, page.has_more))
    };
    answer(result.await)
}

fn answer(result: ApiResult<Value>) -> Response {
    match result {
        Ok(body) => json_response(StatusCode::OK, body.to_string()),
        Err(err) => err.into_response(),
    }
}
