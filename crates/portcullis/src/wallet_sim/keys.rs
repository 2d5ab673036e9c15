//! The simulator's identities: for each provider, the provider's own key
//! pair (it signs answers and notifications with it) and the merchant's key
//! pair (it verifies our requests with the public half), the identifiers,
//! and WeChat Pay's symmetric API v3 and v2 keys. They are drawn once and
//! kept in `--data-dir` (0600), so a restarted simulator keeps working with
//! the connector accounts made from its first run; without `--data-dir`
//! they live as long as the process.
//!
//! The private halves that belong to the *merchant* are printed (as the
//! connector account's credentials): that is the point of the simulator,
//! which plays the merchant's console where the real providers let the
//! merchant upload a public key.

use anyhow::Context;
use portcullis_wallets::keys::generate_pem_pair;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::Path;

pub const KEYS_FILE: &str = "keys.json";

#[derive(Clone, Serialize, Deserialize)]
pub struct AlipayKeys {
    pub app_id: String,
    pub merchant_private_key: String,
    pub merchant_public_key: String,
    pub alipay_private_key: String,
    pub alipay_public_key: String,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct WechatKeys {
    pub mchid: String,
    pub appid: String,
    pub merchant_private_key: String,
    pub merchant_public_key: String,
    pub certificate_serial: String,
    pub platform_private_key: String,
    pub platform_public_key: String,
    pub platform_serial: String,
    pub api_v3_key: String,
    pub api_v2_key: String,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct SimKeys {
    pub alipay: AlipayKeys,
    pub wechat: WechatKeys,
}

fn digits(count: usize) -> String {
    let mut rng = rand::rngs::OsRng;
    (0..count)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect()
}

fn alphanumeric(count: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut rng = rand::rngs::OsRng;
    (0..count)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

fn serial() -> String {
    let mut bytes = [0u8; 20];
    rand::rngs::OsRng.fill(&mut bytes);
    hex::encode_upper(bytes)
}

impl SimKeys {
    /// Fresh identities: four RSA-2048 key pairs and random identifiers.
    pub fn generate() -> anyhow::Result<Self> {
        let pair = || generate_pem_pair().context("generating an RSA key pair");
        let (alipay_merchant_private, alipay_merchant_public) = pair()?;
        let (alipay_private, alipay_public) = pair()?;
        let (wechat_merchant_private, wechat_merchant_public) = pair()?;
        let (platform_private, platform_public) = pair()?;
        Ok(SimKeys {
            alipay: AlipayKeys {
                app_id: format!("2021{}", digits(12)),
                merchant_private_key: alipay_merchant_private,
                merchant_public_key: alipay_merchant_public,
                alipay_private_key: alipay_private,
                alipay_public_key: alipay_public,
            },
            wechat: WechatKeys {
                mchid: format!("19{}", digits(8)),
                appid: format!("wx{}", hex::encode(rand::random::<[u8; 8]>())),
                merchant_private_key: wechat_merchant_private,
                merchant_public_key: wechat_merchant_public,
                certificate_serial: serial(),
                platform_private_key: platform_private,
                platform_public_key: platform_public,
                platform_serial: serial(),
                api_v3_key: alphanumeric(32),
                api_v2_key: alphanumeric(32),
            },
        })
    }

    /// The keys kept in `dir`, or fresh ones written there (0600).
    pub fn load_or_generate(dir: Option<&Path>) -> anyhow::Result<Self> {
        let Some(dir) = dir else {
            return Self::generate();
        };
        let path = dir.join(KEYS_FILE);
        if path.exists() {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            return serde_json::from_str(&text)
                .with_context(|| format!("{} is not the simulator's keys", path.display()));
        }
        let keys = Self::generate()?;
        super::book::write_private_file(&path, &serde_json::to_vec_pretty(&keys)?)?;
        Ok(keys)
    }

    /// The `POST /v1/connector_accounts` parameters for each provider, as
    /// the simulator at `endpoint` expects them.
    pub fn connector_accounts(&self, endpoint: &str) -> Value {
        let alipay = &self.alipay;
        let wechat = &self.wechat;
        json!({
            "alipay": {
                "type": "alipay",
                "endpoint": endpoint,
                "credentials": {
                    "app_id": alipay.app_id,
                    "private_key": alipay.merchant_private_key,
                    "alipay_public_key": alipay.alipay_public_key,
                },
            },
            "wechat_pay": {
                "type": "wechat_pay",
                "endpoint": endpoint,
                "credentials": {
                    "mchid": wechat.mchid,
                    "appid": wechat.appid,
                    "private_key": wechat.merchant_private_key,
                    "certificate_serial": wechat.certificate_serial,
                    "api_v3_key": wechat.api_v3_key,
                    "platform_public_key": wechat.platform_public_key,
                    "platform_serial": wechat.platform_serial,
                    "api_v2_key": wechat.api_v2_key,
                },
            },
        })
    }
}
