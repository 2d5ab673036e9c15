//! The aggregated QR (聚合码): one code for both wallets. An intent listing
//! `alipay` and `wechat_pay`, confirmed with
//! `payment_method_data[type]=wallet_qr`, answers `display_qr_code` whose
//! `data` is our page `/wallet_qr/pi_…?client_secret=…`; no trade is
//! opened yet. Opened on a phone, the page picks the wallet from the
//! browser: Alipay's (`AlipayClient`) is sent to an Alipay wap trade,
//! WeChat's (`MicroMessenger`) to a WeChat Pay H5 trade (JSAPI needs the
//! payer's openid, which only the merchant's WeChat login can give);
//! any other browser is shown both choices, in English or Simplified
//! Chinese. The trade opened is stored on the intent (version-checked), so
//! the notification and the worker find it as for any wallet payment.

use super::open::open_trade;
use super::{Provider, WalletOptions};
use crate::error::{ApiError, ApiResult};
use crate::hosted::Locale;
use crate::payments::authenticate::intent_by_secret;
use crate::payments::records::{self, load};
use crate::payments::Ctx;
use crate::routes::params::{self as p, Param};
use crate::routes::{doc, Routes};
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use portcullis_domain::payment_intents::{
    NextAction, PaymentIntent, PaymentIntentStatus, WalletTrade,
};
use portcullis_store::StoreError;

/// `provider` of a `WalletTrade` whose wallet the customer has not chosen.
pub const UNCHOSEN: &str = "wallet_qr";

const PAGE: &[Param] = &[
    p::string("client_secret", 255).required(),
    p::one_of("wallet", &["alipay", "wechat_pay"]),
    p::string("locale", 10),
];

pub fn routes() -> Routes {
    Routes::new().get(
        doc(
            "/wallet_qr/{id}",
            "The aggregated QR's page: picks Alipay or WeChat Pay by the browser, or offers both",
            "",
        )
        .params(PAGE)
        .public()
        .not_json(),
        page,
    )
}

/// The page's URL for `intent` (the QR's data).
pub fn page_url(base_url: &str, intent: &PaymentIntent) -> String {
    format!(
        "{base_url}/wallet_qr/{}?client_secret={}",
        intent.id, intent.client_secret
    )
}

/// The trade placeholder of a confirmed aggregated QR.
pub fn unchosen(intent: &PaymentIntent, expires_at: i64, data: String) -> WalletTrade {
    WalletTrade {
        provider: UNCHOSEN.to_owned(),
        connector_account: String::new(),
        out_trade_no: String::new(),
        number: intent.wallet.as_ref().map_or(0, |w| w.number),
        flow: "aggregated".to_owned(),
        expires_at,
        qr_data: Some(data),
        provider_trade_id: None,
        // No trade is open at a provider until the customer chooses.
        opened_at: None,
    }
}

/// The wallet whose app this browser is.
fn wallet_of_browser(headers: &HeaderMap) -> Option<Provider> {
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if agent.contains("AlipayClient") {
        Some(Provider::Alipay)
    } else if agent.contains("MicroMessenger") {
        Some(Provider::WechatPay)
    } else {
        None
    }
}

async fn page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        let params = &mut request.params;
        let secret = params.required_string("client_secret", 255)?;
        let chosen = params.string("wallet", 20)?;
        let locale = params.string("locale", 10)?;
        std::mem::take(params).finish()?;
        let (scope, intent) = intent_by_secret(&state, &id, &secret).await?;
        let wallet = chosen
            .as_deref()
            .and_then(Provider::parse)
            .or_else(|| wallet_of_browser(&headers));
        let Some(wallet) = wallet else {
            let locale = Locale::negotiate(locale.as_deref(), &headers);
            return Ok(choices(&intent, locale).into_response());
        };
        let ip = request.client_ip.map(|ip| ip.to_string());
        let url = pay_with(&state, &scope, &intent.id, wallet, ip).await?;
        Ok::<_, ApiError>((StatusCode::FOUND, [(header::LOCATION, url)]).into_response())
    };
    match result.await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}

