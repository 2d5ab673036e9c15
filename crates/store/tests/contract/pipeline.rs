//! A write set's operations apply in their order, however many there are
//! (on PostgreSQL they are pipelined: sent together, run as sent).

use crate::support::{merchant, test_scope, Customer, TestDb, T0};
use portcullis_store::{StoreError, Table, WriteSet};

/// Far more operations than any combinator's small-size threshold, each
/// depending on the one before it: an insert, then updates each naming the
/// version the previous one wrote. Any reordering is a version conflict.
const UPDATES: i64 = 150;

contract!(a_long_write_set_of_dependent_operations_applies_in_order);
async fn a_long_write_set_of_dependent_operations_applies_in_order(db: &TestDb) {
    let store = &db.store;
    let scope = test_scope(&merchant(store, "Acme").await.id);
    let jenny = Customer::new("cus_jenny", T0, "jenny@example.com", "Jenny");
    let mut ops = vec![jenny.insert(&scope)];
    for version in 1..=UPDATES {
        let renamed = Customer {
            name: format!("Jenny {version}"),
            ..jenny.clone()
        };
        ops.push(super::update(&scope, &renamed, version));
    }
    store.commit(WriteSet { ops }).await.unwrap();

    let doc = store
        .get(Table::Customers, &scope, "cus_jenny")
        .await
        .unwrap()
        .expect("the document");
    let last = Customer {
        name: format!("Jenny {UPDATES}"),
        ..jenny
    };
    assert_eq!((doc.version, doc.body), (UPDATES + 1, last.body()));
}

// A payment's phase two in miniature: an event (and its fan-out) and a
// checked update of another table, which PostgreSQL sends as one
// statement of several writes (`sql::with_writes`). The update's refused
// check fails the write set, as when they were statements of their own,
// and nothing of it stays: no event, no delivery.
contract!(a_refused_check_among_writes_to_other_tables_fails_its_write_set_and_leaves_nothing);
async fn a_refused_check_among_writes_to_other_tables_fails_its_write_set_and_leaves_nothing(
    db: &TestDb,
) {
    let store = &db.store;
    let scope = test_scope(&merchant(store, "Acme").await.id);
    let jenny = Customer::new("cus_jenny", T0, "jenny@example.com", "Jenny");
    let endpoint = super::webhooks::endpoint(&scope, "we_1", "enabled", ",*,", false);
    store
        .commit(WriteSet {
            ops: vec![endpoint, jenny.insert(&scope)],
        })
        .await
        .unwrap();
    let renamed = |name: &str| Customer {
        name: name.to_owned(),
        ..jenny.clone()
    };
    store
        .commit(WriteSet {
            ops: vec![super::update(&scope, &renamed("Jenny Rosen"), 1)],
        })
        .await
        .unwrap();
    let event = || super::webhooks::event(&scope, "evt_x", "customer.updated");
    let ghost = Customer::new("cus_ghost", T0, "ghost@example.com", "Ghost");

    for (update, refused) in [
        (
            super::update(&scope, &renamed("Stale"), 1),
            StoreError::Conflict,
        ),
        (super::update(&scope, &ghost, 1), StoreError::NotFound),
    ] {
        let writes = WriteSet {
            ops: vec![event(), update],
        };
        assert_eq!(store.commit(writes).await, Err(refused));
        let stored = store.get(Table::Events, &scope, "evt_x").await.unwrap();
        assert_eq!(stored, None, "the event of a refused write set stayed");
        assert!(super::webhooks::endpoints_of(store, &scope, "evt_x")
            .await
            .is_empty());
    }
    let doc = store.get(Table::Customers, &scope, "cus_jenny").await;
    assert_eq!(doc.unwrap().unwrap().version, 2);

    let writes = WriteSet {
        ops: vec![event(), super::update(&scope, &renamed("Jenny R."), 2)],
    };
    store.commit(writes).await.unwrap();
    assert!(store
        .get(Table::Events, &scope, "evt_x")
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        super::webhooks::endpoints_of(store, &scope, "evt_x").await,
        ["we_1"]
    );
    let doc = store.get(Table::Customers, &scope, "cus_jenny").await;
    assert_eq!(doc.unwrap().unwrap().version, 3);
}
