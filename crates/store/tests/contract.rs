//! The store's contract: what every backend must do, pinned by tests that
//! run unchanged on SQLite and on PostgreSQL, each on a database of its own.
//!
//! `contract!(name)` turns the `async fn name(db: &TestDb)` below into
//! `name::sqlite` and `name::postgres`. Without a PostgreSQL server the
//! `postgres` half fails, unless `PORTCULLIS_SKIP_POSTGRES=1` skips it on
//! purpose (never under `CI=true`): see `support::postgres_unreachable`.

mod support;

use portcullis_domain::api_keys::{ApiKeyRecord, KeyHashSecret, KeyKind, KeyMode, Permissions};
use portcullis_domain::ids::{ApiKeyId, MerchantId};
use portcullis_domain::search::SearchQuery;
use portcullis_store::{
    CreatedRange, Doc, IdempotencyClaim, ListPage, ListQuery, PageCursor, Scope, SqlValue, Store,
    StoreError, Table, WriteOp, WriteSet,
};
use support::{insert_all, merchant, one, test_scope, Customer, TestDb, T0};

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

// The ledger's contracts live in their own file; this one is long enough.
#[path = "contract/ledger.rs"]
mod ledger;
#[path = "contract/migrations.rs"]
mod migrations;
#[path = "contract/pipeline.rs"]
mod pipeline;

// ---------------------------------------------------------------- accounts

fn hasher() -> KeyHashSecret {
    KeyHashSecret::new(vec![42; KeyHashSecret::LEN_MIN]).unwrap()
}

fn issue(merchant_id: &MerchantId, kind: KeyKind, created: i64) -> ApiKeyRecord {
    ApiKeyRecord::issue(merchant_id, kind, KeyMode::Test, None, &hasher(), created).0
}

contract!(merchants_are_listed_after_insert_and_ids_are_unique);
async fn merchants_are_listed_after_insert_and_ids_are_unique(db: &TestDb) {
    let store = &db.store;
    assert!(store.list_merchants().await.unwrap().is_empty());
    let acme = merchant(store, "Acme").await;
    let globex = merchant(store, "Globex").await;

    let mut listed = store.list_merchants().await.unwrap();
    listed.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(listed, vec![acme.clone(), globex]);
    assert_eq!(
        store.insert_merchant(&acme).await,
        Err(StoreError::Duplicate)
    );
}

contract!(api_keys_are_found_by_hash_and_listed_newest_first);
async fn api_keys_are_found_by_hash_and_listed_newest_first(db: &TestDb) {
    let store = &db.store;
    let acme = merchant(store, "Acme").await;
    let globex = merchant(store, "Globex").await;
    let older = issue(&acme.id, KeyKind::Secret, T0 + 1);
    let newer = issue(&acme.id, KeyKind::Publishable, T0 + 2);
    let foreign = issue(&globex.id, KeyKind::Secret, T0 + 3);
    for key in [&older, &newer, &foreign] {
        store.insert_api_key(key).await.unwrap();
    }

    let found = store.find_api_key_by_hash(&newer.key_hash).await.unwrap();
    assert_eq!(found, Some(newer.clone()));
    assert_eq!(
        store.find_api_key_by_hash("0".repeat(64).as_str()).await,
        Ok(None)
    );
    assert_eq!(
        store.list_api_keys(&acme.id).await.unwrap(),
        vec![newer.clone(), older]
    );
    assert_eq!(
        store.list_api_keys(&globex.id).await.unwrap(),
        vec![foreign]
    );

    let mut same_hash = issue(&acme.id, KeyKind::Secret, T0 + 4);
    same_hash.key_hash = newer.key_hash.clone();
    assert_eq!(
        store.insert_api_key(&same_hash).await,
        Err(StoreError::Duplicate)
    );
}

contract!(revoking_a_key_keeps_the_first_revocation_time);
async fn revoking_a_key_keeps_the_first_revocation_time(db: &TestDb) {
    let store = &db.store;
    let acme = merchant(store, "Acme").await;
    let key = issue(&acme.id, KeyKind::Secret, T0);
    store.insert_api_key(&key).await.unwrap();

    assert_eq!(store.revoke_api_key(&key.id, T0 + 10).await, Ok(true));
    let revoked = store.find_api_key_by_hash(&key.key_hash).await.unwrap();
    assert_eq!(revoked.unwrap().revoked_at, Some(T0 + 10));

    assert_eq!(store.revoke_api_key(&key.id, T0 + 20).await, Ok(true));
    let revoked_twice = store.find_api_key_by_hash(&key.key_hash).await.unwrap();
    assert_eq!(revoked_twice.unwrap().revoked_at, Some(T0 + 10));

    assert_eq!(
        store.revoke_api_key(&ApiKeyId::generate(), T0 + 30).await,
        Ok(false)
    );
}

contract!(restricted_key_permissions_round_trip);
async fn restricted_key_permissions_round_trip(db: &TestDb) {
    let store = &db.store;
    let acme = merchant(store, "Acme").await;
    let permissions = Permissions::parse("customers:write,payment_intents:read").unwrap();
    let (key, _) = ApiKeyRecord::issue(
        &acme.id,
        KeyKind::Restricted,
        KeyMode::Live,
        Some(permissions.clone()),
        &hasher(),
        T0,
    );
    store.insert_api_key(&key).await.unwrap();

    let found = store
        .find_api_key_by_hash(&key.key_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.permissions, Some(permissions));
    assert_eq!(found, key);
    assert_eq!(store.list_api_keys(&acme.id).await.unwrap(), vec![key]);
}

// --------------------------------------------------------------- documents

async fn get(store: &Store, scope: &Scope, id: &str) -> Option<Doc> {
    store.get(Table::Customers, scope, id).await.unwrap()
}

fn update(scope: &Scope, customer: &Customer, expected_version: i64) -> WriteOp {
    WriteOp::Update {
        table: Table::Customers,
        scope: scope.clone(),
        id: customer.id.clone(),
        expected_version,
        columns: customer.columns(),
        body: customer.body(),
    }
}

contract!(inserted_documents_are_read_back_by_id);
async fn inserted_documents_are_read_back_by_id(db: &TestDb) {
    let store = &db.store;
    let scope = test_scope(&merchant(store, "Acme").await.id);
    let jenny = Customer::new("cus_jenny", T0 + 5, "jenny@example.com", "Jenny");
    store.commit(one(jenny.insert(&scope))).await.unwrap();

    let doc = get(store, &scope, "cus_jenny").await.expect("the document");
    assert_eq!(doc.id, "cus_jenny");
    assert_eq!(doc.created, T0 + 5);
    assert_eq!(doc.version, 1);
    assert_eq!(doc.body, jenny.body());
    assert_eq!(get(store, &scope, "cus_nobody").await, None);
}

