//! The hosted authentication page (a 3-D Secure style challenge).
//!
//! A confirmation the issuer wants authenticated answers `requires_action`
//! with `next_action.redirect_to_url.url` pointing here. The customer's
//! browser shows the page, the customer passes or fails the challenge, the
//! payment proceeds (a new authorization, now authenticated) or fails, and
//! the browser is sent on to the intent's `return_url`. Access is by the
//! intent's client secret, as for Stripe's hosted pages; no API key.

use super::confirm::{authorize, Pending};
use super::outcome::authentication_failed;
use super::records::{self, load};
use super::risk::{self, RiskInput};
use super::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::events::Origin;
use crate::routes::{doc, Routes};
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use portcullis_domain::payment_intents::{PaymentIntent, PaymentIntentStatus};
use portcullis_store::{Scope, WriteSet};

use crate::routes::params::{self as p, Param};

const PAGE: &[Param] = &[p::string("client_secret", 255).required()];
const DECIDE: &[Param] = &[
    p::string("client_secret", 255).required(),
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
    mut request: ApiRequest,
) -> Response {
    let result = async {
        let secret = request.params.required_string("client_secret", 255)?;
        let (_, intent) = intent_by_secret(&state, &id, &secret).await?;
        Ok::<_, ApiError>((intent, secret))
    };
    match result.await {
        Ok((intent, secret)) => page_html(&intent, &secret).into_response(),
        Err(err) => err.into_response(),
    }
}

fn page_html(intent: &PaymentIntent, secret: &str) -> Html<String> {
    let exponent = u32::from(intent.currency.exponent());
    let divisor = 10i64.pow(exponent);
    let amount = if exponent == 0 {
        format!("{}", intent.amount.minor())
    } else {
        format!(
            "{}.{:0width$}",
            intent.amount.minor() / divisor,
            intent.amount.minor() % divisor,
            width = exponent as usize
        )
    };
    let pending = intent.status == PaymentIntentStatus::RequiresAction;
    let buttons = if pending {
        format!(
            r#"<form method="post" action="/authenticate/{id}?client_secret={secret}">
  <button id="complete" name="outcome" value="pass">Complete authentication</button>
  <button id="fail" name="outcome" value="fail">Fail authentication</button>
</form>"#,
            id = intent.id
        )
    } else {
        format!(r#"<p id="result">{}</p>"#, result_sentence(intent.status))
    };
    Html(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Authenticate your payment</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem}}
button{{font-size:1rem;padding:.6rem 1rem;margin:.3rem .3rem 0 0}}</style></head>
<body><h1>Authenticate your payment</h1>
<p>Test payment of <strong id="amount">{amount} {currency}</strong>.</p>
<p>This is the Portcullis sandbox's stand-in for your bank's 3-D Secure challenge.</p>
{buttons}
</body></html>"#,
        currency = intent.currency.as_str().to_ascii_uppercase(),
    ))
}

async fn decide(
    State(state): State<AppState>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        let secret = request.params.required_string("client_secret", 255)?;
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
        Ok::<_, ApiError>((intent, secret))
    };
    match result.await {
        Ok((intent, secret)) => after_challenge(&intent, &secret),
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
    let writes = if passed {
        let method_id = intent.payment_method.clone().unwrap_or_default();
        let (_, method) = super::methods::load(state, scope, &method_id, "payment_method").await?;
        let stored_ip = intent.customer_ip.as_deref().and_then(|ip| ip.parse().ok());
        let risk_input = RiskInput {
            intent: &intent,
            method: &method,
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
            let resolution = super::outcome::blocked(ctx, intent, &method, &assessment)?;
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
        authorize(ctx, &method, pending).await?.writes
    } else {
        let resolution = authentication_failed(ctx, intent)?;
        let mut writes = WriteSet::new();
        writes.push(records::update(scope, &doc, &resolution.intent)?);
        writes.ops.extend(resolution.writes.ops);
        writes
    };
    state.store.commit(writes).await?;
    Ok(load::<PaymentIntent>(state, scope, &id, "id").await?.1)
}

/// Sends the browser on to the `return_url`, or shows the result.
fn after_challenge(intent: &PaymentIntent, secret: &str) -> Response {
    // Only a payment that went through (or is held for capture) returns as
    // succeeded; one canceled meanwhile, or still waiting, has not been paid.
    let redirect_status = match intent.status {
        PaymentIntentStatus::Succeeded | PaymentIntentStatus::RequiresCapture => "succeeded",
        PaymentIntentStatus::Processing => "processing",
        _ => "failed",
    };
    match &intent.return_url {
        Some(url) => {
            let joiner = if url.contains('?') { '&' } else { '?' };
            let location = format!("{url}{joiner}payment_intent={}&payment_intent_client_secret={secret}&redirect_status={redirect_status}", intent.id);
            let mut response = StatusCode::SEE_OTHER.into_response();
            if let Ok(value) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            response
        }
        None => page_html(intent, secret).into_response(),
    }
}

/// What the page says once authentication is over, as a sentence a
/// customer reads (the status names are for developers).
fn result_sentence(status: PaymentIntentStatus) -> &'static str {
    match status {
        PaymentIntentStatus::Succeeded => "This payment succeeded. You can close this page.",
        PaymentIntentStatus::Processing => "This payment is being processed.",
        PaymentIntentStatus::RequiresCapture => {
            "This payment is authorized and will be captured by the merchant."
        }
        PaymentIntentStatus::Canceled => "This payment was canceled.",
        PaymentIntentStatus::RequiresPaymentMethod => {
            "This payment did not go through. Return to the merchant to try another payment method."
        }
        _ => "This payment is not waiting for authentication.",
    }
}
