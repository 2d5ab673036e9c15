//! The signed-in customer's own page (`/account`): the account, its live
//! sessions with a button to sign each out, links to the other forms, and
//! sign out.

use super::context::{self, call, utc_text, PageCtx, Realm};
use super::flows::{html, login_link, message};
use super::views::{HomePage, SessionRow};
use crate::accounts::signin;
use crate::auth::Caller;
use crate::state::AppState;
use crate::wire::ApiRequest;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use portcullis_store::Table;

/// What `?done=` may report on the account page.
pub const DONE: &[&str] = &["password_changed", "email_sent", "session_revoked"];

pub(super) struct SignedIn {
    pub realm: Realm,
    pub caller: Caller,
    pub session: String,
}

pub(super) async fn signed_in(state: &AppState, headers: &HeaderMap) -> Option<SignedIn> {
    let session = context::session_token(headers)?;
    let realm = Realm::of_token(state, Table::AccountSessions, &session)
        .await
        .ok()
        .flatten()?;
    let caller = realm.caller(state).await.ok().flatten()?;
    Some(SignedIn {
        realm,
        caller,
        session,
    })
}

/// The page for a browser whose session is gone: sign in again.
pub(super) fn ended(state: &AppState, mut ctx: PageCtx, realm: Option<&Realm>) -> Response {
    let t = ctx.t;
    ctx.clear_session();
    let links = realm.map(|r| login_link(t, r)).into_iter().collect();
    message(
        state,
        ctx,
        StatusCode::UNAUTHORIZED,
        t.login_title,
        Some(t.session_ended.to_owned()),
        None,
        links,
    )
}

pub(super) fn query_of(request: &mut ApiRequest) -> Vec<(&'static str, String)> {
    request
        .params
        .string("locale", 16)
        .ok()
        .flatten()
        .map(|l| vec![("locale", l)])
        .unwrap_or_default()
}

pub async fn home(
    State(state): State<AppState>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let query = query_of(&mut request);
    let done = request.params.string("done", 32).ok().flatten();
    let ctx = PageCtx::new(&state, &headers, "/account", &query);
    let Some(who) = signed_in(&state, &headers).await else {
        return ended(&state, ctx, None);
    };
    let session = Some(who.session.as_str());
    let me = call(
        signin::me,
        &state,
        who.caller.clone(),
        &headers,
        session,
        &request,
        &[],
    )
    .await;
    let sessions = call(
        signin::list_sessions,
        &state,
        who.caller.clone(),
        &headers,
        session,
        &request,
        &[],
    )
    .await;
    let (Ok(me), Ok(sessions)) = (me, sessions) else {
        return ended(&state, ctx, Some(&who.realm));
    };
    let t = ctx.t;
    let notice = done.as_deref().map(|done| {
        match done {
            "password_changed" => t.password_changed,
            "email_sent" => t.email_sent,
            _ => t.session_revoked,
        }
        .to_owned()
    });
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    let rows = sessions["data"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|s| SessionRow {
            id: text(&s["id"]),
            created: utc_text(s["created"].as_i64().unwrap_or_default()),
            expires: utc_text(s["expires_at"].as_i64().unwrap_or_default()),
            device: text(&s["user_agent"]),
            ip: text(&s["ip"]),
            current: s["current"].as_bool().unwrap_or(false),
        })
        .collect();
    let page = HomePage {
        chrome: ctx.chrome(&state, None, notice),
        email: text(&me["email"]),
        status: text(&me["status"]),
        sessions: rows,
    };
    html(ctx, StatusCode::OK, page.render())
}

/// Checks the form token; the page to show when it is wrong.
pub(super) fn checked(state: &AppState, ctx: &PageCtx, request: &mut ApiRequest) -> bool {
    let posted = request.params.string("csrf_token", 128).ok().flatten();
    ctx.csrf_ok(state, posted.as_deref())
}

fn form_expired(state: &AppState, ctx: PageCtx) -> Response {
    let t = ctx.t;
    let links = vec![super::views::Link {
        id: "to-home",
        href: "/account".to_owned(),
        label: t.to_home,
    }];
    message(
        state,
        ctx,
        StatusCode::FORBIDDEN,
        t.error_title,
        Some(t.form_expired.to_owned()),
        None,
        links,
    )
}

/// A posted form of a signed-in page: its context and who is signed in, or
/// the page that says the form expired or the session ended.
async fn posted_form(
    state: &AppState,
    headers: &HeaderMap,
    request: &mut ApiRequest,
) -> Result<(PageCtx, SignedIn), Response> {
    let query = query_of(request);
    let ctx = PageCtx::new(state, headers, "/account", &query);
    if !checked(state, &ctx, request) {
        return Err(form_expired(state, ctx));
    }
    match signed_in(state, headers).await {
        Some(who) => Ok((ctx, who)),
        None => Err(ended(state, ctx, None)),
    }
}

/// The session cookie cleared, and a link to sign in again.
fn signed_out(state: &AppState, mut ctx: PageCtx, realm: &Realm) -> Response {
    ctx.clear_session();
    let t = ctx.t;
    let links = vec![login_link(t, realm)];
    message(
        state,
        ctx,
        StatusCode::OK,
        t.login_title,
        None,
        Some(t.signed_out.to_owned()),
        links,
    )
}

pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let (ctx, who) = match posted_form(&state, &headers, &mut request).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    // Signed out even if the session ended meanwhile.
    let _ = call(
        signin::logout,
        &state,
        who.caller,
        &headers,
        Some(&who.session),
        &request,
        &[],
    )
    .await;
    signed_out(&state, ctx, &who.realm)
}

pub async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let (ctx, who) = match posted_form(&state, &headers, &mut request).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let revoke = |state, caller, headers, request| {
        signin::revoke_session(state, caller, Path(id.clone()), headers, request)
    };
    match call(
        revoke,
        &state,
        who.caller,
        &headers,
        Some(&who.session),
        &request,
        &[],
    )
    .await
    {
        Ok(revoked) if revoked["current"].as_bool() == Some(true) => {
            signed_out(&state, ctx, &who.realm)
        }
        Ok(_) => ctx.finish(Redirect::to("/account?done=session_revoked").into_response()),
        Err(refusal) if refusal.status == StatusCode::UNAUTHORIZED => {
            ended(&state, ctx, Some(&who.realm))
        }
        Err(refusal) => {
            let t = ctx.t;
            let error = t.error(&refusal.code, &refusal.message, ctx.locale);
            let links = vec![super::views::Link {
                id: "to-home",
                href: "/account".to_owned(),
                label: t.to_home,
            }];
            message(
                &state,
                ctx,
                refusal.status,
                t.error_title,
                Some(error),
                None,
                links,
            )
        }
    }
}
