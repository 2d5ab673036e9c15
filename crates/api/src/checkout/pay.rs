//! Paying a Checkout Session from its hosted page. The page posts only a
//! JWE of the card (encrypted in the browser to the gateway's key), which
//! the vault opens; the session's PaymentIntent (created on the first
//! attempt, in the same commit that links it to the session, and reused
//! after a decline) is confirmed through the same path as
//! `POST /v1/payment_intents/…/confirm`. A 3-D Secure challenge returns
//! to `/checkout/{id}/return`. When the payment succeeds the session turns
//! `complete`/`paid` with its `checkout.session.completed` event, and the
//! browser goes on to `success_url`.

use super::closing::is_paid;
use super::page::{find, is_closed, locale_of};
use super::texts::Texts;
use crate::client_encryption::{open_card, ENCRYPTED_CHARS_MAX};
use crate::error::{ApiError, ApiResult, ErrorType};
use crate::events::Origin;
use crate::hosted::Locale;
use crate::idempotency::{json_response, Executed};
use crate::payments::confirm::{confirm, confirm_new, ConfirmInput, MethodSource};
use crate::payments::records::{self, load};
use crate::payments::Ctx;
use crate::routes::params::{self as p, Param};
use crate::routes::{doc, Routes};
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use portcullis_domain::checkout::{CheckoutMethod, CheckoutSession, CheckoutStatus};
use portcullis_domain::money::Amount;
use portcullis_domain::payment_intents::PaymentIntent;
use portcullis_domain::payment_methods::BillingDetails;
use portcullis_store::{Doc, WriteSet};
use serde_json::json;

const PAY: &[Param] = &[
    p::string("encrypted", ENCRYPTED_CHARS_MAX).required(),
    p::string("name", 200),
    p::string("locale", 20),
];
/// What the authentication page adds to the return URL (read, but the
/// session's own intent decides).
const RETURN: &[Param] = &[
    p::string("locale", 20),
    p::string("payment_intent", 255),
    p::string("payment_intent_client_secret", 255),
    p::one_of("redirect_status", &["succeeded", "processing", "failed"]),
    // What Alipay appends after its page or wap pay (its synchronous
    // return): read and ignored, the notification or the poll decides.
    p::string("app_id", 32),
    p::string("auth_app_id", 32),
    p::string("charset", 16),
    p::string("method", 64),
    p::string("out_trade_no", 64),
    p::string("trade_no", 64),
    p::string("total_amount", 16),
    p::string("seller_id", 32),
    p::string("timestamp", 32),
    p::string("version", 8),
    p::string("sign", 1024),
    p::string("sign_type", 10),
];

/// Alipay's synchronous return parameters (with their longest lengths),
/// accepted on the return URL and never trusted.
const ALIPAY_RETURN: &[(&str, usize)] = &[
    ("app_id", 32),
    ("auth_app_id", 32),
    ("charset", 16),
    ("method", 64),
    ("out_trade_no", 64),
    ("trade_no", 64),
    ("total_amount", 16),
    ("seller_id", 32),
    ("timestamp", 32),
    ("version", 8),
    ("sign", 1024),
    ("sign_type", 10),
];

pub fn routes() -> Routes {
    Routes::new()
        .post(
            doc(
                "/checkout/{id}/pay",
                "Pay a Checkout Session with a card encrypted in the browser (JWE)",
                "",
            )
            .params(PAY)
            .public()
            .not_json(),
            pay,
        )
        .get(
            doc(
                "/checkout/{id}/return",
                "Where a 3-D Secure challenge or a wallet's page (Alipay page/wap pay, WeChat Pay H5) of the hosted checkout returns",
                "",
            )
            .params(RETURN)
            .public()
            .not_json(),
            back_from_authentication,
        )
}

/// What the page does next, as its script reads it.
pub(super) enum Outcome {
    /// Go to the merchant's `success_url`.
    Paid(String),
    /// Go to the 3-D Secure challenge.
    Authenticate(String),
    /// Stay, show the message, let the customer try again.
    Failed(&'static str),
}

impl Outcome {
    fn into_response(self) -> Response {
        json_response(StatusCode::OK, self.into_json().to_string())
    }

