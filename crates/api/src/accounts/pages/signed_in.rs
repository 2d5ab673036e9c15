//! The signed-in customer's own page (`/account`): the account, its live
//! sessions with a button to sign each out, links to the other forms, and
//! sign out.

use super::context::{self, call, utc_text, PageCtx, Realm, Refusal};
use super::flows::{html, login_link, message};
use super::texts::Texts;
use super::views::{HomePage, Link, PasskeyRow, SessionRow};
use crate::accounts::{passkeys, signin};
use crate::auth::Caller;
use crate::state::AppState;
use crate::wire::ApiRequest;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use portcullis_store::Table;

/// What `?done=` may report on the account page.
pub const DONE: &[&str] = &[
    "password_changed",
    "email_sent",
    "session_revoked",
    "passkey_added",
    "passkey_deleted",
    "topped_up",
];

pub(super) struct SignedIn {
    pub realm: Realm,
    pub caller: Caller,
    pub session: String,
}

impl SignedIn {
    /// Calls the JSON API's `handler` as this holder, with no parameters.
    pub async fn call<F, Fut>(
        &self,
        handler: F,
        state: &AppState,
        headers: &HeaderMap,
        request: &ApiRequest,
    ) -> Result<serde_json::Value, context::Refusal>
    where
        F: FnOnce(State<AppState>, Caller, HeaderMap, ApiRequest) -> Fut,
        Fut: std::future::Future<Output = Response>,
    {
        self.call_with(handler, state, headers, request, &[]).await
    }

    /// Calls the JSON API's `handler` as this holder, with `params`.
    pub async fn call_with<F, Fut>(
        &self,
        handler: F,
        state: &AppState,
        headers: &HeaderMap,
        request: &ApiRequest,
        params: &[(&str, String)],
    ) -> Result<serde_json::Value, context::Refusal>
    where
        F: FnOnce(State<AppState>, Caller, HeaderMap, ApiRequest) -> Fut,
        Fut: std::future::Future<Output = Response>,
    {
        let session = Some(self.session.as_str());
        let caller = self.caller.clone();
        call(handler, state, caller, headers, session, request, params).await
    }
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
    let me = who.call(signin::me, &state, &headers, &request).await;
    let sessions = who.call(signin::list_sessions, &state, &headers, &request);
    let sessions = sessions.await;
    let passkeys = who.call(passkeys::list, &state, &headers, &request).await;
    let (Ok(me), Ok(sessions), Ok(passkeys)) = (me, sessions, passkeys) else {
        return ended(&state, ctx, Some(&who.realm));
    };
    let t = ctx.t;
    let notice = done.as_deref().map(|done| {
        match done {
            "password_changed" => t.password_changed,
            "email_sent" => t.email_sent,
            "passkey_added" => t.passkey_added,
            "passkey_deleted" => t.passkey_deleted,
            "topped_up" => t.topped_up,
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
    let balances = match portcullis_domain::ids::CustomerId::parse(&text(&me["customer"])) {
        Some(customer) => {
            super::top_up::balance_rows(&state, &who.realm.0, &customer, ctx.locale).await
        }
        None => vec![],
    };
    let page = HomePage {
        chrome: ctx.chrome(&state, None, notice),
        email: text(&me["email"]),
        status: text(&me["status"]),
        sessions: rows,
        passkeys: passkey_rows(t, &passkeys),
        balances,
    };
    html(ctx, StatusCode::OK, page.render())
}

/// The passkeys table's rows from the API's list.
fn passkey_rows(t: &Texts, list: &serde_json::Value) -> Vec<PasskeyRow> {
    let when = |v: &serde_json::Value| v.as_i64().map(utc_text);
    list["data"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|p| PasskeyRow {
            id: p["id"].as_str().unwrap_or_default().to_owned(),
            name: p["name"].as_str().unwrap_or(t.passkey_unnamed).to_owned(),
            created: when(&p["created"]).unwrap_or_default(),
            last_used: when(&p["last_used_at"]).unwrap_or_else(|| t.passkey_never_used.to_owned()),
        })
        .collect()
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
pub(super) async fn posted_form(
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
    let _ = who.call(signin::logout, &state, &headers, &request).await;
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
    match who.call(revoke, &state, &headers, &request).await {
        Ok(revoked) if revoked["current"].as_bool() == Some(true) => {
            signed_out(&state, ctx, &who.realm)
        }
        Ok(_) => ctx.finish(Redirect::to("/account?done=session_revoked").into_response()),
        Err(refusal) if refusal.status == StatusCode::UNAUTHORIZED => {
            ended(&state, ctx, Some(&who.realm))
        }
        Err(refusal) => refused_page(&state, ctx, &refusal),
    }
}

/// The account page's form was refused: the error, and a link back (or,
/// when the action needs a step-up, to the step-up page and back).
pub(super) fn refused_page(state: &AppState, ctx: PageCtx, refusal: &Refusal) -> Response {
    let t = ctx.t;
    let error = t.error(&refusal.code, &refusal.message, ctx.locale);
    let (title, link) = if refusal.code == "account_step_up_required" {
        let link = Link {
            id: "to-step-up",
            href: super::step_up::then_account(ctx.locale),
            label: t.step_up_submit,
        };
        (t.step_up_title, link)
    } else {
        let link = Link {
            id: "to-home",
            href: "/account".to_owned(),
            label: t.to_home,
        };
        (t.error_title, link)
    };
    let links = vec![link];
    message(state, ctx, refusal.status, title, Some(error), None, links)
}
