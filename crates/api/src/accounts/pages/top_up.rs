//! The hosted top-up page (`/account/top_up`): the signed-in holder sees
//! their balances and the wallet's limits, picks an amount and a currency,
//! and goes on to pay on the checkout page — the same card form with
//! client-side encryption and 3-D Secure, or Alipay / WeChat Pay where the
//! merchant has those accounts — through a Checkout Session whose
//! PaymentIntent tops up the balance (`checkout::top_up`). A limit the
//! top-up would breach is answered here, before any money moves.

use super::context::PageCtx;
use super::flows::html;
use super::signed_in::{ended, posted_form, query_of, signed_in, SignedIn};
use super::texts::Texts;
use super::views::{BalanceRow, CurrencyOption, LimitRow, TopUpPage};
use crate::accounts::signin;
use crate::checkout::top_up::{self, TopUp};
use crate::hosted::money::{format_amount, parse_major};
use crate::hosted::Locale;
use crate::state::AppState;
use crate::wire::ApiRequest;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use portcullis_domain::ids::CustomerId;
use portcullis_domain::money::Currency;
use portcullis_store::Scope;

/// Offered whether or not the wallet holds them yet.
const CURRENCIES: &[&str] = &["usd", "cny"];
const PATH: &str = "/account/top_up";

/// Who tops up: the holder's scope and customer.
struct Holder {
    scope: Scope,
    customer: CustomerId,
}

async fn holder_of(
    who: &SignedIn,
    state: &AppState,
    headers: &HeaderMap,
    request: &ApiRequest,
) -> Option<Holder> {
    let me = who.call(signin::me, state, headers, request).await.ok()?;
    let customer = CustomerId::parse(me["customer"].as_str()?)?;
    Some(Holder {
        scope: who.realm.0.clone(),
        customer,
    })
}

/// The wallet's balances, in `locale`.
pub(super) async fn balance_rows(
    state: &AppState,
    scope: &Scope,
    customer: &CustomerId,
    locale: Locale,
) -> Vec<BalanceRow> {
    let held = crate::customer_balance::holdings(state, scope, customer).await;
    held.unwrap_or_default()
        .into_iter()
        .map(|(currency, minor)| BalanceRow {
            code: currency.as_str(),
            amount: format_amount(minor, currency, locale),
        })
        .collect()
}

/// The currencies offered: those the wallet holds, and the usual ones.
fn currencies(balances: &[BalanceRow]) -> Vec<Currency> {
    let mut codes: Vec<&str> = balances.iter().map(|b| b.code).collect();
    for code in CURRENCIES {
        if !codes.contains(code) {
            codes.push(code);
        }
    }
    codes
        .into_iter()
        .filter_map(|c| Currency::parse(c).ok())
        .collect()
}

/// The wallet's limits in each offered currency, in `locale`.
async fn limit_rows(
    state: &AppState,
    holder: &Holder,
    offered: &[Currency],
    t: &'static Texts,
    locale: Locale,
) -> Vec<LimitRow> {
    let mut rows = Vec::new();
    for currency in offered {
        let Ok(limits) =
            crate::customer_balance::limits_of(state, &holder.scope, &holder.customer, *currency)
                .await
        else {
            continue;
        };
        for (label, limit) in [
            (t.limit_balance_max, limits.balance_max),
            (t.limit_daily_top_up, limits.daily_credit_max),
            (t.limit_daily_spend, limits.daily_debit_max),
        ] {
            if let Some(minor) = limit {
                let amount = format_amount(minor, *currency, locale);
                rows.push(LimitRow { label, amount });
            }
        }
    }
    rows
}

/// The page, with `error` announced and the typed values kept.
async fn render(
    state: &AppState,
    ctx: PageCtx,
    holder: &Holder,
    status: StatusCode,
    error: Option<String>,
    typed: (&str, Option<Currency>),
) -> Response {
    let (locale, t) = (ctx.locale, ctx.t);
    let balances = balance_rows(state, &holder.scope, &holder.customer, locale).await;
    let offered = currencies(&balances);
    let limits = limit_rows(state, holder, &offered, t, locale).await;
    let chosen = typed.1.unwrap_or(offered[0]);
    let options = offered
        .iter()
        .map(|c| CurrencyOption {
            code: c.as_str(),
            label: c.as_str().to_ascii_uppercase(),
            selected: *c == chosen,
        })
        .collect();
    let amount_invalid = error.is_some();
    let page = TopUpPage {
        chrome: ctx.chrome(state, error, None),
        balances,
        currencies: options,
        limits,
        amount: typed.0.to_owned(),
        amount_invalid,
    };
    html(ctx, status, page.render())
}

pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let query = query_of(&mut request);
    let ctx = PageCtx::new(&state, &headers, PATH, &query);
    let holder = match signed_in(&state, &headers).await {
        Some(who) => holder_of(&who, &state, &headers, &request).await,
        None => None,
    };
    let Some(holder) = holder else {
        return ended(&state, ctx, None);
    };
    render(&state, ctx, &holder, StatusCode::OK, None, ("", None)).await
}

pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let (ctx, who) = match posted_form(&state, &headers, &mut request).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let Some(holder) = holder_of(&who, &state, &headers, &request).await else {
        return ended(&state, ctx, Some(&who.realm));
    };
    let amount = request
        .params
        .string("amount", 32)
        .ok()
        .flatten()
        .unwrap_or_default();
    let currency = request
        .params
        .string("currency", 3)
        .ok()
        .flatten()
        .and_then(|c| Currency::parse(&c).ok());
    let (locale, t) = (ctx.locale, ctx.t);
    let minor = currency.and_then(|c| parse_major(&amount, c));
    let (Some(currency), Some(minor)) = (currency, minor) else {
        let error = Some(t.top_up_amount_invalid.to_owned());
        let status = StatusCode::BAD_REQUEST;
        return render(&state, ctx, &holder, status, error, (&amount, currency)).await;
    };
    let top_up = TopUp {
        customer: &holder.customer,
        amount_minor: minor,
        currency,
        label: t.top_up_item,
        locale: locale.tag(),
    };
    match top_up::open(&state, &holder.scope, &top_up).await {
        Ok(session) => {
            let page = format!("/checkout/{}?locale={}", session.id.as_str(), locale.tag());
            ctx.finish(Redirect::to(&page).into_response())
        }
        Err(err) => {
            let code = err.code.unwrap_or_default();
            let error = Some(t.error(code, &err.message, locale));
            let typed = (amount.as_str(), Some(currency));
            render(&state, ctx, &holder, err.status, error, typed).await
        }
    }
}
