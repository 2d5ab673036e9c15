//! The store's risk counters on both backends: upserts add, windows sum
//! the right buckets, distinct cards count once, sightings only move
//! forward, and everything stays inside its scope.

#[allow(dead_code)]
mod support;

use portcullis_store::{
    RiskCardsRead, RiskCounterQuery, RiskCounters, RiskMetric, RiskSighting, RiskSubjectKind,
    RiskWrite, Scope, WriteOp, WriteSet, RISK_LIFETIME_BUCKET,
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

/// One subject's counters, read as the payment path reads them.
async fn counters(store: &portcullis_store::Store, q: &RiskCounterQuery) -> RiskCounters {
    let history = store.risk_history(std::slice::from_ref(q), &q.scope, "fp_x");
    let mut history = history.await.unwrap();
    assert_eq!(history.counters.len(), 1);
    history.counters.remove(0)
}

async fn sighting(
    store: &portcullis_store::Store,
    scope: &Scope,
    card: &str,
) -> Option<RiskSighting> {
    store.risk_history(&[], scope, card).await.unwrap().sighting
}

fn query(scope: &Scope, card: &str) -> RiskCounterQuery {
    RiskCounterQuery {
        scope: scope.clone(),
        kind: RiskSubjectKind::Ip,
        subject: "203.0.113.9".into(),
        hour_from: HOUR - 1,
        day_from: HOUR - 24,
        card: Some(card.into()),
        cards: RiskCardsRead::Counted,
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
    let read = counters(store, &query(&scope, "fp_c")).await;
    assert_eq!((read.total.hourly, read.total.daily), (2, 3));
    assert_eq!((read.declined.hourly, read.declined.daily), (1, 1));
    assert_eq!((read.authorized.hourly, read.authorized.daily), (1, 1));
    assert_eq!((read.history_count, read.history_usd_cents), (2, 2_000));
    assert_eq!((read.cards.hourly, read.cards.daily), (2, 3));
    assert!(!read.card_seen_hourly && read.card_seen_daily);
    let fresh = counters(store, &query(&other, "fp_a")).await;
    assert_eq!((fresh.total.hourly, fresh.cards.daily), (1, 0));
}

contract!(a_read_that_skips_cards_answers_the_same_counters_and_no_cards);
/// A query with `RiskCardsRead::Skipped` answers the counters a counted
/// one does, beside one that counts, and zero cards never seen.
async fn a_read_that_skips_cards_answers_the_same_counters_and_no_cards(db: &TestDb) {
    let store = &db.store;
    let scope = test_scope(&merchant(store, "Acme").await.id);
    let ops = vec![
        count(&scope, RiskMetric::Total, HOUR, 0),
        count(&scope, RiskMetric::Authorized, RISK_LIFETIME_BUCKET, 1_250),
        seen(&scope, HOUR, "fp_a"),
        seen(&scope, HOUR - 3, "fp_b"),
    ];
    store.commit(WriteSet { ops }).await.unwrap();
    let counted = query(&scope, "fp_a");
    let skipped = RiskCounterQuery {
        cards: RiskCardsRead::Skipped,
        ..counted.clone()
    };
    let history = store
        .risk_history(&[skipped, counted], &scope, "fp_a")
        .await
        .unwrap();
    let [skipped, counted] = &history.counters[..] else {
        panic!("two answers for two queries");
    };
    assert_eq!((counted.cards.hourly, counted.cards.daily), (1, 2));
    assert!(counted.card_seen_hourly && counted.card_seen_daily);
    let expected = RiskCounters {
        cards: Default::default(),
        card_seen_hourly: false,
        card_seen_daily: false,
        ..counted.clone()
    };
    assert_eq!(skipped, &expected);
    assert_eq!((skipped.total.daily, skipped.history_count), (1, 1));
}

contract!(a_read_of_more_subjects_than_one_statement_holds_answers_each_in_order);
/// A read longer than one statement's queries (`portcullis seed`'s check
/// reads 500 subjects at once) answers every query, in order, and the
/// sighting.
async fn a_read_of_more_subjects_than_one_statement_holds_answers_each_in_order(db: &TestDb) {
    let store = &db.store;
    let scope = test_scope(&merchant(store, "Acme").await.id);
    let subject = |n: usize| format!("198.51.{}.{}", n / 200, n % 200);
    let mut ops: Vec<WriteOp> = (0..450)
        .filter(|n| n % 7 == 3)
        .map(|n| {
            WriteOp::Risk(RiskWrite::Count {
                scope: scope.clone(),
                kind: RiskSubjectKind::Ip,
                subject: subject(n),
                metric: RiskMetric::Total,
                bucket_hour: HOUR,
                count: n as i64,
                amount_usd_cents: 0,
            })
        })
        .collect();
    ops.push(WriteOp::Risk(RiskWrite::Sighting {
        scope: scope.clone(),
        card: "fp_a".into(),
        latitude_micro: 1,
        longitude_micro: 2,
        seen_at: 3,
    }));
    store.commit(WriteSet { ops }).await.unwrap();
    let queries: Vec<RiskCounterQuery> = (0..450)
        .map(|n| RiskCounterQuery {
            subject: subject(n),
            ..query(&scope, "fp_a")
        })
        .collect();
    let history = store.risk_history(&queries, &scope, "fp_a").await.unwrap();
    let totals: Vec<i64> = history.counters.iter().map(|c| c.total.hourly).collect();
    let expected: Vec<i64> = (0..450)
        .map(|n| if n % 7 == 3 { n as i64 } else { 0 })
        .collect();
    assert_eq!(totals, expected);
    assert_eq!(history.sighting.map(|s| s.seen_at), Some(3));
}

contract!(a_cards_sighting_only_moves_forward);
async fn a_cards_sighting_only_moves_forward(db: &TestDb) {
    let store = &db.store;
    let scope = test_scope(&merchant(store, "Acme").await.id);
    assert_eq!(sighting(store, &scope, "fp_a").await, None);
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
    let sighting = sighting(store, &scope, "fp_a").await.unwrap();
    assert_eq!((sighting.latitude_micro, sighting.seen_at), (30, 300));
}

contract!(one_read_answers_every_subject_in_order_and_the_sighting);
async fn one_read_answers_every_subject_in_order_and_the_sighting(db: &TestDb) {
    let store = &db.store;
    let scope = test_scope(&merchant(store, "Acme").await.id);
    let sighting = WriteOp::Risk(RiskWrite::Sighting {
        scope: scope.clone(),
        card: "fp_a".into(),
        latitude_micro: 7,
        longitude_micro: 8,
        seen_at: 9,
    });
    let ops = vec![
        count(&scope, RiskMetric::Total, HOUR, 0),
        count(&scope, RiskMetric::Total, HOUR - 1, 0),
        sighting,
    ];
    store.commit(WriteSet { ops }).await.unwrap();
    let ip = query(&scope, "fp_a");
    let unseen = RiskCounterQuery {
        subject: "198.51.100.1".into(),
        ..ip.clone()
    };
    let history = store
        .risk_history(&[unseen, ip], &scope, "fp_a")
        .await
        .unwrap();
    let totals: Vec<i64> = history.counters.iter().map(|c| c.total.daily).collect();
    assert_eq!(totals, [0, 2]);
    let seen = history.sighting.unwrap();
    assert_eq!(
        (seen.latitude_micro, seen.longitude_micro, seen.seen_at),
        (7, 8, 9)
    );
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

/// A pseudo-random risk write of `scope`: counts, card sightings per
/// subject and card locations over a few subjects, cards and hours
/// (the lifetime bucket among them), as a seeder's memory applies them.
fn random_write(rng: &mut impl rand::Rng, scope: &Scope) -> RiskWrite {
    let kinds = [
        RiskSubjectKind::Card,
        RiskSubjectKind::Customer,
        RiskSubjectKind::Ip,
    ];
    let kind = kinds[rng.gen_range(0..kinds.len())];
    let subject = format!("subject_{}", rng.gen_range(0..4));
    let card = format!("fp_{}", rng.gen_range(0..5));
    let bucket_hour = match rng.gen_range(0..8) {
        0 => RISK_LIFETIME_BUCKET,
        n => HOUR - 30 + 5 * n,
    };
    match rng.gen_range(0..6) {
        0..=2 => RiskWrite::Count {
            scope: scope.clone(),
            kind,
            subject,
            metric: [
                RiskMetric::Total,
                RiskMetric::Authorized,
                RiskMetric::Declined,
            ][rng.gen_range(0..3)],
            bucket_hour,
            count: rng.gen_range(1..3),
            amount_usd_cents: rng.gen_range(0..10_000),
        },
        3 | 4 => RiskWrite::CardSeen {
            scope: scope.clone(),
            kind,
            subject,
            bucket_hour,
            card,
        },
        _ => RiskWrite::Sighting {
            scope: scope.clone(),
            card,
            latitude_micro: rng.gen_range(-90..90),
            longitude_micro: rng.gen_range(-180..180),
            seen_at: rng.gen_range(0..1_000),
        },
    }
}

contract!(memory_answers_what_the_store_answers);
/// `RiskMemory` (what `portcullis seed` keeps instead of reading) and the
/// store, given the same writes, answer every read the same, whatever the
/// windows.
async fn memory_answers_what_the_store_answers(db: &TestDb) {
    use rand::SeedableRng;
    let store = &db.store;
    let scope = test_scope(&merchant(store, "Acme").await.id);
    let mut memory = portcullis_store::RiskMemory::new(scope.clone());
    let mut rng = rand::rngs::StdRng::seed_from_u64(18);
    for _ in 0..6 {
        let writes: Vec<RiskWrite> = (0..200).map(|_| random_write(&mut rng, &scope)).collect();
        for write in &writes {
            memory.apply(write);
        }
        let ops = writes.into_iter().map(WriteOp::Risk).collect();
        store.commit(WriteSet { ops }).await.unwrap();
        // Window starts on bucket hours (HOUR - 25 … HOUR + 5, every 5)
        // and between them.
        for hour_from in [HOUR - 25, HOUR - 10, HOUR, HOUR + 1] {
            let queries: Vec<RiskCounterQuery> = (0..4)
                .flat_map(|n| {
                    [
                        RiskSubjectKind::Card,
                        RiskSubjectKind::Customer,
                        RiskSubjectKind::Ip,
                    ]
                    .map(|kind| RiskCounterQuery {
                        scope: scope.clone(),
                        kind,
                        subject: format!("subject_{n}"),
                        hour_from,
                        day_from: hour_from - 12,
                        card: Some(format!("fp_{n}")),
                        cards: if n % 2 == 0 {
                            RiskCardsRead::Counted
                        } else {
                            RiskCardsRead::Skipped
                        },
                    })
                })
                .collect();
            for card in ["fp_0", "fp_3", "fp_none"] {
                let stored = store.risk_history(&queries, &scope, card).await.unwrap();
                assert_eq!(memory.history(&queries, &scope, card), stored);
            }
        }
    }
}
