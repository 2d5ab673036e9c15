//! The OWASP API Security Top 10 regression suite: one module per finding
//! of the security review (issue 12), each named after what it pins, each
//! run through the real binary on SQLite and PostgreSQL where storage is
//! involved.

#[path = "../support/mod.rs"]
mod support;

mod fixtures;
#[path = "../webhooks/receiver.rs"]
#[allow(dead_code)]
mod receiver;

mod browser_confirm_ip;
mod client_errors_4xx;
mod connection_timeouts;
mod expand_permissions;
mod foreign_saved_card;
mod headers;
mod honest_card_results;
mod idempotency_fingerprint;
mod key_cache;
mod key_hash_secret_mismatch;
mod live_mode_sandbox;
mod opaque_page_tokens;
mod postgres_skip;
mod postgres_tls;
mod publishable_key_fields;
mod rate_limits;
mod webhook_endpoint_limit;
mod webhook_secrets_sealed;
mod webhook_url_ranges;
