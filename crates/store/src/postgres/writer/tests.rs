//! The PostgreSQL writer's batches, against a real server: what fails
//! alone, what commits without savepoints, and the order batches keep.

use super::{apply_batch, BatchTransaction, Job, Redone, Turns, Undo};
use crate::model::{Scope, SqlValue, Table, WriteOp, WriteSet};
use crate::postgres::{pipeline, PlannedWrites};
use crate::sql::Sql;
use crate::StoreError;
use portcullis_domain::merchants::Merchant;
use tokio::sync::oneshot;

fn customer(scope: &Scope, id: &str) -> WriteOp {
    WriteOp::Insert {
        table: Table::Customers,
        scope: scope.clone(),
        id: id.to_owned(),
        created: 1,
        columns: vec![
            ("email", SqlValue::Text("c@example.com".to_owned())),
            ("name", SqlValue::Text("C".to_owned())),
            ("deleted", SqlValue::Bool(false)),
        ],
        body: "{}".to_owned(),
    }
}

fn job(ops: Vec<WriteOp>) -> Job {
    Job {
        writes: PlannedWrites::of(WriteSet { ops }),
        answer: oneshot::channel().0,
    }
}

async fn customers(db: &crate::postgres::TestDatabase, id: &str) -> i64 {
    let count = "SELECT count(*) FROM customers WHERE id = $1";
    db.client().query_one(count, &[&id]).await.unwrap().get(0)
}

async fn scope_of_a_merchant(db: &crate::postgres::TestDatabase) -> Scope {
    let merchant = Merchant::new("Acme", 1).unwrap();
    db._store.insert_merchant(&merchant).await.unwrap();
    Scope {
        merchant_id: merchant.id,
        livemode: false,
    }
}

/// Applies `jobs` as one batch on a connection of `db`'s pool, with no
/// batch before or after it; answers the guard and the outcome.
async fn apply_as_one_batch(
    db: &crate::postgres::TestDatabase,
    jobs: &mut [Job],
    undo: Undo,
) -> (BatchTransaction, (Vec<Result<(), StoreError>>, Redone)) {
    let mut tx = BatchTransaction::new(db._store.pool.get().await.unwrap());
    let turns = &mut Turns::default();
    let results = apply_batch(&mut tx, &db._store.pool, jobs, undo, turns)
        .await
        .unwrap();
    (tx, results)
}

/// Each way a batch is first tried, and whether a failing write set then
/// redoes it: without savepoints it is redone with them.
const EACH_UNDO: [(Undo, Redone); 2] = [
    (Undo::WholeBatch, Redone::Yes),
    (Undo::Savepoints, Redone::No),
];

/// The first statement after the pipelined `BEGIN` fails: its write set
/// fails alone, the next one commits, and the connection goes back to
/// the pool outside any transaction; tried without savepoints, the
/// batch is redone with them to the same outcome.
#[tokio::test]
async fn a_batch_whose_first_statement_fails_fails_that_write_set_alone() {
    for (undo, redone) in EACH_UNDO {
        let Some((db, scope)) = a_database_with_a_customer("cus_taken").await else {
            return;
        };
        let mut jobs = vec![
            job(vec![
                customer(&scope, "cus_taken"),
                customer(&scope, "cus_a"),
            ]),
            job(vec![customer(&scope, "cus_b")]),
        ];
        let (tx, results) = apply_as_one_batch(&db, &mut jobs, undo).await;
        assert_eq!(results, (vec![Err(StoreError::Duplicate), Ok(())], redone));
        assert_eq!(customers(&db, "cus_a").await, 0);
        assert_eq!(customers(&db, "cus_b").await, 1);
        let savepoint = tx.client().batch_execute("SAVEPOINT outside").await;
        assert!(savepoint.is_err(), "a transaction was left open");
    }
}

