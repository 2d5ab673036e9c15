//! Success-rate routing: when no rule decides, the account is drawn by
//! Thompson sampling over each candidate's observed authorizations and
//! declines in the payment's segment (card brand, currency, BIN range) over
//! a sliding window. Each candidate's authorization rate is drawn from its
//! posterior, Beta(authorized + 1, declined + 1), and the highest draw
//! wins: a clearly better account takes almost all traffic, two alike share
//! it, and a little keeps going to the others, so that a recovery is seen.
//! On top, `exploration_percent` of payments go to a candidate drawn
//! uniformly, which bounds how little any candidate gets.
//!
//! Floating point is used for the draws only (never for money).

use rand::Rng;

/// A candidate's outcomes in the window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    pub authorized: u64,
    pub declined: u64,
}

impl Observed {
    pub fn total(self) -> u64 {
        self.authorized.saturating_add(self.declined)
    }
}

/// The index of the candidate chosen among `observed` (one entry per
/// candidate, in failover order); `None` when there are none.
pub fn choose(observed: &[Observed], exploration_percent: u8, rng: &mut impl Rng) -> Option<usize> {
    if observed.is_empty() {
        return None;
    }
    if rng.gen_range(0..100u8) < exploration_percent.min(100) {
        return Some(rng.gen_range(0..observed.len()));
    }
    let mut best = (0, f64::MIN);
    for (index, o) in observed.iter().enumerate() {
        let draw = beta(rng, o.authorized as f64 + 1.0, o.declined as f64 + 1.0);
        if draw > best.1 {
            best = (index, draw);
        }
    }
    Some(best.0)
}

/// A draw from Beta(a, b) for a, b ≥ 1: X / (X + Y) with X ~ Gamma(a),
/// Y ~ Gamma(b).
fn beta(rng: &mut impl Rng, a: f64, b: f64) -> f64 {
    let x = gamma(rng, a);
    let y = gamma(rng, b);
    if x + y > 0.0 {
        x / (x + y)
    } else {
        0.5
    }
}

/// A draw from Gamma(shape, 1) for shape ≥ 1 (Marsaglia and Tsang, "A
/// simple method for generating gamma variables", 2000).
fn gamma(rng: &mut impl Rng, shape: f64) -> f64 {
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let (x, v) = loop {
            let x = standard_normal(rng);
            let v = 1.0 + c * x;
            if v > 0.0 {
                break (x, v * v * v);
            }
        };
        let u: f64 = rng.gen_range(f64::EPSILON..1.0);
        if u < 1.0 - 0.0331 * x.powi(4) || u.ln() < 0.5 * x * x + d * (1.0 - v + v.ln()) {
            return d * v;
        }
    }
}

/// A standard normal draw (Box–Muller).
fn standard_normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen_range(0.0..1.0);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn shares(observed: &[Observed], exploration: u8) -> Vec<f64> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut counts = vec![0u32; observed.len()];
        for _ in 0..10_000 {
            counts[choose(observed, exploration, &mut rng).unwrap()] += 1;
        }
        counts.iter().map(|c| f64::from(*c) / 10_000.0).collect()
    }

    #[test]
    fn beta_draws_have_the_posterior_mean() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let n = 20_000;
        let mean: f64 = (0..n).map(|_| beta(&mut rng, 61.0, 41.0)).sum::<f64>() / n as f64;
        assert!((mean - 61.0 / 102.0).abs() < 0.01, "{mean}");
    }

    #[test]
    fn the_better_account_takes_the_traffic_and_exploration_bounds_the_rest() {
        let good = Observed {
            authorized: 95,
            declined: 5,
        };
        let bad = Observed {
            authorized: 60,
            declined: 40,
        };
        let s = shares(&[bad, good], 5);
        assert!(s[1] > 0.95, "{s:?}");
        assert!(s[0] >= 0.02, "exploration keeps some: {s:?}");
        let none = shares(&[bad, good], 0);
        assert!(none[0] < 0.01, "{none:?}");
    }

    #[test]
    fn alike_or_unknown_accounts_share() {
        let alike = Observed {
            authorized: 95,
            declined: 5,
        };
        let s = shares(&[alike, alike], 5);
        assert!((s[0] - 0.5).abs() < 0.05, "{s:?}");
        let s = shares(&[Observed::default(), Observed::default()], 5);
        assert!((s[0] - 0.5).abs() < 0.05, "{s:?}");
        assert_eq!(choose(&[], 5, &mut rand::thread_rng()), None);
    }
}
