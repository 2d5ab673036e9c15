//! Test helpers around `portcullis wallet-sim`: the simulator as a child
//! process (its printed connector-account credentials parsed), clients
//! that sign requests with the merchant's keys through our codec exactly
//! as a connector must, and a notification receiver standing in for the
//! merchant's `notify_url`.
#![allow(dead_code)]

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use parking_lot::Mutex;
use portcullis_wallets::keys::{private_key_from_pem, public_key_from_pem};
use portcullis_wallets::{alipay, wechat_pay, wechat_v2};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// The interpreter with the providers' Python SDKs
/// (`PORTCULLIS_PEER_PYTHON`, as `tests/wallet_peers/run.sh` sets it).
pub fn peer_python() -> String {
    std::env::var("PORTCULLIS_PEER_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// Whether `peer_python()` can import `modules`; without them a test
/// prints SKIPPED, except under `CI=true`, where it fails.
pub fn sdks_available(modules: &str) -> bool {
    let probe = Command::new(peer_python())
        .args(["-c", &format!("import {modules}")])
        .output();
    if probe.is_ok_and(|out| out.status.success()) {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "alipay-sdk-python / wechatpayv3 are missing, and CI=true requires them"
    );
    eprintln!(
        "SKIPPED: alipay-sdk-python / wechatpayv3 not importable by {}",
        peer_python()
    );
    false
}

pub fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `portcullis wallet-sim` on port 0; killed when dropped.
pub struct WalletSim {
    child: Child,
    pub base_url: String,
    /// `{"alipay": {type, endpoint, credentials}, "wechat_pay": {…}}`.
    pub accounts: Value,
}

impl Drop for WalletSim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl WalletSim {
    /// The `POST /v1/connector_accounts` form of the simulator's
    /// `provider` account (`alipay`, `wechat_pay`), as it printed it.
    pub fn account_form(&self, provider: &str) -> Vec<(String, String)> {
        let account = &self.accounts[provider];
        let mut form = vec![
            ("type".to_owned(), provider.to_owned()),
            (
                "endpoint".to_owned(),
                account["endpoint"].as_str().unwrap().to_owned(),
            ),
        ];
        for (name, value) in account["credentials"].as_object().unwrap() {
            form.push((
                format!("credentials[{name}]"),
                value.as_str().unwrap().to_owned(),
            ));
        }
        form
    }

    pub fn start(data_dir: Option<&Path>, extra: &[&str]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
        command
            .args(["wallet-sim", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env("PORTCULLIS_LOG", "warn")
            .env_remove("PORTCULLIS_DATA_DIR")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(dir) = data_dir {
            command.arg("--data-dir").arg(dir);
        }
        let mut child = command.spawn().expect("start wallet-sim");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut next = || lines.next().expect("a line").expect("utf-8");
        let first = next();
        let base_url = first
            .strip_prefix("wallet-sim listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_owned();
        let alipay_line = next();
        let wechat_line = next();
        let parse = |line: &str, prefix: &str| -> Value {
            serde_json::from_str(line.strip_prefix(prefix).expect("the account line")).unwrap()
        };
        let accounts = serde_json::json!({
            "alipay": parse(&alipay_line, "alipay connector account: "),
            "wechat_pay": parse(&wechat_line, "wechat_pay connector account: "),
        });
        WalletSim {
            child,
            base_url,
            accounts,
        }
    }

    pub fn alipay(&self) -> AlipayClient {
        AlipayClient {
            sim: self.base_url.clone(),
            credentials: self.accounts["alipay"]["credentials"].clone(),
        }
    }

    pub fn wechat(&self) -> WechatClient {
        WechatClient {
            sim: self.base_url.clone(),
            credentials: self.accounts["wechat_pay"]["credentials"].clone(),
        }
    }

    /// POSTs to the simulator's own `path` (`/sim/…`); the status.
    pub async fn post_sim(&self, path: &str) -> u16 {
        let answer = reqwest::Client::new()
            .post(format!("{}{path}", self.base_url))
            .send()
            .await
            .unwrap();
        answer.status().as_u16()
    }

    pub async fn trades(&self) -> Vec<Value> {
        let body: Value = reqwest::get(format!("{}/sim/trades", self.base_url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["trades"].as_array().unwrap().clone()
    }

    /// Pays (or declines) on the customer page reached by `page_url`.
    pub async fn act(&self, page_url: &str, action: &str, fault: &str) -> reqwest::Response {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        client
            .post(page_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("action={action}&fault={fault}"))
            .send()
            .await
            .unwrap()
    }

    /// The customer page of trade `out_trade_no` (opened already).
    pub async fn customer_page(&self, out_trade_no: &str) -> String {
        let trades = self.trades().await;
        let trade = trades
            .iter()
            .find(|t| t["out_trade_no"] == out_trade_no)
            .unwrap_or_else(|| panic!("no trade {out_trade_no} in {trades:?}"));
        format!("{}/c/{}", self.base_url, text(trade, "token"))
    }

    /// The customer page a QR code's `data` leads to once scanned.
    pub async fn page_of(&self, data: &str) -> String {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let encoded: String = form_urlencoded::byte_serialize(data.as_bytes()).collect();
        let scanned = client
            .get(format!("{}/scan?data={encoded}", self.base_url))
            .send()
            .await
            .unwrap();
        match scanned.headers().get("location") {
            Some(location) => {
                let location = location.to_str().unwrap();
                if location.starts_with("http") {
                    location.to_owned()
                } else {
                    format!("{}{location}", self.base_url)
                }
            }
            None => data.to_owned(),
        }
    }
}

fn text(value: &Value, name: &str) -> String {
    value[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name} missing"))
        .to_owned()
}

/// Alipay calls signed with the merchant's application key (our codec).
pub struct AlipayClient {
    pub sim: String,
    pub credentials: Value,
}

impl AlipayClient {
    pub fn signed(
        &self,
        method: &str,
        biz: &Value,
        notify_url: Option<&str>,
    ) -> BTreeMap<String, String> {
        let key = private_key_from_pem(&text(&self.credentials, "private_key")).unwrap();
        let app_id = text(&self.credentials, "app_id");
        let context = alipay::RequestContext {
            app_id: &app_id,
            now: now_s(),
            notify_url,
            return_url: None,
        };
        alipay::signed_request(&key, &context, method, biz)
    }

    /// POSTs `params` as a form; returns the raw answer.
    pub async fn post(&self, params: &BTreeMap<String, String>) -> String {
        reqwest::Client::new()
            .post(format!("{}/gateway.do", self.sim))
            .header(
                "content-type",
                "application/x-www-form-urlencoded;charset=utf-8",
            )
            .body(portcullis_wallets::alipay_methods::encoded(params))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Calls `method` and returns the verified response node.
    pub async fn call(&self, method: &str, biz: &Value, notify_url: Option<&str>) -> Value {
        let answer = self.post(&self.signed(method, biz, notify_url)).await;
        self.verify(method, &answer)
    }

    pub fn verify(&self, method: &str, answer: &str) -> Value {
        let key = public_key_from_pem(&text(&self.credentials, "alipay_public_key")).unwrap();
        alipay::verify_response(&key, method, answer).unwrap_or_else(|e| panic!("{e}: {answer}"))
    }

    pub fn verify_notification(&self, params: &BTreeMap<String, String>) -> bool {
        let key = public_key_from_pem(&text(&self.credentials, "alipay_public_key")).unwrap();
        alipay::verify_notification(&key, params).is_ok()
    }
}

/// WeChat Pay calls signed with the merchant's API key (our codec).
pub struct WechatClient {
    pub sim: String,
    pub credentials: Value,
}

pub struct WechatAnswer {
    pub status: u16,
    pub body: String,
    pub verified: bool,
}

impl WechatAnswer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

impl WechatClient {
    pub fn mchid(&self) -> String {
        text(&self.credentials, "mchid")
    }

    pub fn appid(&self) -> String {
        text(&self.credentials, "appid")
    }

    pub fn api_v3_key(&self) -> String {
        text(&self.credentials, "api_v3_key")
    }

    pub fn authorization(&self, method: &str, path: &str, body: &str) -> String {
        let key = private_key_from_pem(&text(&self.credentials, "private_key")).unwrap();
        let serial = text(&self.credentials, "certificate_serial");
        let mchid = self.mchid();
        let merchant = wechat_pay::Merchant {
            mchid: &mchid,
            certificate_serial: &serial,
            key: &key,
        };
        wechat_pay::authorization(&merchant, method, path, now_s(), &wechat_pay::nonce(), body)
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: &str,
        authorization: &str,
    ) -> WechatAnswer {
        let client = reqwest::Client::new();
        let url = format!("{}{path}", self.sim);
        let request = match method {
            "GET" => client.get(url),
            _ => client
                .post(url)
                .header("content-type", "application/json")
                .body(body.to_owned()),
        };
        let answer = request
            .header("authorization", authorization)
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        let header = |name: &str| {
            answer
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let headers = wechat_pay::SignedHeaders {
            timestamp: header("wechatpay-timestamp"),
            nonce: header("wechatpay-nonce"),
            signature: header("wechatpay-signature"),
            serial: header("wechatpay-serial"),
        };
        let body = answer.text().await.unwrap();
        let verified = self.verify(&headers, &body);
        WechatAnswer {
            status,
            body,
            verified,
        }
    }

    pub async fn call(&self, method: &str, path: &str, body: &str) -> WechatAnswer {
        let authorization = self.authorization(method, path, body);
        self.send(method, path, body, &authorization).await
    }

    pub fn verify(&self, headers: &wechat_pay::SignedHeaders, body: &str) -> bool {
        let key = public_key_from_pem(&text(&self.credentials, "platform_public_key")).unwrap();
        let serial = text(&self.credentials, "platform_serial");
        wechat_pay::verify_signed_message(&key, &serial, headers, body, now_s()).is_ok()
    }

    /// A v2 call (XML, HMAC-SHA256 with the API v2 key); the verified answer.
    pub async fn v2(
        &self,
        path: &str,
        mut fields: BTreeMap<String, String>,
    ) -> BTreeMap<String, String> {
        let key = text(&self.credentials, "api_v2_key");
        fields.insert("appid".into(), self.appid());
        fields.insert("mch_id".into(), self.mchid());
        fields.insert("nonce_str".into(), wechat_pay::nonce());
        let body = wechat_v2::to_xml(&wechat_v2::signed(&key, fields));
        self.v2_raw(path, &body).await
    }

    pub async fn v2_raw(&self, path: &str, body: &str) -> BTreeMap<String, String> {
        let answer = reqwest::Client::new()
            .post(format!("{}{path}", self.sim))
            .header("content-type", "text/xml")
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let fields = wechat_v2::from_xml(&answer).unwrap();
        if fields.get("return_code").map(String::as_str) == Some("SUCCESS") {
            wechat_v2::verify(&text(&self.credentials, "api_v2_key"), &fields)
                .expect("a signed v2 answer");
        }
        fields
    }
}

/// One notification as the merchant's endpoint received it.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: String,
}

impl Received {
    pub fn form(&self) -> BTreeMap<String, String> {
        form_urlencoded::parse(self.body.as_bytes())
            .into_owned()
            .collect()
    }

    pub fn wechat_headers(&self) -> wechat_pay::SignedHeaders {
        let header = |name: &str| {
            self.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        wechat_pay::SignedHeaders {
            timestamp: header("wechatpay-timestamp"),
            nonce: header("wechatpay-nonce"),
            signature: header("wechatpay-signature"),
            serial: header("wechatpay-serial"),
        }
    }
}

#[derive(Default)]
struct ReceiverState {
    received: Vec<Received>,
    /// Refuse this many deliveries before acknowledging.
    refuse: usize,
}

/// The merchant's `notify_url`: records every delivery; acknowledges as
/// each provider requires (`success` / 204) once `refuse` ran out.
#[derive(Clone)]
pub struct Receiver {
    state: Arc<Mutex<ReceiverState>>,
    pub url: String,
}

impl Receiver {
    pub async fn start(refuse: usize) -> Self {
        let state = Arc::new(Mutex::new(ReceiverState {
            received: Vec::new(),
            refuse,
        }));
        let app = Router::new()
            .route("/notify/{provider}", post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { state, url }
    }

    pub fn alipay_url(&self) -> String {
        format!("{}/notify/alipay", self.url)
    }

    pub fn wechat_url(&self) -> String {
        format!("{}/notify/wechat_pay", self.url)
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().received.clone()
    }

    /// Waits until at least `count` deliveries arrived (10 s at most).
    pub async fn wait_for(&self, count: usize) -> Vec<Received> {
        for _ in 0..200 {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{count} notifications did not arrive; got {:?}",
            self.received()
        );
    }
}

async fn receive(
    State(state): State<Arc<Mutex<ReceiverState>>>,
    axum::extract::Path(provider): axum::extract::Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let mut state = state.lock();
    state.received.push(Received {
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    if state.refuse > 0 {
        state.refuse -= 1;
        return (StatusCode::INTERNAL_SERVER_ERROR, "fail".to_owned());
    }
    match provider.as_str() {
        "alipay" => (StatusCode::OK, "success".to_owned()),
        _ => (StatusCode::NO_CONTENT, String::new()),
    }
}
