//! The webhook outbox's contract, on both backends: an event's deliveries
//! are written with it, claims are exclusive until their lease ends, and
//! attempts move deliveries on and are logged.

use crate::support::{merchant, one, test_scope, TestDb, T0};
use portcullis_store::{
    AttemptRecord, DeliveryClaim, DeliveryFilter, DeliveryKey, DeliveryState, Redelivery, Scope,
    SqlValue, Store, StoreError, Table, WriteOp, WriteSet,
};
use std::collections::HashSet;

const LEASE_MS: i64 = 30_000;
const NOW_MS: i64 = T0 * 1000 + 1;

pub(crate) fn endpoint(
    scope: &Scope,
    id: &str,
    status: &str,
    events: &str,
    deleted: bool,
) -> WriteOp {
    WriteOp::Insert {
        table: Table::WebhookEndpoints,
        scope: scope.clone(),
        id: id.to_owned(),
        created: T0,
        columns: vec![
            ("status", SqlValue::Text(status.to_owned())),
            ("enabled_events", SqlValue::Text(events.to_owned())),
            ("deleted", SqlValue::Bool(deleted)),
        ],
        body: "{}".to_owned(),
    }
}

pub(crate) fn event(scope: &Scope, id: &str, kind: &str) -> WriteOp {
    WriteOp::Insert {
        table: Table::Events,
        scope: scope.clone(),
        id: id.to_owned(),
        created: T0,
        columns: vec![("event_type", SqlValue::Text(kind.to_owned()))],
        body: "{}".to_owned(),
    }
}

fn claim_of(worker: &str, now_ms: i64, limit: usize) -> DeliveryClaim {
    DeliveryClaim {
        worker: worker.to_owned(),
        now_ms,
        lease_ms: LEASE_MS,
        limit,
        excluded_endpoints: vec![],
    }
}

pub(crate) async fn endpoints_of(store: &Store, scope: &Scope, event_id: &str) -> Vec<String> {
    let filter = DeliveryFilter::Event(event_id.to_owned());
    let page = store.list_deliveries(scope, &filter, 100).await.unwrap();
    let mut ids: Vec<String> = page
        .deliveries
        .into_iter()
        .map(|d| d.key.endpoint_id)
        .collect();
    ids.sort();
    ids
}

fn key(event_id: &str, endpoint_id: &str) -> DeliveryKey {
    DeliveryKey {
        event_id: event_id.to_owned(),
        endpoint_id: endpoint_id.to_owned(),
    }
}

/// One enabled `*` endpoint with one event: the common fixture.
async fn one_delivery(store: &Store) -> Scope {
    let acme = merchant(store, "Acme").await;
    let scope = test_scope(&acme.id);
    store
        .commit(one(endpoint(&scope, "we_1", "enabled", ",*,", false)))
        .await
        .unwrap();
    store
        .commit(one(event(&scope, "evt_1", "charge.succeeded")))
        .await
        .unwrap();
    scope
}

fn failure(worker: &str, attempt: i64, next_ms: Option<i64>) -> AttemptRecord {
    AttemptRecord {
        key: key("evt_1", "we_1"),
        worker: worker.to_owned(),
        attempt,
        started_at_ms: NOW_MS,
        latency_ms: 12,
        status_code: Some(500),
        error: Some("HTTP 500".to_owned()),
        state: if next_ms.is_some() {
            DeliveryState::Pending
        } else {
            DeliveryState::Failed
        },
        next_attempt_at_ms: next_ms,
    }
}

