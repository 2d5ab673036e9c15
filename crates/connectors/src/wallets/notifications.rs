//! Reading the providers' asynchronous notifications: what a `/notify/…`
//! receiver must establish before it may change an intent. The signature
//! is checked with the account's provider key (Alipay: every parameter but
//! `sign`/`sign_type`; WeChat Pay: `Wechatpay-*` headers within the 300 s
//! window, then the AEAD_AES_256_GCM resource decrypted with the API v3
//! key), the message must name the account (`app_id`, `mchid`/`appid`), and
//! the amount comes back in fen. Whether the amount, currency and intent
//! match is the receiver's decision; so is idempotency across instances.
//! [`ReplayGuard`] refuses a WeChat message whose nonce was already seen
//! within the window in this process.

use super::alipay::AlipayCredentials;
use super::wechat_pay::WechatPayCredentials;
use super::{TradeState, TradeStatus};
use portcullis_wallets::keys::public_key_from_pem;
use portcullis_wallets::{alipay, wechat_pay};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// Why a notification was refused (logged by the receiver; the provider
/// then retries).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoticeError {
    #[error("the signature does not verify")]
    Forged,
    #[error("the message is outside the timestamp window")]
    Stale,
    #[error("the message was already received (nonce {0})")]
    Replayed(String),
    #[error("the message is for another account")]
    OtherAccount,
    #[error("the message is malformed: {0}")]
    Malformed(String),
}

/// A verified notification about a payment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentNotice {
    /// Our id (`out_trade_no`).
    pub out_trade_no: String,
    pub status: TradeStatus,
    /// ISO currency as the provider states it (`CNY`).
    pub currency: String,
    /// Alipay's `notify_id` (the same for every delivery of one
    /// notification); `None` for WeChat Pay, whose nonce [`ReplayGuard`]
    /// checks.
    pub notify_id: Option<String>,
}

/// Verifies an Alipay notification (the form body as received).
pub fn alipay_notice(
    credentials: &AlipayCredentials,
    form_body: &str,
) -> Result<PaymentNotice, NoticeError> {
    let params: BTreeMap<String, String> = form_urlencoded::parse(form_body.as_bytes())
        .into_owned()
        .collect();
    let key =
        public_key_from_pem(&credentials.alipay_public_key_pem).map_err(|_| NoticeError::Forged)?;
    alipay::verify_notification(&key, &params).map_err(|_| NoticeError::Forged)?;
    if params.get("app_id") != Some(&credentials.app_id) {
        return Err(NoticeError::OtherAccount);
    }
    let field = |name: &str| {
        params
            .get(name)
            .cloned()
            .ok_or_else(|| NoticeError::Malformed(format!("no {name}")))
    };
    let state = match field("trade_status")?.as_str() {
        "WAIT_BUYER_PAY" => TradeState::Waiting,
        "TRADE_SUCCESS" | "TRADE_FINISHED" => TradeState::Paid,
        "TRADE_CLOSED" => TradeState::Closed,
        other => return Err(NoticeError::Malformed(format!("trade_status {other}"))),
    };
    let amount = portcullis_wallets::amount::fen_of_yuan(&field("total_amount")?)
        .map_err(|_| NoticeError::Malformed("total_amount".into()))?;
    Ok(PaymentNotice {
        out_trade_no: field("out_trade_no")?,
        status: TradeStatus {
            state,
            provider_trade_id: params.get("trade_no").cloned(),
            amount_fen: Some(amount),
            payer: super::alipay::buyer(|name| params.get(name).map(String::as_str)),
        },
        currency: "CNY".to_owned(),
        notify_id: params.get("notify_id").cloned(),
    })
}

/// What a WeChat Pay notification was about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WechatNotice {
    Payment(PaymentNotice),
    /// `REFUND.*`: our refund id and whether it succeeded.
    Refund {
        out_refund_no: String,
        succeeded: bool,
        amount_fen: i64,
    },
}

