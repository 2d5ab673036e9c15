//! Opening a wallet trade at confirmation: the order placed with the
//! provider (or, for Alipay's page, wap and app channels, signed for the
//! buyer's browser or app to carry), and the `next_action` that shows the
//! customer how to pay. Nothing is stored before the provider answered:
//! a trade is payable only once its QR code, link or app parameters were
//! shown, which happens after the intent naming it is committed; a trade
//! the provider opened but we never stored simply expires there. A retry
//! sends the same `out_trade_no`, which both providers treat as the same
//! order.

use super::account::{choose, connected};
use super::{Provider, WalletOptions, CURRENCY};
use crate::error::{ApiError, ApiResult, ErrorType};
use crate::payments::Ctx;
use crate::wallet_connections::WalletConnection;
use axum::http::StatusCode;
use portcullis_connectors::wallets::wechat_pay::Prepared;
use portcullis_connectors::wallets::WalletCallError;
use portcullis_domain::payment_intents::{NextAction, PaymentIntent, WalletTrade};
use portcullis_wallets::alipay_methods::{self as methods, Order};
use portcullis_wallets::wechat_pay_orders::{time_expire, Flow};
use serde_json::{json, Value};

/// What opening a trade gave.
pub struct Opened {
    pub trade: WalletTrade,
    pub next_action: NextAction,
}

/// Refuses an intent a wallet cannot pay.
pub fn check_payable(intent: &PaymentIntent, provider: Provider) -> ApiResult<()> {
    if !intent
        .payment_method_types
        .iter()
        .any(|t| t == provider.as_str())
    {
        return Err(ApiError::invalid(
            "payment_intent_unexpected_state",
            format!(
                "This PaymentIntent's payment_method_types do not include {}.",
                provider.as_str()
            ),
            "payment_method_data[type]",
        ));
    }
    if intent.currency.as_str() != CURRENCY {
        return Err(ApiError::invalid(
            "payment_intent_invalid_currency",
            format!(
                "{} takes payments in cny only, not {}.",
                provider.as_str(),
                intent.currency.as_str()
            ),
            "currency",
        ));
    }
    Ok(())
}

/// A provider call that gave no usable answer, as the API says it.
pub fn call_error(provider: Provider, err: WalletCallError) -> ApiError {
    if err.outcome_unknown() {
        let mut refused = ApiError::new(
            StatusCode::BAD_GATEWAY,
            ErrorType::Api,
            Some("payment_method_provider_timeout"),
            format!(
                "{} did not answer usably ({err}); retry with the same Idempotency-Key.",
                provider.as_str()
            ),
        );
        refused.should_retry = Some(true);
        return refused;
    }
    ApiError::new(
        StatusCode::PAYMENT_REQUIRED,
        ErrorType::InvalidRequest,
        Some("payment_method_provider_decline"),
        format!("{} refused the payment: {err}", provider.as_str()),
    )
    .with_param("payment_method_data[type]")
}

