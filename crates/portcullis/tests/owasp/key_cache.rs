//! API2 (broken authentication), item 10: random well-formed keys cannot
//! flush the API-key cache. Observed from outside through a revocation: a
//! key revoked in the database keeps working until its cache entry expires
//! (`key_cache_ttl_ms`), so a flood of unknown keys that flushed the cache
//! would make it fail at once.

use crate::on_both_backends;
use crate::support::{cli, create_merchant, Api, Backend, TestDatabase, TestServer};
use serde_json::Value;

async fn unknown_keys_do_not_evict_known_ones(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Cache");
    let created: Value = serde_json::from_str(
        cli(
            &db,
            &[
                "key",
                "create",
                "--merchant",
                &merchant.id,
                "--kind",
                "secret",
                "--json",
            ],
        )
        .trim(),
    )
    .unwrap();
    let env = [
        ("PORTCULLIS_KEY_CACHE_ENTRIES_MAX", "8"),
        ("PORTCULLIS_KEY_CACHE_MISSES_MAX", "8"),
    ];
    let server = TestServer::start_with_env(&db, &[], &env);
    let key = created["key"].as_str().unwrap();
    let api = Api::new(&server, key);
    // The default TTL (2 s) leaves ample time for what follows.
    assert_eq!(api.get("/v1/customers").await.status, 200);
    let started = std::time::Instant::now();
    cli(&db, &["key", "revoke", created["id"].as_str().unwrap()]);
    for n in 0..64 {
        let random = Api::new(&server, &format!("sk_test_random{n:04}abcdefghij"));
        assert_eq!(random.get("/v1/customers").await.status, 401);
    }
    let answer = api.get("/v1/customers").await;
    assert!(
        started.elapsed() < std::time::Duration::from_millis(1_500),
        "too slow to tell: {:?}",
        started.elapsed()
    );
    assert_eq!(
        answer.status, 200,
        "64 unknown keys flushed the cached key (it was read again and found revoked)"
    );
}

on_both_backends!(unknown_keys_do_not_evict_known_ones);
