//! Sign-in, activation and sign-out. Sign-in answers alike for an unknown
//! address and a wrong password and does the same work for both (one
//! Argon2id verification); too many failures lock the user for the
//! accounts' lockout time (`accounts_lockout_failures_max`,
//! `accounts_lockout_s`). Every attempt is recorded. The forms before a
//! session carry a CSRF token bound to a pre-session cookie.

use super::audit::{self, Entry};
use super::layout::{self, error_page, locale, see_other, Layout};
use super::session::{self, LOGIN_COOKIE, SESSION_COOKIE};
use super::users::{self, DashboardUser, UserStatus};
use crate::accounts::passwords;
use crate::error::{ApiError, ApiResult};
use crate::hosted::locale::cookie_value;
use crate::state::AppState;
use crate::wire::ApiRequest;
use askama::Template;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use portcullis_domain::accounts::Password;
use portcullis_domain::customers::Email;
use portcullis_store::{StoreError, WriteOp, WriteSet};

#[derive(Template)]
#[template(path = "dashboard/login.html")]
struct LoginPage {
    l: Layout,
    email: String,
    error: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "dashboard/activate.html")]
struct ActivatePage {
    l: Layout,
    token: String,
    error: Option<String>,
}

/// The pre-session cookie's value, or a new one; and the forms' CSRF token.
fn login_csrf(state: &AppState, headers: &HeaderMap) -> (Option<String>, String) {
    match cookie_value(headers, LOGIN_COOKIE).filter(|v| v.len() == 43) {
        Some(existing) => {
            let csrf = state
                .key_hasher
                .keyed_digest("dashboard_login_csrf", &existing);
            (None, csrf)
        }
        None => {
            let fresh = users::generate_token("")
                .chars()
                .take(43)
                .collect::<String>();
            let csrf = state
                .key_hasher
                .keyed_digest("dashboard_login_csrf", &fresh);
            (Some(fresh), csrf)
        }
    }
}

fn check_login_csrf(state: &AppState, headers: &HeaderMap, presented: &str) -> ApiResult<()> {
    let expected = cookie_value(headers, LOGIN_COOKIE)
        .map(|v| state.key_hasher.keyed_digest("dashboard_login_csrf", &v))
        .unwrap_or_default();
    if expected.is_empty() {
        return session::check_token("-", None);
    }
    session::check_token(&expected, Some(presented))
}

fn set_cookie(response: &mut Response, value: String) {
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let lang = layout::named_locale(&mut request);
    let _ = super::pages::field(&mut request, "done", 20);
    let loc = locale(lang.as_deref(), &headers);
    if let Ok(Some(_)) = session::signed_in(&state, &headers).await {
        return see_other("/dashboard/payments");
    }
    login_form(&state, &headers, loc, lang.is_some(), String::new(), None)
}

fn login_form(
    state: &AppState,
    headers: &HeaderMap,
    loc: crate::hosted::Locale,
    remember_lang: bool,
    email: String,
    error: Option<&'static str>,
) -> Response {
    let (fresh, csrf) = login_csrf(state, headers);
    let t = super::texts::of(loc);
    let template = LoginPage {
        l: Layout::public(loc, t.sign_in, "/dashboard/login", csrf),
        email,
        error,
    };
    let mut response = layout::page(state, &template, remember_lang.then_some(loc));
    if let Some(value) = fresh {
        set_cookie(
            &mut response,
            session::cookie(state, LOGIN_COOKIE, &value, 3600),
        );
    }
    if error.is_some() {
        *response.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
    }
    response
}

fn ip_of(request: &ApiRequest) -> Option<String> {
    request.client_ip.map(|ip| ip.to_string())
}

pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let loc = locale(None, &headers);
    let t = super::texts::of(loc);
    let parsed = (|| {
        let email = request.params.required_string("email", 512)?;
        let password = request.params.required_string("password", 1024)?;
        let csrf = request.params.required_string("csrf_token", 128)?;
        let code = super::pages::field(&mut request, "code", 12)?;
        std::mem::take(&mut request.params).finish()?;
        check_login_csrf(&state, &headers, &csrf)?;
        let password = Password::parse_presented(&password)
            .map_err(|e| ApiError::invalid("parameter_invalid", e.to_string(), "password"))?;
        Ok::<_, ApiError>((email.trim().to_owned(), password, code))
    })();
    let (email, password, code) = match parsed {
        Ok(parsed) => parsed,
        Err(err) => return error_page(&state, loc, &err),
    };
    let ip = ip_of(&request);
    match attempt(&state, &email, password, code, ip).await {
        Ok(Outcome::SignedIn(token)) => {
            let mut response = see_other("/dashboard/payments");
            set_cookie(
                &mut response,
                session::cookie(&state, SESSION_COOKIE, &token, session::SESSION_TTL_S),
            );
            set_cookie(&mut response, session::cookie(&state, LOGIN_COOKIE, "", 0));
            response
        }
        Ok(Outcome::Wrong) => login_form(
            &state,
            &headers,
            loc,
            false,
            email,
            Some(t.wrong_credentials),
        ),
        Ok(Outcome::Locked) => login_form(&state, &headers, loc, false, email, Some(t.locked)),
        Err(err) => error_page(&state, loc, &err),
    }
}

