"""Builds tests/data/test-geoip.mmdb, the tiny MaxMind-format country
database the risk tests use. Run once; the output is committed.

    pip install mmdb-writer netaddr && python3 make_test_geoip.py

Networks are documentation ranges (RFC 5737) and one shared range:
each maps to a country, and all but one carry coordinates, as a city
database would; 100.64.0.0/16 has a country only (the centroid fallback).
"""
from mmdb_writer import MMDBWriter, MmdbF64
from netaddr import IPSet
import os

NETWORKS = [
    ("203.0.113.0/24", "US", 40.7128, -74.0060),   # New York
    ("198.51.100.0/24", "JP", 35.6762, 139.6503),  # Tokyo
    ("192.0.2.0/24", "GB", 51.5072, -0.1276),      # London
    ("100.64.0.0/16", "DE", None, None),           # country only
]

writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-Country",
                    languages=["en"], description={"en": "Portcullis risk test database"})
for network, country, lat, lon in NETWORKS:
    record = {"country": {"iso_code": country}}
    if lat is not None:
        record["location"] = {"latitude": MmdbF64(lat), "longitude": MmdbF64(lon)}
    writer.insert_network(IPSet([network]), record)
writer.to_db_file(os.path.join(os.path.dirname(os.path.abspath(__file__)), "test-geoip.mmdb"))