contract!(documents_are_invisible_outside_their_merchant_and_mode);
async fn documents_are_invisible_outside_their_merchant_and_mode(db: &TestDb) {
    let store = &db.store;
    let scope = test_scope(&merchant(store, "Acme").await.id);
    let other_merchant = test_scope(&merchant(store, "Globex").await.id);
    let live = Scope {
        livemode: true,
        ..scope.clone()
    };
    let jenny = Customer::new("cus_jenny", T0, "jenny@example.com", "Jenny");
    store.commit(one(jenny.insert(&scope))).await.unwrap();

    assert!(get(store, &scope, "cus_jenny").await.is_some());
    assert_eq!(get(store, &other_merchant, "cus_jenny").await, None);
    assert_eq!(get(store, &live, "cus_jenny").await, None);
    // Nor can another scope change it.
    assert_eq!(
        store.commit(one(update(&other_merchant, &jenny, 1))).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store.commit(one(update(&live, &jenny, 1))).await,
        Err(StoreError::NotFound)
    );
}

contract!(inserting_an_existing_id_is_a_duplicate);
async fn inserting_an_existing_id_is_a_duplicate(db: &TestDb) {
    let store = &db.store;
    let scope = test_scope(&merchant(store, "Acme").await.id);
    let other_merchant = test_scope(&merchant(store, "Globex").await.id);
    let jenny = Customer::new("cus_jenny", T0, "jenny@example.com", "Jenny");
    store.commit(one(jenny.insert(&scope))).await.unwrap();

    let impostor = Customer::new("cus_jenny", T0 + 1, "eve@example.com", "Eve");
    assert_eq!(
        store.commit(one(impostor.insert(&scope))).await,
        Err(StoreError::Duplicate)
    );
    // Ids are unique across merchants, not only within one.
    assert_eq!(
        store.commit(one(impostor.insert(&other_merchant))).await,
        Err(StoreError::Duplicate)
    );
    assert_eq!(
        get(store, &scope, "cus_jenny").await.unwrap().body,
        jenny.body()
    );
}

contract!(updates_check_the_expected_version);
async fn updates_check_the_expected_version(db: &TestDb) {
    let store = &db.store;
    let scope = test_scope(&merchant(store, "Acme").await.id);
    let jenny = Customer::new("cus_jenny", T0, "jenny@example.com", "Jenny");
    store.commit(one(jenny.insert(&scope))).await.unwrap();

    let renamed = Customer {
        name: "Jenny Rosen".to_owned(),
        ..jenny.clone()
    };
    store
        .commit(one(update(&scope, &renamed, 1)))
        .await
        .unwrap();
    let doc = get(store, &scope, "cus_jenny").await.unwrap();
    assert_eq!((doc.version, doc.body), (2, renamed.body()));

    let stale = Customer {
        name: "Stale Writer".to_owned(),
        ..jenny
    };
    assert_eq!(
        store.commit(one(update(&scope, &stale, 1))).await,
        Err(StoreError::Conflict)
    );
    let doc = get(store, &scope, "cus_jenny").await.unwrap();
    assert_eq!((doc.version, doc.body), (2, renamed.body()));
}

