//! `/v1/balance_transactions`: retrieve and list (filters `type`,
//! `source`, `currency`, `created`), newest first.

use super::records::{render_balance_transaction, BalanceTransaction};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::idempotency::json_response;
use crate::lists;
use crate::payments::records::{decode_all, load};
use crate::routes::{doc, Routes};
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_domain::api_keys::Access;
use portcullis_store::{ListQuery, SqlValue, StoreError, Table};
use serde_json::Value;

const RESOURCE: &str = "balance_transactions";

use crate::routes::params::{self as p, Param};

const LIST: &[Param] = crate::routes::params::list_params![
    expand;
    p::string("type", 255),
    p::string("source", 255),
    p::string("currency", 255),
];

pub fn routes() -> Routes {
    Routes::new()
        .get(
            doc(
                "/v1/balance_transactions",
                "List balance transactions, newest first",
                "list",
            )
            .params(LIST),
            list,
        )
        .get(
            doc(
                "/v1/balance_transactions/{id}",
                "Retrieve a balance transaction",
                "balance_transaction",
            )
            .params(p::EXPAND_ONLY),
            retrieve,
        )
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
        let (_, txn) = load::<BalanceTransaction>(&state, &caller.scope(), &id, "id").await?;
        Ok(render_balance_transaction(&txn))
    };
    answer(result.await)
}

async fn list(State(state): State<AppState>, caller: Caller, mut request: ApiRequest) -> Response {
    let result = async {
        caller.require(RESOURCE, Access::Read)?;
        let params = &mut request.params;
        let mut filters = vec![];
        for (param, column) in [
            ("type", "txn_type"),
            ("source", "source"),
            ("currency", "currency"),
        ] {
            if let Some(value) = params.string(param, 255)? {
                // Types and currencies are lowercase on the wire; ids are not.
                let value = if param == "source" {
                    value
                } else {
                    value.to_ascii_lowercase()
                };
                filters.push((column, SqlValue::Text(value)));
            }
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
            .list(Table::BalanceTransactions, &query)
            .await
            .map_err(|err| match err {
                StoreError::NotFound => {
                    lists::cursor_not_found("balance_transaction", &query.cursor)
                }
                other => other.into(),
            })?;
        let data = decode_all::<BalanceTransaction>(&page.docs)?
            .iter()
            .map(render_balance_transaction)
            .collect();
        Ok(lists::list_object(
            "/v1/balance_transactions",
            data,
            page.has_more,
        ))
    };
    answer(result.await)
}

fn answer(result: ApiResult<Value>) -> Response {
    match result {
        Ok(body) => json_response(StatusCode::OK, body.to_string()),
        Err(err) => err.into_response(),
    }
}
