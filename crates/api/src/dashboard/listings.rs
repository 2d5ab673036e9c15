//! The read-only pages: customers, balances and payouts. Each is a few
//! tables of the documents the API renders.

use super::layout::error_page;
use super::pages::{list_json, money, start, when};
use super::users::Permission;
use crate::error::ApiResult;
use crate::hosted::Locale;
use crate::state::AppState;
use crate::wire::ApiRequest;
use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use portcullis_store::{Scope, Table};
use serde_json::Value;

/// Most rows a table shows (the newest).
const ROWS: usize = 50;

pub struct DataTable {
    pub title: String,
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

#[derive(Template)]
#[template(path = "dashboard/tables.html")]
struct TablesPage {
    l: super::layout::Layout,
    tables: Vec<DataTable>,
}

fn text(value: &Value, key: &str) -> String {
    match &value[key] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The page at `path`: the tables `build` makes for the signed-in user's
/// scope, in the page's language.
async fn render<F, Fut>(
    state: AppState,
    headers: HeaderMap,
    mut request: ApiRequest,
    path: &'static str,
    build: F,
) -> Response
where
    F: FnOnce(AppState, Scope, Locale) -> Fut,
    Fut: std::future::Future<Output = ApiResult<(&'static str, Vec<DataTable>)>>,
{
    let s = match start(&state, &headers, &mut request, Permission::ViewPayments).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    if let Err(err) = std::mem::take(&mut request.params).finish() {
        return error_page(&state, s.loc, &err);
    }
    match build(state.clone(), s.signed.scope(), s.loc).await {
        Ok((title, tables)) => {
            let page = TablesPage {
                l: super::layout::Layout::signed(&s.signed, s.loc, title, path),
                tables,
            };
            super::layout::page(&state, &page, s.lang_named.then_some(s.loc))
        }
        Err(err) => error_page(&state, s.loc, &err),
    }
}

pub async fn customers(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: ApiRequest,
) -> Response {
    render(
        state,
        headers,
        request,
        "/dashboard/customers",
        customer_tables,
    )
    .await
}

async fn customer_tables(
    state: AppState,
    scope: Scope,
    loc: Locale,
) -> ApiResult<(&'static str, Vec<DataTable>)> {
    let t = super::texts::of(loc);
    let rows = list_json(&state, Table::Customers, &scope, vec![], ROWS)
        .await?
        .iter()
        .map(|c| {
            vec![
                text(c, "id"),
                text(c, "email"),
                text(c, "name"),
                when(c["created"].as_i64().unwrap_or(0)),
            ]
        })
        .collect();
    let table = DataTable {
        title: t.customers.to_owned(),
        headers: vec![t.id, t.email, t.name, t.created],
        rows,
    };
    Ok((t.customers, vec![table]))
}

pub async fn balances(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: ApiRequest,
) -> Response {
    render(
        state,
        headers,
        request,
        "/dashboard/balances",
        balance_tables,
    )
    .await
}

async fn balance_tables(
    state: AppState,
    scope: Scope,
    loc: Locale,
) -> ApiResult<(&'static str, Vec<DataTable>)> {
    let t = super::texts::of(loc);
    let balance = crate::ledger::balance::balance_of(&state, &scope).await?;
    let mut rows = vec![];
    for bucket in ["available", "pending", "reserved"] {
        for amount in balance[bucket].as_array().into_iter().flatten() {
            let minor = amount["amount"].as_i64().unwrap_or(0);
            rows.push(vec![
                bucket.to_owned(),
                money(minor, &text(amount, "currency"), loc),
            ]);
        }
    }
    let payouts = list_json(&state, Table::Payouts, &scope, vec![], ROWS)
        .await?
        .iter()
        .map(|p| {
            let amount = p["amount_minor"].as_i64().unwrap_or(0);
            vec![
                text(p, "id"),
                money(amount, &text(p, "currency"), loc),
                text(p, "status"),
                when(p["arrival_date"].as_i64().unwrap_or(0)),
            ]
        })
        .collect();
    let tables = vec![
        DataTable {
            title: t.available.to_owned(),
            headers: vec![t.status, t.amount],
            rows,
        },
        DataTable {
            title: t.payouts.to_owned(),
            headers: vec![t.id, t.amount, t.status, t.created],
            rows: payouts,
        },
    ];
    Ok((t.balances, tables))
}