contract!(updating_a_missing_document_is_not_found);
async fn updating_a_missing_document_is_not_found(db: &TestDb) {
    let store = &db.store;
    let scope = test_scope(&merchant(store, "Acme").await.id);
    let ghost = Customer::new("cus_ghost", T0, "ghost@example.com", "Ghost");
    assert_eq!(
        store.commit(one(update(&scope, &ghost, 1))).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(get(store, &scope, "cus_ghost").await, None);
}

// --------------------------------------------------------------- atomicity

contract!(a_write_set_whose_later_op_fails_applies_none_of_its_ops);
async fn a_write_set_whose_later_op_fails_applies_none_of_its_ops(db: &TestDb) {
    let store = &db.store;
    let acme = merchant(store, "Acme").await;
    let scope = test_scope(&acme.id);
    let taken = Customer::new("cus_taken", T0, "taken@example.com", "Taken");
    store.commit(one(taken.insert(&scope))).await.unwrap();

    let fresh = Customer::new("cus_fresh", T0 + 1, "fresh@example.com", "Fresh");
    let dup = WriteSet {
        ops: vec![fresh.insert(&scope), taken.insert(&scope)],
    };
    assert_eq!(store.commit(dup).await, Err(StoreError::Duplicate));
    assert_eq!(get(store, &scope, "cus_fresh").await, None);

    let renamed = Customer {
        name: "Renamed".to_owned(),
        ..taken.clone()
    };
    let stale = WriteSet {
        ops: vec![update(&scope, &renamed, 1), update(&scope, &renamed, 1)],
    };
    assert_eq!(store.commit(stale).await, Err(StoreError::Conflict));
    let doc = get(store, &scope, "cus_taken").await.unwrap();
    assert_eq!((doc.version, doc.body), (1, taken.body()));

    // Completing an idempotency key nobody claimed fails, and takes the
    // insert before it down with it.
    let unclaimed = WriteSet {
        ops: vec![
            fresh.insert(&scope),
            WriteOp::CompleteIdempotency {
                merchant_id: acme.id.clone(),
                key: "never-claimed".to_owned(),
                status_code: 200,
                response_body: "{}".to_owned(),
            },
        ],
    };
    assert_eq!(store.commit(unclaimed).await, Err(StoreError::ClaimLost));
    assert_eq!(get(store, &scope, "cus_fresh").await, None);
}

contract!(a_run_of_inserts_keeps_its_order_and_fails_whole_on_a_duplicate_id);
async fn a_run_of_inserts_keeps_its_order_and_fails_whole_on_a_duplicate_id(db: &TestDb) {
    let store = &db.store;
    let scope = test_scope(&merchant(store, "Acme").await.id);
    let [a, b, c] = ["a", "b", "c"]
        .map(|n| Customer::new(&format!("cus_{n}"), T0, &format!("{n}@example.com"), n));

    // One id twice in a run of consecutive inserts (SQLite writes the run
    // as one multi-row statement): the whole write set is refused.
    let twice = WriteSet {
        ops: vec![a.insert(&scope), b.insert(&scope), a.insert(&scope)],
    };
    assert_eq!(store.commit(twice).await, Err(StoreError::Duplicate));
    assert_eq!(get(store, &scope, "cus_a").await, None);
    assert_eq!(get(store, &scope, "cus_b").await, None);

    // An update of a row the run inserted sees it; `seq` follows the order
    // of the operations.
    let renamed = Customer {
        name: "Renamed".to_owned(),
        ..a.clone()
    };
    let writes = WriteSet {
        ops: vec![
            a.insert(&scope),
            b.insert(&scope),
            update(&scope, &renamed, 1),
            c.insert(&scope),
        ],
    };
    store.commit(writes).await.unwrap();
    let docs = [
        get(store, &scope, "cus_a").await.unwrap(),
        get(store, &scope, "cus_b").await.unwrap(),
        get(store, &scope, "cus_c").await.unwrap(),
    ];
    assert_eq!((docs[0].version, &docs[0].body), (2, &renamed.body()));
    assert!(docs[0].seq < docs[1].seq && docs[1].seq < docs[2].seq);
}

contract!(a_write_set_whose_first_op_fails_leaves_the_store_writable);
async fn a_write_set_whose_first_op_fails_leaves_the_store_writable(db: &TestDb) {
    let store = &db.store;
    let scope = test_scope(&merchant(store, "Acme").await.id);
    let taken = Customer::new("cus_taken", T0, "taken@example.com", "Taken");
    store.commit(one(taken.insert(&scope))).await.unwrap();

    // Alone in its batch, the failing statement is the first after the
    // transaction's BEGIN on PostgreSQL (sent in the same pipeline).
    let fresh = Customer::new("cus_fresh", T0 + 1, "fresh@example.com", "Fresh");
    let dup = WriteSet {
        ops: vec![taken.insert(&scope), fresh.insert(&scope)],
    };
    assert_eq!(store.commit(dup).await, Err(StoreError::Duplicate));
    assert_eq!(get(store, &scope, "cus_fresh").await, None);
    assert_eq!(store.commit(one(fresh.insert(&scope))).await, Ok(()));
    assert!(get(store, &scope, "cus_fresh").await.is_some());
}

/// Concurrent write sets; every this-many-th one is made to fail.
const CONCURRENT_COMMITS: usize = 200;
const FAIL_EVERY: usize = 10;

/// The outcomes of concurrent commit tasks, in task order.
async fn outcomes_of(
    tasks: Vec<tokio::task::JoinHandle<Result<(), StoreError>>>,
) -> Vec<Result<(), StoreError>> {
    let mut outcomes = Vec::with_capacity(tasks.len());
    for task in tasks {
        outcomes.push(task.await.expect("the commit task"));
    }
    outcomes
}

contract!(concurrent_commits_fail_alone);
async fn concurrent_commits_fail_alone(db: &TestDb) {
    let store = &db.store;
    let scope = test_scope(&merchant(store, "Acme").await.id);
    let taken = Customer::new("cus_taken", T0, "taken@example.com", "Taken");
    store.commit(one(taken.insert(&scope))).await.unwrap();

    // A failing set inserts its own fresh id first, then the taken one: its
    // fresh row must vanish with it, without touching its batch neighbours.
    let tasks: Vec<_> = (0..CONCURRENT_COMMITS)
        .map(|i| {
            let (store, scope, taken) = (store.clone(), scope.clone(), taken.clone());
            tokio::spawn(async move {
                let mine = Customer::new(&format!("cus_c{i:03}"), T0 + 1, "c@example.com", "C");
                let mut writes = one(mine.insert(&scope));
                if i % FAIL_EVERY == 0 {
                    writes.push(taken.insert(&scope));
                }
                store.commit(writes).await
            })
        })
        .collect();
    for (i, outcome) in outcomes_of(tasks).await.into_iter().enumerate() {
        let should_fail = i % FAIL_EVERY == 0;
        let expected = if should_fail {
            Err(StoreError::Duplicate)
        } else {
            Ok(())
        };
        assert_eq!(outcome, expected, "commit {i}");
        let stored = get(store, &scope, &format!("cus_c{i:03}")).await;
        assert_eq!(stored.is_some(), !should_fail, "document of commit {i}");
    }
}

contract!(concurrent_stale_or_missing_updates_fail_alone);
async fn concurrent_stale_or_missing_updates_fail_alone(db: &TestDb) {
    let store = &db.store;
    let scope = test_scope(&merchant(store, "Acme").await.id);
    let existing: Vec<Customer> = (0..CONCURRENT_COMMITS)
        .map(|i| Customer::new(&format!("cus_e{i:03}"), T0, "e@example.com", "E"))
        .collect();
    insert_all(store, &scope, &existing).await;

    // Each set inserts a fresh document, then updates its own existing one:
    // at a stale version (a conflict), or one that does not exist (not
    // found), every tenth; a refused row count is found after the sets
    // sent behind it in the same round trip ran, and must undo only its own.
    let expected = |i: usize| match i % FAIL_EVERY {
        0 => Err(StoreError::Conflict),
        5 => Err(StoreError::NotFound),
        _ => Ok(()),
    };
    let tasks: Vec<_> = existing
        .iter()
        .enumerate()
        .map(|(i, customer)| {
            let (store, scope) = (store.clone(), scope.clone());
            let renamed = Customer {
                name: format!("Renamed {i}"),
                id: if i % FAIL_EVERY == 5 {
                    format!("cus_ghost{i:03}")
                } else {
                    customer.id.clone()
                },
                ..customer.clone()
            };
            let version = if i % FAIL_EVERY == 0 { 7 } else { 1 };
            tokio::spawn(async move {
                let fresh = Customer::new(&format!("cus_f{i:03}"), T0 + 1, "f@example.com", "F");
                let mut writes = one(fresh.insert(&scope));
                writes.push(update(&scope, &renamed, version));
                store.commit(writes).await
            })
        })
        .collect();
    for (i, outcome) in outcomes_of(tasks).await.into_iter().enumerate() {
        assert_eq!(outcome, expected(i), "commit {i}");
        let fresh = get(store, &scope, &format!("cus_f{i:03}")).await;
        assert_eq!(
            fresh.is_some(),
            outcome.is_ok(),
            "fresh document of commit {i}"
        );
        let version = get(store, &scope, &format!("cus_e{i:03}"))
            .await
            .unwrap()
            .version;
        assert_eq!(
            version,
            if outcome.is_ok() { 2 } else { 1 },
            "existing document of commit {i}"
        );
    }
}

contract!(a_write_that_panics_fails_its_caller_alone);
async fn a_write_that_panics_fails_its_caller_alone(db: &TestDb) {
    let store = &db.store;
    let scope = test_scope(&merchant(store, "Acme").await.id);
    // Naming a column the table lacks is a programming error: it panics.
    let bad = WriteOp::Insert {
        table: Table::Customers,
        scope: scope.clone(),
        id: "cus_bad".to_owned(),
        created: T0,
        columns: vec![("no_such_column", SqlValue::Null)],
        body: "{}".to_owned(),
    };
    let good = Customer::new("cus_good", T0, "g@example.com", "Good");
    let (bad_store, good_store) = (store.clone(), store.clone());
    let bad_task = tokio::spawn(async move { bad_store.commit(one(bad)).await });
    let good_op = good.insert(&scope);
    let good_task = tokio::spawn(async move { good_store.commit(one(good_op)).await });

    let panicked = bad_task.await.expect_err("the bad write panics");
    assert!(panicked.is_panic());
    assert_eq!(good_task.await.unwrap(), Ok(()));
    // The store still takes writes, and the bad one left nothing behind.
    let later = Customer::new("cus_later", T0, "l@example.com", "Later");
    assert_eq!(store.commit(one(later.insert(&scope))).await, Ok(()));
    assert!(get(store, &scope, "cus_good").await.is_some());
    assert_eq!(get(store, &scope, "cus_bad").await, None);
}

// ------------------------------------------------------------------- lists

const PAGED_DOCS: usize = 30;
const PAGE_LIMIT: usize = 7;
/// More pages than a walk over `PAGED_DOCS` can take: a bound on each walk.
const PAGES_MAX: usize = PAGED_DOCS / PAGE_LIMIT + 2;

fn list_query(scope: &Scope, cursor: PageCursor, limit: usize) -> ListQuery {
    ListQuery {
        scope: scope.clone(),
        filters: vec![],
        one_of: vec![],
        created: CreatedRange::default(),
        cursor,
        limit,
    }
}

fn ids(page: &ListPage) -> Vec<String> {
    page.docs.iter().map(|doc| doc.id.clone()).collect()
}

/// `cus_p00` (oldest, created `T0`) to `cus_p29` (newest), inserted in that order.
async fn thirty_customers(store: &Store, scope: &Scope) -> Vec<String> {
    let customers: Vec<Customer> = (0..PAGED_DOCS)
        .map(|i| {
            let email = format!("p{i}@example.com");
            Customer::new(&format!("cus_p{i:02}"), T0 + i as i64, &email, "P")
        })
        .collect();
    insert_all(store, scope, &customers).await;
    customers.into_iter().map(|c| c.id).collect()
}

fn assert_newest_first(page: &ListPage) {
    let seqs: Vec<i64> = page.docs.iter().map(|doc| doc.seq).collect();
    assert!(
        seqs.windows(2).all(|pair| pair[0] > pair[1]),
        "page not newest first: {:?}",
        ids(page)
    );
}

contract!(starting_after_walks_every_document_once_newest_first);
async fn starting_after_walks_every_document_once_newest_first(db: &TestDb) {
    let store = &db.store;
    let scope = test_scope(&merchant(store, "Acme").await.id);
    let oldest_first = thirty_customers(store, &scope).await;

    let mut visited = vec![];
    let mut cursor = PageCursor::Newest;
    for _ in 0..PAGES_MAX {
        let page = store
            .list(Table::Customers, &list_query(&scope, cursor, PAGE_LIMIT))
            .await
            .unwrap();
        assert_newest_first(&page);
        visited.extend(ids(&page));
        assert_eq!(
            page.has_more,
            visited.len() < PAGED_DOCS,
            "after {visited:?}"
        );
        if !page.has_more {
            break;
        }
        cursor = PageCursor::StartingAfter(visited.last().unwrap().clone());
    }
    let newest_first: Vec<String> = oldest_first.into_iter().rev().collect();
    assert_eq!(visited, newest_first);
}

contract!(ending_before_walks_back_over_every_document_once);
async fn ending_before_walks_back_over_every_document_once(db: &TestDb) {
    let store = &db.store;
    let scope = test_scope(&merchant(store, "Acme").await.id);
    let oldest_first = thirty_customers(store, &scope).await;

    // Start from the oldest object and walk towards newer ones.
    let mut visited = vec![oldest_first[0].clone()];
    let mut cursor = PageCursor::EndingBefore(oldest_first[0].clone());
    for _ in 0..PAGES_MAX {
        let page = store
            .list(Table::Customers, &list_query(&scope, cursor, PAGE_LIMIT))
            .await
            .unwrap();
        assert_newest_first(&page);
        // Each page holds the objects just newer than the previous one.
        let expected: Vec<String> = oldest_first[visited.len()..]
            .iter()
            .take(PAGE_LIMIT)
            .rev()
            .cloned()
            .collect();
        assert_eq!(ids(&page), expected);
        visited.extend(ids(&page).into_iter().rev());
        assert_eq!(
            page.has_more,
            visited.len() < PAGED_DOCS,
            "after {visited:?}"
        );
        if !page.has_more {
            break;
        }
        cursor = PageCursor::EndingBefore(page.docs[0].id.clone());
    }
    assert_eq!(visited, oldest_first);
}

contract!(lists_filter_by_column_equality_within_the_scope);
async fn lists_filter_by_column_equality_within_the_scope(db: &TestDb) {
    let store = &db.store;
    let scope = test_scope(&merchant(store, "Acme").await.id);
    let other_merchant = test_scope(&merchant(store, "Globex").await.id);
    insert_all(
        store,
        &scope,
        &[
            Customer::new("cus_a1", T0, "a@example.com", "A"),
            Customer::new("cus_b1", T0 + 1, "b@example.com", "B"),
            Customer::new("cus_a2", T0 + 2, "a@example.com", "A"),
        ],
    )
    .await;
    let foreign = Customer::new("cus_a3", T0 + 3, "a@example.com", "A");
    insert_all(store, &other_merchant, &[foreign]).await;

    let mut query = list_query(&scope, PageCursor::Newest, 10);
    query.filters = vec![("email", SqlValue::Text("a@example.com".to_owned()))];
    let page = store.list(Table::Customers, &query).await.unwrap();
    assert_eq!(ids(&page), vec!["cus_a2", "cus_a1"]);
    assert!(!page.has_more);

    let everything = list_query(&scope, PageCursor::Newest, 10);
    let page = store.list(Table::Customers, &everything).await.unwrap();
    assert_eq!(ids(&page), vec!["cus_a2", "cus_b1", "cus_a1"]);
}

contract!(lists_filter_by_membership_in_a_set_of_values);
async fn lists_filter_by_membership_in_a_set_of_values(db: &TestDb) {
    let store = &db.store;
    let scope = test_scope(&merchant(store, "Acme").await.id);
    insert_all(
        store,
        &scope,
        &[
            Customer::new("cus_a1", T0, "a@example.com", "A"),
            Customer::new("cus_b1", T0 + 1, "b@example.com", "B"),
            Customer::new("cus_c1", T0 + 2, "c@example.com", "C"),
        ],
    )
    .await;
    let mut query = list_query(&scope, PageCursor::Newest, 10);
    let either = vec![SqlValue::Text("A".into()), SqlValue::Text("C".into())];
    query.one_of = vec![("name", either)];
    let page = store.list(Table::Customers, &query).await.unwrap();
    assert_eq!(ids(&page), vec!["cus_c1", "cus_a1"]);
    query.one_of = vec![("name", vec![])];
    assert!(store
        .list(Table::Customers, &query)
        .await
        .unwrap()
        .docs
        .is_empty());
}

contract!(lists_honour_every_bound_of_the_created_range);
async fn lists_honour_every_bound_of_the_created_range(db: &TestDb) {
    let store = &db.store;
    let scope = test_scope(&merchant(store, "Acme").await.id);
    thirty_customers(store, &scope).await;
    let range = |gt, gte, lt, lte| CreatedRange { gt, gte, lt, lte };
    let cases = [
        (range(Some(T0 + 10), None, None, None), 11..=29),
        (range(None, Some(T0 + 10), None, None), 10..=29),
        (range(None, None, Some(T0 + 5), None), 0..=4),
        (range(None, None, None, Some(T0 + 5)), 0..=5),
        (range(Some(T0 + 3), None, None, Some(T0 + 6)), 4..=6),
        (range(None, Some(T0 + 3), Some(T0 + 6), None), 3..=5),
    ];
    for (created, expected) in cases {
        let mut query = list_query(&scope, PageCursor::Newest, 100);
        query.created = created.clone();
        let page = store.list(Table::Customers, &query).await.unwrap();
        let expected: Vec<String> = expected.rev().map(|i| format!("cus_p{i:02}")).collect();
        assert_eq!(ids(&page), expected, "{created:?}");
    }
}

contract!(soft_deleted_documents_are_hidden_from_lists_and_searches_but_not_from_get);
async fn soft_deleted_documents_are_hidden_from_lists_and_searches_but_not_from_get(db: &TestDb) {
    let store = &db.store;
    let scope = test_scope(&merchant(store, "Acme").await.id);
    let kept = Customer::new("cus_kept", T0, "x@example.com", "Kept");
    let gone = Customer::new("cus_gone", T0 + 1, "x@example.com", "Gone");
    let born_deleted = Customer::new("cus_born", T0 + 2, "x@example.com", "Born").deleted();
    insert_all(store, &scope, &[kept, gone.clone(), born_deleted]).await;
    // Deleted by an update, the way the API deletes.
    let deleted = gone.deleted();
    store
        .commit(one(update(&scope, &deleted, 1)))
        .await
        .unwrap();

    let query = list_query(&scope, PageCursor::Newest, 10);
    let listed = store.list(Table::Customers, &query).await.unwrap();
    assert_eq!(ids(&listed), vec!["cus_kept"]);
    let search = SearchQuery::parse("email:'x@example.com'").unwrap();
    let found = store
        .search(Table::Customers, &scope, &search, None, 10)
        .await
        .unwrap();
    assert_eq!(ids(&found), vec!["cus_kept"]);

    assert_eq!(
        get(store, &scope, "cus_gone").await.unwrap().body,
        deleted.body()
    );
    assert!(get(store, &scope, "cus_born").await.is_some());
}

contract!(the_deleted_flag_may_be_written_as_the_integer_its_column_kind_declares);
async fn the_deleted_flag_may_be_written_as_the_integer_its_column_kind_declares(db: &TestDb) {
    let store = &db.store;
    let scope = test_scope(&merchant(store, "Acme").await.id);
    // `Table::column_kind("deleted")` says Integer; both backends must agree.
    for (id, deleted) in [("cus_live", 0), ("cus_gone", 1)] {
        let insert = WriteOp::Insert {
            table: Table::Customers,
            scope: scope.clone(),
            id: id.to_owned(),
            created: T0,
            columns: vec![("deleted", SqlValue::Integer(deleted))],
            body: "{}".to_owned(),
        };
        store.commit(one(insert)).await.unwrap();
    }
    let query = list_query(&scope, PageCursor::Newest, 10);
    let listed = store.list(Table::Customers, &query).await.unwrap();
    assert_eq!(ids(&listed), vec!["cus_live"]);
    assert!(get(store, &scope, "cus_gone").await.is_some());
}

contract!(a_cursor_naming_an_unknown_or_foreign_document_is_not_found);
async fn a_cursor_naming_an_unknown_or_foreign_document_is_not_found(db: &TestDb) {
    let store = &db.store;
    let scope = test_scope(&merchant(store, "Acme").await.id);
    let other_merchant = test_scope(&merchant(store, "Globex").await.id);
    insert_all(
        store,
        &scope,
        &[Customer::new("cus_mine", T0, "m@example.com", "M")],
    )
    .await;
    let theirs = Customer::new("cus_theirs", T0, "t@example.com", "T");
    insert_all(store, &other_merchant, &[theirs]).await;

    for id in ["cus_missing", "cus_theirs"] {
        for cursor in [
            PageCursor::StartingAfter(id.to_owned()),
            PageCursor::EndingBefore(id.to_owned()),
        ] {
            let query = list_query(&scope, cursor.clone(), 10);
            assert_eq!(
                store.list(Table::Customers, &query).await,
                Err(StoreError::NotFound),
                "{cursor:?}"
            );
        }
    }
}

// ------------------------------------------------------------------ search

/// Three live customers of one merchant (oldest first: jenny, bob, carol),
/// plus a deleted one and another merchant's that match nearly everything.
async fn search_fixture(store: &Store) -> Scope {
    let scope = test_scope(&merchant(store, "Acme").await.id);
    let other_merchant = test_scope(&merchant(store, "Globex").await.id);
    let jenny = Customer::new(
        "cus_jenny",
        T0 + 1,
        "Jenny.Rosen@example.com",
        "Jenny Rosen",
    );
    insert_all(
        store,
        &scope,
        &[
            jenny.clone().with_metadata("order", "6735"),
            Customer::new("cus_bob", T0 + 2, "bob@example.com", "Bob Jenkins")
                .with_metadata("order", "1"),
            Customer::new("cus_carol", T0 + 3, "carol@example.org", "Carol"),
            Customer::new(
                "cus_deleted",
                T0 + 4,
                "jenny.rosen@example.com",
                "Jenny Gone",
            )
            .with_metadata("order", "6735")
            .deleted(),
        ],
    )
    .await;
    let foreign = Customer {
        id: "cus_foreign".to_owned(),
        ..jenny.with_metadata("order", "6735")
    };
    insert_all(store, &other_merchant, &[foreign]).await;
    scope
}

async fn search_ids(store: &Store, scope: &Scope, query: &str) -> Vec<String> {
    let query = SearchQuery::parse(query).unwrap();
    let page = store
        .search(Table::Customers, scope, &query, None, 10)
        .await
        .unwrap();
    assert!(!page.has_more);
    ids(&page)
}

contract!(search_matches_email_case_insensitively);
async fn search_matches_email_case_insensitively(db: &TestDb) {
    let store = &db.store;
    let scope = search_fixture(store).await;
    let found = search_ids(store, &scope, "email:'jenny.ROSEN@Example.com'").await;
    assert_eq!(found, vec!["cus_jenny"]);
    assert!(search_ids(store, &scope, "email:'jenny'").await.is_empty());
}

contract!(search_matches_name_substrings);
async fn search_matches_name_substrings(db: &TestDb) {
    let store = &db.store;
    let scope = search_fixture(store).await;
    let found = search_ids(store, &scope, "name~'JEN'").await;
    assert_eq!(found, vec!["cus_bob", "cus_jenny"]);
    assert!(search_ids(store, &scope, "name~'xyz'").await.is_empty());
}

contract!(search_treats_like_wildcards_in_substrings_literally);
async fn search_treats_like_wildcards_in_substrings_literally(db: &TestDb) {
    let store = &db.store;
    let scope = test_scope(&merchant(store, "Acme").await.id);
    insert_all(
        store,
        &scope,
        &[
            Customer::new("cus_under", T0, "u@example.com", "a_b 100% Cotton"),
            Customer::new("cus_plain", T0 + 1, "p@example.com", "axb 1000 Cotton"),
        ],
    )
    .await;
    assert_eq!(
        search_ids(store, &scope, "name~'a_b'").await,
        vec!["cus_under"]
    );
    assert_eq!(
        search_ids(store, &scope, "name~'00%'").await,
        vec!["cus_under"]
    );
}

contract!(search_matches_metadata_values);
async fn search_matches_metadata_values(db: &TestDb) {
    let store = &db.store;
    let scope = search_fixture(store).await;
    let found = search_ids(store, &scope, "metadata['order']:'6735'").await;
    assert_eq!(found, vec!["cus_jenny"]);
    let found = search_ids(store, &scope, "metadata[\"order\"]:'1'").await;
    assert_eq!(found, vec!["cus_bob"]);
    assert!(search_ids(store, &scope, "metadata['order']:'9'")
        .await
        .is_empty());
    assert!(search_ids(store, &scope, "metadata['nope']:'6735'")
        .await
        .is_empty());
}

contract!(search_matches_metadata_keys_of_any_allowed_text);
async fn search_matches_metadata_keys_of_any_allowed_text(db: &TestDb) {
    let store = &db.store;
    let scope = test_scope(&merchant(store, "Acme").await.id);
    // Metadata keys may hold anything but `[` and `]`.
    let keys = ["a.b", "a\"b", "a\\b", "x'y", "a b", "$", "ключ"];
    let customers: Vec<Customer> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            Customer::new(&format!("cus_k{i}"), T0, "k@example.com", "K").with_metadata(key, "v")
        })
        .collect();
    insert_all(store, &scope, &customers).await;
    for (i, key) in keys.iter().enumerate() {
        let quoted = key.replace('\'', "\\'");
        let query = format!("metadata['{quoted}']:'v'");
        let found = search_ids(store, &scope, &query).await;
        assert_eq!(found, vec![format!("cus_k{i}")], "{query}");
    }
}

