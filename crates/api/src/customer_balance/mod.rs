//! A customer's stored value (e-wallet) held by the merchant, in Stripe's
//! shapes: `GET/POST /v1/customers/{id}/balance_transactions` and the
//! customer's `balance`.
//!
//! Each currency's balance is the ledger's `customer_balance` account of
//! the customer (a liability, hash-chained like every posting). Stripe's
//! sign is kept: a negative `amount` credits the customer (money in the
//! wallet), a positive one debits it, and the customer's `balance` is
//! minus what the wallet holds. The store's balance floor refuses any
//! write that would take a wallet below zero, whichever instance makes it;
//! each transaction also rewrites the customer's record (version-checked),
//! so one customer's transactions are serialized and each `ending_balance`
//! is exact.

mod limits;
pub(crate) mod payments;
pub(crate) mod payouts;
pub(crate) mod refunds;
pub(crate) mod step_up;
pub mod step_up_expiry;
mod transactions;
mod transfers;

use crate::error::ApiResult;
use crate::routes::params::{self as p, Param};
use crate::routes::{doc, Routes};
use crate::state::AppState;
use portcullis_domain::ids::CustomerId;
use portcullis_domain::money::Currency;
use portcullis_ledger::Account;
use portcullis_store::Scope;

const CREATE_TRANSACTION: &[Param] = &[
    p::integer("amount").required(),
    p::string("currency", 3).required(),
    p::string("description", transactions::DESCRIPTION_CHARS_MAX),
    p::METADATA,
];
/// A customer's transactions: a plain page (`customers::list_children`).
const LIST_TRANSACTIONS: &[Param] = p::list_params![];
const TRANSFER: &[Param] = &[
    p::string("from_customer", 64).required(),
    p::string("to_customer", 64).required(),
    p::integer("amount").required(),
    p::string("currency", 3).required(),
    p::string("description", transactions::DESCRIPTION_CHARS_MAX),
];
/// Limits are whole minor units, read as text so an empty value removes one.
const SET_LIMITS: &[Param] = &[
    p::string("customer", 64),
    p::string("currency", 3).required(),
    p::string("balance_max", 20),
    p::string("daily_credit_max", 20),
    p::string("daily_debit_max", 20),
];
/// One page, newest first: no cursor or `created` filter.
const LIST_LIMITS: &[Param] = &[p::string("customer", 64), p::integer("limit")];

pub fn routes() -> Routes {
    Routes::new()
        .post(
            doc(
                "/v1/customers/{id}/balance_transactions",
                "Credit (negative amount) or debit (positive) a customer's stored-value balance",
                "customer_balance_transaction",
            )
            .params(CREATE_TRANSACTION),
            transactions::create,
        )
        .get(
            doc(
                "/v1/customers/{id}/balance_transactions",
                "A customer's balance transactions, newest first",
                "list",
            )
            .params(LIST_TRANSACTIONS),
            transactions::list,
        )
        .get(
            doc(
                "/v1/customers/{id}/balance_transactions/{transaction}",
                "Retrieve a customer balance transaction",
                "customer_balance_transaction",
            )
            .params(p::NONE),
            transactions::retrieve,
        )
        .post(
            doc(
                "/v1/customer_balance_transfers",
                "Move stored value from one customer to another of the same merchant",
                "customer_balance_transfer",
            )
            .params(TRANSFER),
            transfers::create,
        )
        .post(
            doc(
                "/v1/customer_balance_limits",
                "Set stored-value limits per currency, for the merchant or one customer (empty removes one)",
                "customer_balance_limit",
            )
            .params(SET_LIMITS),
            limits::set,
        )
        .get(
            doc(
                "/v1/customer_balance_limits",
                "The merchant's limits, or one customer's (customer=)",
                "list",
            )
            .params(LIST_LIMITS),
            limits::list,
        )
}

/// The customer's wallet account in the ledger.
pub fn wallet_account(scope: &Scope, customer: &CustomerId) -> Account {
    Account::CustomerBalance {
        merchant: scope.merchant_id.clone(),
        customer: customer.clone(),
        livemode: scope.livemode,
    }
}

/// What the customer's wallet holds in `currency`, in minor units (≥ 0).
pub async fn held_minor(
    state: &AppState,
    scope: &Scope,
    customer: &CustomerId,
    currency: Currency,
) -> ApiResult<i64> {
    let account = wallet_account(scope, customer).to_string();
    let rows = state.store.ledger_balances(&[account]).await?;
    Ok(rows
        .iter()
        .filter(|row| row.currency == currency.as_str())
        .map(|row| row.balance_minor)
        .sum())
}

/// Every currency the customer's wallet has held, with what it holds now.
pub async fn holdings(
    state: &AppState,
    scope: &Scope,
    customer: &CustomerId,
) -> ApiResult<Vec<(Currency, i64)>> {
    let account = wallet_account(scope, customer).to_string();
    let rows = state.store.ledger_balances(&[account]).await?;
    Ok(rows
        .iter()
        .filter_map(|row| Some((Currency::parse(&row.currency).ok()?, row.balance_minor)))
        .collect())
}

/// Refuses (400 `balance_limit_exceeded`) crediting `amount_minor` to a
/// wallet that holds `held`, before any money moves.
pub async fn check_credit(
    state: &AppState,
    scope: &Scope,
    customer: &CustomerId,
    currency: Currency,
    held: i64,
    amount_minor: i64,
) -> ApiResult<()> {
    limits::enforce(state, scope, customer, currency, held, amount_minor).await
}

/// The wallet's limits in `currency`: the customer's over the merchant's.
pub async fn limits_of(
    state: &AppState,
    scope: &Scope,
    customer: &CustomerId,
    currency: Currency,
) -> ApiResult<portcullis_domain::wallet::WalletLimits> {
    limits::effective(state, scope, customer, currency).await
}

/// Sets the customer object's `balance` and `currency` (Stripe's shape:
/// `balance` is minus what the wallet holds) from the currency of its
/// newest balance transaction; a customer without any keeps 0 and null.
pub async fn apply_to_customer(
    state: &AppState,
    scope: &Scope,
    customer: &CustomerId,
    object: &mut serde_json::Value,
) -> ApiResult<()> {
    let Some(currency) = transactions::newest_currency(state, scope, customer).await? else {
        return Ok(());
    };
    let held = held_minor(state, scope, customer, currency).await?;
    object["balance"] = serde_json::json!(-held);
    object["currency"] = serde_json::json!(currency.as_str());
    Ok(())
}

pub fn render_samples() -> Vec<(&'static str, serde_json::Value)> {
    vec![
        ("customer_balance_transaction", transactions::sample()),
        ("customer_balance_transfer", transfers::sample()),
        ("customer_balance_limit", limits::sample()),
    ]
}
