//! The benchmark's payments: create-and-confirm card payments, 90 %
//! succeeding, 5 % declined, 5 % authorized for manual capture and then
//! captured; 10 % carry an idempotency key and are then sent again, which
//! must replay the stored answer. Every body is JSON of about the same
//! size, and the baseline echoes a body of exactly the succeeding size.

use super::client::{Call, Connection};
use bytes::Bytes;
use rand::Rng;

pub const INTENTS_PATH: &str = "/v1/payment_intents";
pub const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";
/// Percent of payments declined, and of payments captured manually.
const DECLINED_PERCENT: u32 = 5;
const MANUAL_PERCENT: u32 = 5;
/// Percent of payments sent with an idempotency key and then replayed.
const REPLAYED_PERCENT: u32 = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Succeeds,
    Declined,
    ManualCapture,
}

impl Kind {
    fn pick(roll: u32) -> Self {
        match roll {
            r if r < DECLINED_PERCENT => Kind::Declined,
            r if r < DECLINED_PERCENT + MANUAL_PERCENT => Kind::ManualCapture,
            _ => Kind::Succeeds,
        }
    }

    fn expected_status(self) -> u16 {
        match self {
            Kind::Declined => 402,
            Kind::Succeeds | Kind::ManualCapture => 200,
        }
    }
}

/// The create-and-confirm body of one payment.
pub fn payment_body(kind: Kind, order: u64) -> Bytes {
    let (method, capture) = match kind {
        Kind::Succeeds => ("pm_card_visa", "automatic"),
        Kind::Declined => ("pm_card_visa_chargeDeclined", "automatic"),
        Kind::ManualCapture => ("pm_card_visa", "manual"),
    };
    Bytes::from(format!(
        r#"{{"amount":{},"currency":"usd","payment_method":"{method}","confirm":true,"capture_method":"{capture}","description":"Order {order:012} from the benchmark","metadata":{{"order_id":"ord_{order:012}","channel":"bench"}}}}"#,
        1_000 + order % 9_000
    ))
}

/// What one payment cost and how it went.
pub struct PaymentResult {
    /// Latency of the create-and-confirm request, in microseconds.
    pub create_latency_us: u64,
    /// The create answered as expected (200, or 402 for a decline).
    pub create_ok: bool,
    /// Further requests (replay, capture) and how many went wrong.
    pub follow_ups: u32,
    pub follow_up_errors: u32,
}

/// Runs one payment of the mix on `connection`.
pub async fn run_payment(connection: &mut Connection, order: u64) -> PaymentResult {
    let (kind, replayed) = {
        let mut rng = rand::thread_rng();
        (
            Kind::pick(rng.gen_range(0..100)),
            rng.gen_range(0..100) < REPLAYED_PERCENT,
        )
    };
    let key = replayed.then(|| format!("bench-{order}-{:016x}", rand::random::<u64>()));
    let call = Call {
        path: INTENTS_PATH,
        body: payment_body(kind, order),
        content_type: JSON,
        idempotency_key: key.as_deref(),
    };
    let started = std::time::Instant::now();
    let answer = connection.send(&call).await;
    let create_latency_us = started.elapsed().as_micros() as u64;
    let mut result = PaymentResult {
        create_latency_us,
        create_ok: false,
        follow_ups: 0,
        follow_up_errors: 0,
    };
    let Ok(answer) = answer else {
        return result;
    };
    result.create_ok = answer.status == kind.expected_status();
    if !result.create_ok {
        return result;
    }
    if key.is_some() {
        result.follow_ups += 1;
        let replay = connection.send(&call).await;
        let same =
            replay.is_ok_and(|r| r.replayed && r.status == answer.status && r.body == answer.body);
        result.follow_up_errors += u32::from(!same);
    }
    if kind == Kind::ManualCapture {
        result.follow_ups += 1;
        result.follow_up_errors += u32::from(!capture(connection, &answer.body).await);
    }
    result
}

async fn capture(connection: &mut Connection, created: &[u8]) -> bool {
    let Some(id) = serde_json::from_slice::<serde_json::Value>(created)
        .ok()
        .and_then(|v| v["id"].as_str().map(str::to_owned))
    else {
        return false;
    };
    let path = format!("{INTENTS_PATH}/{id}/capture");
    let call = Call {
        path: &path,
        body: Bytes::new(),
        content_type: FORM,
        idempotency_key: None,
    };
    connection
        .send(&call)
        .await
        .is_ok_and(|answer| answer.status == 200)
}