/// A batch in which nothing fails is tried, and committed, without a
/// savepoint: every row it wrote carries the one transaction id (a
/// savepoint per write set gives each write set's rows one of its own).
#[tokio::test]
async fn a_batch_in_which_nothing_fails_commits_without_savepoints() {
    let Some(db) = crate::postgres::test_database().await else {
        return;
    };
    let scope = scope_of_a_merchant(&db).await;
    let mut jobs = vec![
        job(vec![event(&scope, "evt_a"), customer(&scope, "cus_a")]),
        job(vec![customer(&scope, "cus_b")]),
    ];
    let (_, results) = apply_as_one_batch(&db, &mut jobs, Undo::WholeBatch).await;
    assert_eq!(results, (vec![Ok(()), Ok(())], Redone::No));
    assert_eq!(
        customers(&db, "cus_a").await + customers(&db, "cus_b").await,
        2
    );
    assert_eq!(events(&db, "evt_a").await, 1);
    let xids = "SELECT count(DISTINCT xmin::text) FROM customers WHERE id IN ('cus_a', 'cus_b')";
    let xids: i64 = db.client().query_one(xids, &[]).await.unwrap().get(0);
    assert_eq!(xids, 1, "the write sets were applied in savepoints");
}

/// A test database whose merchant has customer `id` stored, and its scope.
async fn a_database_with_a_customer(id: &str) -> Option<(crate::postgres::TestDatabase, Scope)> {
    let db = crate::postgres::test_database().await?;
    let scope = scope_of_a_merchant(&db).await;
    let stored = WriteSet {
        ops: vec![customer(&scope, id)],
    };
    db._store.commit(stored).await.unwrap();
    Some((db, scope))
}

fn event(scope: &Scope, id: &str) -> WriteOp {
    WriteOp::Insert {
        table: Table::Events,
        scope: scope.clone(),
        id: id.to_owned(),
        created: 1,
        columns: vec![("event_type", SqlValue::Text("customer.updated".to_owned()))],
        body: "{}".to_owned(),
    }
}

fn stale_update(scope: &Scope, id: &str) -> WriteOp {
    WriteOp::Update {
        table: Table::Customers,
        scope: scope.clone(),
        id: id.to_owned(),
        expected_version: 7,
        columns: vec![],
        body: "{}".to_owned(),
    }
}

async fn events(db: &crate::postgres::TestDatabase, id: &str) -> i64 {
    let count = "SELECT count(*) FROM events WHERE id = $1";
    db.client().query_one(count, &[&id]).await.unwrap().get(0)
}

/// Write sets of an event and a customer write are each one statement
/// of several writes (`sql::with_writes`); the middle one's update is
/// refused by the count its statement returns: it fails alone, leaving
/// no event, and the write sets before and after it in the batch (the
/// one after ran in the same round and is applied again) commit. Tried
/// without savepoints, the refused count redoes the batch with them.
#[tokio::test]
async fn a_refused_check_inside_a_statement_of_several_writes_fails_that_write_set_alone() {
    for (undo, redone) in EACH_UNDO {
        let Some((db, scope)) = a_database_with_a_customer("cus_old").await else {
            return;
        };
        let mut jobs = vec![
            job(vec![event(&scope, "evt_a"), customer(&scope, "cus_a")]),
            job(vec![
                event(&scope, "evt_b"),
                stale_update(&scope, "cus_old"),
            ]),
            job(vec![event(&scope, "evt_c"), customer(&scope, "cus_c")]),
        ];
        let one_statement = |job: &Job| job.writes.statements.len();
        assert_eq!(
            jobs.iter().map(one_statement).collect::<Vec<_>>(),
            [1, 1, 1]
        );
        let (_, results) = apply_as_one_batch(&db, &mut jobs, undo).await;
        let expected = vec![Ok(()), Err(StoreError::Conflict), Ok(())];
        assert_eq!(results, (expected, redone));
        assert_eq!(events(&db, "evt_b").await, 0);
        assert_eq!(
            (events(&db, "evt_a").await, events(&db, "evt_c").await),
            (1, 1)
        );
        assert_eq!(
            customers(&db, "cus_a").await + customers(&db, "cus_c").await,
            2
        );
    }
}