contract!(search_compares_created);
async fn search_compares_created(db: &TestDb) {
    let store = &db.store;
    let scope = search_fixture(store).await;
    let after_jenny = format!("created>{}", T0 + 1);
    assert_eq!(
        search_ids(store, &scope, &after_jenny).await,
        vec!["cus_carol", "cus_bob"]
    );
    let up_to_bob = format!("created<={}", T0 + 2);
    assert_eq!(
        search_ids(store, &scope, &up_to_bob).await,
        vec!["cus_bob", "cus_jenny"]
    );
}

contract!(search_combines_clauses_with_or_and_and);
async fn search_combines_clauses_with_or_and_and(db: &TestDb) {
    let store = &db.store;
    let scope = search_fixture(store).await;
    let either = "email:'bob@example.com' OR name:'carol'";
    assert_eq!(
        search_ids(store, &scope, either).await,
        vec!["cus_carol", "cus_bob"]
    );
    let both = "name~'jen' AND metadata['order']:'1'";
    assert_eq!(search_ids(store, &scope, both).await, vec!["cus_bob"]);
}

contract!(search_negates_clauses);
async fn search_negates_clauses(db: &TestDb) {
    let store = &db.store;
    let scope = search_fixture(store).await;
    assert_eq!(
        search_ids(store, &scope, "-name~'jen'").await,
        vec!["cus_carol"]
    );
    let not_bob = "-email:'BOB@example.com' email~'example'";
    assert_eq!(
        search_ids(store, &scope, not_bob).await,
        vec!["cus_carol", "cus_jenny"]
    );
}

