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

use super::aggregated_page::{choices, Notice};
use super::open::open_trade;
use super::{Provider, WalletOptions};
use crate::error::{ApiError, ApiResult};
use crate::payments::authenticate::intent_by_secret;
use crate::payments::records::{self, load};
use crate::payments::Ctx;
use crate::routes::params::{self as p, Param};
use crate::routes::{doc, Routes};
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use portcullis_domain::payment_intents::{NextAction, PaymentIntent, WalletTrade};
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

/// Where the page sends the customer: the chosen wallet, both choices,
/// or a notice.
enum Outcome {
    Redirect(String),
    Choices(Box<PaymentIntent>),
    Notice(Notice),
}

async fn page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let client_ip = request.client_ip;
    let params = &mut request.params;
    let locale = params.string("locale", 10).ok().flatten();
    let locale = crate::hosted::locale::negotiate(locale.as_deref(), &headers);
    let result = async {
        let secret = params.required_string("client_secret", 255)?;
        let chosen = params.string("wallet", 20)?;
        std::mem::take(params).finish()?;
        let (scope, intent) = intent_by_secret(&state, &id, &secret).await?;
        if let Some(notice) = Notice::of(&intent, state.now()) {
            return Ok(Outcome::Notice(notice));
        }
        let wallet = chosen
            .as_deref()
            .and_then(Provider::parse)
            .or_else(|| wallet_of_browser(&headers));
        let Some(wallet) = wallet else {
            return Ok(Outcome::Choices(Box::new(intent)));
        };
        let ip = client_ip.map(|ip| ip.to_string());
        pay_with(&state, &scope, &intent.id, wallet, ip).await
    };
    match result.await {
        Ok(Outcome::Redirect(url)) => {
            (StatusCode::FOUND, [(header::LOCATION, url)]).into_response()
        }
        Ok(Outcome::Choices(intent)) => choices(&intent, locale),
        Ok(Outcome::Notice(notice)) => notice.page(locale),
        // A wrong secret, id or parameter: a code we do not know.
        Err(err) if matches!(err.status, StatusCode::NOT_FOUND | StatusCode::BAD_REQUEST) => {
            Notice::Unknown.page(locale)
        }
        Err(_) => Notice::Failed.page(locale),
    }
}

/// Opens (or reopens) the trade of `wallet` for intent `id`; the URL the
/// browser goes to, or why it cannot be paid now.
async fn pay_with(
    state: &AppState,
    scope: &portcullis_store::Scope,
    id: &str,
    wallet: Provider,
    ip: Option<String>,
) -> ApiResult<Outcome> {
    let _lock = state.locks.lock(id).await;
    let (doc, mut intent) = load::<PaymentIntent>(state, scope, id, "id").await?;
    if let Some(notice) = Notice::of(&intent, state.now()) {
        return Ok(Outcome::Notice(notice));
    }
    let Some(open) = intent.wallet.clone() else {
        return Ok(Outcome::Notice(Notice::NoLongerValid));
    };
    if open.provider != UNCHOSEN && open.provider != wallet.as_str() {
        return Ok(Outcome::Notice(Notice::OtherWallet));
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
    Ok(Outcome::Redirect(url))
}
