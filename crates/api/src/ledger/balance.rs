//! `GET /v1/balance`: the caller's available and pending funds per
//! currency, read from the ledger's balances (and, beyond Stripe, the
//! funds `reserved` for payouts on their way).

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::idempotency::json_response;
use crate::routes::{doc, Routes};
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_domain::api_keys::Access;
use portcullis_ledger::{Account, Bucket};
use portcullis_store::Scope;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub fn routes() -> Routes {
    Routes::new().get(
        doc(
            "/v1/balance",
            "The available, pending and reserved balance per currency",
            "balance",
        )
        .params(crate::routes::params::EXPAND_ONLY),
        retrieve,
    )
}

const BUCKETS: [Bucket; 3] = [Bucket::Available, Bucket::Pending, Bucket::Reserved];

async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    mut request: ApiRequest,
) -> Response {
    let result: ApiResult<Value> = async {
        caller.require("balance", Access::Read)?;
        request.params.expand()?;
        std::mem::take(&mut request.params).finish()?;
        balance_of(&state, &caller.scope()).await
    }
    .await;
    match result {
        Ok(body) => json_response(StatusCode::OK, body.to_string()),
        Err(err) => err.into_response(),
    }
}

/// The `balance` object of `scope`, read from the ledger's balances.
pub(crate) async fn balance_of(state: &AppState, scope: &Scope) -> ApiResult<Value> {
    let accounts: Vec<String> = BUCKETS
        .iter()
        .map(|bucket| Account::merchant(&scope.merchant_id, scope.livemode, *bucket).to_string())
        .collect();
    let rows = state.store.ledger_balances(&accounts).await?;
    // bucket → currency → minor units; every currency appears in each bucket.
    let mut sums: BTreeMap<&str, BTreeMap<String, i64>> = BTreeMap::new();
    let currencies: Vec<String> = rows.iter().map(|row| row.currency.clone()).collect();
    for (bucket, account) in BUCKETS.iter().zip(&accounts) {
        let per_currency = sums.entry(bucket.as_str()).or_default();
        for currency in &currencies {
            per_currency.entry(currency.clone()).or_insert(0);
        }
        for row in rows.iter().filter(|row| &row.account == account) {
            per_currency.insert(row.currency.clone(), row.balance_minor);
        }
    }
    let render = |bucket: Bucket| -> Vec<Value> {
        sums.get(bucket.as_str())
            .into_iter()
            .flatten()
            .map(|(currency, amount)| json!({ "amount": amount, "currency": currency, "source_types": { "card": amount } }))
            .collect()
    };
    Ok(json!({
        "object": "balance",
        "available": render(Bucket::Available),
        "pending": render(Bucket::Pending),
        "reserved": render(Bucket::Reserved),
        "livemode": scope.livemode,
    }))
}
