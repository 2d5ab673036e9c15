//! IP address → country (and coordinates, when the database has them),
//! from a MaxMind-format `.mmdb` file read once at start-up. A lookup that
//! finds nothing, or fails, is "unknown", never an error of the payment.

use portcullis_risk::geo::{country_centroid, Location};
use serde::Deserialize;
use std::net::IpAddr;
use std::path::Path;

pub struct GeoIp {
    reader: maxminddb::Reader<Vec<u8>>,
}

/// What the database says of one address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Place {
    /// ISO 3166 alpha-2, uppercase.
    pub country: Option<String>,
    /// The record's coordinates, or the country's rough centre.
    pub location: Option<Location>,
}

#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow)]
    country: Option<Country<'a>>,
    location: Option<Coordinates>,
}

#[derive(Deserialize)]
struct Country<'a> {
    iso_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct Coordinates {
    latitude: Option<f64>,
    longitude: Option<f64>,
}

impl GeoIp {
    pub fn open(path: &Path) -> Result<GeoIp, String> {
        let reader = maxminddb::Reader::open_readfile(path)
            .map_err(|e| format!("reading the IP database {}: {e}", path.display()))?;
        Ok(GeoIp { reader })
    }

    pub fn locate(&self, ip: IpAddr) -> Place {
        let found = self
            .reader
            .lookup(ip)
            .and_then(|result| result.decode::<Record<'_>>());
        let record = match found {
            Ok(Some(record)) => record,
            Ok(None) => return Place::default(),
            Err(err) => {
                tracing::debug!(error = %err, "IP database lookup failed; IP country unknown");
                return Place::default();
            }
        };
        let country = record
            .country
            .and_then(|c| c.iso_code)
            .map(str::to_ascii_uppercase);
        let exact = record
            .location
            .and_then(|l| Location::from_degrees(l.latitude?, l.longitude?));
        let location = exact.or_else(|| country.as_deref().and_then(country_centroid));
        Place { country, location }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database() -> GeoIp {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../portcullis/tests/data/test-geoip.mmdb");
        GeoIp::open(&path).unwrap()
    }

    #[test]
    fn the_test_database_places_its_networks() {
        let geo = database();
        let tokyo = geo.locate("198.51.100.7".parse().unwrap());
        assert_eq!(tokyo.country.as_deref(), Some("JP"));
        assert!(tokyo.location.is_some());
        let germany = geo.locate("100.64.3.4".parse().unwrap());
        assert_eq!(germany.country.as_deref(), Some("DE"));
        assert_eq!(germany.location, country_centroid("DE"));
        assert_eq!(geo.locate("8.8.8.8".parse().unwrap()), Place::default());
        assert_eq!(geo.locate("2001:db8::1".parse().unwrap()), Place::default());
    }
}