contract!(an_event_fans_out_to_each_enabled_endpoint_of_its_scope_that_takes_its_type);
async fn an_event_fans_out_to_each_enabled_endpoint_of_its_scope_that_takes_its_type(db: &TestDb) {
    let store = &db.store;
    let acme = test_scope(&merchant(store, "Acme").await.id);
    let globex = test_scope(&merchant(store, "Globex").await.id);
    let live = Scope {
        livemode: true,
        ..acme.clone()
    };
    let mut writes = WriteSet::new();
    writes.push(endpoint(&acme, "we_all", "enabled", ",*,", false));
    writes.push(endpoint(
        &acme,
        "we_ch",
        "enabled",
        ",charge.failed,charge.succeeded,",
        false,
    ));
    writes.push(endpoint(
        &acme,
        "we_other",
        "enabled",
        ",charge.failed,",
        false,
    ));
    writes.push(endpoint(
        &acme,
        "we_prefix",
        "enabled",
        ",charge.succeeded.x,",
        false,
    ));
    writes.push(endpoint(&acme, "we_off", "disabled", ",*,", false));
    writes.push(endpoint(&acme, "we_gone", "enabled", ",*,", true));
    writes.push(endpoint(&live, "we_live", "enabled", ",*,", false));
    writes.push(endpoint(&globex, "we_foreign", "enabled", ",*,", false));
    store.commit(writes).await.unwrap();

    store
        .commit(one(event(&acme, "evt_1", "charge.succeeded")))
        .await
        .unwrap();
    assert_eq!(
        endpoints_of(store, &acme, "evt_1").await,
        ["we_all", "we_ch"]
    );
    assert!(endpoints_of(store, &globex, "evt_1").await.is_empty());
    let page = store
        .list_deliveries(&acme, &DeliveryFilter::Event("evt_1".into()), 10)
        .await
        .unwrap();
    let first = &page.deliveries[0];
    assert_eq!((first.state, first.attempts), (DeliveryState::Pending, 0));
    assert_eq!(first.event_type, "charge.succeeded");
    assert_eq!(first.next_attempt_at_ms, Some(T0 * 1000));
}

contract!(the_events_of_one_write_set_fan_out_each_to_its_own_endpoints_in_order);
async fn the_events_of_one_write_set_fan_out_each_to_its_own_endpoints_in_order(db: &TestDb) {
    let store = &db.store;
    let acme = test_scope(&merchant(store, "Acme").await.id);
    let live = Scope {
        livemode: true,
        ..acme.clone()
    };
    let mut writes = WriteSet::new();
    writes.push(endpoint(&acme, "we_all", "enabled", ",*,", false));
    writes.push(endpoint(
        &acme,
        "we_fail",
        "enabled",
        ",charge.failed,",
        false,
    ));
    writes.push(endpoint(&acme, "we_off", "disabled", ",*,", false));
    writes.push(endpoint(&acme, "we_gone", "enabled", ",*,", true));
    writes.push(endpoint(&live, "we_live", "enabled", ",*,", false));
    store.commit(writes).await.unwrap();

    let mut writes = WriteSet::new();
    writes.push(event(&acme, "evt_a", "charge.succeeded"));
    writes.push(event(&acme, "evt_b", "charge.failed"));
    writes.push(event(&live, "evt_c", "charge.succeeded"));
    writes.push(event(&acme, "evt_d", "payment_intent.created"));
    store.commit(writes).await.unwrap();

    assert_eq!(endpoints_of(store, &acme, "evt_a").await, ["we_all"]);
    assert_eq!(
        endpoints_of(store, &acme, "evt_b").await,
        ["we_all", "we_fail"]
    );
    assert_eq!(endpoints_of(store, &live, "evt_c").await, ["we_live"]);
    assert_eq!(endpoints_of(store, &acme, "evt_d").await, ["we_all"]);
    let filter = DeliveryFilter::Endpoint {
        endpoint_id: "we_all".to_owned(),
        starting_after: None,
    };
    let page = store.list_deliveries(&acme, &filter, 10).await.unwrap();
    let newest_first: Vec<String> = page
        .deliveries
        .into_iter()
        .map(|d| d.key.event_id)
        .collect();
    assert_eq!(newest_first, ["evt_d", "evt_b", "evt_a"]);
}

// An endpoint and an event written in one write set: the event's fan-out
// sees the endpoint, as it did when each write was a statement of its own
// (PostgreSQL runs the fan-out apart from the endpoint's insert, not in
// one statement whose parts would share a snapshot: `sql::with_writes`).
contract!(an_event_fans_out_to_an_endpoint_written_before_it_in_its_write_set);
async fn an_event_fans_out_to_an_endpoint_written_before_it_in_its_write_set(db: &TestDb) {
    let store = &db.store;
    let scope = test_scope(&merchant(store, "Acme").await.id);
    let mut writes = WriteSet::new();
    writes.push(endpoint(&scope, "we_new", "enabled", ",*,", false));
    writes.push(event(&scope, "evt_1", "charge.succeeded"));
    store.commit(writes).await.unwrap();
    assert_eq!(endpoints_of(store, &scope, "evt_1").await, ["we_new"]);
}

