//! The SQLite database holds personal data and webhook secrets: the data
//! directory Portcullis creates is 0700 and the database, its WAL and its
//! shared-memory file are 0600 (issue 12, item 12).
#![cfg(unix)]

use portcullis_store::{Store, StoreOptions};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn a_new_database_and_its_directory_are_private() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("portcullis-data");
    let db = dir.join("portcullis.db");
    let store = Store::open(
        &format!("sqlite://{}", db.display()),
        &StoreOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(mode(&dir), 0o700, "data directory");
    for file in ["portcullis.db", "portcullis.db-wal", "portcullis.db-shm"] {
        assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
    }
    store.close().await;
}
