//! Asynchronous notifications, as each provider sends them: until the
//! merchant acknowledges (Alipay: the body `success`; WeChat Pay: HTTP 200
//! or 204), on the provider's published retry schedule, divided by
//! `--notify-speedup` so tests need not wait a day. Faults are chosen per
//! payment on the customer page:
//!
//! - `duplicate`: every delivery goes out twice (each signed on its own);
//! - `replayed`: the same signed message is sent again, byte for byte;
//! - `late`: the first delivery waits `--late-ms`;
//! - `lost`: no notification at all (the merchant must query);
//! - `out_of_order` (Alipay): a stale `WAIT_BUYER_PAY` notification follows
//!   the final one;
//! - `forged`: a message changed after signing precedes the genuine ones;
//! - `stale` (WeChat Pay): a message signed 10 minutes ago precedes them;
//! - `amount_mismatch`: the genuine messages say one fen more than the order.
//!
//! Deliveries are not kept across a restart of the simulator.

use super::book::{Provider, Trade};
use super::SharedSim;
use std::collections::BTreeMap;
use std::time::Duration;

/// Alipay: 4m, 10m, 10m, 1h, 2h, 6h, 15h after the first delivery (8 in 25 h).
pub const ALIPAY_RETRY_S: &[u64] = &[0, 240, 600, 600, 3_600, 7_200, 21_600, 54_000];
/// WeChat Pay: 15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h (24h4m).
pub const WECHAT_RETRY_S: &[u64] = &[
    0, 15, 15, 30, 180, 600, 1_200, 1_800, 1_800, 1_800, 3_600, 10_800, 10_800, 10_800, 21_600,
    21_600,
];
/// How long one delivery may take before it counts as unacknowledged.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);
/// How old a `stale` message's timestamp is (beyond the 300 s window).
pub const STALE_AGE_S: i64 = 600;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifyFault {
    None,
    Duplicate,
    Replayed,
    Late,
    Lost,
    OutOfOrder,
    Forged,
    Stale,
    AmountMismatch,
}

impl NotifyFault {
    pub const NAMES: &'static [&'static str] = &[
        "none",
        "duplicate",
        "replayed",
        "late",
        "lost",
        "out_of_order",
        "forged",
        "stale",
        "amount_mismatch",
    ];

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "" | "none" => NotifyFault::None,
            "duplicate" => NotifyFault::Duplicate,
            "replayed" => NotifyFault::Replayed,
            "late" => NotifyFault::Late,
            "lost" => NotifyFault::Lost,
            "out_of_order" => NotifyFault::OutOfOrder,
            "forged" => NotifyFault::Forged,
            "stale" => NotifyFault::Stale,
            "amount_mismatch" => NotifyFault::AmountMismatch,
            _ => return None,
        })
    }

    /// Whether `provider` can show this fault at all.
    pub fn applies_to(self, provider: Provider) -> bool {
        match self {
            NotifyFault::OutOfOrder => provider == Provider::Alipay,
            NotifyFault::Stale => provider == Provider::WechatPay,
            _ => true,
        }
    }
}

/// One message as it goes on the wire.
#[derive(Clone)]
pub enum Message {
    /// A form POST.
    AlipayForm(BTreeMap<String, String>),
    /// A JSON POST with its `Wechatpay-*` headers.
    Wechat {
        headers: portcullis_wallets::wechat_pay::SignedHeaders,
        body: String,
    },
}

/// What the trade's notification says, before signing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    Paid,
    /// Alipay only: the trade was closed unpaid (declined or expired).
    Closed,
    /// WeChat Pay only: the trade's newest refund succeeded (sent to the
    /// refund's own `notify_url`).
    Refunded,
}

/// How a message is built for each delivery (signed afresh each time).
#[derive(Clone, Copy)]
pub struct Shape {
    pub event: Event,
    pub amount_delta_fen: i64,
    pub signed_at_offset_s: i64,
    pub tampered: bool,
}

impl Shape {
    fn genuine(event: Event) -> Self {
        Shape {
            event,
            amount_delta_fen: 0,
            signed_at_offset_s: 0,
            tampered: false,
        }
    }
}

pub struct Notifier {
    client: reqwest::Client,
    speedup: u64,
    late: Duration,
}

impl Notifier {
    pub fn new(speedup: u32, late_ms: u64) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(DELIVERY_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Notifier {
            client,
            speedup: u64::from(speedup.max(1)),
            late: Duration::from_millis(late_ms),
        })
    }

    fn schedule(&self, provider: Provider) -> Vec<Duration> {
        let seconds = match provider {
            Provider::Alipay => ALIPAY_RETRY_S,
            Provider::WechatPay => WECHAT_RETRY_S,
        };
        seconds
            .iter()
            .map(|s| Duration::from_millis(s * 1000 / self.speedup))
            .collect()
    }
}