/// Many write sets at once, so that a batch applies its documents while
/// the one before it commits: a reader polling the events never sees a
/// `seq` appear below one it has already seen (what a client polling
/// with `ending_before` relies on), and every write set is committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rows_become_visible_in_seq_order_with_two_batches_in_flight() {
    const WRITE_SETS: usize = 1_000;
    let Some(db) = crate::postgres::test_database().await else {
        return;
    };
    let scope = scope_of_a_merchant(&db).await;
    let store = std::sync::Arc::new(db._store.clone());
    let writers: Vec<_> = (0..WRITE_SETS)
        .map(|n| {
            let (store, scope) = (store.clone(), scope.clone());
            tokio::spawn(async move {
                let ops = vec![event(&scope, &format!("evt_{n:04}"))];
                store.commit(WriteSet { ops }).await
            })
        })
        .collect();
    let (mut seen_max, mut seen, mut polls) = (0_i64, 0_i64, 0);
    let poll = "SELECT count(*) FILTER (WHERE seq <= $1), count(*), COALESCE(max(seq), 0) \
                FROM events";
    while seen < WRITE_SETS as i64 {
        let row = db.client().query_one(poll, &[&seen_max]).await.unwrap();
        let at_or_below_seen: i64 = row.get(0);
        assert_eq!(
            at_or_below_seen, seen,
            "after {polls} polls a row appeared below seq {seen_max}, already seen"
        );
        (seen, seen_max) = (row.get(1), row.get(2));
        polls += 1;
    }
    for writer in writers {
        writer.await.unwrap().unwrap();
    }
    assert!(polls > 2, "the reader saw the writes in {polls} polls only");
}

/// Batch A's COMMIT is held up (a deferred trigger sleeps in it) after
/// its documents are final; write set B, sent meanwhile, goes in the
/// next batch and applies its documents at once, but its caller is
/// answered only after A has committed: commits keep batch order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_commits_only_after_the_batch_before_it_has() {
    let Some(db) = crate::postgres::test_database().await else {
        return;
    };
    let scope = scope_of_a_merchant(&db).await;
    let slow_commit = "CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN PERFORM pg_sleep(0.8); RETURN NULL; END $$; \
         CREATE CONSTRAINT TRIGGER customers_slow_commit AFTER INSERT ON customers \
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.id = 'cus_slow') \
         EXECUTE FUNCTION slow_commit()";
    db.client().batch_execute(slow_commit).await.unwrap();
    let store = db._store.clone();
    let first = {
        let (store, scope) = (store.clone(), scope.clone());
        tokio::spawn(async move {
            let ops = vec![customer(&scope, "cus_slow")];
            store.commit(WriteSet { ops }).await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let sent = std::time::Instant::now();
    let ops = vec![event(&scope, "evt_after")];
    store.commit(WriteSet { ops }).await.unwrap();
    assert_eq!(
        customers(&db, "cus_slow").await,
        1,
        "the second batch committed first, after {:?}",
        sent.elapsed()
    );
    first.await.unwrap().unwrap();
}

/// A guard dropped while its transaction is open (a panic, a
/// cancellation) closes its connection instead of returning it to
/// the pool inside the transaction, whose writes are lost.
#[tokio::test]
async fn a_transaction_dropped_open_closes_its_connection() {
    let Some(db) = crate::postgres::test_database().await else {
        return;
    };
    let scope = scope_of_a_merchant(&db).await;
    let pool = db._store.pool.clone();
    let mut tx = BatchTransaction::new(pool.get().await.unwrap());
    let begin = tx.begin_statement().expect("not open yet");
    assert!(tx.begin_statement().is_none(), "one BEGIN per transaction");
    let insert = crate::sql::docs::insert_doc(
        crate::postgres::D,
        Table::Customers,
        &scope,
        "cus_lost",
        1,
        &[
            ("email", SqlValue::Text("l@example.com".to_owned())),
            ("name", SqlValue::Text("L".to_owned())),
            ("deleted", SqlValue::Bool(false)),
        ],
        "{}",
    );
    pipeline::run_each(tx.client(), &[&begin, &insert])
        .await
        .unwrap();
    let open = pool.status().size;
    drop(tx);
    assert_eq!(pool.status().size, open - 1, "the connection was kept");
    assert_eq!(customers(&db, "cus_lost").await, 0);

    // A rolled-back guard gives its connection back, outside any transaction.
    let mut tx = BatchTransaction::new(pool.get().await.unwrap());
    let begin: Sql = tx.begin_statement().expect("not open yet");
    pipeline::run_each(tx.client(), &[&begin, &insert])
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    let savepoint = tx.client().batch_execute("SAVEPOINT outside").await;
    assert!(savepoint.is_err(), "a transaction was left open");
    drop(tx);
    assert_eq!(
        pool.status().size,
        open,
        "the connection was not given back"
    );
    assert_eq!(customers(&db, "cus_lost").await, 0);
}
