//! `portcullis wallet-sim`: Alipay and WeChat Pay as one local process,
//! speaking their published wire protocols so that the gateway's wallet
//! connectors cannot tell it from the provider's sandbox:
//!
//! - Alipay OpenAPI at `/gateway.do` (RSA2): page, wap and app pay open the
//!   customer page; precreate, pay (`bar_code`), query, close, cancel,
//!   refund and refund query answer signed JSON ([`alipay`]).
//! - WeChat Pay API v3 at `/v3/…` (native, h5, app, jsapi orders, query,
//!   close, domestic refunds and their query), answers signed in the
//!   `Wechatpay-*` headers ([`wechat`]); API v2 payment codes at
//!   `/pay/micropay`, `/pay/orderquery`, `/secapi/pay/reverse` ([`micropay`]).
//! - `/c/{token}`: the page that plays the customer (scan, pay, decline),
//!   with the notification faults to inject ([`customer`]).
//! - Asynchronous notifications on each provider's retry schedule
//!   ([`notify`]).
//! - `/sim/trades` (the simulator's truth, JSON) and `/sim/faults` (drop
//!   the next N answers, hold the next N refunds PROCESSING) for tests and
//!   the soak; `/sim/refunds/{out_refund_no}/resolve` ends a held refund
//!   ([`refunds`]).
//!
//! Our requests are verified with the merchant keys the simulator drew
//! ([`keys`]) and printed at start-up as connector-account credentials.
//! The simulator shares no state with the gateway.

mod alipay;
mod book;
mod customer;
mod expiry;
mod faults;
mod keys;
mod micropay;
mod notify;
mod refunds;
mod wechat;

use crate::cli::WalletSimArgs;
use anyhow::Context;
use axum::Router;
use book::Book;
use parking_lot::Mutex;
use rand::Rng;
use std::path::PathBuf;
use std::sync::Arc;

/// Everything a handler needs; no state is shared with the gateway.
pub struct Sim {
    pub keys: keys::SimKeys,
    pub book: Mutex<Book>,
    /// `http://ADDR`, as the QR data and H5 URLs carry it.
    pub base_url: String,
    pub notifier: notify::Notifier,
    pub faults: faults::AnswerFaults,
}

type SharedSim = Arc<Sim>;

pub async fn run(args: &WalletSimArgs, data_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let dir = match data_dir {
        Some(dir) => {
            let dir = dir.join("wallet-sim");
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            Some(dir)
        }
        None => None,
    };
    anyhow::ensure!(args.notify_speedup >= 1, "--notify-speedup is at least 1");
    let keys = keys::SimKeys::load_or_generate(dir.as_deref())?;
    let book = Book::open(dir.as_deref())?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let address = listener.local_addr()?;
    let base_url = format!("http://{address}");
    let sim = Arc::new(Sim {
        keys,
        book: Mutex::new(book),
        base_url: base_url.clone(),
        notifier: notify::Notifier::new(args.notify_speedup, args.late_ms)?,
        faults: faults::AnswerFaults::parse(&args.faults)?,
    });
    tokio::spawn(expiry::sweep(sim.clone()));
    println!("wallet-sim listening on {base_url}");
    let accounts = sim.keys.connector_accounts(&base_url);
    println!("alipay connector account: {}", accounts["alipay"]);
    println!("wechat_pay connector account: {}", accounts["wechat_pay"]);
    axum::serve(listener, routes(sim))
        .with_graceful_shutdown(crate::serve::wait_for_signal())
        .await
        .context("serving the wallet simulator")
}

fn routes(sim: SharedSim) -> Router {
    let provider_apis = alipay::routes()
        .merge(wechat::routes())
        .merge(micropay::routes())
        .layer(axum::middleware::from_fn_with_state(
            sim.clone(),
            faults::drop_answers,
        ));
    provider_apis.merge(customer::routes()).with_state(sim)
}

pub fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A provider-style id: `prefix` then `count` random digits.
pub fn numbered(prefix: &str, count: usize) -> String {
    let mut rng = rand::rngs::OsRng;
    let digits: String = (0..count)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect();
    format!("{prefix}{digits}")
}

/// A customer-page token (unguessable).
pub fn token() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}
