//! `/v1/charges`: retrieve and list (read-only; charges are made by
//! confirming PaymentIntents).

use super::records::{self, load};
use super::render::render_charge;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::expand::Expand;
use crate::idempotency::json_response;
use crate::lists;
use crate::routes::{doc, Routes};
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_domain::api_keys::Access;
use portcullis_domain::charges::Charge;
use portcullis_store::{ListQuery, SqlValue, StoreError, Table};
use serde_json::Value;

const EXPANDABLE: &[&str] = &["customer", "payment_intent", "payment_method"];

use crate::routes::params::{self as p, Param};

const LIST: &[Param] = crate::routes::params::list_params![
    expand;
    p::string("payment_intent", 255),
    p::string("customer", 255),
];

pub fn routes() -> Routes {
    Routes::new()
        .get(
            doc("/v1/charges", "List charges, newest first", "list").params(LIST),
            list,
        )
        .get(
            doc("/v1/charges/{id}", "Retrieve a charge", "charge").params(p::EXPAND_ONLY),
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
        caller.require("charges", Access::Read)?;
        let expand = Expand::parse(&caller, request.params.expand()?, EXPANDABLE, false)?;
        std::mem::take(&mut request.params).finish()?;
        let (_, charge) = load::<Charge>(&state, &caller.scope(), &id, "id").await?;
        super::expanded(&state, &caller, render_charge(&charge), &expand).await
    };
    answer(result.await)
}

async fn list(State(state): State<AppState>, caller: Caller, mut request: ApiRequest) -> Response {
    let result = async {
        caller.require("charges", Access::Read)?;
        let params = &mut request.params;
        let mut filters = vec![];
        for column in ["payment_intent", "customer"] {
            if let Some(value) = params.string(column, 255)? {
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
        let expand = Expand::parse(&caller, params.expand()?, EXPANDABLE, true)?;
        std::mem::take(params).finish()?;
        let page = state
            .store
            .list(Table::Charges, &query)
            .await
            .map_err(|err| match err {
                StoreError::NotFound => lists::cursor_not_found("charge", &query.cursor),
                other => other.into(),
            })?;
        let mut data = vec![];
        for charge in records::decode_all::<Charge>(&page.docs)? {
            data.push(super::expanded(&state, &caller, render_charge(&charge), &expand).await?);
        }
        Ok(lists::list_object("/v1/charges", data, page.has_more))
    };
    answer(result.await)
}

fn answer(result: ApiResult<Value>) -> Response {
    match result {
        Ok(body) => json_response(StatusCode::OK, body.to_string()),
        Err::<_, ApiError>(err) => err.into_response(),
    }
}
