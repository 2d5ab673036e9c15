//! The aggregated QR's page as phones open it, and what tests wait for on
//! wallet payments: the wallets' user agents, the page's answer (not
//! followed), an intent reaching a status, events of an intent.

use super::Api;
use serde_json::Value;
use std::time::{Duration, Instant};

pub const ALIPAY_UA: &str = "Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 Chrome/116.0 Mobile Safari/537.36 AlipayClient/10.5.36.8100";
pub const WECHAT_UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 MicroMessenger/8.0.47(0x18002f2f) NetType/WIFI Language/zh_CN";
pub const DESKTOP_UA: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36";

/// Opens the aggregated page as `agent` would; the answer, not followed.
pub async fn open_page(url: &str, agent: &str, language: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(url)
        .header("user-agent", agent)
        .header("accept-language", language)
        .send()
        .await
        .unwrap()
}

/// Asserts `page` is an HTML page with `status`, styled by the hosted
/// pages' stylesheet, that says `words`.
pub async fn assert_page(page: reqwest::Response, status: u16, words: &str) {
    assert_eq!(page.status(), status);
    let kind = page.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(kind.starts_with("text/html"), "{kind}");
    let text = page.text().await.unwrap();
    assert!(text.contains(words), "{words}: {text}");
    assert!(
        text.contains("href=\"/checkout/assets/checkout.css\"") && !text.contains("style="),
        "{text}"
    );
}

/// Waits until intent `id` has `status`, or panics after `limit`.
pub async fn wait_for_status(api: &Api, id: &str, status: &str, limit: Duration) -> Value {
    let started = Instant::now();
    loop {
        let current = intent(api, id).await;
        if current["status"] == status {
            return current;
        }
        assert!(
            started.elapsed() < limit,
            "{id} is {} after {limit:?}, not {status}",
            current["status"]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// How many events of `kind` are about intent `intent_id`.
#[allow(unused_imports)]
pub use super::events_about as events_of;

/// Intent `id` as the API shows it.
pub async fn intent(api: &Api, id: &str) -> Value {
    api.get(&format!("/v1/payment_intents/{id}")).await.json()
}
