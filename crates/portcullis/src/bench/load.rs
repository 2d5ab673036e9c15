//! Running one phase of the benchmark: `connections` workers, each on its
//! own keep-alive connection (worker `i` to gateway `i mod instances`),
//! each recording latencies in its own HDR histogram (merged at the end,
//! so workers never contend on one).
//!
//! Closed loop (no `rate`): each worker sends back to back until the
//! deadline. Open loop (`rate`): requests are due on a fixed schedule,
//! `rate` per second spread evenly over the workers, whatever the server
//! does; a worker sends each as soon as it is due (released by the
//! [`pacer`]'s thread) and its connection free, and the open-loop latency
//! runs from the *due* time to the payment's answer, so the time a request
//! waited behind a slow one counts (no coordinated omission).

use super::client::{Call, Connection};
use super::pacer::{self, Pacer};
use super::workload::{self, JSON};
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

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
    /// Reads: `GET` each path in turn (a worker starts at its own offset).
    Reads { paths: Arc<Vec<String>> },
}

/// Where and as whom.
#[derive(Clone)]
pub struct Phase {
    /// One base URL per gateway instance; workers are spread over them.
    pub base_urls: Vec<String>,
    pub secret_key: String,
    pub connections: usize,
    pub duration: Duration,
    pub target: Target,
    /// Requests per second on a fixed schedule (open loop); `None`: closed loop.
    pub rate: Option<f64>,
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
    /// Latency of each counted request from its send, in microseconds.
    pub latency_us: Histogram<u64>,
    /// Open loop only: latency of each counted request from the time it
    /// was due, in microseconds.
    pub open_loop_us: Option<Histogram<u64>>,
}

impl Measured {
    fn empty(open_loop: bool) -> Self {
        Self {
            ok: 0,
            errors: 0,
            follow_ups: 0,
            elapsed_s: 0.0,
            latency_us: histogram(),
            open_loop_us: open_loop.then(histogram),
        }
    }

    pub fn per_s(&self) -> f64 {
        self.ok as f64 / self.elapsed_s.max(f64::EPSILON)
    }

    pub fn quantile_ms(&self, quantile: f64) -> f64 {
        self.latency_us.value_at_quantile(quantile) as f64 / 1000.0
    }

    /// The open-loop latency at `quantile`, in ms (open-loop phases only).
    pub fn open_loop_quantile_ms(&self, quantile: f64) -> Option<f64> {
        let histogram = self.open_loop_us.as_ref()?;
        Some(histogram.value_at_quantile(quantile) as f64 / 1000.0)
    }

    fn add(&mut self, other: &Measured) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.follow_ups += other.follow_ups;
        let _ = self.latency_us.add(&other.latency_us);
        if let (Some(total), Some(part)) = (&mut self.open_loop_us, &other.open_loop_us) {
            let _ = total.add(part);
        }
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_US_MAX, 3).expect("valid histogram bounds")
}

/// When worker `worker` of `workers` sends its requests: every
/// `interval`, starting `offset` after the phase starts.
#[derive(Clone, Copy)]
pub(super) struct Schedule {
    offset: Duration,
    interval: Duration,
}

impl Schedule {
    /// `rate` requests per second in all, spread evenly over the workers.
    pub(super) fn of(rate: f64, worker: usize, workers: usize) -> Self {
        let interval = Duration::from_secs_f64(workers as f64 / rate);
        Self {
            offset: interval.mul_f64(worker as f64 / workers as f64),
            interval,
        }
    }

    pub(super) fn due(&self, started: Instant, index: u64) -> Instant {
        started + self.offset + self.interval.mul_f64(index as f64)
    }
}

pub async fn run(phase: &Phase, orders: Arc<AtomicU64>) -> Measured {
    let started = Instant::now();
    let deadline = started + phase.duration;
    let schedules: Option<Vec<Schedule>> = phase.rate.map(|rate| {
        (0..phase.connections)
            .map(|worker| Schedule::of(rate, worker, phase.connections))
            .collect()
    });
    let pacer = schedules
        .clone()
        .map(|schedules| Pacer::start(schedules, started, deadline));
    let workers: Vec<_> = (0..phase.connections)
        .map(|worker| {
            let phase = phase.clone();
            let orders = orders.clone();
            let base_url = phase.base_urls[worker % phase.base_urls.len()].clone();
            let schedule = schedules.as_ref().map(|schedules| schedules[worker]);
            let permits = pacer.as_ref().map(|pacer| pacer.permits(worker));
            tokio::spawn(async move {
                let mut connection = Connection::new(&base_url, &phase.secret_key);
                let clock = Clock {
                    started,
                    deadline,
                    schedule,
                    permits,
                };
                work(&phase.target, &mut connection, clock, &orders).await
            })
        })
        .collect();
    let mut total = Measured::empty(phase.rate.is_some());
    for worker in workers {
        match worker.await {
            Ok(done) => total.add(&done),
            Err(_) => total.errors += 1,
        }
    }
    total.elapsed_s = started.elapsed().as_secs_f64();
    total
}

