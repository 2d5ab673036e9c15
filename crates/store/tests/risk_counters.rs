//! The store's risk counters on both backends: upserts add, windows sum
//! the right buckets, distinct cards count once, sightings only move
//! forward, and everything stays inside its scope.

#[allow(dead_code)]
mod support;

use portcullis_store::{
    RiskCounterQuery, RiskMetric, RiskSubjectKind, RiskWrite, Scope, WriteOp, WriteSet,
    RISK_LIFETIME_BUCKET,
};
use support::{merchant, test_scope, TestDb};

macro_rules! contract {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = crate::support::TestDb::sqlite().await;
                super::$name(&db).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(db) = crate::support::TestDb::postgres().await else {
                    return;
                };
                super::$name(&db).await;
            }
        }
    };
}

const HOUR: i64 = 490_000;

fn count(scope: &Scope, metric: RiskMetric, bucket_hour: i64, cents: i64) -> WriteOp {
    WriteOp::Risk(RiskWrite::Count {
        scope: scope.clone(),
        kind: RiskSubjectKind::Ip,
        subject: "203.0.113.9".into(),
        metric,
        bucket_hour,
        count: 1,
        amount_usd_cents: cents,
    })
}

fn seen(scope: &Scope, bucket_hour: i64, card: &str) -> WriteOp {
    WriteOp::Risk(RiskWrite::CardSeen {
        scope: scope.clone(),
        kind: RiskSubjectKind::Ip,
        subject: "203.0.113.9".into(),
        bucket_hour,
        card: card.into(),
    })
}

fn query(scope: &Scope, card: &str) -> RiskCounterQuery {
    RiskCounterQuery {
        scope: scope.clone(),
        kind: RiskSubjectKind::Ip,
        subject: "203.0.113.9".into(),
        hour_from: HOUR - 1,
        day_from: HOUR - 24,
        card: Some(card.into()),
    }
}

contract!(counters_add_up_per_window_and_scope);
async fn counters_add_up_per_window_and_scope(db: &TestDb) {
    let store = &db.store;
    let scope = test_scope(&merchant(store, "Acme").await.id);
    let other = test_scope(&merchant(store, "Globex").await.id);
    let mut writes = WriteSet::new();
    for op in [
        count(&scope, RiskMetric::Total, HOUR, 0),
        count(&scope, RiskMetric::Total, HOUR, 0),
        count(&scope, RiskMetric::Total, HOUR - 5, 0),
        count(&scope, RiskMetric::Total, HOUR - 30, 0),
        count(&scope, RiskMetric::Declined, HOUR - 1, 0),
        count(&scope, RiskMetric::Authorized, HOUR, 0),
        count(&scope, RiskMetric::Authorized, RISK_LIFETIME_BUCKET, 1_250),
        count(&scope, RiskMetric::Authorized, RISK_LIFETIME_BUCKET, 750),
        seen(&scope, HOUR, "fp_a"),
        seen(&scope, HOUR, "fp_a"),
        seen(&scope, HOUR, "fp_b"),
        seen(&scope, HOUR - 3, "fp_c"),
        seen(&scope, HOUR - 30, "fp_d"),
        count(&other, RiskMetric::Total, HOUR, 0),
    ] {
        writes.push(op);
    }
    store.commit(writes).await.unwrap();
    let read = store.risk_counters(&query(&scope, "fp_c")).await.unwrap();
    assert_eq!((read.total.hourly, read.total.daily), (2, 3));
    assert_eq!((read.declined.hourly, read.declined.daily), (1, 1));
    assert_eq!((read.authorized.hourly, read.authorized.daily), (1, 1));
    assert_eq!((read.history_count, read.history_usd_cents), (2, 2_000));
    assert_eq!((read.cards.hourly, read.cards.daily), (2, 3));
    assert!(!read.card_seen_hourly && read.card_seen_daily);
    let fresh = store.risk_counters(&query(&other, "fp_a")).await.unwrap();
    assert_eq!((fresh.total.hourly, fresh.cards.daily), (1, 0));
}

contract!(a_cards_sighting_only_moves_forward);
async fn a_cards_sighting_only_moves_forward(db: &TestDb) {
    let store = &db.store;
    let scope = test_scope(&merchant(store, "Acme").await.id);
    assert_eq!(store.risk_sighting(&scope, "fp_a").await.unwrap(), None);
    for (latitude_micro, seen_at) in [(10, 100), (30, 300), (20, 200)] {
        let op = WriteOp::Risk(RiskWrite::Sighting {
            scope: scope.clone(),
            card: "fp_a".into(),
            latitude_micro,
            longitude_micro: -5,
            seen_at,
        });
        store.commit(WriteSet { ops: vec![op] }).await.unwrap();
    }
    let sighting = store.risk_sighting(&scope, "fp_a").await.unwrap().unwrap();
    assert_eq!((sighting.latitude_micro, sighting.seen_at), (30, 300));
}

fn routed(scope: &Scope, account: &str, slot: i64, bucket_start: i64, authorized: bool) -> WriteOp {
    WriteOp::Risk(RiskWrite::RoutingOutcome {
        scope: scope.clone(),
        segment: "visa:usd:*".into(),
        connector_account: account.into(),
        slot,
        bucket_start,
        authorized,
    })
}

contract!(routing_outcomes_sum_their_window_and_a_slot_is_reused);
async fn routing_outcomes_sum_their_window_and_a_slot_is_reused(db: &TestDb) {
    use portcullis_store::RoutingOutcomeQuery;
    let store = &db.store;
    let scope = test_scope(&merchant(store, "Acme").await.id);
    let other = test_scope(&merchant(store, "Globex").await.id);
    let writes = WriteSet {
        ops: vec![
            routed(&scope, "ca_a", 1, 1_000, true),
            routed(&scope, "ca_a", 1, 1_000, false),
            routed(&scope, "ca_a", 2, 1_060, true),
            routed(&scope, "ca_b", 1, 1_000, false),
            routed(&other, "ca_a", 1, 1_000, true),
        ],
    };
    store.commit(writes).await.unwrap();
    let read = |from: i64, segments: Vec<String>| {
        let query = RoutingOutcomeQuery {
            scope: scope.clone(),
            segments,
            from,
        };
        async move {
            let mut rows: Vec<_> = store
                .routing_outcomes(&query)
                .await
                .unwrap()
                .into_iter()
                .map(|r| (r.connector_account, r.authorized, r.declined))
                .collect();
            rows.sort();
            rows
        }
    };
    let segment = vec!["visa:usd:*".to_owned()];
    assert_eq!(
        read(1_000, segment.clone()).await,
        vec![("ca_a".into(), 2, 1), ("ca_b".into(), 0, 1)]
    );
    assert_eq!(
        read(1_001, segment.clone()).await,
        vec![("ca_a".into(), 1, 0)]
    );
    assert!(read(0, vec!["visa:eur:*".into()]).await.is_empty());
    assert!(read(0, vec![]).await.is_empty());
    // Slot 1 comes round again: its old bucket is replaced, not added to;
    // a late write for an older bucket does not bring it back.
    let again = WriteSet {
        ops: vec![
            routed(&scope, "ca_a", 1, 1_720, false),
            routed(&scope, "ca_a", 1, 1_000, true),
        ],
    };
    store.commit(again).await.unwrap();
    assert_eq!(
        read(0, segment).await,
        vec![("ca_a".into(), 1, 1), ("ca_b".into(), 0, 1)]
    );
}
