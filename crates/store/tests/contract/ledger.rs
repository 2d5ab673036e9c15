//! The ledger's storage contract, on both backends: appends chain and
//! balance in the same transaction as the write set they belong to;
//! floors refuse the whole write set; keys are idempotent; the rows are
//! append-only even to someone with SQL access; concurrent appends form
//! one chain.

use crate::support::{merchant, one, test_scope, Customer, TestDb, T0};
use portcullis_domain::ids::MerchantId;
use portcullis_domain::money::Currency;
use portcullis_ledger::movements::{self, Parties};
use portcullis_ledger::transaction::TransactionHeader;
use portcullis_ledger::{LedgerTransaction, TransactionKind};
use portcullis_store::{StoreError, WriteOp, WriteSet};

fn parties(merchant: &MerchantId) -> Parties {
    Parties {
        merchant: merchant.clone(),
        livemode: false,
        currency: Currency::parse("usd").unwrap(),
        connector: "sandbox".into(),
    }
}

fn header(kind: TransactionKind, key: &str) -> TransactionHeader {
    TransactionHeader {
        id: format!("ltx_{}", key.replace(':', "_")),
        idempotency_key: key.to_owned(),
        kind,
        source: "ch_1".to_owned(),
        created: T0,
    }
}

fn append(transaction: LedgerTransaction) -> WriteOp {
    WriteOp::LedgerAppend { transaction }
}

/// A capture of 1000 with a fee of 59, settled: 941 available.
async fn funded(db: &TestDb) -> MerchantId {
    let acme = merchant(&db.store, "Acme").await.id;
    let p = parties(&acme);
    let capture = movements::capture(
        header(TransactionKind::Capture, "capture:ch_1"),
        &p,
        1000,
        59,
    )
    .unwrap();
    let settle =
        movements::settlement(header(TransactionKind::Settlement, "settle:txn_1"), &p, 941)
            .unwrap();
    db.store.commit(one(append(capture))).await.unwrap();
    db.store.commit(one(append(settle))).await.unwrap();
    acme
}

async fn balance(db: &TestDb, account: &str) -> i64 {
    let rows = db
        .store
        .ledger_balances(&[account.to_owned()])
        .await
        .unwrap();
    rows.iter().map(|row| row.balance_minor).sum()
}

contract!(appends_form_a_verified_chain_and_keep_balances);
async fn appends_form_a_verified_chain_and_keep_balances(db: &TestDb) {
    let report = db.store.verify_ledger().await.unwrap().unwrap();
    assert_eq!(report.entries, 0);
    let acme = funded(db).await;
    let available = format!("test:merchant:{acme}:available");
    assert_eq!(balance(db, &available).await, 941);
    assert_eq!(
        balance(db, &format!("test:merchant:{acme}:pending")).await,
        0
    );
    assert_eq!(balance(db, "test:fee_revenue").await, 59);
    assert_eq!(balance(db, "test:receivable:sandbox").await, -1000);
    let report = db.store.verify_ledger().await.unwrap().unwrap();
    assert_eq!((report.entries, report.head.sequence), (2, 2));
    let hash = db.store.ledger_hash_at(2).await.unwrap();
    assert_eq!(hash, Some(report.head.hash));
    assert_eq!(db.store.ledger_hash_at(3).await.unwrap(), None);
}

contract!(a_payout_above_available_refuses_the_whole_write_set);
async fn a_payout_above_available_refuses_the_whole_write_set(db: &TestDb) {
    let acme = funded(db).await;
    let scope = test_scope(&acme);
    let customer = Customer::new("cus_payout_witness", T0, "w@example.com", "Witness");
    let too_much = movements::payout(
        header(TransactionKind::Payout, "payout:po_1"),
        &parties(&acme),
        942,
    )
    .unwrap();
    let writes = WriteSet {
        ops: vec![append(too_much), customer.insert(&scope)],
    };
    let refused = db.store.commit(writes).await;
    assert!(
        matches!(refused, Err(StoreError::InsufficientBalance { ref account, .. }) if account.ends_with(":available")),
        "{refused:?}"
    );
    assert!(db
        .store
        .get(
            portcullis_store::Table::Customers,
            &scope,
            "cus_payout_witness"
        )
        .await
        .unwrap()
        .is_none());
    let exact = movements::payout(
        header(TransactionKind::Payout, "payout:po_2"),
        &parties(&acme),
        941,
    )
    .unwrap();
    db.store.commit(one(append(exact))).await.unwrap();
    assert_eq!(
        balance(db, &format!("test:merchant:{acme}:available")).await,
        0
    );
    assert_eq!(
        balance(db, &format!("test:merchant:{acme}:reserved")).await,
        941
    );
    assert_eq!(db.store.verify_ledger().await.unwrap().unwrap().entries, 3);
}

