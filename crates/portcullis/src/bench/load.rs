//! Running one phase of the benchmark: `connections` workers, each on its
//! own keep-alive connection, sending back to back until the phase's
//! deadline, each recording latencies in its own HDR histogram (merged at
//! the end, so workers never contend on one).

use super::client::{Call, Connection};
use super::workload::{self, JSON};
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Highest latency the histograms hold, in microseconds (60 s).
const LATENCY_US_MAX: u64 = 60_000_000;
/// Most requests one worker sends in one phase, whatever the deadline.
const REQUESTS_PER_WORKER_MAX: u64 = 50_000_000;
/// Pause after a transport error, so a dead target is not spun on.
const ERROR_PAUSE_MS: u64 = 10;

/// What a phase sends.
#[derive(Clone)]
pub enum Target {
    /// The payment mix of [`workload`].
    Payments,
    /// The baseline: `body` to the echo endpoint.
    Echo { path: String, body: bytes::Bytes },
}

/// Where and as whom.
#[derive(Clone)]
pub struct Phase {
    pub base_url: String,
    pub secret_key: String,
    pub connections: usize,
    pub duration: Duration,
    pub target: Target,
}

/// What a phase measured.
pub struct Measured {
    /// Requests answered as expected (payments: create-and-confirm requests).
    pub ok: u64,
    /// Unexpected answers and transport errors, follow-ups included.
    pub errors: u64,
    /// Replays and captures sent besides the payments.
    pub follow_ups: u64,
    pub elapsed_s: f64,
    /// Latency of each counted request, in microseconds.
    pub latency_us: Histogram<u64>,
}

impl Measured {
    pub fn per_s(&self) -> f64 {
        self.ok as f64 / self.elapsed_s.max(f64::EPSILON)
    }

    pub fn quantile_ms(&self, quantile: f64) -> f64 {
        self.latency_us.value_at_quantile(quantile) as f64 / 1000.0
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_US_MAX, 3).expect("valid histogram bounds")
}

pub async fn run(phase: &Phase, orders: Arc<AtomicU64>) -> Measured {
    let started = Instant::now();
    let deadline = started + phase.duration;
    let workers: Vec<_> = (0..phase.connections)
        .map(|_| {
            let phase = phase.clone();
            let orders = orders.clone();
            tokio::spawn(async move { work(&phase, deadline, &orders).await })
        })
        .collect();
    let mut total = Measured {
        ok: 0,
        errors: 0,
        follow_ups: 0,
        elapsed_s: 0.0,
        latency_us: histogram(),
    };
    for worker in workers {
        if let Ok(done) = worker.await {
            total.ok += done.ok;
            total.errors += done.errors;
            total.follow_ups += done.follow_ups;
            let _ = total.latency_us.add(&done.latency_us);
        } else {
            total.errors += 1;
        }
    }
    total.elapsed_s = started.elapsed().as_secs_f64();
    total
}

async fn work(phase: &Phase, deadline: Instant, orders: &AtomicU64) -> Measured {
    let mut connection = Connection::new(&phase.base_url, &phase.secret_key);
    let mut done = Measured {
        ok: 0,
        errors: 0,
        follow_ups: 0,
        elapsed_s: 0.0,
        latency_us: histogram(),
    };
    for _ in 0..REQUESTS_PER_WORKER_MAX {
        if Instant::now() >= deadline {
            break;
        }
        let (latency_us, ok) = match &phase.target {
            Target::Payments => {
                let order = orders.fetch_add(1, Ordering::Relaxed);
                let result = workload::run_payment(&mut connection, order).await;
                done.follow_ups += u64::from(result.follow_ups);
                done.errors += u64::from(result.follow_up_errors);
                (result.create_latency_us, result.create_ok)
            }
            Target::Echo { path, body } => echo(&mut connection, path, body).await,
        };
        if ok {
            done.ok += 1;
            let _ = done.latency_us.record(latency_us.clamp(1, LATENCY_US_MAX));
        } else {
            done.errors += 1;
            tokio::time::sleep(Duration::from_millis(ERROR_PAUSE_MS)).await;
        }
    }
    done
}

async fn echo(connection: &mut Connection, path: &str, body: &bytes::Bytes) -> (u64, bool) {
    let call = Call {
        path,
        body: body.clone(),
        content_type: JSON,
        idempotency_key: None,
    };
    let started = Instant::now();
    let answer = connection.send(&call).await;
    let latency_us = started.elapsed().as_micros() as u64;
    (latency_us, answer.is_ok_and(|a| a.status == 200))
}
