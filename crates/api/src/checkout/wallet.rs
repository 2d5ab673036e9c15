//! Paying a Checkout Session with a wallet from its hosted page. The page
//! names Alipay or WeChat Pay; the session's PaymentIntent (created on the
//! first attempt, as for cards) is confirmed with that wallet through the
//! same path as `POST /v1/payment_intents/…/confirm`. On a desktop browser
//! the page shows the trade's QR code; on a mobile one it goes to the
//! wallet's page (Alipay wap, WeChat Pay H5). The wallet's notification
//! makes the intent succeed and completes the session in the same commit
//! (`complete_with_intent`); meanwhile the page polls
//! `/checkout/{id}/status`, which goes on to `success_url` once paid, or
//! says the wallet payment was not completed (declined or closed in the
//! wallet) so the customer can choose again.

use super::page::{find, locale_of};
use super::pay::{check_payable, confirm_for, return_url, Confirmed, Outcome};
use super::texts::Texts;
use crate::error::ApiError;
use crate::events::Origin;
use crate::idempotency::json_response;
use crate::payments::confirm::{ConfirmInput, MethodSource};
use crate::payments::records::load;
use crate::payments::wallets::{Provider, WalletOptions};
use crate::payments::Ctx;
use crate::routes::params::{self as p, Param};
use crate::routes::{doc, Routes};
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use portcullis_domain::checkout::{CheckoutMethod, CheckoutSession, CheckoutStatus};
use portcullis_domain::payment_intents::{PaymentIntent, PaymentIntentStatus};
use serde_json::{json, Value};

const WALLET: &[Param] = &[
    p::one_of("method", &["alipay", "wechat_pay"]).required(),
    p::string("locale", 20),
];
const STATUS: &[Param] = &[p::string("locale", 20)];

pub fn routes() -> Routes {
    Routes::new()
        .post(
            doc(
                "/checkout/{id}/wallet",
                "Pay a Checkout Session with Alipay or WeChat Pay (QR code or redirect)",
                "",
            )
            .params(WALLET)
            .public()
            .not_json(),
            pay_with_wallet,
        )
        .get(
            doc(
                "/checkout/{id}/status",
                "Whether a Checkout Session's payment completed (the page polls it)",
                "",
            )
            .params(STATUS)
            .public()
            .not_json(),
            status,
        )
}

async fn pay_with_wallet(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        let params = &mut request.params;
        let method = params.required_string("method", 20)?;
        let query_locale = params.string("locale", 20)?;
        std::mem::take(params).finish()?;
        let (provider, offered) = match method.as_str() {
            "alipay" => (Provider::Alipay, CheckoutMethod::Alipay),
            "wechat_pay" => (Provider::WechatPay, CheckoutMethod::WechatPay),
            _ => {
                return Err(ApiError::invalid(
                    "parameter_invalid",
                    "method must be one of alipay, wechat_pay.",
                    "method",
                ))
            }
        };
        let _lock = state.locks.lock(&id).await;
        let (scope, doc, session) = find(&state, &id).await?;
        let locale = locale_of(query_locale.as_deref(), &session, &headers);
        check_payable(&state, &session, offered, "method")?;
        let Some(counted) = session.attempted() else {
            return Ok(Outcome::Failed(Texts::of(locale).too_many_attempts).into_json());
        };
        let origin = Origin::of(&request);
        let ctx = Ctx {
            state: &state,
            scope: &scope,
            origin: &origin,
        };
        let input = ConfirmInput {
            method: Some(MethodSource::Wallet(provider, Default::default())),
            return_url: Some(return_url(&state, &session, query_locale.as_deref())),
            off_session: false,
            customer_ip: request.client_ip,
            wallet_options: options_for(is_mobile(&headers)),
            holder: None,
        };
        let done = match confirm_for(&ctx, &doc, &session, counted, &input).await? {
            Confirmed::Done(done) => done,
            Confirmed::AlreadyPaid(outcome) => return Ok(outcome.into_json()),
        };
        state.store.commit(done.writes).await?;
        let body = done.body.tree()?;
        if !done.status.is_success() {
            let error = &body["error"];
            let texts = Texts::of(locale);
            return Ok(Outcome::Failed(texts.wallet_failure(error["code"].as_str())).into_json());
        }
        Ok(next_step(&body))
    };
    match result.await {
        Ok(body) => json_response(StatusCode::OK, body.to_string()),
        Err(err) => err.into_response(),
    }
}

