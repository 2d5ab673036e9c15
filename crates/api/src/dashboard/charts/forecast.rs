//! The volume forecast: additive Holt-Winters (triple exponential
//! smoothing) with a weekly season, and the anomalies it finds.
//!
//! Model, for a daily series y with season length m = 7:
//!
//! ```text
//! level_t  = α (y_t − season_{t−m}) + (1 − α)(level_{t−1} + trend_{t−1})
//! trend_t  = β (level_t − level_{t−1}) + (1 − β) trend_{t−1}
//! season_t = γ (y_t − level_t) + (1 − γ) season_{t−m}
//! ŷ_{t+h}  = level_t + h·trend_t + season_{t+h−m·⌈h/m⌉}
//! ```
//!
//! with α = 0.3, β = 0.05, γ = 0.3. Start: the trend is the difference of
//! the first two seasons' means over m; the level is the first season's
//! mean carried to its last day; each seasonal term is its day's value
//! less that line. The band is ŷ ± 1.96·σ·√h, σ the standard deviation of
//! the one-step errors after the first season; a day whose value lies
//! outside its own one-step forecast's ±1.96·σ band is an anomaly.
//! Fewer than two seasons of history: no forecast (too little to fit).
//!
//! Floating point is used for these statistics only; amounts shown as
//! money come from integer minor units.

pub const SEASON: usize = 7;
pub const ALPHA: f64 = 0.3;
pub const BETA: f64 = 0.05;
pub const GAMMA: f64 = 0.3;
/// The band's half-width in standard deviations (95 % under normal errors).
pub const BAND_Z: f64 = 1.96;

#[derive(Clone, Debug, PartialEq)]
pub struct Forecast {
    /// ŷ for each of the next days.
    pub mean: Vec<f64>,
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
    /// Indices of the history's days outside their one-step band.
    pub anomalies: Vec<usize>,
    /// σ of the one-step errors.
    pub sigma: f64,
}

/// Forecasts `horizon` days after `history`; `None` with fewer than two
/// seasons of history.
pub fn holt_winters(history: &[f64], horizon: usize) -> Option<Forecast> {
    let m = SEASON;
    if history.len() < 2 * m {
        return None;
    }
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    let first = mean(&history[..m]);
    let second = mean(&history[m..2 * m]);
    let mut trend = (second - first) / m as f64;
    let centre = (m as f64 - 1.0) / 2.0;
    let mut level = first + trend * centre;
    let mut season: Vec<f64> = (0..m)
        .map(|i| history[i] - (first + trend * (i as f64 - centre)))
        .collect();
    let mut errors = Vec::new();
    let mut one_step = vec![f64::NAN; history.len()];
    for (t, &y) in history.iter().enumerate().skip(m) {
        let predicted = level + trend + season[t % m];
        one_step[t] = predicted;
        errors.push(y - predicted);
        let previous_level = level;
        level = ALPHA * (y - season[t % m]) + (1.0 - ALPHA) * (level + trend);
        trend = BETA * (level - previous_level) + (1.0 - BETA) * trend;
        season[t % m] = GAMMA * (y - level) + (1.0 - GAMMA) * season[t % m];
    }
    let sigma = (errors.iter().map(|e| e * e).sum::<f64>() / errors.len() as f64).sqrt();
    let anomalies = (m..history.len())
        .filter(|&t| (history[t] - one_step[t]).abs() > BAND_Z * sigma && sigma > 0.0)
        .collect();
    let n = history.len();
    let mean: Vec<f64> = (1..=horizon)
        .map(|h| level + h as f64 * trend + season[(n + h - 1) % m])
        .collect();
    let half = |h: usize| BAND_Z * sigma * (h as f64).sqrt();
    Some(Forecast {
        lower: mean
            .iter()
            .enumerate()
            .map(|(i, v)| v - half(i + 1))
            .collect(),
        upper: mean
            .iter()
            .enumerate()
            .map(|(i, v)| v + half(i + 1))
            .collect(),
        mean,
        anomalies,
        sigma,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEEK: [f64; 7] = [-30.0, 10.0, 20.0, 5.0, 15.0, 0.0, -20.0];

    fn trend_and_week(days: usize) -> Vec<f64> {
        (0..days)
            .map(|t| 1000.0 + 12.0 * t as f64 + WEEK[t % 7])
            .collect()
    }

    #[test]
    fn a_trend_with_a_weekly_season_is_forecast_exactly() {
        let history = trend_and_week(28);
        let forecast = holt_winters(&history, 14).unwrap();
        let expected = trend_and_week(42);
        for (h, value) in forecast.mean.iter().enumerate() {
            assert!((value - expected[28 + h]).abs() < 1e-6, "day {h}: {value}");
        }
        assert!(forecast.sigma < 1e-9);
        assert!(forecast.anomalies.is_empty());
    }

    #[test]
    fn a_constant_series_forecasts_itself() {
        let forecast = holt_winters(&[500.0; 21], 3).unwrap();
        assert_eq!(forecast.mean.len(), 3);
        assert!(forecast.mean.iter().all(|v| (v - 500.0).abs() < 1e-9));
    }

    #[test]
    fn a_spike_is_an_anomaly_and_widens_the_band() {
        let mut history: Vec<f64> = (0..35).map(|t| 200.0 + [5.0, -5.0][t % 2]).collect();
        history[30] = 900.0;
        let forecast = holt_winters(&history, 14).unwrap();
        assert!(forecast.anomalies.contains(&30), "{:?}", forecast.anomalies);
        assert!(forecast.upper[13] - forecast.lower[13] > forecast.upper[0] - forecast.lower[0]);
        assert!(forecast.lower[0] < forecast.mean[0] && forecast.mean[0] < forecast.upper[0]);
    }

    #[test]
    fn less_than_two_seasons_gives_no_forecast() {
        assert!(holt_winters(&[1.0; 13], 14).is_none());
    }
}
