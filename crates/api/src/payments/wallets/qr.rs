//! A wallet payment's QR code under the intent's client secret: the PNG
//! and SVG images of the trade's QR data (`image_url_png`,
//! `image_url_svg`) and a page showing it with the amount
//! (`hosted_instructions_url`). No API key, as for Stripe's hosted pages;
//! a wrong secret is a 404 that says nothing of whether the intent exists.

use crate::error::{ApiError, ApiResult};
use crate::payments::authenticate::intent_by_secret;
use crate::routes::params::{self as p, Param};
use crate::routes::{doc, Routes};
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use portcullis_domain::payment_intents::PaymentIntent;

const BY_SECRET: &[Param] = &[p::string("client_secret", 255).required()];

pub fn routes() -> Routes {
    Routes::new()
        .get(
            doc(
                "/v1/payment_intents/{id}/qr_code.png",
                "The wallet payment's QR code as PNG (client_secret in the query)",
                "",
            )
            .params(BY_SECRET)
            .public()
            .not_json(),
            png,
        )
        .get(
            doc(
                "/v1/payment_intents/{id}/qr_code.svg",
                "The wallet payment's QR code as SVG (client_secret in the query)",
                "",
            )
            .params(BY_SECRET)
            .public()
            .not_json(),
            svg,
        )
        .get(
            doc(
                "/v1/payment_intents/{id}/qr_code",
                "A page showing the wallet payment's QR code (client_secret in the query)",
                "",
            )
            .params(BY_SECRET)
            .public()
            .not_json(),
            page,
        )
}

/// Where an intent's QR images and page are.
pub struct Links {
    pub png: String,
    pub svg: String,
    pub page: String,
}

pub fn links(base_url: &str, intent: &PaymentIntent) -> Links {
    let at = |suffix: &str| {
        format!(
            "{base_url}/v1/payment_intents/{}/qr_code{suffix}?client_secret={}",
            intent.id, intent.client_secret
        )
    };
    Links {
        png: at(".png"),
        svg: at(".svg"),
        page: at(""),
    }
}

/// The QR data of intent `id`, if `client_secret` opens it.
async fn qr_data(
    state: &AppState,
    id: &str,
    request: &mut ApiRequest,
) -> ApiResult<(PaymentIntent, String)> {
    let secret = request.params.required_string("client_secret", 255)?;
    std::mem::take(&mut request.params).finish()?;
    let (_, intent) = intent_by_secret(state, id, &secret).await?;
    let data = intent
        .wallet
        .as_ref()
        .and_then(|w| w.qr_data.clone())
        .ok_or_else(|| ApiError::no_such("qr_code", id, "id"))?;
    Ok((intent, data))
}

/// The QR image of intent `id` as `render` draws it, as `content_type`.
async fn image<T: IntoResponse>(
    state: &AppState,
    id: &str,
    mut request: ApiRequest,
    render: fn(&str) -> Result<T, crate::qr_images::QrImageError>,
    content_type: &'static str,
) -> Response {
    let result = async {
        let (_, data) = qr_data(state, id, &mut request).await?;
        render(&data).map_err(|e| ApiError::internal(&e))
    };
    match result.await {
        Ok(image) => ([(header::CONTENT_TYPE, content_type)], image).into_response(),
        Err(err) => err.into_response(),
    }
}

async fn png(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: ApiRequest,
) -> Response {
    image(&state, &id, request, crate::qr_images::png, "image/png").await
}

async fn svg(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: ApiRequest,
) -> Response {
    image(&state, &id, request, crate::qr_images::svg, "image/svg+xml").await
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        let (intent, _) = qr_data(&state, &id, &mut request).await?;
        let svg_url = links("", &intent).svg;
        let yuan = portcullis_wallets::amount::yuan_text(intent.amount.minor())
            .map_err(|e| ApiError::internal(&e))?;
        let wallet = match intent.wallet.as_ref().map(|w| w.provider.as_str()) {
            Some("alipay") => "Alipay 支付宝",
            Some("wechat_pay") => "WeChat Pay 微信支付",
            _ => "Alipay 支付宝 / WeChat Pay 微信支付",
        };
        Ok::<_, ApiError>(Html(format!(
            "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{wallet}</title></head><body>\
             <h1>{wallet}</h1><p>¥<span id=\"amount\">{yuan}</span></p>\
             <p>Scan with {wallet} to pay · 请使用{wallet}扫码支付</p>\
             <img id=\"qr\" alt=\"QR\" src=\"{}\"><p id=\"status\">{}</p></body></html>",
            escape(&svg_url),
            intent.status.as_str(),
        )))
    };
    match result.await {
        Ok(page) => page.into_response(),
        Err(err) => err.into_response(),
    }
}
