//! A write set's operations apply in their order, however many there are
//! (on PostgreSQL they are pipelined: sent together, run as sent).

use crate::support::{merchant, test_scope, Customer, TestDb, T0};
use portcullis_store::{Table, WriteSet};

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
