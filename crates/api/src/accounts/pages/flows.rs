//! The account pages that are one form each: shown by GET, sent by POST to
//! the same path, which calls the JSON API's handler and shows its outcome
//! (or the form again with the error, announced).

use super::context::{self, call, PageCtx, Realm, Refusal};
use super::texts::Texts;
use super::views::{Field, FormPage, Link};
use crate::accounts::{credentials, devices, registration, signin};
use crate::auth::Caller;
use crate::state::AppState;
use crate::wire::ApiRequest;
use askama::Template;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use portcullis_store::Table;
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Register,
    Login,
    PasswordReset,
    Activate,
    Invitation,
    Reset,
    EmailConfirm,
    Password,
    Email,
    Deactivate,
}

/// How a page finds its merchant.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Entry {
    /// `?merchant=…&mode=…`.
    Realm,
    /// The emailed `token`.
    Token,
    /// The session cookie.
    Session,
}

pub struct Spec {
    pub path: &'static str,
    pub summary: &'static str,
}

impl Flow {
    pub fn spec(self) -> Spec {
        let (path, summary) = match self {
            Flow::Register => ("/account/register", "Register (hosted page)"),
            Flow::Login => ("/account/login", "Sign in (hosted page)"),
            Flow::PasswordReset => (
                "/account/password_reset",
                "Ask for a password reset link (hosted page)",
            ),
            Flow::Activate => (
                "/account/activate",
                "Activate with the emailed link (hosted page)",
            ),
            Flow::Invitation => ("/account/invitation", "Accept an invitation (hosted page)"),
            Flow::Reset => (
                "/account/reset",
                "Choose a new password with the emailed link (hosted page)",
            ),
            Flow::EmailConfirm => (
                "/account/email/confirm",
                "Confirm a new email address with the emailed link (hosted page)",
            ),
            Flow::Password => ("/account/password", "Change the password (hosted page)"),
            Flow::Email => ("/account/email", "Change the email address (hosted page)"),
            Flow::Deactivate => ("/account/deactivate", "Close the account (hosted page)"),
        };
        Spec { path, summary }
    }

    fn entry(self) -> Entry {
        match self {
            Flow::Register | Flow::Login | Flow::PasswordReset => Entry::Realm,
            Flow::Activate | Flow::Invitation | Flow::Reset | Flow::EmailConfirm => Entry::Token,
            Flow::Password | Flow::Email | Flow::Deactivate => Entry::Session,
        }
    }