/// Desktop browsers go to Alipay's cashier page (`alipay.trade.page.pay`)
/// or get WeChat Pay's QR code to scan with the phone; mobile browsers go
/// to the wallet's own page (`alipay.trade.wap.pay`, WeChat Pay H5).
fn options_for(mobile: bool) -> WalletOptions {
    let (alipay, wechat) = if mobile {
        ("wap", "mobile")
    } else {
        ("page", "web")
    };
    WalletOptions {
        alipay_channel: Some(alipay.into()),
        wechat_client: Some(wechat.into()),
        ..WalletOptions::default()
    }
}

/// A phone or tablet browser, by its User-Agent.
fn is_mobile(headers: &HeaderMap) -> bool {
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    ["Mobile", "Android", "iPhone", "iPad"]
        .iter()
        .any(|word| agent.contains(word))
}

/// What the page does with a confirmed wallet intent: show the QR image
/// (and poll), or follow the wallet's redirect.
fn next_step(intent: &Value) -> Value {
    let action = &intent["next_action"];
    let kind = action["type"].as_str().unwrap_or_default();
    let details = &action[kind];
    match kind {
        "alipay_display_qr_code" | "wechat_pay_display_qr_code" => json!({
            "outcome": "display_qr",
            "qr_image": details["image_url_svg"],
            "qr_data": details["data"],
        }),
        "alipay_handle_redirect" => json!({ "outcome": "redirect", "redirect": details["url"] }),
        "redirect_to_url" => json!({ "outcome": "redirect", "redirect": details["url"] }),
        _ => json!({ "outcome": "processing" }),
    }
}

/// The session's state for the polling page; a session whose intent was
/// paid but not yet completed (a notification's commit lost a race) is
/// completed here.
async fn status(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        let params = &mut request.params;
        let query_locale = params.string("locale", 20)?;
        std::mem::take(params).finish()?;
        let (scope, _, session) = find(&state, &id).await?;
        if session.status == CheckoutStatus::Complete {
            return Ok(paid(&session));
        }
        let open = session.status == CheckoutStatus::Open;
        if let (true, Some(intent_id)) = (open, &session.payment_intent) {
            let (_, intent) = load::<PaymentIntent>(&state, &scope, intent_id, "id").await?;
            if super::closing::is_paid(&intent) {
                let _lock = state.locks.lock(&id).await;
                let origin = Origin::of(&request);
                let (_, _, now) = find(&state, &id).await?;
                if now.status == CheckoutStatus::Open {
                    super::complete(&state, &scope, &id, intent_id, &origin).await?;
                }
                return Ok(paid(&session));
            }
            if wallet_declined(&intent) {
                let locale = locale_of(query_locale.as_deref(), &session, &headers);
                let message = Texts::of(locale).wallet_declined;
                return Ok(json!({ "status": session.status.as_str(), "failed": message }));
            }
        }
        Ok::<_, ApiError>(json!({ "status": session.status.as_str() }))
    };
    match result.await {
        Ok(body) => json_response(StatusCode::OK, body.to_string()),
        Err(err) => err.into_response(),
    }
}

/// The intent's wallet trade ended unpaid (declined or closed by the
/// customer in the wallet): the page says so and offers the ways to pay.
fn wallet_declined(intent: &PaymentIntent) -> bool {
    intent.wallet.is_some()
        && intent.status == PaymentIntentStatus::RequiresPaymentMethod
        && intent
            .last_payment_error
            .as_ref()
            .is_some_and(|error| error.code == crate::payments::wallets::unpaid::CODE)
}

fn paid(session: &CheckoutSession) -> Value {
    json!({ "status": "complete", "redirect": session.success_redirect() })
}