contract!(an_event_write_that_fails_leaves_no_delivery);
async fn an_event_write_that_fails_leaves_no_delivery(db: &TestDb) {
    let store = &db.store;
    let scope = one_delivery(store).await;
    let mut writes = WriteSet::new();
    writes.push(event(&scope, "evt_2", "charge.succeeded"));
    writes.push(event(&scope, "evt_1", "charge.succeeded")); // a duplicate id
    assert_eq!(store.commit(writes).await, Err(StoreError::Duplicate));
    assert!(endpoints_of(store, &scope, "evt_2").await.is_empty());
    assert_eq!(endpoints_of(store, &scope, "evt_1").await, ["we_1"]);
}

contract!(a_claim_is_exclusive_until_its_lease_ends);
async fn a_claim_is_exclusive_until_its_lease_ends(db: &TestDb) {
    let store = &db.store;
    let scope = one_delivery(store).await;
    let claimed = store
        .claim_deliveries(&claim_of("w1", NOW_MS, 10))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].scope, scope);
    assert_eq!(claimed[0].key, key("evt_1", "we_1"));
    assert_eq!((claimed[0].attempts, claimed[0].created_ms), (0, T0 * 1000));
    assert!(store
        .claim_deliveries(&claim_of("w2", NOW_MS + 1, 10))
        .await
        .unwrap()
        .is_empty());

    let after_lease = NOW_MS + LEASE_MS;
    let taken = store
        .claim_deliveries(&claim_of("w2", after_lease, 10))
        .await
        .unwrap();
    assert_eq!(taken.len(), 1, "a dead claimant's delivery is taken over");
    let late = store
        .record_attempt(&failure("w1", 1, Some(after_lease)), after_lease)
        .await;
    assert_eq!(late, Err(StoreError::ClaimLost));
}

contract!(concurrent_claims_never_share_a_delivery);
async fn concurrent_claims_never_share_a_delivery(db: &TestDb) {
    let store = &db.store;
    let scope = one_delivery(store).await;
    for i in 0..60 {
        store
            .commit(one(event(&scope, &format!("evt_n{i}"), "x.y")))
            .await
            .unwrap();
    }
    let mut workers = vec![];
    for w in 0..4 {
        let store = store.clone();
        workers.push(tokio::spawn(async move {
            let mut mine = vec![];
            for _ in 0..40 {
                let claim = claim_of(&format!("w{w}"), NOW_MS, 3);
                mine.extend(store.claim_deliveries(&claim).await.unwrap());
            }
            mine
        }));
    }
    let mut seen = HashSet::new();
    for worker in workers {
        for claimed in worker.await.unwrap() {
            assert!(
                seen.insert(claimed.key.clone()),
                "claimed twice: {:?}",
                claimed.key
            );
        }
    }
    assert_eq!(seen.len(), 61);
}