enum Outcome {
    SignedIn(String),
    Wrong,
    Locked,
}

async fn attempt(
    state: &AppState,
    email: &str,
    password: Password,
    code: Option<String>,
    ip: Option<String>,
) -> ApiResult<Outcome> {
    let found = users::find(&state.store, "email_key", &email.to_lowercase()).await?;
    let stored = found.as_ref().and_then(|(_, u)| u.password_hash.clone());
    let matches = passwords::verify(password, stored).await?;
    let Some((doc, user)) = found else {
        return Ok(Outcome::Wrong);
    };
    let now = state.now();
    let scope = users::scope_of(&user.merchant);
    let entry = |action: &'static str| Entry {
        user: Some(&user.id),
        email: Some(&user.email),
        action,
        object: None,
        result: None,
        ip: ip.clone(),
    };
    if user.is_locked(now) {
        commit(
            state,
            vec![audit::record(&scope, entry("login_locked"), now)?],
        )
        .await?;
        return Ok(Outcome::Locked);
    }
    // With the second factor on, a code from it is needed too.
    // Its code is taken once: the step it belongs to must be later than
    // the last one accepted.
    let (second_factor, step) = match super::totp::secret_of(state, &user)? {
        None => (true, None),
        Some(secret) => {
            let step = code.and_then(|code| {
                super::totp::accepted_step(&secret, &code, now, user.totp_last_step)
            });
            (step.is_some(), step)
        }
    };
    if !matches || !second_factor || user.status != UserStatus::Active {
        let lockout = state.settings.accounts.lockout;
        let failed = user.failed_login(lockout.failures_max, lockout.duration_s, now);
        let locked = failed.is_locked(now);
        commit(
            state,
            vec![
                users::update(&doc, &failed)?,
                audit::record(&scope, entry("login_failed"), now)?,
            ],
        )
        .await?;
        return Ok(if locked {
            Outcome::Locked
        } else {
            Outcome::Wrong
        });
    }
    let (session_op, token) = session::start(state, &user, ip.clone())?;
    let mut signed_in = user.signed_in();
    signed_in.totp_last_step = step.or(user.totp_last_step);
    commit(
        state,
        vec![
            session_op,
            users::update(&doc, &signed_in)?,
            audit::record(&scope, entry("login"), now)?,
        ],
    )
    .await?;
    Ok(Outcome::SignedIn(token))
}

async fn commit(state: &AppState, ops: Vec<WriteOp>) -> ApiResult<()> {
    match state.store.commit(WriteSet { ops }).await {
        Ok(()) => Ok(()),
        Err(StoreError::Conflict) => Err(ApiError::concurrent_change()),
        Err(err) => Err(err.into()),
    }
}

/// The pending user an activation token names, if it is still valid.
async fn pending_user(
    state: &AppState,
    token: &str,
) -> ApiResult<(portcullis_store::Doc, DashboardUser)> {
    let invalid = || {
        ApiError::invalid(
            "activation_invalid",
            "This activation link is not valid (used, expired or mistyped).",
            "token",
        )
    };
    if !token.starts_with(users::ACTIVATION_PREFIX) {
        return Err(invalid());
    }
    let digest = users::digest(&state.key_hasher, token);
    let (doc, user) = users::find(&state.store, "activation_hash", &digest)
        .await?
        .ok_or_else(invalid)?;
    let live = user.status == UserStatus::Pending
        && user
            .activation_expires_at
            .is_some_and(|at| at > state.now());
    if !live {
        return Err(invalid());
    }
    Ok((doc, user))
}

