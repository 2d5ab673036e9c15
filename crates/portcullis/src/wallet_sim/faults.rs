//! Faults in the provider APIs' answers: a dropped answer is decided and
//! recorded like any other (the trade exists, the refund happened), but the
//! caller never hears of it — the connection is held open past any
//! reasonable client timeout. Chosen at start-up (`--fault drop:PERCENT`)
//! or for the next N answers (`POST /sim/faults` with `{"drop_answers": N}`).
//!
//! Refunds held PROCESSING: `POST /sim/faults` with
//! `{"refunds_processing": N, "then": "SUCCESS"|"ABNORMAL"|"CLOSED",
//! "resolve_on": "query"|"resolve"}` makes the next N refunds answer
//! WeChat Pay `PROCESSING` (Alipay `fund_change: "N"`, and a refund query
//! without `refund_status`) until a refund query, or
//! `POST /sim/refunds/{out_refund_no}/resolve`, resolves them.

use super::book::{ProcessingRefund, ResolveOn, REFUND_SUCCESS};
use super::SharedSim;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use rand::Rng;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// How long a dropped answer holds the connection (longer than any client
/// timeout the gateway uses).
pub const DROP_HOLD: Duration = Duration::from_secs(300);
/// The most answers one `/sim/faults` call may ask to drop.
pub const DROP_NEXT_MAX: u32 = 1000;

pub struct AnswerFaults {
    drop_percent: u32,
    drop_next: AtomicU32,
    /// The next refunds to hold PROCESSING, and how they end.
    processing_next: parking_lot::Mutex<(u32, Option<ProcessingRefund>)>,
}

/// How a refund held PROCESSING may end, per provider: Alipay's refund
/// query knows no failed refund, so its only end is success.
pub const REFUND_ENDS: [&str; 3] = [REFUND_SUCCESS, "ABNORMAL", "CLOSED"];

impl AnswerFaults {
    /// `drop:PERCENT` (the only answer fault; notification faults are chosen
    /// per payment on the customer page).
    pub fn parse(specs: &[String]) -> anyhow::Result<Self> {
        let mut drop_percent = 0;
        for spec in specs {
            let (kind, percent) = spec
                .split_once(':')
                .ok_or_else(|| anyhow::anyhow!("--fault is KIND:PERCENT, not {spec}"))?;
            anyhow::ensure!(kind == "drop", "--fault kind {kind} is unknown (drop)");
            let percent: u32 = percent
                .parse()
                .ok()
                .filter(|p| *p <= 100)
                .ok_or_else(|| anyhow::anyhow!("--fault percent is 0 to 100"))?;
            drop_percent = percent;
        }
        Ok(AnswerFaults {
            drop_percent,
            drop_next: AtomicU32::new(0),
            processing_next: parking_lot::Mutex::new((0, None)),
        })
    }

    /// Holds the next `count` refunds PROCESSING until `on`, then `then`.
    pub fn hold_refunds(&self, count: u32, then: &str, on: ResolveOn) -> Result<(), String> {
        if !REFUND_ENDS.contains(&then) {
            return Err(format!("then is one of {REFUND_ENDS:?}"));
        }
        let processing = ProcessingRefund {
            then: then.to_owned(),
            on,
        };
        *self.processing_next.lock() = (count.min(DROP_NEXT_MAX), Some(processing));
        Ok(())
    }

    /// How the refund being made now is held, if a fault holds it.
    pub fn next_refund(&self) -> Option<ProcessingRefund> {
        let mut next = self.processing_next.lock();
        if next.0 == 0 {
            return None;
        }
        next.0 -= 1;
        next.1.clone()
    }

    pub fn drop_next(&self, count: u32) {
        self.drop_next
            .store(count.min(DROP_NEXT_MAX), Ordering::SeqCst);
    }

    fn roll(&self) -> bool {
        let taken = self
            .drop_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        taken || (self.drop_percent > 0 && rand::rngs::OsRng.gen_range(0..100) < self.drop_percent)
    }
}

/// The middleware on the provider APIs: answers, or (when a drop fault
/// strikes) holds the connection after the request took effect.
pub async fn drop_answers(State(sim): State<SharedSim>, request: Request, next: Next) -> Response {
    let answer = next.run(request).await;
    if sim.faults.roll() {
        tracing::info!("wallet-sim: dropping an answer (fault)");
        tokio::time::sleep(DROP_HOLD).await;
    }
    answer
}
