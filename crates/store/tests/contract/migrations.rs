//! Upgrades: `schema_migrations` records the checksum of what ran; a
//! changed migration or a database migrated by a newer binary is refused
//! at open, before anything is changed, with a message naming the versions.

use crate::support::TestDb;
use portcullis_store::{Store, StoreError, StoreOptions};

/// Opens the database again and expects a refusal; its message.
async fn refused_at_open(db: &TestDb) -> String {
    match Store::open(&db.url, &StoreOptions::default()).await {
        Ok(store) => {
            store.close().await;
            panic!("the store opened a database it should have refused")
        }
        Err(err @ StoreError::Schema(_)) => err.to_string(),
        Err(other) => panic!("refused, but not as a schema error: {other}"),
    }
}

contract!(applied_migrations_record_their_checksum);
async fn applied_migrations_record_their_checksum(db: &TestDb) {
    let checksums = db.migration_checksums().await;
    assert!(!checksums.is_empty());
    for (version, checksum) in &checksums {
        let checksum = checksum.as_deref().unwrap_or_default();
        assert!(
            checksum.starts_with("sha256:") && checksum.len() == 7 + 64,
            "migration {version} recorded {checksum:?}"
        );
    }
}

contract!(a_migration_changed_after_it_ran_is_refused);
async fn a_migration_changed_after_it_ran_is_refused(db: &TestDb) {
    let (version, _) = db.migration_checksums().await[0].clone();
    db.raw_execute(&format!(
        "UPDATE schema_migrations SET checksum = 'sha256:{}' WHERE version = {version}",
        "0".repeat(64)
    ))
    .await
    .unwrap();
    let message = refused_at_open(db).await;
    assert!(
        message.contains(&format!(
            "schema migration {version} changed after it was applied"
        )),
        "{message}"
    );
}

contract!(a_database_migrated_by_a_newer_binary_is_refused_naming_both_versions);
async fn a_database_migrated_by_a_newer_binary_is_refused_naming_both_versions(db: &TestDb) {
    let known = db.migration_checksums().await;
    let latest_known = known.iter().map(|(version, _)| *version).max().unwrap();
    let newer = latest_known + 1000;
    db.raw_execute(&format!(
        "INSERT INTO schema_migrations (version, applied, checksum) VALUES ({newer}, 0, 'sha256:ff')"
    ))
    .await
    .unwrap();
    let message = refused_at_open(db).await;
    assert!(
        message.contains("migrated by a newer Portcullis"),
        "{message}"
    );
    assert!(
        message.contains(&format!("schema version {newer}")),
        "{message}"
    );
    assert!(
        message.contains(&format!("up to {latest_known}")),
        "{message}"
    );
    // Nothing was changed by the refused run.
    assert_eq!(db.migration_checksums().await.len(), known.len() + 1);
}

contract!(rows_from_before_checksums_are_given_one_and_checked_from_then_on);
async fn rows_from_before_checksums_are_given_one_and_checked_from_then_on(db: &TestDb) {
    let before = db.migration_checksums().await;
    // As an older binary left it: no checksum column at all.
    db.raw_execute("ALTER TABLE schema_migrations DROP COLUMN checksum")
        .await
        .unwrap();
    let reopened = db.reopen().await;
    reopened.ping().await.unwrap();
    reopened.close().await;
    assert_eq!(db.migration_checksums().await, before);
}