/// Verifies and decrypts a WeChat Pay notification; `headers` are the
/// `Wechatpay-*` ones, `now_s` the receiver's clock.
pub fn wechat_notice(
    credentials: &WechatPayCredentials,
    headers: &wechat_pay::SignedHeaders,
    body: &str,
    now_s: i64,
    replays: &ReplayGuard,
) -> Result<WechatNotice, NoticeError> {
    let key = public_key_from_pem(&credentials.platform_public_key_pem)
        .map_err(|_| NoticeError::Forged)?;
    match wechat_pay::verify_signed_message(
        &key,
        &credentials.platform_serial,
        headers,
        body,
        now_s,
    ) {
        Ok(()) => {}
        Err(portcullis_wallets::WalletError::Malformed(m)) if m.contains("window") => {
            return Err(NoticeError::Stale)
        }
        Err(_) => return Err(NoticeError::Forged),
    }
    replays.check(&headers.nonce, now_s)?;
    let envelope: Value =
        serde_json::from_str(body).map_err(|_| NoticeError::Malformed("not JSON".into()))?;
    let resource: wechat_pay::EncryptedResource =
        serde_json::from_value(envelope["resource"].clone())
            .map_err(|_| NoticeError::Malformed("resource".into()))?;
    let plain = wechat_pay::decrypt_resource(&credentials.api_v3_key, &resource)
        .map_err(|_| NoticeError::Forged)?;
    let content: Value =
        serde_json::from_str(&plain).map_err(|_| NoticeError::Malformed("resource JSON".into()))?;
    if content.get("mchid").and_then(Value::as_str) != Some(credentials.mchid.as_str()) {
        return Err(NoticeError::OtherAccount);
    }
    let text = |name: &str| content.get(name).and_then(Value::as_str).map(str::to_owned);
    let event_type = envelope
        .get("event_type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if event_type.starts_with("REFUND.") {
        return Ok(WechatNotice::Refund {
            out_refund_no: text("out_refund_no")
                .ok_or_else(|| NoticeError::Malformed("out_refund_no".into()))?,
            succeeded: text("refund_status").as_deref() == Some("SUCCESS"),
            amount_fen: content
                .pointer("/amount/refund")
                .and_then(Value::as_i64)
                .ok_or_else(|| NoticeError::Malformed("amount.refund".into()))?,
        });
    }
    if content.get("appid").and_then(Value::as_str) != Some(credentials.appid.as_str()) {
        return Err(NoticeError::OtherAccount);
    }
    let status = super::wechat_pay::transaction_status(&content)
        .map_err(|e| NoticeError::Malformed(e.to_string()))?;
    Ok(WechatNotice::Payment(PaymentNotice {
        out_trade_no: text("out_trade_no")
            .ok_or_else(|| NoticeError::Malformed("out_trade_no".into()))?,
        status,
        currency: content
            .pointer("/amount/currency")
            .and_then(Value::as_str)
            .unwrap_or("CNY")
            .to_owned(),
        notify_id: None,
    }))
}

/// Most nonces remembered (the oldest are forgotten first once the window passed).
pub const REPLAY_NONCES_MAX: usize = 100_000;

/// The nonces of WeChat Pay messages seen within the timestamp window, in
/// this process: a byte-for-byte replay is refused even before the
/// receiver's idempotency (which spans instances) is asked.
#[derive(Default)]
pub struct ReplayGuard {
    seen: Mutex<HashMap<String, i64>>,
}

impl ReplayGuard {
    fn check(&self, nonce: &str, now_s: i64) -> Result<(), NoticeError> {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if seen.len() >= REPLAY_NONCES_MAX {
            seen.retain(|_, at| now_s - *at <= wechat_pay::TIMESTAMP_WINDOW_S);
        }
        if seen.len() >= REPLAY_NONCES_MAX {
            return Err(NoticeError::Malformed(
                "too many messages in the window".into(),
            ));
        }
        match seen.insert(nonce.to_owned(), now_s) {
            Some(at) if now_s - at <= wechat_pay::TIMESTAMP_WINDOW_S => {
                Err(NoticeError::Replayed(nonce.to_owned()))
            }
            _ => Ok(()),
        }
    }
}

