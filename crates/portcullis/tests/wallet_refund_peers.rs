//! Our refund calls checked by the providers' own SDKs
//! (`tests/wallet_peers/refund_peer.py`): alipay-sdk-python verifies the
//! RSA2 signature of our `alipay.trade.refund` and
//! `alipay.trade.fastpay.refund.query` and signs the answers our
//! `AlipayClient` must verify; wechatpayv3 verifies the Authorization of
//! our `POST /v3/refund/domestic/refunds` and refund query and signs the
//! answers our `WechatPayClient` must verify; and a `REFUND.SUCCESS`
//! notification signed and sealed (AEAD_AES_256_GCM) by the peer is
//! accepted and opened by our notification reader. A client holding
//! another merchant key is refused by the peer, so the test fails if our
//! signing is wrong. Runs under `tests/wallet_peers/run.sh`; without the
//! SDKs it prints SKIPPED, except under `CI=true`, where it fails. No
//! database is involved, so it has no SQLite/PostgreSQL variants.

mod wallets;

use portcullis_connectors::wallets::alipay::{AlipayClient, AlipayCredentials};
use portcullis_connectors::wallets::notifications::{
    wechat_notice, NoticeError, ReplayGuard, WechatNotice,
};
use portcullis_connectors::wallets::wechat_pay::{WechatPayClient, WechatPayCredentials};
use portcullis_connectors::wallets::WalletCallError;
use portcullis_wallets::keys::generate_pem_pair;
use portcullis_wallets::wechat_pay::SignedHeaders;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use zeroize::Zeroizing;

const API_V3_KEY: &str = "0123456789abcdef0123456789ABCDEF";
const MCHID: &str = "1900009191";
const SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
const PLATFORM_SERIAL: &str = "PUB_KEY_ID_0114232134912410000";
const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/wallet_peers/refund_peer.py"
);

fn python() -> String {
    wallets::peer_python()
}

/// The key pairs of both sides: the merchant's and the providers'.
struct Keys {
    app: (String, String),
    alipay: (String, String),
    merchant: (String, String),
    platform: (String, String),
}

impl Keys {
    fn new() -> Self {
        let pair = || generate_pem_pair().unwrap();
        Keys {
            app: pair(),
            alipay: pair(),
            merchant: pair(),
            platform: pair(),
        }
    }

    fn given(&self) -> Value {
        json!({
            "app_public_key": self.app.1,
            "alipay_private_key": self.alipay.0,
            "wechat_merchant_public_key": self.merchant.1,
            "wechat_mchid": MCHID,
            "wechat_serial": SERIAL,
            "platform_private_key": self.platform.0,
            "platform_serial": PLATFORM_SERIAL,
            "api_v3_key": API_V3_KEY,
        })
    }

    fn wechat_credentials(&self, private_key: &str) -> WechatPayCredentials {
        WechatPayCredentials {
            mchid: MCHID.to_owned(),
            appid: "wxd678efh567hg6787".to_owned(),
            private_key_pem: Zeroizing::new(private_key.to_owned()),
            certificate_serial: SERIAL.to_owned(),
            api_v3_key: Zeroizing::new(API_V3_KEY.to_owned()),
            platform_public_key_pem: self.platform.1.clone(),
            platform_serial: PLATFORM_SERIAL.to_owned(),
            api_v2_key: None,
        }
    }
}

/// The peer as a provider; killed when dropped.
struct PeerServer {
    child: Child,
    base_url: String,
    _dir: tempfile::TempDir,
}