    pub(super) fn into_json(self) -> serde_json::Value {
        match self {
            Outcome::Paid(url) => json!({ "outcome": "succeeded", "redirect": url }),
            Outcome::Authenticate(url) => json!({ "outcome": "requires_action", "redirect": url }),
            Outcome::Failed(message) => json!({ "outcome": "failed", "message": message }),
        }
    }
}

async fn pay(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        let params = &mut request.params;
        let compact = params.required_string("encrypted", ENCRYPTED_CHARS_MAX)?;
        let name = params.string("name", 200)?;
        let query_locale = params.string("locale", 20)?;
        std::mem::take(params).finish()?;
        // One payment at a time per session, so two clicks make one intent.
        let _lock = state.locks.lock(&id).await;
        let (scope, doc, session) = find(&state, &id).await?;
        let locale = locale_of(query_locale.as_deref(), &session, &headers);
        check_payable(&state, &session, CheckoutMethod::Card, "encrypted")?;
        let Some(counted) = session.attempted() else {
            return Ok(Outcome::Failed(Texts::of(locale).too_many_attempts));
        };
        let card = open_card(&state, &compact).await?;
        let origin = Origin::of(&request);
        let ctx = Ctx {
            state: &state,
            scope: &scope,
            origin: &origin,
        };
        let input = ConfirmInput {
            method: Some(MethodSource::Inline(
                card,
                BillingDetails {
                    name,
                    email: session.customer_email.clone(),
                    ..BillingDetails::default()
                },
            )),
            return_url: Some(return_url(&state, &session, query_locale.as_deref())),
            off_session: false,
            customer_ip: request.client_ip,
            wallet_options: Default::default(),
            holder: None,
        };
        let done = match confirm_for(&ctx, &doc, &session, counted, &input).await? {
            Confirmed::Done(done) => done,
            Confirmed::AlreadyPaid(outcome) => return Ok(outcome),
        };
        settle(&ctx, &session, done, locale).await
    };
    match result.await {
        Ok(outcome) => outcome.into_response(),
        Err(err) => err.into_response(),
    }
}

/// What confirming a session's intent gave.
pub(super) enum Confirmed {
    /// The confirmation, its last writes not committed yet.
    Done(Executed),
    /// The intent was paid already: the session is completed.
    AlreadyPaid(Outcome),
}

/// Refuses a session that cannot be paid now, or not with `method`
/// (named by the page's parameter `param`).
pub(super) fn check_payable(
    state: &AppState,
    session: &CheckoutSession,
    method: CheckoutMethod,
    param: &str,
) -> ApiResult<()> {
    if is_closed(session, state.now()) {
        return Err(not_payable(session));
    }
    if !session.payment_method_types.contains(&method) {
        return Err(ApiError::invalid(
            "parameter_invalid",
            format!(
                "This Checkout Session does not offer {} payments.",
                method.as_str()
            ),
            param,
        ));
    }
    Ok(())
}

/// Confirms the session's intent with `input`: the intent is made (and
/// linked to `counted`, the session with this attempt counted) on the
/// first attempt, and reused after a decline.
pub(super) async fn confirm_for(
    ctx: &Ctx<'_>,
    doc: &Doc,
    session: &CheckoutSession,
    counted: CheckoutSession,
    input: &ConfirmInput,
) -> ApiResult<Confirmed> {
    let Some(intent_id) = &session.payment_intent else {
        let (intent, mut created) = new_intent(ctx, doc, counted)?;
        if !matches!(input.method, Some(MethodSource::CustomerBalance)) {
            return Ok(Confirmed::Done(
                confirm_new(ctx, intent, created, input).await?,
            ));
        }
        // A payment from the balance has no connector call between two
        // commits: its intent is stored and linked to the session first,
        // so that the one commit paying it completes the session too.
        created.push(records::insert(ctx.scope, &intent)?);
        ctx.state.store.commit(created).await?;
        return Ok(Confirmed::Done(confirm(ctx, &intent.id, input).await?));
    };
    let (_, intent) = load::<PaymentIntent>(ctx.state, ctx.scope, intent_id, "id").await?;
    if is_paid(&intent) {
        let outcome = finish_paid(ctx, session, &intent.id).await?;
        return Ok(Confirmed::AlreadyPaid(outcome));
    }
    let mut writes = WriteSet::new();
    writes.push(records::update(ctx.scope, doc, &counted)?);
    ctx.state.store.commit(writes).await?;
    Ok(Confirmed::Done(confirm(ctx, intent_id, input).await?))
}

/// Commits the confirmation's last writes and says what comes next.
pub(super) async fn settle(
    ctx: &Ctx<'_>,
    session: &CheckoutSession,
    done: Executed,
    locale: Locale,
) -> ApiResult<Outcome> {
    let texts = Texts::of(locale);
    crate::idempotency::commit_unkeyed(ctx.state, done.writes, done.replan.as_ref()).await?;
    let body = done.body.tree()?;
    if !done.status.is_success() {
        let error = &body["error"];
        return Ok(Outcome::Failed(
            texts.failure(error["code"].as_str(), error["decline_code"].as_str()),
        ));
    }
    let intent_id = body["id"].as_str().unwrap_or_default();
    match body["status"].as_str() {
        Some("succeeded" | "requires_capture") => finish_paid(ctx, session, intent_id).await,
        Some("requires_action") => {
            let url = body["next_action"]["redirect_to_url"]["url"]
                .as_str()
                .ok_or_else(|| ApiError::internal(&"requires_action without a redirect URL"))?;
            // The challenge page speaks the language the customer saw here.
            let joiner = if url.contains('?') { '&' } else { '?' };
            Ok(Outcome::Authenticate(format!(
                "{url}{joiner}locale={}",
                locale.tag()
            )))
        }
        Some("requires_payment_method") => {
            let error = &body["last_payment_error"];
            Ok(Outcome::Failed(texts.failure(
                error["code"].as_str(),
                error["decline_code"].as_str(),
            )))
        }
        _ => Ok(Outcome::Failed(texts.failed)),
    }
}

