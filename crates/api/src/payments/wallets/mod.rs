//! Wallet payments (Alipay, WeChat Pay) on PaymentIntents: what a confirm
//! asks for (`payment_method_data[type]=alipay|wechat_pay`,
//! `payment_method_options[…]`), the connector account that takes it
//! (`account`), the trade opened at the provider and the `next_action` the
//! customer follows (`open`), the provider's word applied to the intent
//! (`settle`), the `/notify/…` receivers (`notify`), the QR images under
//! the client secret (`qr`) and the worker that queries and expires open
//! trades (`worker`).

pub(crate) mod account;
pub(crate) mod aggregated;
mod aggregated_page;
pub(crate) mod code;
pub(crate) mod confirm;
pub(crate) mod duplicate;
pub(crate) mod notify;
pub(crate) mod open;
pub(crate) mod qr;
pub(crate) mod risk;
pub(crate) mod settle;
pub(crate) mod unpaid;
pub mod worker;

use crate::error::{ApiError, ApiResult};
use crate::routes::Routes;
use crate::wire::Params;
use portcullis_domain::payment_methods::{PaymentMethod, PaymentMethodType};

/// How long a trade stays payable unless the merchant says otherwise.
pub const EXPIRES_AFTER_S_DEFAULT: i64 = 15 * 60;
/// Bounds of `payment_method_options[…][expires_after_seconds]`.
pub const EXPIRES_AFTER_S_MIN: i64 = 10;
pub const EXPIRES_AFTER_S_MAX: i64 = 2 * 60 * 60;
/// The only currency the providers' domestic APIs take.
pub const CURRENCY: &str = "cny";

pub fn routes() -> Routes {
    Routes::new()
        .merge(notify::routes())
        .merge(qr::routes())
        .merge(aggregated::routes())
}

/// The two wallets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    Alipay,
    WechatPay,
}

impl Provider {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "alipay" => Some(Provider::Alipay),
            "wechat_pay" => Some(Provider::WechatPay),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Alipay => "alipay",
            Provider::WechatPay => "wechat_pay",
        }
    }

    /// The type of this wallet's payment methods.
    pub fn method_type(self) -> PaymentMethodType {
        match self {
            Provider::Alipay => PaymentMethodType::Alipay,
            Provider::WechatPay => PaymentMethodType::WechatPay,
        }
    }

    /// The wallet of a wallet payment method; `None` for a card's.
    pub fn of_method(method: &PaymentMethod) -> Option<Self> {
        match method.kind {
            PaymentMethodType::Alipay => Some(Provider::Alipay),
            PaymentMethodType::WechatPay => Some(Provider::WechatPay),
            PaymentMethodType::Card => None,
        }
    }
}

/// The wallet payment method a confirmation pays with when it names one
/// (`payment_method=pm_…`), or the intent's own when it names nothing;
/// `None` for a card's, for a payment method not found (the card path
/// answers for it), and for intents that take no wallet (no read).
pub async fn named_method(
    state: &crate::state::AppState,
    scope: &portcullis_store::Scope,
    intent: &portcullis_domain::payment_intents::PaymentIntent,
    input: &super::confirm::ConfirmInput,
) -> ApiResult<Option<PaymentMethod>> {
    let takes_wallet = intent
        .payment_method_types
        .iter()
        .any(|t| Provider::parse(t).is_some());
    let id = match (&input.method, &intent.payment_method) {
        (Some(super::confirm::MethodSource::Existing(id)), _) | (None, Some(id)) => id,
        _ => return Ok(None),
    };
    if !takes_wallet {
        return Ok(None);
    }
    let Some(doc) = state
        .store
        .get(portcullis_store::Table::PaymentMethods, scope, id)
        .await?
    else {
        return Ok(None);
    };
    let method: PaymentMethod =
        serde_json::from_str(&doc.body).map_err(|e| ApiError::internal(&e))?;
    Ok(Some(method).filter(|m| Provider::of_method(m).is_some()))
}

/// The wallet a confirmation pays with: named by `payment_method_data`,
/// or the intent's only payment method type when nothing else is named.
pub fn provider_of(
    intent: &portcullis_domain::payment_intents::PaymentIntent,
    input: &super::confirm::ConfirmInput,
) -> Option<Provider> {
    match &input.method {
        Some(super::confirm::MethodSource::Wallet(provider, _)) => Some(*provider),
        Some(_) => None,
        None if intent.payment_method.is_none() => match intent.payment_method_types.as_slice() {
            [only] => Provider::parse(only),
            _ => None,
        },
        None => None,
    }
}

/// Before an intent waiting for a wallet is canceled, its trade is closed
/// at the provider, so the customer can no longer pay it. A trade the
/// provider will not close (paid meanwhile) refuses the cancel: the
/// notification or the worker makes the intent succeed.
pub async fn close_before_cancel(
    state: &crate::state::AppState,
    scope: &portcullis_store::Scope,
    intent: &portcullis_domain::payment_intents::PaymentIntent,
) -> ApiResult<()> {
    let Some(trade) = &intent.wallet else {
        return Ok(());
    };
    if trade.provider == aggregated::UNCHOSEN {
        return Ok(());
    }
    let stored = account::in_scope(state, scope, &trade.connector_account).await?;
    let connection = account::connected(state, &stored).await?;
    let provider = Provider::parse(&trade.provider).unwrap_or(Provider::Alipay);
    worker::close(&connection, &trade.out_trade_no)
        .await
        .map_err(|err| open::call_error(provider, err))
}