/// How long an Alipay `notify_id` is remembered: Alipay retries one
/// notification for about 25 hours (4 m, 10 m, 10 m, 1 h, 2 h, 6 h, 15 h).
pub const NOTIFY_ID_TTL_S: i64 = 25 * 60 * 60;
/// Most `notify_id`s remembered (expired ones are forgotten first, then
/// the oldest).
pub const NOTIFY_IDS_MAX: usize = 100_000;

/// The Alipay `notify_id`s of notifications already taken in this
/// process: a delivery of one again is acknowledged without effect. Only
/// a notification that was taken is remembered, so one we failed to apply
/// is applied when Alipay sends it again.
#[derive(Default)]
pub struct NotifyIdCache {
    taken: Mutex<HashMap<String, i64>>,
}

impl NotifyIdCache {
    /// Whether `notify_id` was taken within [`NOTIFY_ID_TTL_S`] of `now_s`.
    pub fn seen(&self, notify_id: &str, now_s: i64) -> bool {
        let taken = self
            .taken
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        taken
            .get(notify_id)
            .is_some_and(|at| now_s - *at <= NOTIFY_ID_TTL_S)
    }

    /// Remembers that `notify_id` was taken at `now_s`.
    pub fn remember(&self, notify_id: &str, now_s: i64) {
        let mut taken = self
            .taken
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if taken.len() >= NOTIFY_IDS_MAX {
            taken.retain(|_, at| now_s - *at <= NOTIFY_ID_TTL_S);
        }
        if taken.len() >= NOTIFY_IDS_MAX {
            let oldest = taken
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(id, _)| id.clone());
            if let Some(oldest) = oldest {
                taken.remove(&oldest);
            }
        }
        taken.insert(notify_id.to_owned(), now_s);
    }
}

#[cfg(test)]
mod notify_id_tests {
    use super::*;

    #[test]
    fn a_taken_notify_id_is_seen_until_alipay_stops_retrying() {
        let cache = NotifyIdCache::default();
        assert!(!cache.seen("n1", 100));
        cache.remember("n1", 100);
        assert!(cache.seen("n1", 100 + NOTIFY_ID_TTL_S));
        assert!(!cache.seen("n1", 101 + NOTIFY_ID_TTL_S));
        assert!(!cache.seen("n2", 100));
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = NotifyIdCache::default();
        for n in 0..=NOTIFY_IDS_MAX as i64 {
            cache.remember(&n.to_string(), n);
        }
        assert!(cache.taken.lock().unwrap().len() <= NOTIFY_IDS_MAX);
        assert!(
            !cache.seen("0", NOTIFY_IDS_MAX as i64),
            "the oldest went first"
        );
        assert!(cache.seen(&NOTIFY_IDS_MAX.to_string(), NOTIFY_IDS_MAX as i64));
    }
}

#[cfg(test)]
mod bound_tests {
    use super::{NoticeError, ReplayGuard, REPLAY_NONCES_MAX};
    use portcullis_wallets::wechat_pay::TIMESTAMP_WINDOW_S;

    #[test]
    fn remembered_nonces_never_exceed_their_bound() {
        let guard = ReplayGuard::default();
        let now = 1_700_000_000;
        for n in 0..REPLAY_NONCES_MAX {
            guard
                .check(&format!("nonce-{n}"), now)
                .expect("a new nonce");
        }
        // Full of nonces still inside the window: a new one is refused,
        // not remembered.
        assert!(matches!(
            guard.check("one-more", now),
            Err(NoticeError::Malformed(_))
        ));
        assert_eq!(guard.seen.lock().unwrap().len(), REPLAY_NONCES_MAX);
        // Once the window has passed, the old ones make room.
        let later = now + TIMESTAMP_WINDOW_S + 1;
        guard.check("one-more", later).expect("room again");
        assert_eq!(guard.seen.lock().unwrap().len(), 1);
    }
}