pub async fn activate_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let lang = layout::named_locale(&mut request);
    let loc = locale(lang.as_deref(), &headers);
    let token = match request
        .params
        .required_string("token", users::TOKEN_CHARS_MAX)
    {
        Ok(token) => token,
        Err(err) => return error_page(&state, loc, &err),
    };
    if let Err(err) = pending_user(&state, &token).await {
        return error_page(&state, loc, &err);
    }
    activate_form(&state, &headers, loc, lang.is_some(), token, None)
}

fn activate_form(
    state: &AppState,
    headers: &HeaderMap,
    loc: crate::hosted::Locale,
    remember_lang: bool,
    token: String,
    error: Option<String>,
) -> Response {
    let (fresh, csrf) = login_csrf(state, headers);
    let t = super::texts::of(loc);
    let has_error = error.is_some();
    let template = ActivatePage {
        l: Layout::public(loc, t.activate, "/dashboard/activate", csrf),
        token,
        error,
    };
    let mut response = layout::page(state, &template, remember_lang.then_some(loc));
    if let Some(value) = fresh {
        set_cookie(
            &mut response,
            session::cookie(state, LOGIN_COOKIE, &value, 3600),
        );
    }
    if has_error {
        *response.status_mut() = axum::http::StatusCode::BAD_REQUEST;
    }
    response
}

pub async fn activate(
    State(state): State<AppState>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let loc = locale(None, &headers);
    let parsed = (|| {
        let token = request
            .params
            .required_string("token", users::TOKEN_CHARS_MAX)?;
        let password = request.params.required_string("password", 1024)?;
        let csrf = request.params.required_string("csrf_token", 128)?;
        std::mem::take(&mut request.params).finish()?;
        check_login_csrf(&state, &headers, &csrf)?;
        Ok::<_, ApiError>((token, password))
    })();
    let (token, password) = match parsed {
        Ok(parsed) => parsed,
        Err(err) => return error_page(&state, loc, &err),
    };
    let (doc, user) = match pending_user(&state, &token).await {
        Ok(found) => found,
        Err(err) => return error_page(&state, loc, &err),
    };
    let email = match Email::parse(&user.email) {
        Ok(email) => email,
        Err(err) => return error_page(&state, loc, &ApiError::internal(&err)),
    };
    let password = match Password::parse_new(&password, &email) {
        Ok(password) => password,
        Err(err) => {
            return activate_form(&state, &headers, loc, false, token, Some(err.to_string()))
        }
    };
    match activated(&state, doc, user, password, ip_of(&request)).await {
        Ok(session_token) => {
            let mut response = see_other("/dashboard/payments");
            set_cookie(
                &mut response,
                session::cookie(
                    &state,
                    SESSION_COOKIE,
                    &session_token,
                    session::SESSION_TTL_S,
                ),
            );
            response
        }
        Err(err) => error_page(&state, loc, &err),
    }
}

async fn activated(
    state: &AppState,
    doc: portcullis_store::Doc,
    mut user: DashboardUser,
    password: Password,
    ip: Option<String>,
) -> ApiResult<String> {
    user.password_hash = Some(passwords::hash(password).await?);
    user.status = UserStatus::Active;
    user.activation_hash = None;
    user.activation_expires_at = None;
    let now = state.now();
    let (session_op, token) = session::start(state, &user, ip.clone())?;
    let entry = Entry {
        user: Some(&user.id),
        email: Some(&user.email),
        action: "activate",
        object: None,
        result: None,
        ip,
    };
    let ops = vec![
        users::update(&doc, &user)?,
        session_op,
        audit::record(&users::scope_of(&user.merchant), entry, now)?,
    ];
    commit(state, ops).await?;
    Ok(token)
}

pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let loc = locale(None, &headers);
    let signed = match layout::guard_form(&state, &headers, loc).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let result = async {
        let csrf = request.params.required_string("csrf_token", 128)?;
        std::mem::take(&mut request.params).finish()?;
        signed.check_csrf(Some(&csrf))?;
        let entry = Entry {
            user: Some(&signed.user.id),
            email: Some(&signed.user.email),
            action: "logout",
            object: None,
            result: None,
            ip: ip_of(&request),
        };
        let ops = vec![
            session::revoke(&state, &signed)?,
            audit::record(&signed.home_scope(), entry, state.now())?,
        ];
        commit(&state, ops).await
    };
    match result.await {
        Ok(()) => {
            let mut response = see_other("/dashboard/login");
            set_cookie(
                &mut response,
                session::cookie(&state, SESSION_COOKIE, "", 0),
            );
            response
        }
        Err(err) => error_page(&state, loc, &err),
    }
}