/// Opens (or reopens) the trade of `wallet` for intent `id`; the URL the
/// browser goes to.
async fn pay_with(
    state: &AppState,
    scope: &portcullis_store::Scope,
    id: &str,
    wallet: Provider,
    ip: Option<String>,
) -> ApiResult<String> {
    let _lock = state.locks.lock(id).await;
    let (doc, mut intent) = load::<PaymentIntent>(state, scope, id, "id").await?;
    let current = intent.wallet.clone();
    let waiting = intent.status == PaymentIntentStatus::RequiresAction;
    let open = current.as_ref().filter(|_| waiting);
    let Some(open) = open else {
        return Err(ApiError::invalid(
            "payment_intent_unexpected_state",
            format!("This payment is {}.", intent.status.as_str()),
            "id",
        ));
    };
    if open.provider != UNCHOSEN && open.provider != wallet.as_str() {
        return Err(ApiError::invalid(
            "payment_intent_unexpected_state",
            format!("This payment is being paid with {}.", open.provider),
            "wallet",
        ));
    }
    let options = WalletOptions {
        alipay_channel: Some("wap".into()),
        wechat_client: Some("mobile".into()),
        alipay_expires_after_s: Some((open.expires_at - state.now()).max(60)),
        wechat_expires_after_s: Some((open.expires_at - state.now()).max(60)),
        ..WalletOptions::default()
    };
    // The same trade again when this wallet was chosen before.
    let mut for_trade = intent.clone();
    if open.provider == wallet.as_str() {
        for_trade.wallet = Some(WalletTrade {
            number: open.number - 1,
            ..open.clone()
        });
    }
    let origin = crate::events::Origin::default();
    let ctx = Ctx {
        state,
        scope,
        origin: &origin,
    };
    let ip = ip.unwrap_or_else(|| "127.0.0.1".into());
    let opened = open_trade(&ctx, &for_trade, wallet, &options, Some(&ip)).await?;
    let url = match &opened.next_action {
        NextAction::RedirectToUrl { url, .. } => url.clone(),
        NextAction::Wallet { details, .. } => {
            details["url"].as_str().unwrap_or_default().to_owned()
        }
    };
    if open.provider == UNCHOSEN {
        let mut trade = opened.trade;
        trade.qr_data = open.qr_data.clone();
        trade.expires_at = open.expires_at;
        intent.wallet = Some(trade);
        let mut writes = portcullis_store::WriteSet::new();
        writes.push(records::update(scope, &doc, &intent)?);
        match state.store.commit(writes).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => return Err(ApiError::concurrent_change()),
            Err(err) => return Err(err.into()),
        }
    }
    Ok(url)
}

/// Both wallets offered, for a browser that is neither wallet's app: the
/// code itself (to scan with either app) and a link for each wallet.
fn choices(intent: &PaymentIntent, locale: Locale) -> Html<String> {
    let yuan = portcullis_wallets::amount::yuan_text(intent.amount.minor()).unwrap_or_default();
    let base = format!(
        "?client_secret={}&locale={}",
        intent.client_secret,
        locale.tag()
    );
    let (title, alipay, wechat, hint, qr_alt) = match locale {
        Locale::ZhCn => (
            "选择支付方式",
            "支付宝",
            "微信支付",
            "请用支付宝或微信扫码，或在手机上选择：",
            "付款二维码（支付宝或微信扫码）",
        ),
        Locale::En => (
            "Choose how to pay",
            "Alipay",
            "WeChat Pay",
            "Scan this code with Alipay or WeChat, or choose on your phone:",
            "QR code to pay with Alipay or WeChat",
        ),
    };
    let image = format!(
        "/v1/payment_intents/{}/qr_code.svg?client_secret={}",
        intent.id, intent.client_secret
    );
    Html(format!(
        "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title></head><body><main><h1>{title}</h1>\
         <p>¥<span id=\"amount\">{yuan}</span></p><p>{hint}</p>\
         <p><img id=\"qr\" src=\"{image}\" alt=\"{qr_alt}\" width=\"240\" height=\"240\"></p>\
         <p><a id=\"alipay\" href=\"{base}&amp;wallet=alipay\">{alipay}</a></p>\
         <p><a id=\"wechat_pay\" href=\"{base}&amp;wallet=wechat_pay\">{wechat}</a></p>\
         </main></body></html>",
        lang = locale.tag(),
        base = base.replace('&', "&amp;"),
        image = image.replace('&', "&amp;"),
    ))
}