/// Completes the session paid by `intent_id` (unless that was done
/// already) and sends the browser to `success_url`.
async fn finish_paid(
    ctx: &Ctx<'_>,
    session: &CheckoutSession,
    intent_id: &str,
) -> ApiResult<Outcome> {
    let id = session.id.as_str();
    let (_, _, now) = find(ctx.state, id).await?;
    if now.status == CheckoutStatus::Open {
        super::complete(ctx.state, ctx.scope, id, intent_id, ctx.origin).await?;
    }
    Ok(Outcome::Paid(session.success_redirect()))
}

/// The session's intent (not stored yet), with its creation event and
/// `session` (its attempt counted) linked to it, both committed with the
/// confirmation's phase one.
fn new_intent(
    ctx: &Ctx<'_>,
    doc: &Doc,
    session: CheckoutSession,
) -> ApiResult<(PaymentIntent, WriteSet)> {
    let amount = Amount::parse_minor(session.amount_total_minor)
        .map_err(|e| crate::payments::intents::money_error(e, "amount"))?;
    let mut intent = PaymentIntent::create(
        amount,
        session.currency,
        session
            .payment_method_types
            .iter()
            .map(|m| m.as_str().to_owned())
            .collect(),
        ctx.scope.livemode,
        ctx.state.now(),
    );
    intent.customer = session.customer.clone();
    intent.purpose = session.purpose;
    intent.checkout_session = Some(session.id.as_str().to_owned());
    let mut linked = session;
    linked.payment_intent = Some(intent.id.clone());
    let mut writes = WriteSet::new();
    writes.push(crate::payments::intents::created_event(ctx, &intent));
    writes.push(records::update(ctx.scope, doc, &linked)?);
    Ok((intent, writes))
}

/// Where the challenge page sends the browser back, in the page's language.
pub(super) fn return_url(
    state: &AppState,
    session: &CheckoutSession,
    locale: Option<&str>,
) -> String {
    let base = format!(
        "{}/checkout/{}/return",
        state.base_url(),
        session.id.as_str()
    );
    match locale.and_then(Locale::parse) {
        Some(locale) => format!("{base}?locale={}", locale.tag()),
        None => base,
    }
}

fn not_payable(session: &CheckoutSession) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        ErrorType::InvalidRequest,
        Some("checkout_session_unexpected_state"),
        format!(
            "This Checkout Session can no longer be paid; its status is {}.",
            if session.status == CheckoutStatus::Open {
                "expired"
            } else {
                session.status.as_str()
            }
        ),
    )
}

/// Back from the challenge: a paid intent completes the session and goes
/// on to `success_url`; anything else returns to the page, which says why.
async fn back_from_authentication(
    State(state): State<AppState>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        let params = &mut request.params;
        let locale = params.string("locale", 20)?;
        for ignored in ["payment_intent", "payment_intent_client_secret"] {
            params.string(ignored, 255)?;
        }
        params.string("redirect_status", 20)?;
        for (ignored, longest) in ALIPAY_RETURN {
            params.string(ignored, *longest)?;
        }
        std::mem::take(params).finish()?;
        let (scope, _, mut session) = find(&state, &id).await?;
        let mut page_url = format!("/checkout/{}?failed=true", session.id.as_str());
        if let Some(tag) = locale.as_deref().and_then(Locale::parse) {
            page_url.push_str(&format!("&locale={}", tag.tag()));
        }
        if session.status == CheckoutStatus::Complete {
            return Ok(session.success_redirect());
        }
        let Some(intent_id) = session.payment_intent.clone() else {
            return Ok(page_url);
        };
        let (_, mut intent) = load::<PaymentIntent>(&state, &scope, &intent_id, "id").await?;
        if crate::payments::wallets::worker::query_on_return(&state, &scope, &intent).await {
            // Paid by the answer (which may complete the session too).
            (_, _, session) = find(&state, &id).await?;
            if session.status == CheckoutStatus::Complete {
                return Ok(session.success_redirect());
            }
            (_, intent) = load::<PaymentIntent>(&state, &scope, &intent_id, "id").await?;
        }
        if !is_paid(&intent) || session.status != CheckoutStatus::Open {
            return Ok(page_url);
        }
        let origin = Origin::of(&request);
        super::complete(&state, &scope, &id, &intent_id, &origin).await?;
        Ok::<_, ApiError>(session.success_redirect())
    };
    match result.await {
        Ok(location) => redirect(&location),
        Err(err) => err.into_response(),
    }
}

pub(super) fn redirect(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    match HeaderValue::from_str(location) {
        Ok(value) => {
            response.headers_mut().insert(header::LOCATION, value);
            response
        }
        Err(_) => ApiError::internal(&"a redirect URL is not a header value").into_response(),
    }
}
