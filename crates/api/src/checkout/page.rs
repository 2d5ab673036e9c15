//! The hosted checkout page at a session's `url` (`/checkout/cs_…`):
//! server-rendered from the askama templates under
//! `templates/checkout/`, with its script and style served from
//! `/checkout/assets/…` (files of the binary, so the page loads nothing
//! from any other origin). As on Stripe, the session's id is the only key
//! to its page: it is unguessable and given only to the merchant, who
//! sends its customer there.

use super::texts::Texts;
use crate::error::{ApiError, ApiResult};
use crate::hosted::money::format_amount;
use crate::hosted::Locale;
use crate::payments::records::Record;
use crate::routes::params::{self as p, Param};
use crate::routes::{doc, Routes};
use crate::state::AppState;
use crate::wire::ApiRequest;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use portcullis_domain::checkout::{
    CheckoutMethod, CheckoutSession, CheckoutSessionId, CheckoutStatus,
};
use portcullis_domain::payment_intents::{PaymentIntent, PaymentIntentStatus};
use portcullis_store::{Doc, Scope};

/// Where the page's script and style are served.
pub const SCRIPT_PATH: &str = "/checkout/assets/checkout.js";
pub const STYLE_PATH: &str = "/checkout/assets/checkout.css";
const SCRIPT: &str = include_str!("../../assets/checkout/checkout.js");
const STYLE: &str = include_str!("../../assets/checkout/checkout.css");

const PAGE: &[Param] = &[p::string("locale", 20), p::boolean("failed")];

pub fn routes() -> Routes {
    Routes::new()
        .get(
            doc(
                "/checkout/{id}",
                "The hosted checkout page of a Checkout Session (its url)",
                "",
            )
            .params(PAGE)
            .public()
            .not_json(),
            page,
        )
        .get(
            doc(SCRIPT_PATH, "The hosted checkout page's script", "")
                .params(p::NONE)
                .public()
                .not_json(),
            script,
        )
        .get(
            doc(STYLE_PATH, "The hosted checkout page's style sheet", "")
                .params(p::NONE)
                .public()
                .not_json(),
            style,
        )
}

/// Session `id` of whichever merchant has it, with that merchant's
/// scope; a 404 for an id nobody has (or not a session id).
pub async fn find(state: &AppState, id: &str) -> ApiResult<(Scope, Doc, CheckoutSession)> {
    if CheckoutSessionId::parse(id).is_none() {
        return Err(ApiError::no_such(CheckoutSession::OBJECT, id, "id"));
    }
    crate::payments::records::find_anywhere(state, id).await
}

/// The language of session's page: `?locale=` (the visitor's switch),
/// else the session's `locale`, else the visitor's earlier switch or
/// browser.
pub fn locale_of(query: Option<&str>, session: &CheckoutSession, headers: &HeaderMap) -> Locale {
    let explicit = query
        .filter(|tag| Locale::parse(tag).is_some())
        .or(session.locale.as_deref());
    crate::hosted::locale::negotiate(explicit, headers)
}

/// Whether a session can no longer be paid: final, or past `expires_at`
/// though the expiry worker has not closed it yet.
pub fn is_closed(session: &CheckoutSession, now: i64) -> bool {
    session.status != CheckoutStatus::Open || session.is_due_to_expire(now)
}

struct Line {
    name: String,
    description: Option<String>,
    quantity: i64,
    amount: String,
}

/// A wallet button: its `payment_method_types` name and label.
struct Wallet {
    method: &'static str,
    label: &'static str,
}

struct Switch {
    tag: &'static str,
    name: &'static str,
    current: bool,
}

#[derive(Template)]
#[template(path = "checkout/page.html")]
struct PageTemplate<'a> {
    t: &'static Texts,
    lang: &'static str,
    id: &'a str,
    livemode: bool,
    lines: Vec<Line>,
    total: String,
    cancel_url: Option<String>,
    email: Option<&'a str>,
    failure: Option<&'static str>,
    offers_card: bool,
    wallets: Vec<Wallet>,
    /// The customer's sign-in page, coming back here, when the session
    /// offers paying from the balance.
    balance_sign_in: Option<String>,
    /// A wallet payment is open: the page polls from the start.
    waiting: bool,
    switches: Vec<Switch>,
    script: &'static str,
    style: &'static str,
}

#[derive(Template)]
#[template(path = "checkout/closed.html")]
struct ClosedTemplate {
    t: &'static Texts,
    lang: &'static str,
    title: &'static str,
    body: &'static str,
    link: Option<String>,
    style: &'static str,
}

/// What a visit of the page answers.
enum Shown {
    /// The page, and the language the visit switched to (a cookie).
    Page(String, Option<Locale>),
    /// The session was paid: the merchant's `success_url`.
    Redirect(String),
}

