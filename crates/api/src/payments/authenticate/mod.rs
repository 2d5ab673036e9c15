//! The hosted authentication page (a 3-D Secure style challenge).
//!
//! A confirmation the issuer wants authenticated answers `requires_action`
//! with `next_action.redirect_to_url.url` pointing here. The customer's
//! browser shows the page, the customer passes or fails the challenge, the
//! payment proceeds (a new authorization, now authenticated) or fails, and
//! the browser is sent on to the intent's `return_url`. Access is by the
//! intent's client secret, as for Stripe's hosted pages; no API key.
//! The page is written in English and Simplified Chinese ([`page`]).

mod page;

use super::confirm::{authorize, Pending};
use super::outcome::authentication_failed;
use super::records::{self, load};
use super::risk::{self, RiskInput};
use super::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::events::Origin;
use crate::hosted::Locale;
use crate::routes::{doc, Routes};
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use portcullis_domain::payment_intents::{PaymentIntent, PaymentIntentStatus};
use portcullis_store::{Scope, WriteSet};

use crate::routes::params::{self as p, Param};

const PAGE: &[Param] = &[
    p::string("client_secret", 255).required(),
    p::string("locale", 20),
];
const DECIDE: &[Param] = &[
    p::string("client_secret", 255).required(),
    p::string("locale", 20),
    p::one_of("outcome", &["pass", "fail"]).required(),
];

pub fn routes() -> Routes {
    Routes::new()
        .get(
            doc(
                "/authenticate/{id}",
                "The hosted authentication page (client_secret in the query)",
                "",
            )
            .params(PAGE)
            .public()
            .not_json(),
            page,
        )
        .post(
            doc(
                "/authenticate/{id}",
                "Pass or fail the authentication challenge",
                "",
            )
            .params(DECIDE)
            .public()
            .not_json(),
            decide,
        )
}

/// The intent `id`, if `client_secret` is its secret; otherwise a 404
/// that says nothing about whether it exists.
pub(crate) async fn intent_by_secret(
    state: &AppState,
    id: &str,
    client_secret: &str,
) -> ApiResult<(Scope, PaymentIntent)> {
    let (scope, _, intent) = records::find_anywhere::<PaymentIntent>(state, id).await?;
    let matches: bool = constant_time_eq(intent.client_secret.as_bytes(), client_secret.as_bytes());
    if !matches {
        return Err(ApiError::no_such("payment_intent", id, "id"));
    }
    Ok((scope, intent))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        let secret = request.params.required_string("client_secret", 255)?;
        let language = Language::of(&mut request, &headers)?;
        let (_, intent) = intent_by_secret(&state, &id, &secret).await?;
        Ok::<_, ApiError>((intent, secret, language))
    };
    match result.await {
        Ok((intent, secret, language)) => page_html(&intent, &secret, language),
        Err(err) => err.into_response(),
    }
}

/// The page's language, and whether the query named it (then the form
/// keeps it, so the answer after the post is in the same language).
#[derive(Clone, Copy)]
struct Language {
    locale: Locale,
    named: bool,
}

impl Language {
    fn of(request: &mut ApiRequest, headers: &HeaderMap) -> ApiResult<Language> {
        let query = request.params.string("locale", 20)?;
        let named = query.as_deref().and_then(Locale::parse);
        Ok(Language {
            locale: crate::hosted::locale::negotiate(query.as_deref(), headers),
            named: named.is_some(),
        })
    }
}

fn page_html(intent: &PaymentIntent, secret: &str, language: Language) -> Response {
    match page::render(intent, secret, language.locale, language.named) {
        Ok(html) => Html(html).into_response(),
        Err(err) => err.into_response(),
    }
}

async fn decide(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        let secret = request.params.required_string("client_secret", 255)?;
        let language = Language::of(&mut request, &headers)?;
        let outcome = request.params.required_string("outcome", 10)?;
        std::mem::take(&mut request.params).finish()?;
        if outcome != "pass" && outcome != "fail" {
            return Err(ApiError::invalid(
                "parameter_invalid",
                "outcome must be pass or fail.",
                "outcome",
            ));
        }
        let (scope, intent) = intent_by_secret(&state, &id, &secret).await?;
        let origin = Origin::of(&request);
        let ctx = Ctx {
            state: &state,
            scope: &scope,
            origin: &origin,
        };
        // The browser's own address (behind trusted proxies, as they say).
        let browser_ip = request.client_ip;
        let intent = settle(&ctx, intent, outcome == "pass", browser_ip).await?;
        Ok::<_, ApiError>((intent, secret, language))
    };
    match result.await {
        Ok((intent, secret, language)) => after_challenge(&intent, &secret, language),
        Err(err) => err.into_response(),
    }
}