contract!(search_pages_continue_after_the_last_seq);
async fn search_pages_continue_after_the_last_seq(db: &TestDb) {
    let store = &db.store;
    let scope = search_fixture(store).await;
    let query = SearchQuery::parse("email~'example'").unwrap();
    let mut visited = vec![];
    let mut after_seq = None;
    for _ in 0..4 {
        let page = store
            .search(Table::Customers, &scope, &query, after_seq, 2)
            .await
            .unwrap();
        assert_newest_first(&page);
        visited.extend(ids(&page));
        assert_eq!(page.has_more, visited.len() < 3, "after {visited:?}");
        if !page.has_more {
            break;
        }
        after_seq = Some(page.docs.last().unwrap().seq);
    }
    assert_eq!(visited, vec!["cus_carol", "cus_bob", "cus_jenny"]);
}

// ------------------------------------------------------------- idempotency

/// How long a claim may stay in flight before a retry may take it over.
const LEASE_S: i64 = 60;

async fn claim(
    store: &Store,
    merchant_id: &MerchantId,
    key: &str,
    fingerprint: &str,
    now: i64,
) -> IdempotencyClaim {
    store
        .claim_idempotency(merchant_id, key, fingerprint, now, LEASE_S)
        .await
        .unwrap()
}

fn in_flight(fingerprint: &str) -> IdempotencyClaim {
    IdempotencyClaim::InFlight {
        fingerprint: fingerprint.to_owned(),
    }
}

