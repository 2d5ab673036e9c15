//! The open loop's clock: one OS thread that releases each request at the
//! time it is due, to the worker whose turn it is.
//!
//! Tokio's timer has millisecond ticks and rounds a deadline up to the
//! next one, so a worker that slept with `sleep_until(due)` sent about a
//! millisecond late (1.2–1.7 ms at p50 in session 12's trace), and the open
//! loop counted that lateness of the load generator against the server.
//! `std::thread::sleep` sleeps on the kernel's high-resolution timers
//! (tens of microseconds late), and a semaphore permit wakes the worker's
//! task at once. A worker still busy with its previous request finds the
//! permit waiting and sends as soon as it is free: that wait counts in
//! full from the due time, as before.

use super::load::Schedule;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;

/// Per worker, the permits the pacer has released: one per due request.
pub struct Pacer {
    permits: Vec<Arc<Semaphore>>,
}

impl Pacer {
    /// Starts the pacer's thread for `schedules` (one per worker, as in
    /// [`Schedule::of`]); it releases every request due before `deadline`
    /// and then ends.
    pub fn start(schedules: Vec<Schedule>, started: Instant, deadline: Instant) -> Self {
        let permits: Vec<_> = schedules
            .iter()
            .map(|_| Arc::new(Semaphore::new(0)))
            .collect();
        let released = permits.clone();
        let spawned = std::thread::Builder::new()
            .name("bench-pacer".into())
            .spawn(move || release_on_time(&schedules, &released, started, deadline));
        if spawned.is_err() {
            // No thread: release everything now (the workers then send
            // back to back, and the open loop's latency shows it).
            for permit in &permits {
                permit.add_permits(Semaphore::MAX_PERMITS / 2);
            }
        }
        Self { permits }
    }

    /// The permits of worker `worker`.
    pub fn permits(&self, worker: usize) -> Arc<Semaphore> {
        self.permits[worker].clone()
    }
}

/// Waits for the next request's permit: returns when it is due.
pub async fn wait_until_due(permits: &Semaphore) {
    if let Ok(permit) = permits.acquire().await {
        permit.forget();
    }
}

/// Releases the requests in due order: the `j`-th request of the whole
/// run is request `j / n` of worker `j % n` (the schedules interleave
/// evenly), so one pass over `j` is the merged schedule.
fn release_on_time(
    schedules: &[Schedule],
    permits: &[Arc<Semaphore>],
    started: Instant,
    deadline: Instant,
) {
    let workers = schedules.len() as u64;
    if workers == 0 {
        return;
    }
    for request in 0.. {
        let worker = (request % workers) as usize;
        let due = schedules[worker].due(started, request / workers);
        if due >= deadline {
            return;
        }
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        permits[worker].add_permits(1);
    }
}

#[cfg(test)]
mod tests {
    use super::{wait_until_due, Pacer};
    use crate::bench::load::Schedule;
    use std::time::{Duration, Instant};

    #[tokio::test]
    async fn every_request_is_released_once_and_never_before_it_is_due() {
        let started = Instant::now();
        let deadline = started + Duration::from_millis(30);
        // 1,000/s over 3 workers: 30 requests due before the deadline.
        let schedules: Vec<_> = (0..3)
            .map(|worker| Schedule::of(1_000.0, worker, 3))
            .collect();
        let pacer = Pacer::start(schedules.clone(), started, deadline);
        let mut released = 0;
        for (worker, schedule) in schedules.iter().enumerate() {
            let permits = pacer.permits(worker);
            for index in 0..10 {
                wait_until_due(&permits).await;
                let due = schedule.due(started, index);
                assert!(
                    Instant::now() >= due,
                    "worker {worker} request {index} early"
                );
                released += 1;
            }
        }
        assert_eq!(released, 30);
        tokio::time::sleep(Duration::from_millis(5)).await;
        for worker in 0..3 {
            assert_eq!(
                pacer.permits(worker).available_permits(),
                0,
                "worker {worker}"
            );
        }
    }
}
