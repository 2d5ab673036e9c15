//! `…/balance_transactions`: create (an adjustment of the wallet, booked
//! in the ledger in the same write set), list and retrieve.

use super::held_minor;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::idempotency::{self, json_response, Executed};
use crate::ledger::booking::{header, ledger_failure, parties};
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_domain::api_keys::Access;
use portcullis_domain::customers::CustomerChanges;
use portcullis_domain::ids::{new_id, CustomerId};
use portcullis_domain::metadata::{Metadata, MetadataUpdate};
use portcullis_domain::money::{Currency, AMOUNT_MINOR_MAX};
use portcullis_ledger::{movements, TransactionKind};
use portcullis_store::{CreatedRange, Doc, ListQuery, PageCursor, Scope, SqlValue, Table, WriteOp};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

const PREFIX: &str = "cbtxn";
pub(super) const DESCRIPTION_CHARS_MAX: usize = 350;

/// A stored balance transaction, as Stripe's `customer_balance_transaction`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Stored {
    pub id: String,
    pub customer: CustomerId,
    /// Stripe's sign: negative credits the customer.
    pub amount: i64,
    pub currency: Currency,
    /// Stripe's sign: minus what the wallet holds after this transaction.
    pub ending_balance: i64,
    pub description: Option<String>,
    pub metadata: Metadata,
    /// Stripe's `type`: `adjustment`; ours: `transfer` (between two
    /// customers), `top_up` (a `customer_balance_top_up` PaymentIntent
    /// captured), `payment` (a PaymentIntent paid from the balance),
    /// `payout` and `payout_cancel` (a withdrawal paid out, and its return).
    pub kind: String,
    /// The PaymentIntent of a `top_up` or a `payment`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_intent: Option<String>,
    /// The payout (`po_…`) of a `payout` or `payout_cancel`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payout: Option<String>,
    pub created: i64,
    pub livemode: bool,
}

/// The insert that records `stored`.
pub(super) fn insert_op(scope: &Scope, stored: &Stored) -> ApiResult<WriteOp> {
    Ok(WriteOp::Insert {
        table: Table::CustomerBalanceTransactions,
        scope: scope.clone(),
        id: stored.id.clone(),
        created: stored.created,
        columns: vec![
            ("customer", SqlValue::Text(stored.customer.to_string())),
            (
                "currency",
                SqlValue::Text(stored.currency.as_str().to_owned()),
            ),
        ],
        body: serde_json::to_string(stored).map_err(|err| ApiError::internal(&err))?,
    })
}

struct CreateRequest {
    amount: i64,
    currency: Currency,
    description: Option<String>,
    metadata: Metadata,
}

fn parse_create(request: &mut ApiRequest) -> ApiResult<CreateRequest> {
    let params = &mut request.params;
    let amount = params
        .integer("amount")?
        .ok_or_else(|| ApiError::missing_parameter("amount"))?;
    if amount == 0 || amount.unsigned_abs() > AMOUNT_MINOR_MAX as u64 {
        return Err(ApiError::invalid(
            "parameter_invalid_integer",
            format!("amount must be non-zero and at most {AMOUNT_MINOR_MAX} either way (negative credits the customer)."),
            "amount",
        ));
    }
    let currency = params.required_string("currency", 3)?;
    let currency = Currency::parse(&currency)
        .map_err(|e| ApiError::invalid(e.code(), e.to_string(), "currency"))?;
    let description = params.string("description", DESCRIPTION_CHARS_MAX)?;
    let metadata = Metadata::default()
        .updated(&params.metadata()?.unwrap_or(MetadataUpdate::Clear))
        .map_err(|e| ApiError::invalid("parameter_invalid", e.to_string(), e.param()))?;
    std::mem::take(params).finish()?;
    Ok(CreateRequest {
        amount,
        currency,
        description,
        metadata,
    })
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(customer): Path<String>,
    mut request: ApiRequest,
) -> Response {
    let parsed = caller
        .require("customers", Access::Write)
        .and_then(|()| parse_create(&mut request));
    let create = match parsed {
        Ok(create) => create,
        Err(err) => return err.into_response(),
    };
    idempotency::respond(&state, &caller, &request, || async {
        adjust(&state, &caller, &customer, &create).await
    })
    .await
}