contract!(a_repeated_key_is_a_no_op_for_the_same_movement_and_a_duplicate_otherwise);
async fn a_repeated_key_is_a_no_op_for_the_same_movement_and_a_duplicate_otherwise(db: &TestDb) {
    let acme = funded(db).await;
    let mut again = header(TransactionKind::Capture, "capture:ch_1");
    again.id = "ltx_other_id".to_owned();
    again.created = T0 + 60;
    let same = movements::capture(again.clone(), &parties(&acme), 1000, 59).unwrap();
    db.store.commit(one(append(same))).await.unwrap();
    let other = movements::capture(again, &parties(&acme), 1000, 58).unwrap();
    assert_eq!(
        db.store.commit(one(append(other))).await,
        Err(StoreError::Duplicate)
    );
    assert_eq!(db.store.verify_ledger().await.unwrap().unwrap().entries, 2);
}

fn payout(acme: &MerchantId, key: &str, amount_minor: i64) -> WriteOp {
    let header = header(TransactionKind::Payout, key);
    append(movements::payout(header, &parties(acme), amount_minor).unwrap())
}

contract!(a_write_set_s_appends_link_in_order_all_or_none);
async fn a_write_set_s_appends_link_in_order_all_or_none(db: &TestDb) {
    let acme = funded(db).await;
    let available = format!("test:merchant:{acme}:available");
    let over_the_floor_together = WriteSet {
        ops: vec![
            payout(&acme, "payout:po_1", 500),
            payout(&acme, "payout:po_2", 442),
        ],
    };
    assert!(matches!(
        db.store.commit(over_the_floor_together).await,
        Err(StoreError::InsufficientBalance { .. })
    ));
    assert_eq!(balance(db, &available).await, 941);
    let other_movement_same_key = WriteSet {
        ops: vec![
            payout(&acme, "payout:po_1", 500),
            payout(&acme, "payout:po_1", 501),
        ],
    };
    assert_eq!(
        db.store.commit(other_movement_same_key).await,
        Err(StoreError::Duplicate)
    );
    assert_eq!(db.store.verify_ledger().await.unwrap().unwrap().entries, 2);
    let same_movement_twice = WriteSet {
        ops: vec![
            payout(&acme, "payout:po_1", 500),
            payout(&acme, "payout:po_1", 500),
            payout(&acme, "payout:po_2", 441),
        ],
    };
    db.store.commit(same_movement_twice).await.unwrap();
    assert_eq!(balance(db, &available).await, 0);
    assert_eq!(
        balance(db, &format!("test:merchant:{acme}:reserved")).await,
        941
    );
    assert_eq!(db.store.verify_ledger().await.unwrap().unwrap().entries, 4);
}

contract!(a_balance_that_would_overflow_refuses_the_write_set);
async fn a_balance_that_would_overflow_refuses_the_write_set(db: &TestDb) {
    let acme = funded(db).await;
    let near_the_top = i64::MAX - 10;
    db.raw_execute(&format!(
        "UPDATE ledger_balances SET balance_minor = {near_the_top} WHERE account = 'test:fee_revenue'"
    ))
    .await
    .unwrap();
    let capture = movements::capture(
        header(TransactionKind::Capture, "capture:ch_2"),
        &parties(&acme),
        1000,
        59,
    )
    .unwrap();
    let refused = db.store.commit(one(append(capture))).await;
    assert!(
        matches!(refused, Err(StoreError::Corrupt(_))),
        "{refused:?}"
    );
    assert_eq!(balance(db, "test:fee_revenue").await, near_the_top);
    assert_eq!(balance(db, "test:receivable:sandbox").await, -1000);
    assert_eq!(db.store.ledger_hash_at(3).await.unwrap(), None);
}

