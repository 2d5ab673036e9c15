//! The checkout page's "Pay from balance" calls. They live under
//! `/account/…` because the account session cookie is sent only there:
//! the checkout page's script asks here who is signed in and what their
//! balance holds (`GET /account/checkout/{id}/balance`, which also hands
//! out the form token), and pays (`POST`, the form token checked). Only the
//! session's own customer may pay (`checkout::balance`), as the holder
//! of the page's session: a device they have not proven themself on
//! waits for their step-up (`accounts::devices`).

use super::context::PageCtx;
use super::relay::{answered, refused};
use super::signed_in::{checked, query_of, signed_in, SignedIn};
use crate::accounts::session::SESSION_HEADER;
use crate::accounts::{devices, signin};
use crate::checkout::balance;
use crate::customer_balance::step_up::HolderDevice;
use crate::error::ApiError;
use crate::events::Origin;
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The signed-in holder and the customer they are (by the JSON API's
/// `me`), if a live session is signed in.
async fn holder(
    state: &AppState,
    headers: &HeaderMap,
    request: &ApiRequest,
) -> Option<(SignedIn, String)> {
    let who = signed_in(state, headers).await?;
    let me = who.call(signin::me, state, headers, request).await.ok()?;
    let customer = me["customer"].as_str()?.to_owned();
    Some((who, customer))
}

/// The signed-in holder as a payment confirmation sees them (the
/// `Account-Session` of their page session): their customer, and whether
/// the session's device (the page's device cookie, bound at sign-in) is
/// one they have proven themself on.
async fn payer(state: &AppState, headers: &HeaderMap) -> Option<(SignedIn, HolderDevice)> {
    let who = signed_in(state, headers).await?;
    let mut session = HeaderMap::new();
    let token = HeaderValue::from_str(&who.session).ok()?;
    session.insert(SESSION_HEADER, token);
    let found = devices::holder_of(state, &who.caller, &session).await;
    let holder = found.ok().flatten()?;
    Some((who, holder))
}

/// The call's page context (its language, form token, cookies).
fn context_of(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    request: &mut ApiRequest,
) -> PageCtx {
    let query = query_of(request);
    PageCtx::new(
        state,
        headers,
        &format!("/account/checkout/{id}/balance"),
        &query,
    )
}

/// A refusal of the checkout API (a session closed, not offering the
/// balance, unknown) in its own shape, with the page's cookies.
fn api_refusal(ctx: PageCtx, err: ApiError) -> Response {
    ctx.finish(err.into_response())
}

pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let ctx = context_of(&state, &headers, &id, &mut request);
    let Some((who, customer)) = holder(&state, &headers, &request).await else {
        return answered(ctx, json!({ "signed_in": false }));
    };
    match balance::view(&state, &id, &who.realm.0, &customer, ctx.locale).await {
        Ok(mut body) => {
            body["csrf_token"] = json!(ctx.csrf_token(&state));
            answered(ctx, body)
        }
        Err(err) => api_refusal(ctx, err),
    }
}

pub async fn pay(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let ctx = context_of(&state, &headers, &id, &mut request);
    if !checked(&state, &ctx, &mut request) {
        let message = ctx.t.form_expired;
        return refused(ctx, StatusCode::FORBIDDEN, "form_expired", message);
    }
    let Some((who, payer)) = payer(&state, &headers).await else {
        let message = ctx.t.session_ended;
        return refused(ctx, StatusCode::UNAUTHORIZED, "session_ended", message);
    };
    let origin = Origin::of(&request);
    let tag = ctx.locale.tag();
    let realm = &who.realm.0;
    match balance::pay(&state, &id, realm, payer, Some(tag), &headers, &origin).await {
        Ok(body) => answered(ctx, body),
        Err(err) => api_refusal(ctx, err),
    }
}