fn complete(merchant_id: &MerchantId, key: &str, status_code: u16, body: &str) -> WriteOp {
    WriteOp::CompleteIdempotency {
        merchant_id: merchant_id.clone(),
        key: key.to_owned(),
        status_code,
        response_body: body.to_owned(),
    }
}

contract!(a_claimed_key_is_in_flight_for_every_other_claim);
async fn a_claimed_key_is_in_flight_for_every_other_claim(db: &TestDb) {
    let store = &db.store;
    let acme = merchant(store, "Acme").await;
    let globex = merchant(store, "Globex").await;
    assert_eq!(
        claim(store, &acme.id, "k1", "fp-a", T0).await,
        IdempotencyClaim::Claimed
    );
    assert_eq!(
        claim(store, &acme.id, "k1", "fp-a", T0 + 1).await,
        in_flight("fp-a")
    );
    // A different request under the same key learns whose key it is.
    assert_eq!(
        claim(store, &acme.id, "k1", "fp-b", T0 + 1).await,
        in_flight("fp-a")
    );
    // Keys belong to one merchant.
    assert_eq!(
        claim(store, &globex.id, "k1", "fp-a", T0).await,
        IdempotencyClaim::Claimed
    );
}

contract!(a_completed_key_replays_its_stored_response);
async fn a_completed_key_replays_its_stored_response(db: &TestDb) {
    let store = &db.store;
    let acme = merchant(store, "Acme").await;
    let scope = test_scope(&acme.id);
    assert_eq!(
        claim(store, &acme.id, "k1", "fp-a", T0).await,
        IdempotencyClaim::Claimed
    );
    let jenny = Customer::new("cus_jenny", T0, "jenny@example.com", "Jenny");
    let writes = WriteSet {
        ops: vec![
            jenny.insert(&scope),
            complete(&acme.id, "k1", 201, &jenny.body()),
        ],
    };
    store.commit(writes).await.unwrap();

    let replay = IdempotencyClaim::Completed {
        fingerprint: "fp-a".to_owned(),
        status_code: 201,
        response_body: jenny.body(),
    };
    assert_eq!(claim(store, &acme.id, "k1", "fp-a", T0 + 1).await, replay);
    // Long after any lease, and whoever asks, the answer stays the same.
    assert_eq!(
        claim(store, &acme.id, "k1", "fp-b", T0 + 10 * LEASE_S).await,
        replay
    );
    // A completed key cannot be completed again.
    let again = one(complete(&acme.id, "k1", 500, "{}"));
    assert_eq!(store.commit(again).await, Err(StoreError::ClaimLost));
    assert_eq!(claim(store, &acme.id, "k1", "fp-a", T0 + 2).await, replay);
}

