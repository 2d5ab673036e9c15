//! The aggregated QR (聚合码): one code for both wallets. An intent listing
//! `alipay` and `wechat_pay`, confirmed with
//! `payment_method_data[type]=wallet_qr`, answers `display_qr_code` whose
//! `data` is our page `/wallet_qr/pi_…?client_secret=…`; no trade is
//! opened yet. Opened on a phone, the page picks the wallet from the
//! browser: Alipay's (`AlipayClient`) is sent to an Alipay wap trade,
//! WeChat's (`MicroMessenger`) to a WeChat Pay H5 trade (JSAPI needs the
//! payer's openid, which only the merchant's WeChat login can give);
//! any other browser is shown both choices, in English or Simplified
//! Chinese. The pick is assessed by the risk rules with the wallet chosen
//! before any trade is opened (a block fails the intent and shows a
//! declined page). The trade opened is stored on the intent
//! (version-checked), so the notification and the worker find it as for
//! any wallet payment. A rescan after that trade ended unpaid (and before
//! the code expires) starts a new attempt: a new trade, a new
//! `out_trade_no`; `settle` never applies the replaced trade's news.

use super::aggregated_page::{choices, Notice};
use super::open::open_trade;
use super::risk::Picked;
use super::{Provider, WalletOptions};
use crate::error::{ApiError, ApiResult};
use crate::payments::authenticate::intent_by_secret;
use crate::payments::methods::new_wallet_method;
use crate::payments::records::{self, load};
use crate::payments::Ctx;
use crate::routes::params::{self as p, Param};
use crate::routes::{doc, Routes};
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use portcullis_domain::payment_intents::{
    IntentEvent, NextAction, PaymentIntent, PaymentIntentStatus, WalletTrade,
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
        aggregated: true,
        picked_method: None,
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

/// Whether a rescan of `intent`'s aggregated code starts a new trade: its
/// last trade, opened from the code, ended unpaid (declined or closed by
/// the provider) and the code has not expired. A newer attempt by the
/// merchant — another method, a card decline, a risk block — leaves no
/// such trade or another `last_payment_error`, and the code stays void.
pub fn rescannable(intent: &PaymentIntent, now: i64) -> bool {
    let unpaid = intent
        .last_payment_error
        .as_ref()
        .is_some_and(|e| e.code == super::unpaid::CODE);
    intent.status == PaymentIntentStatus::RequiresPaymentMethod
        && intent.payment_method.is_none()
        && unpaid
        && intent
            .wallet
            .as_ref()
            .is_some_and(|t| t.aggregated && t.expires_at > now)
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
    let (doc, intent) = load::<PaymentIntent>(state, scope, id, "id").await?;
    if let Some(notice) = Notice::of(&intent, state.now()) {
        return Ok(Outcome::Notice(notice));
    }
    let Some(open) = intent.wallet.clone() else {
        return Ok(Outcome::Notice(Notice::NoLongerValid));
    };
    let origin = crate::events::Origin::default();
    let ctx = Ctx {
        state,
        scope,
        origin: &origin,
    };
    let ip = ip.unwrap_or_else(|| "127.0.0.1".into());
    let chosen_before = intent.status == PaymentIntentStatus::RequiresAction;
    if chosen_before && open.provider != UNCHOSEN {
        if open.provider != wallet.as_str() {
            return Ok(Outcome::Notice(Notice::OtherWallet));
        }
        // The same trade again: the same `out_trade_no` is the same order.
        let mut for_trade = intent.clone();
        for_trade.wallet = Some(WalletTrade {
            number: open.number - 1,
            ..open.clone()
        });
        let opened =
            open_trade(&ctx, &for_trade, wallet, &options(state, &open), Some(&ip)).await?;
        return Ok(Outcome::Redirect(redirect_url(&opened.next_action)));
    }
    new_trade(&ctx, doc, intent, wallet, &ip).await
}

/// The options of a trade opened from the page: the mobile flows, until
/// the code expires.
fn options(state: &AppState, open: &WalletTrade) -> WalletOptions {
    let expires_after_s = Some((open.expires_at - state.now()).max(60));
    WalletOptions {
        alipay_channel: Some("wap".into()),
        wechat_client: Some("mobile".into()),
        alipay_expires_after_s: expires_after_s,
        wechat_expires_after_s: expires_after_s,
        ..WalletOptions::default()
    }
}

fn redirect_url(action: &NextAction) -> String {
    match action {
        NextAction::RedirectToUrl { url, .. } => url.clone(),
        NextAction::Wallet { details, .. } => {
            details["url"].as_str().unwrap_or_default().to_owned()
        }
    }
}

/// A new trade of `wallet` for the code: at the first pick, or at a
/// rescan after the last one ended unpaid (a new attempt: a new
/// `out_trade_no`, the old trade's late news refused as not current).
/// The rules assess the payment with the wallet picked first; a block
/// fails the intent and the page says the payment was declined.
async fn new_trade(
    ctx: &Ctx<'_>,
    doc: portcullis_store::Doc,
    mut intent: PaymentIntent,
    wallet: Provider,
    ip: &str,
) -> ApiResult<Outcome> {
    let state = ctx.state;
    let Some(open) = intent.wallet.clone() else {
        return Ok(Outcome::Notice(Notice::NoLongerValid));
    };
    let rescan = intent.status == PaymentIntentStatus::RequiresPaymentMethod;
    if rescan {
        intent
            .apply(IntentEvent::PaymentMethodGiven, "rescanned")
            .map_err(|e| ApiError::internal(&e))?;
    }
    let checked = super::risk::check_pick(ctx, &doc, intent, wallet.as_str(), !rescan).await?;
    let (mut intent, mut writes) = match checked {
        Picked::Allowed(intent, writes) => (intent, writes),
        Picked::Blocked(writes) => {
            commit(state, writes).await?;
            return Ok(Outcome::Notice(Notice::Declined));
        }
    };
    let opened = open_trade(ctx, &intent, wallet, &options(state, &open), Some(ip)).await?;
    let url = redirect_url(&opened.next_action);
    // The customer's pick makes the intent's payment method.
    let (method, write) = new_wallet_method(
        state,
        ctx.scope,
        wallet.method_type(),
        Default::default(),
        Default::default(),
    )?;
    writes.ops.push(write);
    intent.payment_method = Some(method.id.clone());
    let data = open.qr_data.clone().unwrap_or_default();
    if rescan {
        intent
            .apply(IntentEvent::WalletTradeOpened, "rescanned")
            .map_err(|e| ApiError::internal(&e))?;
        intent.last_payment_error = None;
        intent.next_action = Some(super::open::qr_action(
            ctx,
            &intent,
            "display_qr_code",
            &data,
        )?);
    }
    intent.wallet = Some(WalletTrade {
        qr_data: open.qr_data,
        expires_at: open.expires_at,
        aggregated: true,
        picked_method: Some(method.id),
        ..opened.trade
    });
    writes.push(records::update(ctx.scope, &doc, &intent)?);
    if rescan {
        writes.push(crate::events::event(
            ctx.scope,
            "payment_intent.requires_action",
            &crate::payments::render::render_payment_intent(&intent),
            None,
            ctx.origin,
            state.now(),
        ));
    }
    commit(state, writes).await?;
    Ok(Outcome::Redirect(url))
}

async fn commit(state: &AppState, writes: portcullis_store::WriteSet) -> ApiResult<()> {
    match state.store.commit(writes).await {
        Ok(()) => Ok(()),
        Err(StoreError::Conflict) => Err(ApiError::concurrent_change()),
        Err(err) => Err(err.into()),
    }
}