/// Passes or fails the challenge and returns the intent afterwards. The
/// authorization after a pass is assessed again, now authenticated and
/// from the browser's address (its attempt was counted at confirmation).
async fn settle(
    ctx: &Ctx<'_>,
    intent: PaymentIntent,
    passed: bool,
    browser_ip: Option<std::net::IpAddr>,
) -> ApiResult<PaymentIntent> {
    let (state, scope) = (ctx.state, ctx.scope);
    if intent.status != PaymentIntentStatus::RequiresAction {
        return Ok(intent);
    }
    let id = intent.id.clone();
    let _lock = state.locks.lock(&intent.id).await;
    let (doc, intent) = load::<PaymentIntent>(state, scope, &intent.id, "id").await?;
    if intent.status != PaymentIntentStatus::RequiresAction {
        return Ok(intent);
    }
    let (writes, replan) = if passed {
        let method_id = intent.payment_method.clone().unwrap_or_default();
        let (_, method) = super::methods::load(state, scope, &method_id, "payment_method").await?;
        let stored_ip = intent.customer_ip.as_deref().and_then(|ip| ip.parse().ok());
        let risk_input = RiskInput {
            intent: &intent,
            method: Some(&method),
            payment_method_type: "card",
            ip: browser_ip.or(stored_ip),
            authenticated: true,
            off_session: false,
        };
        let assessment = risk::assess(state, scope, &risk_input).await?;
        let mut phase_one = WriteSet::new();
        phase_one
            .ops
            .extend(assessment.attempt_writes(&intent.id, true)?);
        if assessment.blocked_by().is_some() {
            let resolution = super::outcome::blocked(
                ctx,
                intent,
                super::outcome::PaidWith::Card(&method),
                &assessment,
            )?;
            phase_one.push(records::update(scope, &doc, &resolution.intent)?);
            phase_one.ops.extend(resolution.writes.ops);
            state.store.commit(phase_one).await?;
            return Ok(load::<PaymentIntent>(state, scope, &id, "id").await?.1);
        }
        let attempt = super::attempts::Attempt::new(
            super::attempts::AttemptKind::Authorize,
            &intent.id,
            None,
            intent.amount.minor(),
            state.now(),
        );
        let pending = Pending {
            doc: Some(doc),
            intent,
            attempt,
            phase_one,
            off_session: false,
            assessment,
            card_number: None,
        };
        let authorized = authorize(ctx, &method, pending).await?;
        (authorized.writes, authorized.replan)
    } else {
        let resolution = authentication_failed(ctx, intent)?;
        let mut writes = WriteSet::new();
        writes.push(records::update(scope, &doc, &resolution.intent)?);
        writes.ops.extend(resolution.writes.ops);
        (writes, None)
    };
    // Phase two of a passed challenge completes the intent's Checkout
    // Session too (`payments::follow_ups`), with no return to its page.
    crate::idempotency::commit_unkeyed(state, writes, replan.as_ref()).await?;
    Ok(load::<PaymentIntent>(state, scope, &id, "id").await?.1)
}

/// Where a browser goes back to after `intent`'s redirect (Stripe's
/// convention): its `return_url` with `payment_intent`,
/// `payment_intent_client_secret` and `redirect_status` appended; `None`
/// without a `return_url`.
pub fn return_location(intent: &PaymentIntent) -> Option<String> {
    // Only a payment that went through (or is held for capture) returns as
    // succeeded; one canceled meanwhile, or still waiting, has not been paid.
    let redirect_status = match intent.status {
        PaymentIntentStatus::Succeeded | PaymentIntentStatus::RequiresCapture => "succeeded",
        PaymentIntentStatus::Processing => "processing",
        _ => "failed",
    };
    let url = intent.return_url.as_ref()?;
    let joiner = if url.contains('?') { '&' } else { '?' };
    Some(format!(
        "{url}{joiner}payment_intent={}&payment_intent_client_secret={}&redirect_status={redirect_status}",
        intent.id, intent.client_secret
    ))
}

/// Sends the browser on to the `return_url`, or shows the result.
fn after_challenge(intent: &PaymentIntent, secret: &str, language: Language) -> Response {
    match return_location(intent) {
        Some(location) => {
            let mut response = StatusCode::SEE_OTHER.into_response();
            if let Ok(value) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            response
        }
        None => page_html(intent, secret, language),
    }
}
