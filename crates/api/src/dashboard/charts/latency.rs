//! Request latency per route, kept in this process for the dashboard's
//! p50/p99 chart: a log-scale histogram per (method, route template),
//! four buckets per doubling from 1 µs (so a quantile is read within
//! +19 %). Routes come from the fixed set of templates, so the map stays
//! small. Counts since the process started.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::LazyLock;

/// 4 buckets per doubling up to 2^40 µs (longer is counted there).
const BUCKETS: usize = 4 * 41 + 1;

#[derive(Clone)]
pub struct Histogram {
    counts: [u64; BUCKETS],
    total: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: [0; BUCKETS],
            total: 0,
        }
    }
}

/// The bucket of `micros`: bucket 0 holds 0 and 1 µs; bucket 4·L + q + 1
/// holds [2^L·(1 + q/4), 2^L·(1 + (q+1)/4)).
fn bucket(micros: u64) -> usize {
    let micros = micros.min(1 << 40);
    if micros <= 1 {
        return 0;
    }
    let log2 = 63 - micros.leading_zeros() as usize;
    let quarter = (((micros << 2) >> log2) & 0b11) as usize;
    (4 * log2 + quarter + 1).min(BUCKETS - 1)
}

/// The exclusive upper bound, in µs, of bucket `k`.
fn upper_micros(k: usize) -> f64 {
    if k == 0 {
        return 2.0;
    }
    let (log2, quarter) = ((k - 1) / 4, (k - 1) % 4);
    (1u64 << log2) as f64 * (5 + quarter) as f64 / 4.0
}

impl Histogram {
    pub fn record(&mut self, micros: u64) {
        self.counts[bucket(micros)] += 1;
        self.total += 1;
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    /// The `per_mille` quantile in µs (500 → p50, 990 → p99).
    pub fn quantile_micros(&self, per_mille: u64) -> u64 {
        let rank = (self.total * per_mille).div_ceil(1000).max(1);
        let mut seen = 0;
        for (k, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return upper_micros(k).ceil() as u64;
            }
        }
        0
    }
}

static ROUTES: LazyLock<Mutex<HashMap<(&'static str, String), Histogram>>> =
    LazyLock::new(Default::default);

pub fn record(method: &'static str, route: &str, elapsed: std::time::Duration) {
    let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    let mut routes = ROUTES.lock();
    match routes.get_mut(&(method, route.to_owned())) {
        Some(histogram) => histogram.record(micros),
        None => {
            let mut histogram = Histogram::default();
            histogram.record(micros);
            routes.insert((method, route.to_owned()), histogram);
        }
    }
}

/// `(method route, p50 µs, p99 µs, count)` of the busiest `n` routes.
pub fn busiest(n: usize) -> Vec<(String, u64, u64, u64)> {
    let routes = ROUTES.lock().clone();
    let mut rows: Vec<_> = routes
        .into_iter()
        .map(|((method, route), h)| {
            (
                format!("{method} {route}"),
                h.quantile_micros(500),
                h.quantile_micros(990),
                h.count(),
            )
        })
        .collect();
    rows.sort_by(|a, b| b.3.cmp(&a.3).then_with(|| a.0.cmp(&b.0)));
    rows.truncate(n);
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_read_within_a_quarter_doubling() {
        let mut h = Histogram::default();
        for micros in 1..=1000u64 {
            h.record(micros * 100);
        }
        let p50 = h.quantile_micros(500);
        let p99 = h.quantile_micros(990);
        assert!((50_000..=60_000).contains(&p50), "{p50}");
        assert!((99_000..=118_000).contains(&p99), "{p99}");
        assert_eq!(h.count(), 1000);
    }

    #[test]
    fn every_value_is_at_most_its_bucket_bound() {
        for micros in [1u64, 2, 3, 5, 7, 8, 9, 100, 1023, 1024, 1_000_000] {
            let k = bucket(micros);
            assert!((micros as f64) < upper_micros(k), "{micros} in {k}");
            assert!(
                k == 0 || micros as f64 >= upper_micros(k - 1),
                "{micros} in {k}"
            );
        }
    }
}