    fn title(self, t: &'static Texts) -> &'static str {
        match self {
            Flow::Register => t.register_title,
            Flow::Login => t.login_title,
            Flow::PasswordReset => t.reset_title,
            Flow::Activate => t.activate_title,
            Flow::Invitation => t.invitation_title,
            Flow::Reset => t.reset_confirm_title,
            Flow::EmailConfirm => t.email_confirm_title,
            Flow::Password => t.password_title,
            Flow::Email => t.email_title,
            Flow::Deactivate => t.deactivate_title,
        }
    }

    fn intro(self, t: &'static Texts) -> Option<&'static str> {
        match self {
            Flow::PasswordReset => Some(t.reset_intro),
            Flow::Activate => Some(t.activate_intro),
            Flow::EmailConfirm => Some(t.email_confirm_intro),
            Flow::Deactivate => Some(t.deactivate_intro),
            _ => None,
        }
    }

    fn submit_label(self, t: &'static Texts) -> &'static str {
        match self {
            Flow::Register => t.register_submit,
            Flow::Login => t.login_submit,
            Flow::PasswordReset => t.reset_submit,
            Flow::Activate => t.activate_submit,
            Flow::Invitation => t.invitation_submit,
            Flow::Reset => t.reset_confirm_submit,
            Flow::EmailConfirm => t.email_confirm_submit,
            Flow::Password => t.password_submit,
            Flow::Email => t.email_submit,
            Flow::Deactivate => t.deactivate_submit,
        }
    }

    /// The form's visible inputs.
    fn fields(self, t: &'static Texts) -> Vec<Field> {
        let email = || Field::input("email", t.email, "email", "username");
        let new_password = |name| {
            Field::input(name, t.new_password, "password", "new-password")
                .with_hint(t.password_hint)
        };
        let current = || {
            Field::input(
                "current_password",
                t.current_password,
                "password",
                "current-password",
            )
        };
        match self {
            Flow::Register => vec![
                email(),
                Field {
                    label: t.password,
                    ..new_password("password")
                },
                Field::input("name", t.name, "text", "name").optional(),
            ],
            Flow::Login => vec![
                email(),
                Field::input("password", t.password, "password", "current-password"),
            ],
            Flow::PasswordReset => vec![email()],
            Flow::Activate | Flow::EmailConfirm => vec![],
            Flow::Invitation => vec![Field {
                label: t.password,
                ..new_password("password")
            }],
            Flow::Reset => vec![new_password("new_password")],
            Flow::Password => vec![current(), new_password("new_password")],
            Flow::Email => vec![
                Field::input("new_email", t.new_email, "email", "email"),
                current(),
            ],
            Flow::Deactivate => vec![current()],
        }
    }

    fn links(self, t: &'static Texts, realm: Option<&Realm>) -> Vec<Link> {
        let with_realm = |path: &str| match realm {
            Some(realm) => format!("{path}?{}", realm.query()),
            None => path.to_owned(),
        };
        match self {
            Flow::Login => vec![
                Link {
                    id: "to-register",
                    href: with_realm("/account/register"),
                    label: t.to_register,
                },
                Link {
                    id: "to-reset",
                    href: with_realm("/account/password_reset"),
                    label: t.to_reset,
                },
            ],
            Flow::Register | Flow::PasswordReset => {
                vec![Link {
                    id: "to-login",
                    href: with_realm("/account/login"),
                    label: t.to_login,
                }]
            }
            Flow::Password | Flow::Email | Flow::Deactivate => {
                vec![Link {
                    id: "to-home",
                    href: "/account".to_owned(),
                    label: t.to_home,
                }]
            }
            _ => vec![],
        }
    }
}

/// Where a page request stands: its merchant, as whom it calls the API,
/// and the emailed token or session token it holds.
struct Place {
    realm: Realm,
    caller: Caller,
    token: Option<String>,
    session: Option<String>,
    /// Where signing in goes on to (a path of this site, such as the
    /// checkout page that sent the customer), else the account page.
    return_to: Option<String>,
}

/// A page that could not find its merchant, its token or its session.
struct Lost {
    status: StatusCode,
    message: String,
    realm: Option<Realm>,
    clear_session: bool,
}

fn take(request: &mut ApiRequest, name: &str) -> Option<String> {
    request
        .params
        .string(name, 1024)
        .ok()
        .flatten()
        .filter(|v| !v.is_empty())
}

async fn locate(
    flow: Flow,
    state: &AppState,
    headers: &HeaderMap,
    ctx: &PageCtx,
    query: &[(&'static str, String)],
) -> Result<Place, Lost> {
    let (merchant, mode, token) = (
        named(query, "merchant"),
        named(query, "mode"),
        named(query, "token"),
    );
    let t = ctx.t;
    let lost = |status, message: String| Lost {
        status,
        message,
        realm: None,
        clear_session: false,
    };
    let (realm, token, session) = match flow.entry() {
        Entry::Realm => {
            let realm = Realm::parse(merchant, mode)
                .ok_or_else(|| lost(StatusCode::NOT_FOUND, t.realm_missing.to_owned()))?;
            (realm, None, None)
        }
        Entry::Token => {
            let invalid = || {
                lost(
                    StatusCode::BAD_REQUEST,
                    t.error(
                        "account_token_invalid",
                        "This link is not valid. Ask for a new one.",
                        ctx.locale,
                    ),
                )
            };
            let token = token.ok_or_else(invalid)?;
            let realm = Realm::of_token(state, Table::AccountTokens, token)
                .await
                .ok()
                .flatten()
                .ok_or_else(invalid)?;
            (realm, Some(token.to_owned()), None)
        }
        Entry::Session => {
            let ended = || Lost {
                status: StatusCode::UNAUTHORIZED,
                message: t.session_ended.to_owned(),
                realm: None,
                clear_session: true,
            };
            let session = context::session_token(headers).ok_or_else(ended)?;
            let realm = Realm::of_token(state, Table::AccountSessions, &session)
                .await
                .ok()
                .flatten()
                .ok_or_else(ended)?;
            (realm, None, Some(session))
        }
    };
    let return_to =
        named(query, "return_to").and_then(|raw| super::step_up::own_path(&state.base_url(), raw));
    match realm.caller(state).await {
        Ok(Some(caller)) => Ok(Place {
            realm,
            caller,
            token,
            session,
            return_to,
        }),
        Ok(None) => Err(lost(StatusCode::NOT_FOUND, t.realm_missing.to_owned())),
        Err(_) => Err(lost(
            StatusCode::SERVICE_UNAVAILABLE,
            t.error_title.to_owned(),
        )),
    }
}

/// An HTML answer with the page's cookies; no referrer leaves a page
/// whose address holds an emailed token.
pub fn html(ctx: PageCtx, status: StatusCode, rendered: Result<String, askama::Error>) -> Response {
    let mut response = match rendered {
        Ok(body) => (status, Html(body)).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "account page template");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    };
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    ctx.finish(response)
}

/// A page that only tells something, with links onward.
pub fn message(
    state: &AppState,
    ctx: PageCtx,
    status: StatusCode,
    title: &'static str,
    error: Option<String>,
    notice: Option<String>,
    links: Vec<Link>,
) -> Response {
    let page = FormPage {
        chrome: ctx.chrome(state, error, notice),
        title,
        intro: None,
        action: None,
        fields: vec![],
        submit: "",
        danger: false,
        links,
        passkey_login: None,
    };
    html(ctx, status, page.render())
}

pub fn login_link(t: &'static Texts, realm: &Realm) -> Link {
    Link {
        id: "to-login",
        href: format!("/account/login?{}", realm.query()),
        label: t.to_login,
    }
}

fn lost_page(state: &AppState, mut ctx: PageCtx, lost: Lost) -> Response {
    if lost.clear_session {
        ctx.clear_session();
    }
    let t = ctx.t;
    let links = lost
        .realm
        .iter()
        .map(|realm| login_link(t, realm))
        .collect();
    message(
        state,
        ctx,
        lost.status,
        t.error_title,
        Some(lost.message),
        None,
        links,
    )
}

/// What the page's query names: its merchant or token, and locale.
/// The page's query: what finds its merchant, its language, and (kept
/// only when it is a path of ours) where sign-in goes on to.
fn query_of(flow: Flow, state: &AppState, request: &mut ApiRequest) -> Vec<(&'static str, String)> {
    let names: &[&'static str] = match flow.entry() {
        Entry::Realm => &["merchant", "mode", "locale", "return_to"],
        Entry::Token => &["token", "locale"],
        Entry::Session => &["locale"],
    };
    let base = state.base_url();
    names
        .iter()
        .copied()
        .filter_map(|name| take(request, name).map(|v| (name, v)))
        .filter(|(name, v)| *name != "return_to" || super::step_up::own_path(&base, v).is_some())
        .collect()
}

fn named<'a>(query: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.as_str())
}

/// Renders `flow`'s form; `refusal` shows as its error, `kept` refills
/// inputs that are not passwords.
fn form(
    flow: Flow,
    state: &AppState,
    ctx: PageCtx,
    place: &Place,
    status: StatusCode,
    error: Option<String>,
    invalid: Option<&str>,
    kept: &[(&'static str, String)],
) -> Response {
    let t = ctx.t;
    let mut fields: Vec<Field> = flow
        .fields(t)
        .into_iter()
        .map(|mut field| {
            field.invalid = invalid == Some(field.name);
            if field.kind != "password" {
                if let Some((_, value)) = kept.iter().find(|(k, _)| *k == field.name) {
                    field = field.with_value(value.clone());
                }
            }
            field
        })
        .collect();
    if let Some(token) = &place.token {
        fields.push(Field::hidden("token", token.clone()));
    }
    let mut action = format!("{}?locale={}", flow.spec().path, ctx.locale.tag());
    if flow.entry() == Entry::Realm {
        action = format!("{action}&{}", place.realm.query());
    }
    if let Some(back) = &place.return_to {
        action = format!("{action}&return_to={}", context::encode(back));
    }
    let page = FormPage {
        chrome: ctx.chrome(state, error, None),
        title: flow.title(t),
        intro: flow.intro(t),
        action: Some(action),
        fields,
        submit: flow.submit_label(t),
        danger: flow == Flow::Deactivate,
        links: flow.links(t, Some(&place.realm)),
        passkey_login: (flow == Flow::Login)
            .then(|| place.realm.passkey_login(place.return_to.clone())),
    };
    html(ctx, status, page.render())
}

pub async fn show(
    flow: Flow,
    State(state): State<AppState>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let query = query_of(flow, &state, &mut request);
    let ctx = PageCtx::new(&state, &headers, flow.spec().path, &query);
    let place = match locate(flow, &state, &headers, &ctx, &query).await {
        Ok(place) => place,
        Err(lost) => return lost_page(&state, ctx, lost),
    };
    form(flow, &state, ctx, &place, StatusCode::OK, None, None, &[])
}

pub async fn submit(
    flow: Flow,
    State(state): State<AppState>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let query = query_of(flow, &state, &mut request);
    let mut ctx = PageCtx::new(&state, &headers, flow.spec().path, &query);
    let csrf = take(&mut request, "csrf_token");
    let posted: Vec<(&'static str, String)> = flow
        .fields(ctx.t)
        .iter()
        .filter_map(|f| take(&mut request, f.name).map(|v| (f.name, v)))
        .collect();
    let place = match locate(flow, &state, &headers, &ctx, &query).await {
        Ok(place) => place,
        Err(lost) => return lost_page(&state, ctx, lost),
    };
    if !ctx.csrf_ok(&state, csrf.as_deref()) {
        let expired = ctx.t.form_expired.to_owned();
        return form(
            flow,
            &state,
            ctx,
            &place,
            StatusCode::FORBIDDEN,
            Some(expired),
            None,
            &posted,
        );
    }
    match perform(flow, &state, &headers, &request, &place, &posted, &ctx).await {
        Ok(body) => succeeded(flow, &state, ctx, &place, &body),
        Err(refusal)
            if refusal.status == StatusCode::UNAUTHORIZED && flow.entry() == Entry::Session =>
        {
            let t = ctx.t;
            ctx.clear_session();
            let links = vec![login_link(t, &place.realm)];
            message(
                &state,
                ctx,
                StatusCode::UNAUTHORIZED,
                t.error_title,
                Some(t.session_ended.to_owned()),
                None,
                links,
            )
        }
        Err(refusal) if refusal.code == "account_step_up_required" => {
            let t = ctx.t;
            let back = format!("{}?locale={}", flow.spec().path, ctx.locale.tag());
            let links = vec![Link {
                id: "to-step-up",
                href: format!(
                    "/account/step_up?locale={}&return_to={}",
                    ctx.locale.tag(),
                    context::encode(&back)
                ),
                label: t.step_up_submit,
            }];
            let error = t.error(&refusal.code, &refusal.message, ctx.locale);
            message(
                &state,
                ctx,
                refusal.status,
                t.step_up_title,
                Some(error),
                None,
                links,
            )
        }
        Err(refusal) => {
            let error = ctx.t.error(&refusal.code, &refusal.message, ctx.locale);
            form(
                flow,
                &state,
                ctx,
                &place,
                refusal.status,
                Some(error),
                refusal.param.as_deref(),
                &posted,
            )
        }
    }
}

/// Calls the API handler behind `flow` with the posted fields.
async fn perform(
    flow: Flow,
    state: &AppState,
    headers: &HeaderMap,
    request: &ApiRequest,
    place: &Place,
    posted: &[(&'static str, String)],
    ctx: &PageCtx,
) -> Result<Value, Refusal> {
    let mut params: Vec<(&str, String)> = posted.to_vec();
    if let Some(token) = &place.token {
        params.push(("token", token.clone()));
    }
    let caller = place.caller.clone();
    let session = place.session.as_deref();
    macro_rules! api {
        ($handler:path) => {
            call($handler, state, caller, headers, session, request, &params).await
        };
    }
    match flow {
        Flow::Register => {
            params.push(("locale", ctx.locale.tag().to_owned()));
            api!(registration::register)
        }
        Flow::Login => {
            params.push((devices::PARAM, ctx.device_id().to_owned()));
            api!(signin::login)
        }
        Flow::PasswordReset => api!(credentials::request_reset),
        Flow::Activate => api!(registration::activate),
        Flow::Invitation => api!(registration::accept_invitation),
        Flow::Reset => api!(credentials::confirm_reset),
        Flow::EmailConfirm => api!(credentials::confirm_email_change),
        Flow::Password => api!(credentials::change_password),
        Flow::Email => api!(credentials::request_email_change),
        Flow::Deactivate => api!(credentials::deactivate),
    }
}

fn succeeded(
    flow: Flow,
    state: &AppState,
    mut ctx: PageCtx,
    place: &Place,
    body: &Value,
) -> Response {
    let t = ctx.t;
    let login = || vec![login_link(t, &place.realm)];
    let (notice, links) = match flow {
        Flow::Login => {
            let token = body["token"].as_str().unwrap_or_default();
            let ttl = body["expires_at"].as_i64().unwrap_or(0) - state.now();
            ctx.set_session(token, ttl.max(0));
            let next = place.return_to.as_deref().unwrap_or("/account");
            return ctx.finish(Redirect::to(next).into_response());
        }
        Flow::Password => {
            return ctx.finish(Redirect::to("/account?done=password_changed").into_response())
        }
        Flow::Email => return ctx.finish(Redirect::to("/account?done=email_sent").into_response()),
        Flow::Register => (t.registered, login()),
        Flow::PasswordReset => (t.reset_sent, login()),
        Flow::Activate | Flow::Invitation => (t.activated, login()),
        Flow::Reset => {
            ctx.clear_session();
            (t.reset_done, login())
        }
        Flow::EmailConfirm => (
            t.email_changed,
            vec![Link {
                id: "to-home",
                href: "/account".to_owned(),
                label: t.to_home,
            }],
        ),
        Flow::Deactivate => {
            ctx.clear_session();
            (t.deactivated, vec![])
        }
    };
    message(
        state,
        ctx,
        StatusCode::OK,
        flow.title(t),
        None,
        Some(notice.to_owned()),
        links,
    )
}
