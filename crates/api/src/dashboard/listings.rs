//! The read-only pages: customers, balances and payouts. Each is a few
//! tables of the documents the API renders.

use super::layout::error_page;
use super::pages::{list_json, money, start, when, Start};
use super::users::Permission;
use crate::error::ApiResult;
use crate::state::AppState;
use crate::wire::ApiRequest;
use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use portcullis_store::Table;
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

async fn render<F, Fut>(
    state: AppState,
    headers: HeaderMap,
    mut request: ApiRequest,
    permission: Permission,
    path: &'static str,
    build: F,
) -> Response
where
    F: FnOnce(AppState, Start) -> Fut,
    Fut: std::future::Future<Output = (Start, ApiResult<(&'static str, Vec<DataTable>)>)>,
{
    let s = match start(&state, &headers, &mut request, permission).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    if let Err(err) = std::mem::take(&mut request.params).finish() {
        return error_page(&state, s.loc, &err);
    }
    let (s, built) = build(state.clone(), s).await;
    match built {
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
        Permission::ViewPayments,
        "/dashboard/customers",
        |state, s| async move {
            let t = super::texts::of(s.loc);
            let built = async {
                let rows = list_json(&state, Table::Customers, &s.signed.scope(), vec![], ROWS)
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
                Ok((
                    t.customers,
                    vec![DataTable {
                        title: t.customers.to_owned(),
                        headers: vec![t.id, t.email, t.name, t.created],
                        rows,
                    }],
                ))
            }
            .await;
            (s, built)
        },
    )
    .await
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
        Permission::ViewPayments,
        "/dashboard/balances",
        |state, s| async move {
            let t = super::texts::of(s.loc);
            let built = async {
                let scope = s.signed.scope();
                let balance = crate::ledger::balance::balance_of(&state, &scope).await?;
                let mut rows = vec![];
                for bucket in ["available", "pending", "reserved"] {
                    for amount in balance[bucket].as_array().into_iter().flatten() {
                        let minor = amount["amount"].as_i64().unwrap_or(0);
                        rows.push(vec![
                            bucket.to_owned(),
                            money(minor, &text(amount, "currency"), s.loc),
                        ]);
                    }
                }
                let payouts = list_json(&state, Table::Payouts, &scope, vec![], ROWS)
                    .await?
                    .iter()
                    .map(|p| {
                        vec![
                            text(p, "id"),
                            money(
                                p["amount_minor"].as_i64().unwrap_or(0),
                                &text(p, "currency"),
                                s.loc,
                            ),
                            text(p, "status"),
                            when(p["arrival_date"].as_i64().unwrap_or(0)),
                        ]
                    })
                    .collect();
                Ok((
                    t.balances,
                    vec![
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
                    ],
                ))
            }
            .await;
            (s, built)
        },
    )
    .await
}