impl PeerServer {
    fn start(given: &Value) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("given.json");
        std::fs::write(&input, given.to_string()).unwrap();
        let mut child = Command::new(python())
            .args([SCRIPT, "serve", input.to_str().unwrap()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("listening ")
            .expect("the peer's port");
        PeerServer {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }

    async fn verdicts(&self) -> Vec<Value> {
        let url = format!("{}/peer/verdicts", self.base_url);
        reqwest::get(url).await.unwrap().json().await.unwrap()
    }
}

impl Drop for PeerServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn alipay_client(peer: &PeerServer, keys: &Keys, private_key: &str) -> AlipayClient {
    let credentials = AlipayCredentials {
        app_id: "2021000000000001".to_owned(),
        private_key_pem: Zeroizing::new(private_key.to_owned()),
        alipay_public_key_pem: keys.alipay.1.clone(),
    };
    let notify = "https://gateway.example/notify/alipay/ca_1";
    AlipayClient::new(
        http(),
        &peer.base_url,
        credentials,
        notify,
        Duration::from_secs(10),
    )
    .unwrap()
}

fn wechat_client(peer: &PeerServer, credentials: WechatPayCredentials) -> WechatPayClient {
    let notify = "https://gateway.example/notify/wechat_pay/ca_2";
    WechatPayClient::new(
        http(),
        &peer.base_url,
        credentials,
        notify,
        Duration::from_secs(10),
    )
    .unwrap()
}

fn verified(verdicts: &[Value]) -> Vec<(String, bool)> {
    verdicts
        .iter()
        .map(|v| {
            let what = v["method"].as_str().unwrap().to_owned();
            let what = match v["path"].as_str() {
                Some(path) => format!("{what} {path}"),
                None => what,
            };
            (what, v["verified"].as_bool().unwrap())
        })
        .collect()
}

#[tokio::test]
#[ignore = "needs alipay-sdk-python and wechatpayv3: run tests/wallet_peers/run.sh"]
async fn the_providers_sdks_verify_our_refund_calls_and_sign_what_we_accept() {
    if !wallets::sdks_available("alipay.aop.api.util.SignatureUtils, wechatpayv3.utils") {
        return;
    }
    let keys = Keys::new();
    let peer = PeerServer::start(&keys.given());
    let (stranger, _) = generate_pem_pair().unwrap();

    let alipay = alipay_client(&peer, &keys, &keys.app.0);
    let refunded = alipay.refund("pi_peer_a", "re_peer_a", 1234).await.unwrap();
    assert_eq!((refunded.amount_fen, refunded.succeeded), (1234, true));
    let queried = alipay.refund_query("pi_peer_a", "re_peer_a").await.unwrap();
    assert_eq!(
        queried.map(|q| (q.amount_fen, q.succeeded)),
        Some((1234, true))
    );
    let forged = alipay_client(&peer, &keys, &stranger)
        .refund("pi_peer_a", "re_peer_b", 100)
        .await
        .unwrap_err();
    assert!(
        matches!(&forged, WalletCallError::Refused { code, .. } if code == "isv.invalid-signature"),
        "{forged:?}"
    );

    let wechat = wechat_client(&peer, keys.wechat_credentials(&keys.merchant.0));
    let pending = wechat
        .refund("pi_peer_w", "re_peer_w", 300, 1000)
        .await
        .unwrap();
    assert_eq!(
        (pending.amount_fen, pending.succeeded),
        (300, false),
        "PROCESSING"
    );
    let done = wechat.refund_query("re_peer_w").await.unwrap().unwrap();
    assert_eq!((done.amount_fen, done.succeeded), (300, true));
    let forged = wechat_client(&peer, keys.wechat_credentials(&stranger))
        .refund_query("re_peer_w")
        .await;
    assert!(forged.is_err(), "{forged:?}");

    let verdicts = verified(&peer.verdicts().await);
    let expected = [
        ("alipay.trade.refund", true),
        ("alipay.trade.fastpay.refund.query", true),
        ("alipay.trade.refund", false),
        ("POST /v3/refund/domestic/refunds", true),
        ("GET /v3/refund/domestic/refunds/re_peer_w", true),
        ("GET /v3/refund/domestic/refunds/re_peer_w", false),
    ];
    let expected: Vec<(String, bool)> = expected.iter().map(|(w, v)| (w.to_string(), *v)).collect();
    assert_eq!(verdicts, expected);

    // REFUND.SUCCESS as wechatpayv3 signs it and AES-GCM seals it.
    let mut given = keys.given();
    given["out_trade_no"] = json!("pi_peer_w");
    given["out_refund_no"] = json!("re_peer_w");
    given["total_fen"] = json!(1000);
    given["refund_fen"] = json!(300);
    let notice = built_notification(&given);
    let headers: SignedHeaders = SignedHeaders {
        timestamp: notice["headers"]["timestamp"].as_str().unwrap().to_owned(),
        nonce: notice["headers"]["nonce"].as_str().unwrap().to_owned(),
        signature: notice["headers"]["signature"].as_str().unwrap().to_owned(),
        serial: notice["headers"]["serial"].as_str().unwrap().to_owned(),
    };
    let body = notice["body"].as_str().unwrap();
    let now: i64 = headers.timestamp.parse().unwrap();
    let credentials = keys.wechat_credentials(&keys.merchant.0);
    let tampered = body.replace("退款成功", "退款异常");
    assert_eq!(
        wechat_notice(
            &credentials,
            &headers,
            &tampered,
            now,
            &ReplayGuard::default()
        ),
        Err(NoticeError::Forged)
    );
    let accepted = wechat_notice(&credentials, &headers, body, now, &ReplayGuard::default());
    assert_eq!(
        accepted,
        Ok(WechatNotice::Refund {
            out_refund_no: "re_peer_w".to_owned(),
            succeeded: true,
            amount_fen: 300,
        })
    );
}

fn built_notification(given: &Value) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("given.json");
    std::fs::write(&input, given.to_string()).unwrap();
    let output = Command::new(python())
        .args([SCRIPT, "notification", input.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "refund_peer.py notification: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}