contract!(ledger_rows_refuse_updates_deletes_and_unchained_inserts);
async fn ledger_rows_refuse_updates_deletes_and_unchained_inserts(db: &TestDb) {
    funded(db).await;
    for attack in [
        "UPDATE ledger_transactions SET created = 1 WHERE sequence = 1",
        "DELETE FROM ledger_transactions WHERE sequence = 2",
        "UPDATE ledger_postings SET amount_minor = 1 WHERE transaction_sequence = 1 AND position = 0",
        "DELETE FROM ledger_postings WHERE transaction_sequence = 2",
        "DELETE FROM ledger_head",
        "UPDATE ledger_head SET sequence = 1",
        "INSERT INTO ledger_transactions (sequence, id, idempotency_key, content, hash, previous_hash, created) \
         VALUES (3, 'ltx_x', 'k', 'c', 'h', 'not-the-head', 1)",
        "INSERT INTO ledger_postings (transaction_sequence, position, account, currency, amount_minor) \
         VALUES (1, 9, 'test:external', 'usd', 5)",
    ] {
        assert!(db.raw_execute(attack).await.is_err(), "the database accepted: {attack}");
    }
    assert_eq!(db.store.verify_ledger().await.unwrap().unwrap().entries, 2);
}

contract!(concurrent_appends_form_one_unbroken_chain);
async fn concurrent_appends_form_one_unbroken_chain(db: &TestDb) {
    const APPENDS: usize = 24;
    let acme = funded(db).await;
    let second = db.reopen().await;
    let mut tasks = vec![];
    for n in 0..APPENDS {
        let store = if n % 2 == 0 {
            db.store.clone()
        } else {
            second.clone()
        };
        let p = parties(&acme);
        tasks.push(tokio::spawn(async move {
            let key = format!("capture:ch_c{n}");
            let tx =
                movements::capture(header(TransactionKind::Capture, &key), &p, 100, 3).unwrap();
            store
                .commit(one(WriteOp::LedgerAppend { transaction: tx }))
                .await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let report = db.store.verify_ledger().await.unwrap().unwrap();
    assert_eq!(report.entries, 2 + APPENDS as u64);
    assert_eq!(
        balance(db, &format!("test:merchant:{acme}:pending")).await,
        97 * APPENDS as i64
    );
}

/// Payouts racing for one balance, each with a document beside it.
const RACING_PAYOUTS: usize = 20;

contract!(racing_payouts_stop_at_the_floor_and_fail_alone);
async fn racing_payouts_stop_at_the_floor_and_fail_alone(db: &TestDb) {
    // 941 available: nine payouts of 100 fit, whichever nine commit first;
    // every other one fails on the floor with its document, alone, and
    // a repeated key in the same rush is a no-op (one entry).
    let acme = funded(db).await;
    let scope = test_scope(&acme);
    let tasks: Vec<_> = (0..RACING_PAYOUTS)
        .map(|n| {
            let (store, scope, p) = (db.store.clone(), scope.clone(), parties(&acme));
            tokio::spawn(async move {
                let key = format!("payout:po_r{}", n.min(RACING_PAYOUTS - 2));
                let payout = movements::payout(header(TransactionKind::Payout, &key), &p, 100);
                let witness = Customer::new(&format!("cus_w{n:02}"), T0, "w@example.com", "W");
                let writes = WriteSet {
                    ops: vec![witness.insert(&scope), append(payout.unwrap())],
                };
                store.commit(writes).await
            })
        })
        .collect();
    let mut paid = 0;
    for (n, task) in tasks.into_iter().enumerate() {
        let outcome = task.await.expect("the payout task");
        let witness = db
            .store
            .get(
                portcullis_store::Table::Customers,
                &scope,
                &format!("cus_w{n:02}"),
            )
            .await
            .unwrap();
        match outcome {
            Ok(()) => paid += 1,
            Err(StoreError::InsufficientBalance { .. }) => {}
            other => panic!("payout {n}: {other:?}"),
        }
        assert_eq!(witness.is_some(), outcome.is_ok(), "witness of payout {n}");
    }
    let available = balance(db, &format!("test:merchant:{acme}:available")).await;
    let report = db.store.verify_ledger().await.unwrap().unwrap();
    let entries = report.entries as i64 - 2;
    assert_eq!(available, 941 - 100 * entries, "{paid} write sets paid");
    assert_eq!(entries, 9, "nine payouts fit under the floor");
    assert!(paid >= 9, "the repeated key answers its repeat too");
}

/// `n` captures of 1000 with a fee of 59 for `acme`, keys `bulk:ch_{i}`.
fn captures(acme: &MerchantId, n: usize) -> Vec<WriteOp> {
    (0..n)
        .map(|i| {
            let key = format!("bulk:ch_{i}");
            append(
                movements::capture(
                    header(TransactionKind::Capture, &key),
                    &parties(acme),
                    1000,
                    59,
                )
                .unwrap(),
            )
        })
        .collect()
}

contract!(a_bulk_commit_chains_like_one_append_at_a_time);
async fn a_bulk_commit_chains_like_one_append_at_a_time(db: &TestDb) {
    let acme = funded(db).await;
    let scope = test_scope(&acme);
    let mut ops = captures(&acme, 300);
    // Documents of two tables mixed in, and a key repeated in the batch
    // for the same movement (a no-op) and one already stored (a no-op).
    ops.push(Customer::new("cus_bulk_1", T0, "b1@example.com", "B1").insert(&scope));
    ops.extend(captures(&acme, 2));
    let stored_again = movements::capture(
        header(TransactionKind::Capture, "capture:ch_1"),
        &parties(&acme),
        1000,
        59,
    )
    .unwrap();
    ops.push(append(stored_again));
    ops.push(Customer::new("cus_bulk_2", T0, "b2@example.com", "B2").insert(&scope));
    db.store.commit_bulk(WriteSet { ops }).await.unwrap();
    let report = db.store.verify_ledger().await.unwrap().unwrap();
    assert_eq!((report.entries, report.head.sequence), (302, 302));
    assert_eq!(
        balance(db, &format!("test:merchant:{acme}:pending")).await,
        300 * 941
    );
    assert_eq!(balance(db, "test:fee_revenue").await, 301 * 59);
    for id in ["cus_bulk_1", "cus_bulk_2"] {
        let found = db
            .store
            .get(portcullis_store::Table::Customers, &scope, id)
            .await;
        assert!(found.unwrap().is_some(), "{id} was not inserted");
    }
    // A single append after the bulk one links onto its head.
    let after = movements::capture(
        header(TransactionKind::Capture, "capture:ch_after"),
        &parties(&acme),
        1000,
        59,
    )
    .unwrap();
    db.store.commit(one(append(after))).await.unwrap();
    assert_eq!(
        db.store.verify_ledger().await.unwrap().unwrap().entries,
        303
    );
}

contract!(a_bulk_commit_below_a_floor_or_with_a_conflicting_key_writes_nothing);
async fn a_bulk_commit_below_a_floor_or_with_a_conflicting_key_writes_nothing(db: &TestDb) {
    let acme = funded(db).await;
    let scope = test_scope(&acme);
    let p = parties(&acme);
    let witness = || Customer::new("cus_bulk_witness", T0, "w@example.com", "W").insert(&scope);
    // 941 available: two payouts of 500 pass the first and break the floor
    // at the second, inside one batch.
    let payouts = (1..=2)
        .map(|i| {
            let key = format!("payout:po_bulk_{i}");
            append(movements::payout(header(TransactionKind::Payout, &key), &p, 500).unwrap())
        })
        .collect::<Vec<_>>();
    let mut ops = vec![witness()];
    ops.extend(payouts);
    let refused = db.store.commit_bulk(WriteSet { ops }).await;
    assert!(
        matches!(refused, Err(StoreError::InsufficientBalance { ref account, .. }) if account.ends_with(":available")),
        "{refused:?}"
    );
    let conflicting = movements::capture(
        header(TransactionKind::Capture, "capture:ch_1"),
        &p,
        1000,
        58,
    )
    .unwrap();
    let refused = db
        .store
        .commit_bulk(WriteSet {
            ops: vec![witness(), append(conflicting)],
        })
        .await;
    assert_eq!(refused, Err(StoreError::Duplicate));
    let found = db
        .store
        .get(
            portcullis_store::Table::Customers,
            &scope,
            "cus_bulk_witness",
        )
        .await;
    assert!(found.unwrap().is_none(), "a refused bulk commit left a row");
    assert_eq!(db.store.verify_ledger().await.unwrap().unwrap().entries, 2);
    assert_eq!(
        balance(db, &format!("test:merchant:{acme}:available")).await,
        941
    );
}

/// PostgreSQL only (SQLite has one writer for every store on a file): a
/// batch holds the chain head only for its appends and COMMIT, so a second
/// instance's appends commit while the first's documents wait for a row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_appends_while_the_first_waits_on_its_documents() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let acme = funded(&db).await;
    let scope = test_scope(&acme);
    let locker = db.raw_postgres().await.expect("a PostgreSQL database");
    locker
        .batch_execute("BEGIN; LOCK TABLE customers IN EXCLUSIVE MODE")
        .await
        .unwrap();
    let capture = |key: &str| {
        let p = parties(&acme);
        append(movements::capture(header(TransactionKind::Capture, key), &p, 100, 3).unwrap())
    };
    let first = db.store.clone();
    let blocked = WriteSet {
        ops: vec![
            Customer::new("cus_blocked", T0, "b@example.com", "B").insert(&scope),
            capture("capture:ch_blocked"),
        ],
    };
    let first_task = tokio::spawn(async move { first.commit(blocked).await });
    wait_for_a_lock_wait(&locker).await;

    let second = db.reopen().await;
    let appended = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        second.commit(one(capture("capture:ch_free"))),
    )
    .await;
    assert_eq!(
        appended,
        Ok(Ok(())),
        "the second instance appended while the first waited on its documents"
    );
    locker.batch_execute("COMMIT").await.unwrap();
    assert_eq!(first_task.await.unwrap(), Ok(()));
    let report = db.store.verify_ledger().await.unwrap().unwrap();
    assert_eq!(report.entries, 4);
}

/// PostgreSQL only: an append that waits for the chain head reads the
/// balances after the lock is granted, so it sees what the head's holder
/// committed meanwhile. The read is one call of a function whose
/// statements each take a snapshot of their own (migration 0039); one
/// statement's parts would share the snapshot taken before the wait, read
/// 941 and refuse the payout below. (The holder here adds 500 to the
/// balance behind the ledger's back, so the chain is not verified.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_waiting_for_the_head_reads_what_its_holder_committed() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let acme = funded(&db).await;
    let available = format!("test:merchant:{acme}:available");
    let holder = db.raw_postgres().await.expect("a PostgreSQL database");
    holder
        .batch_execute("BEGIN; SELECT sequence FROM ledger_head WHERE id = 1 FOR UPDATE")
        .await
        .unwrap();
    holder
        .execute(
            "UPDATE ledger_balances SET balance_minor = balance_minor + 500 WHERE account = $1",
            &[&available],
        )
        .await
        .unwrap();
    let payout = movements::payout(
        header(TransactionKind::Payout, "payout:po_waited"),
        &parties(&acme),
        1_441,
    )
    .unwrap();
    let store = db.store.clone();
    let waiting = tokio::spawn(async move { store.commit(one(append(payout))).await });
    wait_for_a_lock_wait(&holder).await;
    holder.batch_execute("COMMIT").await.unwrap();
    assert_eq!(waiting.await.unwrap(), Ok(()));
    assert_eq!(balance(&db, &available).await, 0);
}

/// Waits until a backend of the database waits for a lock.
async fn wait_for_a_lock_wait(client: &tokio_postgres::Client) {
    const SQL: &str = "SELECT count(*) FROM pg_stat_activity \
                       WHERE datname = current_database() AND wait_event_type = 'Lock'";
    for _ in 0..200 {
        let waiting: i64 = client.query_one(SQL, &[]).await.unwrap().get(0);
        if waiting > 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no backend waited for the lock");
}