/// The wallet `payment_method_data[type]` names, and a payment code
/// given with it: `alipay` or `wechat_pay` (optionally with
/// `[…][auth_code]`), or `wallet_code` with `[wallet_code][auth_code]`,
/// whose provider the code's shape tells. `None` for other types.
pub fn wallet_data(kind: &str, data: &mut Params) -> ApiResult<Option<(Provider, Option<String>)>> {
    if kind == "wallet_qr" {
        // The wallet is chosen later, on the aggregated page.
        return Ok(Some((Provider::Alipay, None)));
    }
    let provider = Provider::parse(kind);
    if provider.is_none() && kind != "wallet_code" {
        return Ok(None);
    }
    let param = format!("payment_method_data[{kind}][auth_code]");
    let code = match data.object(kind)? {
        Some(mut fields) => {
            let text = fields.string("auth_code", 32)?;
            fields.finish()?;
            text.map(|t| code::auth_code(&t, &param)).transpose()?
        }
        None => None,
    };
    match (provider, code) {
        (Some(provider), code) => Ok(Some((provider, code))),
        (None, Some(code)) => Ok(Some((code::provider_of_code(&code)?, Some(code)))),
        (None, None) => Err(ApiError::missing_parameter(&param)),
    }
}

/// Alipay's ways to pay (`payment_method_options[alipay][channel]`).
pub const ALIPAY_CHANNELS: &[&str] = &["page", "wap", "app", "qr"];
/// WeChat Pay's clients (`payment_method_options[wechat_pay][client]`).
pub const WECHAT_CLIENTS: &[&str] = &["web", "mobile", "android", "ios", "jsapi"];

/// `payment_method_options[alipay|wechat_pay][…]` as a confirm gives them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WalletOptions {
    /// `payment_method_data[alipay|wechat_pay|wallet_code][auth_code]`.
    pub auth_code: Option<String>,
    /// `payment_method_data[type]=wallet_qr`: one code for both wallets.
    pub aggregated: bool,
    pub alipay_channel: Option<String>,
    pub alipay_expires_after_s: Option<i64>,
    pub wechat_client: Option<String>,
    pub wechat_openid: Option<String>,
    pub wechat_expires_after_s: Option<i64>,
}

impl WalletOptions {
    /// The channel or client the trade is opened for, checked.
    pub fn flow(&self, provider: Provider) -> &str {
        match provider {
            Provider::Alipay => self.alipay_channel.as_deref().unwrap_or("page"),
            Provider::WechatPay => self.wechat_client.as_deref().unwrap_or("web"),
        }
    }

    pub fn expires_after_s(&self, provider: Provider) -> i64 {
        match provider {
            Provider::Alipay => self.alipay_expires_after_s,
            Provider::WechatPay => self.wechat_expires_after_s,
        }
        .unwrap_or(EXPIRES_AFTER_S_DEFAULT)
    }
}

fn expires_after(options: &mut Params, provider: Provider) -> ApiResult<Option<i64>> {
    let Some(seconds) = options.integer("expires_after_seconds")? else {
        return Ok(None);
    };
    if !(EXPIRES_AFTER_S_MIN..=EXPIRES_AFTER_S_MAX).contains(&seconds) {
        return Err(ApiError::invalid(
            "parameter_invalid",
            format!(
                "expires_after_seconds must be {EXPIRES_AFTER_S_MIN} to {EXPIRES_AFTER_S_MAX}."
            ),
            format!(
                "payment_method_options[{}][expires_after_seconds]",
                provider.as_str()
            ),
        ));
    }
    Ok(Some(seconds))
}

fn one_of(value: Option<String>, allowed: &[&str], param: &str) -> ApiResult<Option<String>> {
    match value {
        Some(v) if !allowed.contains(&v.as_str()) => Err(ApiError::invalid(
            "parameter_invalid",
            format!("{param} must be one of {}.", allowed.join(", ")),
            param,
        )),
        other => Ok(other),
    }
}

/// Reads `payment_method_options` (only the wallets' options exist).
pub fn options_from(params: &mut Params) -> ApiResult<WalletOptions> {
    let mut found = WalletOptions::default();
    let Some(mut options) = params.object("payment_method_options")? else {
        return Ok(found);
    };
    if let Some(mut alipay) = options.object("alipay")? {
        found.alipay_channel = one_of(
            alipay.string("channel", 10)?,
            ALIPAY_CHANNELS,
            "payment_method_options[alipay][channel]",
        )?;
        found.alipay_expires_after_s = expires_after(&mut alipay, Provider::Alipay)?;
        alipay.finish()?;
    }
    if let Some(mut wechat) = options.object("wechat_pay")? {
        found.wechat_client = one_of(
            wechat.string("client", 10)?,
            WECHAT_CLIENTS,
            "payment_method_options[wechat_pay][client]",
        )?;
        found.wechat_openid = wechat.string("openid", 128)?;
        found.wechat_expires_after_s = expires_after(&mut wechat, Provider::WechatPay)?;
        wechat.finish()?;
    }
    options.finish()?;
    if found.wechat_client.as_deref() == Some("jsapi") && found.wechat_openid.is_none() {
        return Err(ApiError::missing_parameter(
            "payment_method_options[wechat_pay][openid]",
        ));
    }
    Ok(found)
}
