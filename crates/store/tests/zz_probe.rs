mod support;
use portcullis_domain::search::SearchQuery;
use portcullis_store::*;
use support::*;

async fn probe(db: &TestDb) {
    let store = &db.store;
    let scope = test_scope(&merchant(store, "Acme").await.id);
    let keys = ["a.b", "a\"b", "a b", "ключ", "a\\b", "x'y", "$"];
    for (i, key) in keys.iter().enumerate() {
        let c =
            Customer::new(&format!("cus_k{i}"), T0, "k@example.com", "K").with_metadata(key, "v1");
        store.commit(one(c.insert(&scope))).await.unwrap();
    }
    for (i, key) in keys.iter().enumerate() {
        let escaped = key.replace('\'', "\\'");
        let q = SearchQuery::parse(&format!("metadata['{escaped}']:'v1'")).unwrap();
        let r = store.search(Table::Customers, &scope, &q, None, 10).await;
        eprintln!(
            "{} key {key:?}: {:?}",
            store.backend_name(),
            r.map(|p| p.docs.iter().map(|d| d.id.clone()).collect::<Vec<_>>())
        );
        let _ = i;
    }
    // unicode case
    let c = Customer::new("cus_jorg", T0, "JÖRG@example.com", "JÖRG Über");
    store.commit(one(c.insert(&scope))).await.unwrap();
    for q in ["email:'jörg@example.com'", "name~'über'"] {
        let q2 = SearchQuery::parse(q).unwrap();
        let r = store.search(Table::Customers, &scope, &q2, None, 10).await;
        eprintln!(
            "{} {q}: {:?}",
            store.backend_name(),
            r.map(|p| p.docs.len())
        );
    }
    // deleted as Integer
    let ins = WriteOp::Insert {
        table: Table::Customers,
        scope: scope.clone(),
        id: "cus_int".into(),
        created: T0,
        columns: vec![("deleted", SqlValue::Integer(1))],
        body: "{}".into(),
    };
    eprintln!(
        "{} deleted Integer(1): {:?}",
        store.backend_name(),
        store.commit(one(ins)).await
    );
    let q = SearchQuery::parse("deleted:0").unwrap();
    eprintln!(
        "{} search deleted:0: {:?}",
        store.backend_name(),
        store
            .search(Table::Customers, &scope, &q, None, 10)
            .await
            .map(|p| p.docs.len())
    );
    let q = SearchQuery::parse("email:null").unwrap();
    eprintln!(
        "{} search email:null: {:?}",
        store.backend_name(),
        store
            .search(Table::Customers, &scope, &q, None, 10)
            .await
            .map(|p| p.docs.len())
    );
    let ins = WriteOp::Insert { table: Table::Customers, scope: scope.clone(), id: "cus_txt".into(), created: T0, columns: vec![("email", SqlValue::Integer(5))], body: "{}".into() };
    eprintln!("{} email Integer(5): {:?}", store.backend_name(), store.commit(one(ins)).await);
    // panic in writer
    let s2 = store.clone();
    let sc = scope.clone();
    let j = tokio::spawn(async move {
        let ins = WriteOp::Insert {
            table: Table::Customers,
            scope: sc,
            id: "cus_bad".into(),
            created: T0,
            columns: vec![("status", SqlValue::Null)],
            body: "{}".into(),
        };
        s2.commit(one(ins)).await
    })
    .await;
    eprintln!(
        "{} panicking write: is_panic={:?}",
        store.backend_name(),
        j.as_ref().err().map(|e| e.is_panic())
    );
    let c = Customer::new("cus_after", T0, "a@example.com", "After");
    eprintln!(
        "{} write after panic: {:?}",
        store.backend_name(),
        store.commit(one(c.insert(&scope))).await
    );
    eprintln!(
        "{} ping after panic: {:?}",
        store.backend_name(),
        store.ping().await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    let db = TestDb::sqlite().await;
    probe(&db).await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    let db = TestDb::postgres().await.unwrap();
    probe(&db).await;
}