/// Reads the wallet, refuses an overdraft, and books the movement with the
/// customer's record rewritten (so a concurrent transaction re-executes).
async fn adjust(
    state: &AppState,
    caller: &Caller,
    customer_id: &str,
    create: &CreateRequest,
) -> ApiResult<Executed> {
    let scope = caller.scope();
    let customer = crate::customers::find_live(state, caller, customer_id).await?;
    let mut writes =
        crate::customers::changed_writes(state, caller, customer_id, &CustomerChanges::default())
            .await?;
    let held = held_minor(state, &scope, &customer.id, create.currency).await?;
    // Stripe's negative amount is money into the wallet.
    let wallet_delta = -create.amount;
    let after = held.checked_add(wallet_delta).ok_or_else(|| {
        ApiError::invalid("amount_too_large", "The balance would overflow.", "amount")
    })?;
    if after < 0 {
        return Err(ApiError::invalid(
            "balance_insufficient",
            format!(
                "The customer's balance holds {held} in {}; this debit needs {}.",
                create.currency.as_str(),
                create.amount
            ),
            "amount",
        ));
    }
    super::limits::enforce(
        state,
        &scope,
        &customer.id,
        create.currency,
        held,
        wallet_delta,
    )
    .await?;
    let now = state.now();
    let id = new_id(PREFIX);
    let transaction = movements::customer_balance(
        header(TransactionKind::CustomerBalance, &id, now),
        &parties(state, &scope, create.currency),
        &customer.id,
        wallet_delta,
    )
    .map_err(ledger_failure)?;
    let stored = Stored {
        id: id.clone(),
        customer: customer.id.clone(),
        amount: create.amount,
        currency: create.currency,
        ending_balance: -after,
        description: create.description.clone(),
        metadata: create.metadata.clone(),
        kind: "adjustment".to_owned(),
        payment_intent: None,
        payout: None,
        created: now,
        livemode: scope.livemode,
    };
    writes.push(insert_op(&scope, &stored)?);
    writes.push(WriteOp::LedgerAppend { transaction });
    Ok(Executed::ok(render(&stored), writes))
}

pub(super) fn render(stored: &Stored) -> Value {
    json!({
        "id": stored.id,
        "object": "customer_balance_transaction",
        "amount": stored.amount,
        "checkout_session": null,
        "created": stored.created,
        "credit_note": null,
        "currency": stored.currency.as_str(),
        "customer": stored.customer,
        "description": stored.description,
        "ending_balance": stored.ending_balance,
        "invoice": null,
        "livemode": stored.livemode,
        "metadata": stored.metadata,
        "payment_intent": stored.payment_intent,
        "payout": stored.payout,
        "type": stored.kind,
    })
}

pub(super) fn parse_doc(doc: &Doc) -> ApiResult<Stored> {
    serde_json::from_str(&doc.body).map_err(|err| ApiError::internal(&err))
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(customer): Path<String>,
    mut request: ApiRequest,
) -> Response {
    let children = crate::customers::Children {
        table: Table::CustomerBalanceTransactions,
        object: "customer_balance_transaction",
        path: "balance_transactions",
        render: |doc: &Doc| parse_doc(doc).map(|stored| render(&stored)),
    };
    answer(
        crate::customers::list_children(&state, &caller, &customer, &mut request.params, children)
            .await,
    )
}

pub async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    Path((customer, id)): Path<(String, String)>,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        caller.require("customers", Access::Read)?;
        std::mem::take(&mut request.params).finish()?;
        let missing = || ApiError::no_such("customer_balance_transaction", &id, "id");
        let doc = state
            .store
            .get(Table::CustomerBalanceTransactions, &caller.scope(), &id)
            .await?
            .ok_or_else(missing)?;
        let stored = parse_doc(&doc)?;
        if stored.customer.as_str() != customer {
            return Err(missing());
        }
        Ok(render(&stored))
    };
    answer(result.await)
}

pub(super) fn answer(result: ApiResult<Value>) -> Response {
    match result {
        Ok(body) => json_response(StatusCode::OK, body.to_string()),
        Err(err) => err.into_response(),
    }
}

/// The currency of the customer's newest balance transaction, if any.
pub async fn newest_currency(
    state: &AppState,
    scope: &Scope,
    customer: &CustomerId,
) -> ApiResult<Option<Currency>> {
    let query = ListQuery {
        scope: scope.clone(),
        filters: vec![("customer", SqlValue::Text(customer.to_string()))],
        one_of: vec![],
        created: CreatedRange::default(),
        cursor: PageCursor::Newest,
        limit: 1,
    };
    let page = state
        .store
        .list(Table::CustomerBalanceTransactions, &query)
        .await?;
    match page.docs.first() {
        Some(doc) => Ok(Some(parse_doc(doc)?.currency)),
        None => Ok(None),
    }
}

pub fn sample() -> Value {
    render(&Stored {
        id: "cbtxn_sample".into(),
        customer: CustomerId::generate(),
        amount: -500,
        currency: Currency::parse("usd").expect("usd"),
        ending_balance: -500,
        description: Some("Top-up".into()),
        metadata: Metadata::default(),
        kind: "adjustment".into(),
        payment_intent: None,
        payout: None,
        created: 0,
        livemode: false,
    })
}