/// Opens trade number `number` of `intent` with `provider`.
pub async fn open_trade(
    ctx: &Ctx<'_>,
    intent: &PaymentIntent,
    provider: Provider,
    options: &WalletOptions,
    customer_ip: Option<&str>,
) -> ApiResult<Opened> {
    let state = ctx.state;
    let flow = options.flow(provider).to_owned();
    let number = intent.wallet.as_ref().map_or(1, |w| w.number + 1);
    let out_trade_no = WalletTrade::out_trade_no_for(&intent.id, number);
    let expires_at = state.now() + options.expires_after_s(provider);
    let stored = choose(state, ctx.scope, provider).await?;
    let connection = connected(state, &stored).await?;
    let subject = intent
        .description
        .clone()
        .unwrap_or_else(|| format!("Payment {}", intent.id));
    let mut trade = WalletTrade {
        provider: provider.as_str().to_owned(),
        connector_account: stored.account.id.clone(),
        out_trade_no: out_trade_no.clone(),
        number,
        flow: flow.clone(),
        expires_at,
        qr_data: None,
        provider_trade_id: None,
        opened_at: Some(state.now()),
        aggregated: false,
        picked_method: None,
    };
    let fail = |err| call_error(provider, err);
    let next_action = match connection {
        WalletConnection::Alipay(client) => {
            let order = Order {
                out_trade_no: &out_trade_no,
                amount_fen: intent.amount.minor(),
                subject: &subject,
                timeout_minutes: (options.expires_after_s(provider) + 59) / 60,
            };
            let return_url = intent.return_url.as_deref();
            match flow.as_str() {
                "qr" => {
                    let data = client.precreate(&order).await.map_err(fail)?;
                    trade.qr_data = Some(data.clone());
                    qr_action(ctx, intent, "alipay_display_qr_code", &data)?
                }
                "app" => {
                    let native_data = client.app_order_string(&order).map_err(fail)?;
                    let url = client
                        .payment_url(methods::WAP_PAY, &order, return_url)
                        .map_err(fail)?;
                    alipay_redirect(url, return_url, Some(native_data))
                }
                channel => {
                    let method = if channel == "wap" {
                        methods::WAP_PAY
                    } else {
                        methods::PAGE_PAY
                    };
                    let url = client
                        .payment_url(method, &order, return_url)
                        .map_err(fail)?;
                    alipay_redirect(url, return_url, None)
                }
            }
        }
        WalletConnection::WechatPay(client) => {
            let wechat_flow = match flow.as_str() {
                "mobile" => Flow::H5 {
                    payer_client_ip: customer_ip.ok_or_else(|| {
                        ApiError::missing_parameter("customer_ip").with_param("customer_ip")
                    })?,
                },
                "android" | "ios" => Flow::App,
                "jsapi" => Flow::Jsapi {
                    openid: options.wechat_openid.as_deref().unwrap_or_default(),
                },
                _ => Flow::Native,
            };
            let prepared = client
                .order(
                    &out_trade_no,
                    intent.amount.minor(),
                    &subject,
                    &time_expire(expires_at),
                    &wechat_flow,
                )
                .await
                .map_err(fail)?;
            match (flow.as_str(), prepared) {
                (_, Prepared::CodeUrl(data)) => {
                    trade.qr_data = Some(data.clone());
                    qr_action(ctx, intent, "wechat_pay_display_qr_code", &data)?
                }
                (_, Prepared::H5Url(url)) => NextAction::RedirectToUrl {
                    url: h5_url(&url, intent.return_url.as_deref()),
                    return_url: intent.return_url.clone(),
                },
                ("jsapi", Prepared::PrepayId(id)) => NextAction::Wallet {
                    kind: "wechat_pay_jsapi".into(),
                    details: client.jsapi_parameters(&id).map_err(fail)?,
                },
                ("ios", Prepared::PrepayId(id)) => NextAction::Wallet {
                    kind: "wechat_pay_redirect_to_ios_app".into(),
                    details: json!({
                        "native_url": ios_native_url(&client.app_parameters(&id).map_err(fail)?),
                    }),
                },
                (_, Prepared::PrepayId(id)) => NextAction::Wallet {
                    kind: "wechat_pay_redirect_to_android_app".into(),
                    details: client.app_parameters(&id).map_err(fail)?,
                },
            }
        }
    };
    Ok(Opened { trade, next_action })
}

fn alipay_redirect(
    url: String,
    return_url: Option<&str>,
    native_data: Option<String>,
) -> NextAction {
    NextAction::Wallet {
        kind: "alipay_handle_redirect".into(),
        details: json!({
            "native_data": native_data,
            "native_url": native_data.as_ref().map(|_| "alipays://platformapi/startApp"),
            "return_url": return_url,
            "url": url,
        }),
    }
}

/// WeChat asks H5 payers' browsers to come back through `redirect_url`.
fn h5_url(h5_url: &str, return_url: Option<&str>) -> String {
    match return_url {
        None => h5_url.to_owned(),
        Some(back) => {
            let joiner = if h5_url.contains('?') { '&' } else { '?' };
            let encoded: String = form_urlencoded::byte_serialize(back.as_bytes()).collect();
            format!("{h5_url}{joiner}redirect_url={encoded}")
        }
    }
}

/// The `weixin://app/…/pay/` URL an iOS app opens (the SDK's `PayReq`).
fn ios_native_url(pay: &Value) -> String {
    let field = |name: &str| {
        let text = pay.get(name).and_then(Value::as_str).unwrap_or_default();
        form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>()
    };
    format!(
        "weixin://app/{}/pay/?nonceStr={}&package={}&partnerId={}&prepayId={}&timeStamp={}&sign={}&signType=SHA256",
        field("app_id"),
        field("nonce_str"),
        field("package"),
        field("partner_id"),
        field("prepay_id"),
        field("timestamp"),
        field("sign"),
    )
}

/// The QR `next_action` (`kind`) for `data`, with our images of it.
pub fn qr_action(
    ctx: &Ctx<'_>,
    intent: &PaymentIntent,
    kind: &str,
    data: &str,
) -> ApiResult<NextAction> {
    let image_data_url =
        crate::qr_images::png_data_url(data).map_err(|e| ApiError::internal(&e))?;
    let links = super::qr::links(&ctx.base_url(), intent);
    Ok(NextAction::Wallet {
        kind: kind.to_owned(),
        details: json!({
            "data": data,
            "hosted_instructions_url": links.page,
            "image_data_url": image_data_url,
            "image_url_png": links.png,
            "image_url_svg": links.svg,
        }),
    })
}