/// A worker's time: the phase's start and end, and (open loop) its
/// schedule and the permits the pacer releases on it.
struct Clock {
    started: Instant,
    deadline: Instant,
    schedule: Option<Schedule>,
    permits: Option<Arc<Semaphore>>,
}

async fn work(
    target: &Target,
    connection: &mut Connection,
    clock: Clock,
    orders: &AtomicU64,
) -> Measured {
    let mut done = Measured::empty(clock.schedule.is_some());
    for index in 0..REQUESTS_PER_WORKER_MAX {
        let due = clock.schedule.map(|s| s.due(clock.started, index));
        if due.unwrap_or_else(Instant::now) >= clock.deadline || Instant::now() >= clock.deadline {
            break;
        }
        if let Some(permits) = &clock.permits {
            pacer::wait_until_due(permits).await;
        }
        let sent_at = Instant::now();
        let (latency_us, ok) = match target {
            Target::Payments => {
                let order = orders.fetch_add(1, Ordering::Relaxed);
                let result = workload::run_payment(connection, order).await;
                done.follow_ups += u64::from(result.follow_ups);
                done.errors += u64::from(result.follow_up_errors);
                (result.create_latency_us, result.create_ok)
            }
            Target::Echo { path, body } => echo(connection, path, body).await,
            Target::Reads { paths } => {
                let order = orders.fetch_add(1, Ordering::Relaxed);
                read(connection, &paths[(order % paths.len() as u64) as usize]).await
            }
        };
        if ok {
            done.ok += 1;
            let _ = done.latency_us.record(latency_us.clamp(1, LATENCY_US_MAX));
            if let (Some(due), Some(open_loop)) = (due, &mut done.open_loop_us) {
                let answered_after_due = answered_after_due_us(due, sent_at, latency_us);
                let _ = open_loop.record(answered_after_due.clamp(1, LATENCY_US_MAX));
            }
        } else {
            done.errors += 1;
            if due.is_none() {
                tokio::time::sleep(Duration::from_millis(ERROR_PAUSE_MS)).await;
            }
        }
    }
    done
}

/// How long after it was due a request was answered, in microseconds:
/// the time it waited to be sent (behind the worker's previous payment, or
/// a late wake-up; counted in full, so queueing is not hidden) plus its own
/// latency from the send. A payment's follow-ups (replay, capture) are not
/// part of it: they are other requests, sent after the answer, and they
/// delay only the worker's next payment, whose wait counts there.
fn answered_after_due_us(due: Instant, sent: Instant, latency_us: u64) -> u64 {
    let waited_us = sent.saturating_duration_since(due).as_micros() as u64;
    waited_us.saturating_add(latency_us)
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

async fn read(connection: &mut Connection, path: &str) -> (u64, bool) {
    let started = Instant::now();
    let answer = connection.get(path).await;
    let latency_us = started.elapsed().as_micros() as u64;
    (latency_us, answer.is_ok_and(|a| a.status == 200))
}

#[cfg(test)]
mod tests {
    use super::{answered_after_due_us, Schedule};
    use std::time::{Duration, Instant};

    #[test]
    fn open_loop_latency_counts_a_late_send_in_full() {
        let due = Instant::now();
        let sent = due + Duration::from_millis(7);
        assert_eq!(answered_after_due_us(due, sent, 2_000), 9_000);
    }

    #[test]
    fn open_loop_latency_ends_at_the_payments_answer_not_after_its_follow_ups() {
        // Sent on time and answered in 2 ms; whatever the replay or capture
        // sent afterwards takes is not added (before, `due.elapsed()` after
        // the follow-ups was recorded).
        let due = Instant::now();
        assert_eq!(answered_after_due_us(due, due, 2_000), 2_000);
    }

    #[test]
    fn open_loop_latency_of_an_early_send_is_its_own_latency() {
        let due = Instant::now() + Duration::from_millis(1);
        assert_eq!(answered_after_due_us(due, Instant::now(), 500), 500);
    }

    #[test]
    fn the_schedule_spreads_the_rate_evenly_over_the_workers() {
        let started = Instant::now();
        // 1,000/s over 4 workers: each every 4 ms, offset by 1 ms per worker.
        let dues: Vec<Duration> = (0..4)
            .flat_map(|worker| {
                let schedule = Schedule::of(1_000.0, worker, 4);
                (0..3).map(move |index| schedule.due(started, index) - started)
            })
            .collect();
        let mut sorted = dues;
        sorted.sort();
        for (ms, got) in sorted.iter().enumerate() {
            let want = Duration::from_millis(ms as u64);
            assert!(
                got.abs_diff(want) < Duration::from_micros(1),
                "{got:?} vs {want:?}"
            );
        }
    }
}