contract!(only_the_current_holder_can_release_a_claim);
async fn only_the_current_holder_can_release_a_claim(db: &TestDb) {
    let store = &db.store;
    let acme = merchant(store, "Acme").await;
    assert_eq!(
        claim(store, &acme.id, "k1", "fp-a", T0).await,
        IdempotencyClaim::Claimed
    );
    // The first holder stalls past its lease; a retry takes the key over.
    let taken_at = T0 + LEASE_S + 1;
    assert_eq!(
        claim(store, &acme.id, "k1", "fp-a", taken_at).await,
        IdempotencyClaim::Claimed
    );
    // The stalled first holder gives up: it must not free the new holder's key.
    store.release_idempotency(&acme.id, "k1", T0).await.unwrap();
    assert!(matches!(
        claim(store, &acme.id, "k1", "fp-a", taken_at + 1).await,
        IdempotencyClaim::InFlight { .. }
    ));
    store
        .release_idempotency(&acme.id, "k1", taken_at)
        .await
        .unwrap();
    assert_eq!(
        claim(store, &acme.id, "k1", "fp-a", taken_at + 2).await,
        IdempotencyClaim::Claimed
    );
}

contract!(a_released_key_can_be_claimed_again_but_a_completed_one_stays);
async fn a_released_key_can_be_claimed_again_but_a_completed_one_stays(db: &TestDb) {
    let store = &db.store;
    let acme = merchant(store, "Acme").await;
    assert_eq!(
        claim(store, &acme.id, "k1", "fp-a", T0).await,
        IdempotencyClaim::Claimed
    );
    store.release_idempotency(&acme.id, "k1", T0).await.unwrap();
    assert_eq!(
        claim(store, &acme.id, "k1", "fp-b", T0 + 1).await,
        IdempotencyClaim::Claimed
    );

    store
        .commit(one(complete(&acme.id, "k1", 200, "{\"ok\":true}")))
        .await
        .unwrap();
    store
        .release_idempotency(&acme.id, "k1", T0 + 1)
        .await
        .unwrap();
    let replay = IdempotencyClaim::Completed {
        fingerprint: "fp-b".to_owned(),
        status_code: 200,
        response_body: "{\"ok\":true}".to_owned(),
    };
    assert_eq!(claim(store, &acme.id, "k1", "fp-b", T0 + 2).await, replay);
    // Releasing a key nobody holds is harmless.
    store
        .release_idempotency(&acme.id, "never-claimed", T0)
        .await
        .unwrap();
}

contract!(a_claim_past_its_lease_is_taken_over_by_the_same_request);
async fn a_claim_past_its_lease_is_taken_over_by_the_same_request(db: &TestDb) {
    let store = &db.store;
    let acme = merchant(store, "Acme").await;
    assert_eq!(
        claim(store, &acme.id, "k1", "fp-a", T0).await,
        IdempotencyClaim::Claimed
    );
    // At exactly the lease the holder still owns it.
    assert_eq!(
        claim(store, &acme.id, "k1", "fp-a", T0 + LEASE_S).await,
        in_flight("fp-a")
    );
    // A different request never takes over, however old the claim.
    let late = T0 + LEASE_S + 1;
    assert_eq!(
        claim(store, &acme.id, "k1", "fp-b", late).await,
        in_flight("fp-a")
    );
    assert_eq!(
        claim(store, &acme.id, "k1", "fp-a", late).await,
        IdempotencyClaim::Claimed
    );
    // The takeover starts a new lease.
    assert_eq!(
        claim(store, &acme.id, "k1", "fp-a", late + 1).await,
        in_flight("fp-a")
    );
    assert_eq!(
        claim(store, &acme.id, "k1", "fp-a", late + LEASE_S + 1).await,
        IdempotencyClaim::Claimed
    );
}