contract!(an_attempt_moves_its_delivery_on_and_is_logged);
async fn an_attempt_moves_its_delivery_on_and_is_logged(db: &TestDb) {
    let store = &db.store;
    let scope = one_delivery(store).await;
    store
        .claim_deliveries(&claim_of("w1", NOW_MS, 1))
        .await
        .unwrap();
    let retry_at = NOW_MS + 5_000;
    let since = store
        .record_attempt(&failure("w1", 1, Some(retry_at)), NOW_MS)
        .await;
    assert_eq!(
        since,
        Ok(Some(NOW_MS)),
        "the endpoint's run of failures starts"
    );
    assert!(store
        .claim_deliveries(&claim_of("w1", retry_at - 1, 1))
        .await
        .unwrap()
        .is_empty());
    let again = store
        .claim_deliveries(&claim_of("w1", retry_at, 1))
        .await
        .unwrap();
    assert_eq!(again[0].attempts, 1);

    let mut success = failure("w1", 2, None);
    (success.status_code, success.error, success.state) =
        (Some(204), None, DeliveryState::Delivered);
    assert_eq!(
        store.record_attempt(&success, retry_at).await,
        Ok(None),
        "a success ends the run"
    );
    let page = store
        .list_deliveries(&scope, &DeliveryFilter::Event("evt_1".into()), 5)
        .await
        .unwrap();
    let delivered = &page.deliveries[0];
    assert_eq!(
        (delivered.state, delivered.attempts),
        (DeliveryState::Delivered, 2)
    );
    assert_eq!(delivered.last_status_code, Some(204));
    let log = store
        .delivery_attempts(&key("evt_1", "we_1"), 10)
        .await
        .unwrap();
    let numbers: Vec<i64> = log.iter().map(|a| a.attempt).collect();
    assert_eq!(numbers, [2, 1], "newest first");
    assert_eq!(log[1].status_code, Some(500));
    assert_eq!(log[1].next_retry_at_ms, Some(retry_at));
    assert_eq!(log[1].error.as_deref(), Some("HTTP 500"));
    assert!(store
        .claim_deliveries(&claim_of("w1", retry_at * 2, 1))
        .await
        .unwrap()
        .is_empty());
}

contract!(excluded_endpoints_are_skipped_and_released_deliveries_return);
async fn excluded_endpoints_are_skipped_and_released_deliveries_return(db: &TestDb) {
    let store = &db.store;
    one_delivery(store).await;
    let mut claim = claim_of("w1", NOW_MS, 10);
    claim.excluded_endpoints = vec!["we_1".to_owned()];
    assert!(store.claim_deliveries(&claim).await.unwrap().is_empty());
    let claimed = store
        .claim_deliveries(&claim_of("w1", NOW_MS, 10))
        .await
        .unwrap();
    store
        .release_deliveries("w1", &[claimed[0].key.clone()])
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_deliveries(&claim_of("w2", NOW_MS, 10))
            .await
            .unwrap()
            .len(),
        1
    );
    store
        .abandon_delivery("w2", &key("evt_1", "we_1"), "endpoint disabled")
        .await
        .unwrap();
    assert_eq!(
        store
            .abandon_delivery("w2", &key("evt_1", "we_1"), "again")
            .await,
        Err(StoreError::ClaimLost)
    );
}

contract!(redelivery_makes_deliveries_due_again_and_creates_a_missing_one);
async fn redelivery_makes_deliveries_due_again_and_creates_a_missing_one(db: &TestDb) {
    let store = &db.store;
    let scope = one_delivery(store).await;
    store
        .claim_deliveries(&claim_of("w1", NOW_MS, 1))
        .await
        .unwrap();
    assert_eq!(
        store.redeliver(&scope, "evt_1", None, NOW_MS).await,
        Ok(0),
        "in flight"
    );
    store
        .record_attempt(&failure("w1", 1, None), NOW_MS)
        .await
        .unwrap();
    let later = NOW_MS + 1_000;
    assert_eq!(store.redeliver(&scope, "evt_1", None, later).await, Ok(1));
    let claimed = store
        .claim_deliveries(&claim_of("w1", later, 5))
        .await
        .unwrap();
    assert_eq!(claimed[0].attempts, 1, "attempt numbers continue");

    store
        .commit(one(endpoint(&scope, "we_2", "enabled", ",*,", false)))
        .await
        .unwrap();
    let one_endpoint = Redelivery {
        endpoint_id: "we_2".to_owned(),
        event_type: "charge.succeeded".to_owned(),
        created_ms: T0 * 1000,
    };
    assert_eq!(
        store
            .redeliver(&scope, "evt_1", Some(&one_endpoint), later)
            .await,
        Ok(1)
    );
    assert_eq!(endpoints_of(store, &scope, "evt_1").await, ["we_1", "we_2"]);
    let other = Scope {
        livemode: true,
        ..scope
    };
    assert_eq!(store.redeliver(&other, "evt_1", None, later).await, Ok(0));
}
