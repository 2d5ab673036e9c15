//! The OWASP API Security Top 10 regression suite (issue 12): one module
//! per finding, each named after it, against the real binary on SQLite
//! and PostgreSQL where storage is involved.

#[path = "../support/mod.rs"]
mod support;

mod connection_timeouts;
mod key_cache;
mod postgres_skip;
mod postgres_tls;
mod rate_limits;
mod webhook_endpoint_limit;