contract!(after_a_takeover_the_first_completion_wins_and_the_other_is_claim_lost);
async fn after_a_takeover_the_first_completion_wins_and_the_other_is_claim_lost(db: &TestDb) {
    let store = &db.store;
    let acme = merchant(store, "Acme").await;
    let scope = test_scope(&acme.id);
    let late = T0 + LEASE_S + 1;
    assert_eq!(
        claim(store, &acme.id, "k1", "fp-a", T0).await,
        IdempotencyClaim::Claimed
    );
    assert_eq!(
        claim(store, &acme.id, "k1", "fp-a", late).await,
        IdempotencyClaim::Claimed
    );

    // Two executions of one request now hold the key; whichever stores its
    // outcome first wins, and the other's writes are not applied.
    let first = Customer::new("cus_first", T0, "f@example.com", "First");
    let second = Customer::new("cus_second", late, "s@example.com", "Second");
    let finish = |customer: &Customer| WriteSet {
        ops: vec![
            customer.insert(&scope),
            complete(&acme.id, "k1", 200, &customer.body()),
        ],
    };
    store.commit(finish(&second)).await.unwrap();
    assert_eq!(
        store.commit(finish(&first)).await,
        Err(StoreError::ClaimLost)
    );
    assert_eq!(get(store, &scope, "cus_first").await, None);
    let replay = IdempotencyClaim::Completed {
        fingerprint: "fp-a".to_owned(),
        status_code: 200,
        response_body: second.body(),
    };
    assert_eq!(claim(store, &acme.id, "k1", "fp-a", late + 1).await, replay);
}

contract!(pruning_deletes_keys_created_before_the_cutoff);
async fn pruning_deletes_keys_created_before_the_cutoff(db: &TestDb) {
    let store = &db.store;
    let acme = merchant(store, "Acme").await;
    for (key, created) in [("old1", T0), ("old2", T0 + 9), ("new", T0 + 10)] {
        assert_eq!(
            claim(store, &acme.id, key, "fp", created).await,
            IdempotencyClaim::Claimed
        );
    }
    store
        .commit(one(complete(&acme.id, "old1", 200, "{}")))
        .await
        .unwrap();

    assert_eq!(store.prune_idempotency(T0 + 10).await, Ok(2));
    let now = T0 + 11;
    assert_eq!(
        claim(store, &acme.id, "old1", "fp", now).await,
        IdempotencyClaim::Claimed
    );
    assert_eq!(
        claim(store, &acme.id, "old2", "fp", now).await,
        IdempotencyClaim::Claimed
    );
    assert_eq!(
        claim(store, &acme.id, "new", "fp", now).await,
        in_flight("fp")
    );
    assert_eq!(store.prune_idempotency(T0).await, Ok(0));
}

/// Requests racing for one idempotency key.
const CONCURRENT_CLAIMS: usize = 20;

/// How many of `CONCURRENT_CLAIMS` racing claims of `key` at `now` were
/// admitted; every other one must find the key in flight.
async fn racing_claims_admitted(
    store: &Store,
    merchant_id: &MerchantId,
    key: &str,
    now: i64,
) -> usize {
    let tasks: Vec<_> = (0..CONCURRENT_CLAIMS)
        .map(|_| {
            let (store, merchant_id, key) = (store.clone(), merchant_id.clone(), key.to_owned());
            tokio::spawn(async move {
                store
                    .claim_idempotency(&merchant_id, &key, "fp", now, LEASE_S)
                    .await
            })
        })
        .collect();
    let mut claimed = 0;
    for task in tasks {
        match task.await.expect("the claim task") {
            Ok(IdempotencyClaim::Claimed) => claimed += 1,
            Ok(other) => assert_eq!(other, in_flight("fp")),
            Err(e) => panic!("a racing claim failed: {e}"),
        }
    }
    claimed
}

contract!(concurrent_claims_of_one_key_admit_exactly_one);
async fn concurrent_claims_of_one_key_admit_exactly_one(db: &TestDb) {
    let store = &db.store;
    let acme = merchant(store, "Acme").await;
    assert_eq!(racing_claims_admitted(store, &acme.id, "race", T0).await, 1);
}

contract!(concurrent_takeovers_of_a_stale_claim_admit_exactly_one);
async fn concurrent_takeovers_of_a_stale_claim_admit_exactly_one(db: &TestDb) {
    let store = &db.store;
    let acme = merchant(store, "Acme").await;
    assert_eq!(
        claim(store, &acme.id, "stale", "fp", T0).await,
        IdempotencyClaim::Claimed
    );
    // Every retry finds the key taken (on PostgreSQL, the conflicting
    // insert's path: a transaction that locks the row and decides).
    let late = T0 + LEASE_S + 1;
    assert_eq!(
        racing_claims_admitted(store, &acme.id, "stale", late).await,
        1
    );
}

// -------------------------------------------------------------- durability

const DURABLE_DOCS: usize = 50;

contract!(committed_writes_survive_close_and_reopen);
async fn committed_writes_survive_close_and_reopen(db: &TestDb) {
    let scope = test_scope(&merchant(&db.store, "Acme").await.id);
    // Concurrent, so that SQLite commits several of them per batch.
    let tasks: Vec<_> = (0..DURABLE_DOCS)
        .map(|i| {
            let (store, scope) = (db.store.clone(), scope.clone());
            tokio::spawn(async move {
                let customer = Customer::new(&format!("cus_d{i:02}"), T0, "d@example.com", "D");
                store.commit(one(customer.insert(&scope))).await
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("the commit task").unwrap();
    }
    db.store.close().await;

    let reopened = db.reopen().await;
    for i in 0..DURABLE_DOCS {
        let id = format!("cus_d{i:02}");
        assert!(get(&reopened, &scope, &id).await.is_some(), "{id} lost");
    }
    let query = list_query(&scope, PageCursor::Newest, 100);
    let page = reopened.list(Table::Customers, &query).await.unwrap();
    assert_eq!(page.docs.len(), DURABLE_DOCS);
    reopened.close().await;
}

contract!(migrations_are_idempotent);
async fn migrations_are_idempotent(db: &TestDb) {
    let acme = merchant(&db.store, "Acme").await;
    let applied = db.applied_migrations().await;
    assert!(!applied.is_empty());

    // A second store on the same database, while the first is open.
    let second = db.reopen().await;
    second.ping().await.unwrap();
    assert_eq!(second.list_merchants().await.unwrap(), vec![acme]);
    assert_eq!(db.applied_migrations().await, applied);
    second.close().await;
    db.store.ping().await.unwrap();
}

// ---------------------------------------------------------------- webhooks

#[path = "contract/webhooks.rs"]
mod webhooks;
