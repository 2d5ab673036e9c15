//! The JSON calls of the pages' script (the passkey ceremonies): the form
//! token checked, then the JSON API's handler called as the signed-in
//! holder (or, to sign in, as the merchant the page names); its answer or
//! its refusal goes back as JSON, the refusal in the page's language.

use super::context::{call, PageCtx, Realm, Refusal};
use super::signed_in::{checked, query_of, signed_in};
use crate::auth::Caller;
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::future::Future;

/// A JSON refusal in Stripe's shape, in the page's language. A refusal
/// that needs a step-up also says where the holder confirms
/// (`step_up_url`, back to the account page afterwards).
pub fn refused(ctx: PageCtx, status: StatusCode, code: &str, message: &str) -> Response {
    let text = ctx.t.error(code, message, ctx.locale);
    let mut error = json!({
        "type": "invalid_request_error", "code": code, "message": text,
    });
    if code == "account_step_up_required" {
        error["step_up_url"] = json!(super::step_up::then_account(ctx.locale));
    }
    ctx.finish((status, Json(json!({ "error": error }))).into_response())
}

/// A JSON answer with the page's cookies.
pub fn answered(ctx: PageCtx, body: Value) -> Response {
    ctx.finish(Json(body).into_response())
}

/// The page context of a script call to `path`, or the refusal when its
/// form token is not this browser's.
fn checked_ctx(
    state: &AppState,
    headers: &HeaderMap,
    request: &mut ApiRequest,
    path: &str,
) -> Result<PageCtx, Response> {
    let query = query_of(request);
    let ctx = PageCtx::new(state, headers, path, &query);
    if !checked(state, &ctx, request) {
        let message = ctx.t.form_expired;
        return Err(refused(ctx, StatusCode::FORBIDDEN, "form_expired", message));
    }
    Ok(ctx)
}

/// Calls `handler` with `params` as the signed-in holder of the page's
/// session cookie.
pub async fn as_holder<F, Fut>(
    state: &AppState,
    headers: &HeaderMap,
    request: &mut ApiRequest,
    path: &str,
    handler: F,
    params: &[(&str, String)],
) -> Result<(PageCtx, Value), Response>
where
    F: FnOnce(State<AppState>, Caller, HeaderMap, ApiRequest) -> Fut,
    Fut: Future<Output = Response>,
{
    let ctx = checked_ctx(state, headers, request, path)?;
    let Some(who) = signed_in(state, headers).await else {
        let message = ctx.t.session_ended;
        return Err(refused(
            ctx,
            StatusCode::UNAUTHORIZED,
            "session_ended",
            message,
        ));
    };
    let session = Some(who.session.as_str());
    let outcome = call(
        handler, state, who.caller, headers, session, request, params,
    )
    .await;
    relayed(ctx, outcome)
}

/// Calls `handler` with `params` as the merchant the posted `merchant` and
/// `mode` name (no session: signing in).
pub async fn as_visitor<F, Fut>(
    state: &AppState,
    headers: &HeaderMap,
    request: &mut ApiRequest,
    path: &str,
    handler: F,
    params: &[(&str, String)],
) -> Result<(PageCtx, Value), Response>
where
    F: FnOnce(State<AppState>, Caller, HeaderMap, ApiRequest) -> Fut,
    Fut: Future<Output = Response>,
{
    let merchant = request.params.string("merchant", 64).ok().flatten();
    let mode = request.params.string("mode", 8).ok().flatten();
    let ctx = checked_ctx(state, headers, request, path)?;
    let realm = Realm::parse(merchant.as_deref(), mode.as_deref());
    let caller = match realm {
        Some(realm) => realm.caller(state).await.ok().flatten(),
        None => None,
    };
    let Some(caller) = caller else {
        let message = ctx.t.realm_missing;
        return Err(refused(
            ctx,
            StatusCode::NOT_FOUND,
            "realm_missing",
            message,
        ));
    };
    let outcome = call(handler, state, caller, headers, None, request, params).await;
    relayed(ctx, outcome)
}

fn relayed(ctx: PageCtx, outcome: Result<Value, Refusal>) -> Result<(PageCtx, Value), Response> {
    match outcome {
        Ok(body) => Ok((ctx, body)),
        Err(r) => Err(refused(ctx, r.status, &r.code, &r.message)),
    }
}

/// The ceremony's second call's fields, as posted (empty when missing:
/// the API names what is missing).
pub fn ceremony_fields(request: &mut ApiRequest) -> Vec<(&'static str, String)> {
    use crate::accounts::passkeys::{CHALLENGE_CHARS_MAX, CREDENTIAL_CHARS_MAX};
    let mut params = Vec::new();
    for (name, max) in [
        ("challenge", CHALLENGE_CHARS_MAX),
        ("credential", CREDENTIAL_CHARS_MAX),
    ] {
        let value = request.params.string(name, max).ok().flatten();
        params.push((name, value.unwrap_or_default()));
    }
    params
}
