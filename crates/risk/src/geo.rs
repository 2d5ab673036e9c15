//! Where an IP address is, and how fast a card would have had to travel
//! between two payments (impossible travel). Coordinates are micro-degrees;
//! the great-circle distance uses `f64` trigonometry, which is fine for
//! geography (never for money) and is rounded to whole kilometres.

use crate::signals::{Signal, SignalValue, Signals};

/// Faster than an airliner: the card cannot have been at both places.
pub const IMPOSSIBLE_SPEED_KMH_MIN: i64 = 1_000;
/// Closer than this is within IP geolocation's error: never impossible.
pub const IMPOSSIBLE_DISTANCE_KM_MIN: i64 = 500;
const EARTH_RADIUS_KM: f64 = 6_371.0;

/// A point on Earth, in micro-degrees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    pub latitude_micro: i64,
    pub longitude_micro: i64,
}

impl Location {
    pub fn from_degrees(latitude: f64, longitude: f64) -> Option<Location> {
        let valid = (-90.0..=90.0).contains(&latitude) && (-180.0..=180.0).contains(&longitude);
        valid.then(|| Location {
            latitude_micro: (latitude * 1e6).round() as i64,
            longitude_micro: (longitude * 1e6).round() as i64,
        })
    }

    /// Great-circle distance in whole kilometres.
    pub fn distance_km(&self, other: &Location) -> i64 {
        let rad = |micro: i64| (micro as f64 / 1e6).to_radians();
        let (lat1, lat2) = (rad(self.latitude_micro), rad(other.latitude_micro));
        let dlat = lat2 - lat1;
        let dlon = rad(other.longitude_micro) - rad(self.longitude_micro);
        let a = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
        (2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()).round() as i64
    }
}

/// Where the same card paid from last time, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sighting {
    pub location: Location,
    pub at_s: i64,
}

/// Sets `ip_distance_km`, `ip_speed_kmh` and `impossible_travel` from the
/// card's previous sighting and this one; all unknown without both.
pub fn record_travel(signals: &mut Signals, previous: Option<Sighting>, now: Option<Sighting>) {
    let (Some(previous), Some(now)) = (previous, now) else {
        return;
    };
    let distance_km = previous.location.distance_km(&now.location);
    // Two payments in the same second count as one second apart.
    let elapsed_s = (now.at_s - previous.at_s).max(1);
    let speed_kmh = distance_km.saturating_mul(3_600) / elapsed_s;
    let impossible =
        distance_km >= IMPOSSIBLE_DISTANCE_KM_MIN && speed_kmh > IMPOSSIBLE_SPEED_KMH_MIN;
    signals.set(Signal::IpDistanceKm, SignalValue::count(distance_km));
    signals.set(Signal::IpSpeedKmh, SignalValue::count(speed_kmh));
    signals.set(Signal::ImpossibleTravel, SignalValue::Bool(impossible));
}

/// Rough centres of common countries, for IP databases that give a country
/// but no coordinates (a country-level database). Degrees.
const CENTROIDS: &[(&str, f64, f64)] = &[
    ("US", 39.8, -98.6),
    ("CA", 56.1, -106.3),
    ("MX", 23.6, -102.6),
    ("BR", -14.2, -51.9),
    ("AR", -38.4, -63.6),
    ("CL", -35.7, -71.5),
    ("CO", 4.6, -74.3),
    ("PE", -9.2, -75.0),
    ("GB", 54.0, -2.0),
    ("IE", 53.4, -8.2),
    ("FR", 46.2, 2.2),
    ("DE", 51.2, 10.4),
    ("NL", 52.1, 5.3),
    ("BE", 50.5, 4.5),
    ("ES", 40.5, -3.7),
    ("PT", 39.4, -8.2),
    ("IT", 41.9, 12.6),
    ("CH", 46.8, 8.2),
    ("AT", 47.5, 14.6),
    ("PL", 51.9, 19.1),
    ("SE", 60.1, 18.6),
    ("NO", 60.5, 8.5),
    ("DK", 56.3, 9.5),
    ("FI", 61.9, 25.7),
    ("RU", 61.5, 105.3),
    ("UA", 48.4, 31.2),
    ("TR", 39.0, 35.2),
    ("IL", 31.0, 34.9),
    ("AE", 23.4, 53.8),
    ("SA", 23.9, 45.1),
    ("EG", 26.8, 30.8),
    ("NG", 9.1, 8.7),
    ("ZA", -30.6, 22.9),
    ("KE", -0.02, 37.9),
    ("IN", 20.6, 79.0),
    ("CN", 35.9, 104.2),
    ("JP", 36.2, 138.3),
    ("KR", 35.9, 127.8),
    ("SG", 1.35, 103.8),
    ("ID", -0.8, 113.9),
    ("TH", 15.9, 100.9),
    ("VN", 14.1, 108.3),
    ("PH", 12.9, 121.8),
    ("AU", -25.3, 133.8),
    ("NZ", -40.9, 174.9),
    ("HK", 22.3, 114.2),
    ("TW", 23.7, 121.0),
    ("MY", 4.2, 102.0),
];

/// The rough centre of `country`, if known.
pub fn country_centroid(country: &str) -> Option<Location> {
    CENTROIDS
        .iter()
        .find(|(code, _, _)| code.eq_ignore_ascii_case(country))
        .and_then(|(_, lat, lon)| Location::from_degrees(*lat, *lon))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_york_to_tokyo_within_an_hour_is_impossible() {
        let nyc = Location::from_degrees(40.71, -74.01).unwrap();
        let tokyo = Location::from_degrees(35.68, 139.69).unwrap();
        let distance = nyc.distance_km(&tokyo);
        assert!((10_800..=10_900).contains(&distance), "{distance}");
        let mut signals = Signals::default();
        let seen = |location, at_s| Some(Sighting { location, at_s });
        record_travel(&mut signals, seen(nyc, 1_000), seen(tokyo, 1_000 + 1_800));
        assert_eq!(
            *signals.get(Signal::ImpossibleTravel),
            SignalValue::Bool(true)
        );
        assert_eq!(
            *signals.get(Signal::IpSpeedKmh),
            SignalValue::count(distance * 2)
        );
        record_travel(&mut signals, seen(nyc, 0), seen(tokyo, 24 * 3_600));
        assert_eq!(
            *signals.get(Signal::ImpossibleTravel),
            SignalValue::Bool(false)
        );
    }

    #[test]
    fn centroids_are_found_case_insensitively() {
        assert!(country_centroid("jp").is_some());
        assert!(country_centroid("XX").is_none());
    }
}
