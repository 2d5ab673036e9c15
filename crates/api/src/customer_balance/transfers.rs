//! `POST /v1/customer_balance_transfers`: stored value moved between two
//! customers of one merchant, as one ledger transaction (the sender's
//! wallet floored at zero) and a `transfer` balance transaction on each
//! side, with both customers' records rewritten so each `ending_balance`
//! is exact.

use super::held_minor;
use super::limits::enforce;
use super::transactions::{insert_op, render, Stored};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::idempotency::{self, Executed};
use crate::ledger::booking::{header, ledger_failure, parties};
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use portcullis_domain::api_keys::Access;
use portcullis_domain::customers::{Customer, CustomerChanges};
use portcullis_domain::ids::new_id;
use portcullis_domain::metadata::Metadata;
use portcullis_domain::money::{Amount, Currency};
use portcullis_ledger::{movements, TransactionKind};
use portcullis_store::WriteOp;
use serde_json::json;

struct TransferRequest {
    from: String,
    to: String,
    amount: Amount,
    currency: Currency,
    description: Option<String>,
}

fn parse(request: &mut ApiRequest) -> ApiResult<TransferRequest> {
    let params = &mut request.params;
    let from = params.required_string("from_customer", 64)?;
    let to = params.required_string("to_customer", 64)?;
    let amount = params
        .integer("amount")?
        .ok_or_else(|| ApiError::missing_parameter("amount"))?;
    let amount = Amount::parse_minor(amount)
        .map_err(|e| ApiError::invalid(e.code(), e.to_string(), "amount"))?;
    let currency = Currency::parse(&params.required_string("currency", 3)?)
        .map_err(|e| ApiError::invalid(e.code(), e.to_string(), "currency"))?;
    let description = params.string("description", super::transactions::DESCRIPTION_CHARS_MAX)?;
    std::mem::take(params).finish()?;
    if from == to {
        return Err(ApiError::invalid(
            "parameter_invalid",
            "from_customer and to_customer must differ.",
            "to_customer",
        ));
    }
    Ok(TransferRequest {
        from,
        to,
        amount,
        currency,
        description,
    })
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    mut request: ApiRequest,
) -> Response {
    let parsed = caller
        .require("customers", Access::Write)
        .and_then(|()| parse(&mut request));
    let transfer = match parsed {
        Ok(transfer) => transfer,
        Err(err) => return err.into_response(),
    };
    idempotency::respond(&state, &caller, &request, || async {
        execute(&state, &caller, &transfer).await
    })
    .await
}

/// One side's balance transaction and the rewrite of its customer.
async fn side(
    state: &AppState,
    caller: &Caller,
    customer_id: &str,
) -> ApiResult<(Customer, Vec<WriteOp>)> {
    let customer = crate::customers::find_live(state, caller, customer_id).await?;
    let writes =
        crate::customers::changed_writes(state, caller, customer_id, &CustomerChanges::default())
            .await?;
    Ok((customer, writes.ops))
}

async fn execute(
    state: &AppState,
    caller: &Caller,
    transfer: &TransferRequest,
) -> ApiResult<Executed> {
    let scope = caller.scope();
    let (from, mut writes) = side(state, caller, &transfer.from).await?;
    let (to, to_writes) = side(state, caller, &transfer.to).await?;
    writes.extend(to_writes);
    let amount = transfer.amount.minor();
    let from_held = held_minor(state, &scope, &from.id, transfer.currency).await?;
    let to_held = held_minor(state, &scope, &to.id, transfer.currency).await?;
    if from_held < amount {
        return Err(ApiError::invalid(
            "balance_insufficient",
            format!(
                "The sending customer's balance holds {from_held}; the transfer needs {amount}."
            ),
            "amount",
        ));
    }
    let to_after = to_held.checked_add(amount).ok_or_else(|| {
        ApiError::invalid("amount_too_large", "The balance would overflow.", "amount")
    })?;
    let currency = transfer.currency;
    enforce(state, &scope, &from.id, currency, from_held, -amount).await?;
    enforce(state, &scope, &to.id, currency, to_held, amount).await?;
    let now = state.now();
    let id = new_id("cbtr");
    let transaction = movements::customer_transfer(
        header(TransactionKind::CustomerBalance, &id, now),
        &parties(state, &scope, transfer.currency),
        &from.id,
        &to.id,
        amount,
    )
    .map_err(ledger_failure)?;
    let record = |customer: &Customer, stripe_amount: i64, held_after: i64| Stored {
        id: new_id("cbtxn"),
        customer: customer.id.clone(),
        amount: stripe_amount,
        currency: transfer.currency,
        ending_balance: -held_after,
        description: transfer.description.clone(),
        metadata: Metadata::default(),
        kind: "transfer".to_owned(),
        payment_intent: None,
        payout: None,
        created: now,
        livemode: scope.livemode,
    };
    // Stripe's sign: the sender is debited (positive), the receiver credited.
    let sent = record(&from, amount, from_held - amount);
    let received = record(&to, -amount, to_after);
    writes.push(insert_op(&scope, &sent)?);
    writes.push(insert_op(&scope, &received)?);
    writes.push(WriteOp::LedgerAppend { transaction });
    let body = json!({
        "id": id,
        "object": "customer_balance_transfer",
        "amount": amount,
        "currency": transfer.currency.as_str(),
        "from_customer": from.id,
        "to_customer": to.id,
        "from_transaction": render(&sent),
        "to_transaction": render(&received),
        "description": transfer.description,
        "created": now,
        "livemode": scope.livemode,
    });
    Ok(Executed::ok(
        body,
        portcullis_store::WriteSet { ops: writes },
    ))
}

pub fn sample() -> serde_json::Value {
    let txn = super::transactions::sample();
    json!({
        "id": "cbtr_sample",
        "object": "customer_balance_transfer",
        "amount": 500,
        "currency": "usd",
        "from_customer": "cus_sample",
        "to_customer": "cus_other",
        "from_transaction": txn.clone(),
        "to_transaction": txn,
        "description": "Split the bill",
        "created": 0,
        "livemode": false,
    })
}