/// Starts notifying about `trade` (when it has a `notify_url`).
pub fn dispatch(sim: SharedSim, trade: Trade, event: Event, fault: NotifyFault) {
    let Some(url) = trade.notify_url.clone() else {
        return;
    };
    if fault == NotifyFault::Lost {
        tracing::info!(out_trade_no = %trade.out_trade_no, "wallet-sim: notification lost (fault)");
        return;
    }
    tokio::spawn(async move {
        let mut shape = Shape::genuine(event);
        if fault == NotifyFault::AmountMismatch {
            shape.amount_delta_fen = 1;
        }
        if fault == NotifyFault::Late {
            tokio::time::sleep(sim.notifier.late).await;
        }
        let first = match fault {
            NotifyFault::Forged => Some(Shape {
                tampered: true,
                ..shape
            }),
            NotifyFault::Stale => Some(Shape {
                signed_at_offset_s: -STALE_AGE_S,
                ..shape
            }),
            _ => None,
        };
        if let Some(first) = first {
            let message = build(&sim, &trade, first);
            send(&sim, &url, &message).await;
        }
        deliver_until_acknowledged(&sim, &trade, &url, shape, fault).await;
        if fault == NotifyFault::OutOfOrder {
            let stale = Shape::genuine(Event::Closed);
            let message = super::alipay::notification(&sim, &trade, stale, Some("WAIT_BUYER_PAY"));
            send(&sim, &url, &message).await;
        }
    });
}

async fn deliver_until_acknowledged(
    sim: &SharedSim,
    trade: &Trade,
    url: &str,
    shape: Shape,
    fault: NotifyFault,
) {
    for delay in sim.notifier.schedule(trade.provider) {
        tokio::time::sleep(delay).await;
        let message = build(sim, trade, shape);
        let mut acknowledged = send(sim, url, &message).await;
        match fault {
            NotifyFault::Duplicate => {
                let again = build(sim, trade, shape);
                acknowledged |= send(sim, url, &again).await;
            }
            NotifyFault::Replayed => acknowledged |= send(sim, url, &message).await,
            _ => {}
        }
        record(sim, trade, acknowledged);
        if acknowledged {
            return;
        }
    }
    tracing::warn!(out_trade_no = %trade.out_trade_no, "wallet-sim: notification never acknowledged");
}

fn build(sim: &SharedSim, trade: &Trade, shape: Shape) -> Message {
    match trade.provider {
        Provider::Alipay => super::alipay::notification(sim, trade, shape, None),
        Provider::WechatPay => super::wechat::notification(sim, trade, shape),
    }
}

fn record(sim: &SharedSim, trade: &Trade, acknowledged: bool) {
    let mut book = sim.book.lock();
    let Some(mut current) = book.get(trade.provider, &trade.out_trade_no).cloned() else {
        return;
    };
    current.notifications_sent = current.notifications_sent.saturating_add(1);
    if acknowledged {
        current.notifications_acknowledged = current.notifications_acknowledged.saturating_add(1);
    }
    if let Err(error) = book.put(current) {
        tracing::error!(%error, "wallet-sim: could not record a notification");
    }
}

/// One delivery; true when the merchant acknowledged it as the provider
/// requires.
async fn send(sim: &SharedSim, url: &str, message: &Message) -> bool {
    let client = &sim.notifier.client;
    match message {
        Message::AlipayForm(params) => {
            let body = portcullis_wallets::alipay_methods::encoded(params);
            let answer = client
                .post(url)
                .header(
                    "content-type",
                    "application/x-www-form-urlencoded; charset=utf-8",
                )
                .body(body)
                .send()
                .await;
            match answer {
                Ok(answer) if answer.status().as_u16() == 200 => answer
                    .text()
                    .await
                    .is_ok_and(|text| text.trim() == portcullis_wallets::alipay::NOTIFY_ACK),
                _ => false,
            }
        }
        Message::Wechat { headers, body } => {
            let answer = client
                .post(url)
                .header("content-type", "application/json")
                .header("Wechatpay-Timestamp", &headers.timestamp)
                .header("Wechatpay-Nonce", &headers.nonce)
                .header("Wechatpay-Signature", &headers.signature)
                .header("Wechatpay-Serial", &headers.serial)
                .header("Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048")
                .body(body.clone())
                .send()
                .await;
            matches!(answer, Ok(a) if matches!(a.status().as_u16(), 200 | 204))
        }
    }
}