async fn page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        let query_locale = request.params.string("locale", 20)?;
        let failed = request.params.boolean("failed")?.unwrap_or(false);
        std::mem::take(&mut request.params).finish()?;
        let (scope, _, mut session) = find(&state, &id).await?;
        if session.status == CheckoutStatus::Open {
            // Paid after the customer left the flow (a late outcome).
            if let Some(intent) = super::closing::paid_intent(&state, &scope, &session).await? {
                let origin = crate::events::Origin::of(&request);
                session = super::complete(&state, &scope, &id, &intent, &origin).await?;
                // The customer is back from paying (a wallet's return, a
                // late outcome): on to the merchant, as the status poll does.
                return Ok(Shown::Redirect(session.success_redirect()));
            }
        }
        if failed && session.status == CheckoutStatus::Complete {
            // Back from a payment flow (`failed` is the return's landing)
            // that was paid meanwhile, by the wallet's notification.
            return Ok(Shown::Redirect(session.success_redirect()));
        }
        let locale = locale_of(query_locale.as_deref(), &session, &headers);
        let html = if is_closed(&session, state.now()) {
            closed_html(&session, locale)
        } else {
            let failure = match failed {
                true => last_failure(&state, &scope, &session, locale).await?,
                false => None,
            };
            let waiting = super::closing::awaits_wallet(&state, &scope, &session).await?;
            let sign_in = balance_sign_in(&scope, &session, locale);
            open_html(&session, locale, failure, waiting, sign_in)
        }?;
        let switched = query_locale.and_then(|tag| Locale::parse(&tag));
        Ok::<_, ApiError>(Shown::Page(html, switched))
    };
    match result.await {
        Ok(Shown::Redirect(location)) => super::pay::redirect(&location),
        Ok(Shown::Page(html, switched)) => {
            let mut response = Html(html).into_response();
            if let Some(locale) = switched {
                let cookie =
                    crate::hosted::locale::remember_cookie(locale, "/checkout", state.settings.tls);
                if let Ok(value) = HeaderValue::from_str(&cookie) {
                    response.headers_mut().insert(header::SET_COOKIE, value);
                }
            }
            response
        }
        Err(err) => err.into_response(),
    }
}

/// What the customer reads of the session's last failed attempt (after
/// a failed 3-D Secure challenge brings them back), if it failed.
async fn last_failure(
    state: &AppState,
    scope: &Scope,
    session: &CheckoutSession,
    locale: Locale,
) -> ApiResult<Option<&'static str>> {
    let Some(intent_id) = &session.payment_intent else {
        return Ok(None);
    };
    let (_, intent) =
        crate::payments::records::load::<PaymentIntent>(state, scope, intent_id, "id").await?;
    if intent.status != PaymentIntentStatus::RequiresPaymentMethod {
        return Ok(None);
    }
    Ok(intent
        .last_payment_error
        .as_ref()
        .map(|error| Texts::of(locale).failure(Some(&error.code), error.decline_code.as_deref())))
}

/// The account sign-in page of the session's merchant, back to this page
/// in `locale`, when the session offers paying from the balance.
fn balance_sign_in(scope: &Scope, session: &CheckoutSession, locale: Locale) -> Option<String> {
    if !session
        .payment_method_types
        .contains(&CheckoutMethod::CustomerBalance)
    {
        return None;
    }
    let back = format!("/checkout/{}?locale={}", session.id.as_str(), locale.tag());
    let back: String = form_urlencoded::byte_serialize(back.as_bytes()).collect();
    let mode = if scope.livemode { "live" } else { "test" };
    Some(format!(
        "/account/login?merchant={}&mode={mode}&locale={}&return_to={back}",
        scope.merchant_id.as_str(),
        locale.tag()
    ))
}

fn open_html(
    session: &CheckoutSession,
    locale: Locale,
    failure: Option<&'static str>,
    waiting: bool,
    balance_sign_in: Option<String>,
) -> ApiResult<String> {
    let lines = session
        .line_items
        .iter()
        .map(|item| Line {
            name: item.name.clone(),
            description: item.description.clone(),
            quantity: item.quantity,
            amount: format_amount(item.amount_total_minor, item.currency, locale),
        })
        .collect();
    let switches = Locale::ALL
        .iter()
        .map(|other| Switch {
            tag: other.tag(),
            name: other.native_name(),
            current: *other == locale,
        })
        .collect();
    let t = Texts::of(locale);
    let wallets = session
        .payment_method_types
        .iter()
        .filter_map(|method| match method {
            CheckoutMethod::Alipay => Some(Wallet {
                method: method.as_str(),
                label: t.alipay,
            }),
            CheckoutMethod::WechatPay => Some(Wallet {
                method: method.as_str(),
                label: t.wechat_pay,
            }),
            CheckoutMethod::Card | CheckoutMethod::CustomerBalance => None,
        })
        .collect();
    let page = PageTemplate {
        t,
        lang: locale.tag(),
        id: session.id.as_str(),
        livemode: session.livemode,
        lines,
        total: format_amount(session.amount_total_minor, session.currency, locale),
        cancel_url: session.cancel_redirect(),
        email: session.customer_email.as_deref(),
        failure,
        offers_card: session.payment_method_types.contains(&CheckoutMethod::Card),
        wallets,
        balance_sign_in,
        waiting,
        switches,
        script: SCRIPT_PATH,
        style: STYLE_PATH,
    };
    page.render().map_err(|e| ApiError::internal(&e))
}

/// The page of a session that cannot be paid any more.
pub fn closed_html(session: &CheckoutSession, locale: Locale) -> ApiResult<String> {
    let t = Texts::of(locale);
    let (title, body, link) = match session.status {
        CheckoutStatus::Complete => (
            t.complete_title,
            t.complete_body,
            Some(session.success_redirect()),
        ),
        _ => (t.expired_title, t.expired_body, session.cancel_redirect()),
    };
    let page = ClosedTemplate {
        t,
        lang: locale.tag(),
        title,
        body,
        link,
        style: STYLE_PATH,
    };
    page.render().map_err(|e| ApiError::internal(&e))
}

/// Static files of the binary: cacheable for a while, typed exactly.
fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

async fn script() -> Response {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

async fn style() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
}
