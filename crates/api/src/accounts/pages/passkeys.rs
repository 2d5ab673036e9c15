//! The account pages' passkeys: add one (`/account`'s form, whose script
//! runs `navigator.credentials.create`), delete one (a plain form; it needs
//! a fresh step-up, so the page links to the step-up page when asked), and
//! sign in with one (`/account/login`'s button, `navigator.credentials.get`
//! with a discoverable credential). The script's calls answer JSON; each
//! calls the very handler of `/v1/accounts/passkeys…`.

use super::relay::{self, as_holder, as_visitor, ceremony_fields};
use super::signed_in::{ended, posted_form, refused_page};
use crate::accounts::passkeys::{self, NAME_CHARS_MAX};
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::json;

const REGISTER_PATH: &str = "/account/passkeys";
const LOGIN_PATH: &str = "/account/passkeys/login";

/// `POST /account/passkeys/challenge`: the creation options.
pub async fn registration_challenge(
    State(state): State<AppState>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let start = passkeys::start_registration;
    match as_holder(&state, &headers, &mut request, REGISTER_PATH, start, &[]).await {
        Ok((ctx, body)) => relay::answered(ctx, body),
        Err(response) => response,
    }
}

/// `POST /account/passkeys`: the authenticator's credential, and a name.
pub async fn register(
    State(state): State<AppState>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let mut params = ceremony_fields(&mut request);
    if let Some(name) = request.params.string("name", NAME_CHARS_MAX).ok().flatten() {
        params.push(("name", name));
    }
    let finish = passkeys::finish_registration;
    match as_holder(
        &state,
        &headers,
        &mut request,
        REGISTER_PATH,
        finish,
        &params,
    )
    .await
    {
        Ok((ctx, _)) => relay::answered(ctx, json!({ "return_to": "/account?done=passkey_added" })),
        Err(response) => response,
    }
}

/// `POST /account/passkeys/login/challenge`: the request options of a
/// sign-in that names no account.
pub async fn login_challenge(
    State(state): State<AppState>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let start = |state, caller, _headers, request| passkeys::start_login(state, caller, request);
    match as_visitor(&state, &headers, &mut request, LOGIN_PATH, start, &[]).await {
        Ok((ctx, body)) => relay::answered(ctx, body),
        Err(response) => response,
    }
}

/// `POST /account/passkeys/login`: the assertion; a session cookie, and
/// where to go: the sign-in page's `return_to` when it is a path of ours
/// (as password sign-in), else the account page.
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let mut params = ceremony_fields(&mut request);
    if let Some(device) = super::context::device_cookie(&headers) {
        params.push((crate::accounts::devices::PARAM, device));
    }
    let back = super::step_up::return_to_or_home(&state, &mut request);
    let finish = passkeys::finish_login;
    match as_visitor(&state, &headers, &mut request, LOGIN_PATH, finish, &params).await {
        Ok((mut ctx, body)) => {
            let token = body["token"].as_str().unwrap_or_default();
            let ttl = body["expires_at"].as_i64().unwrap_or(0) - state.now();
            ctx.set_session(token, ttl.max(0));
            relay::answered(ctx, json!({ "return_to": back }))
        }
        Err(response) => response,
    }
}

/// `POST /account/passkeys/{id}/delete`: a plain form of the account page.
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let (ctx, who) = match posted_form(&state, &headers, &mut request).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let delete = |state, caller, headers, request| {
        passkeys::delete(state, caller, Path(id.clone()), headers, request)
    };
    let outcome = who.call(delete, &state, &headers, &request).await;
    match outcome {
        Ok(_) => {
            let done = Redirect::to("/account?done=passkey_deleted");
            ctx.finish(done.into_response())
        }
        Err(refusal) if refusal.status == StatusCode::UNAUTHORIZED => {
            ended(&state, ctx, Some(&who.realm))
        }
        Err(refusal) => refused_page(&state, ctx, &refusal),
    }
}
