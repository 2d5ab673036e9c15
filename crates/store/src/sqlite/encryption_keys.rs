//! `checkout_encryption_keys` on SQLite.

use super::{execute, query_all, SqliteStore, D};
use crate::encryption_keys::StoredEncryptionKey;
use crate::sql::encryption_keys as sql;
use crate::StoreError;

impl SqliteStore {
    pub async fn insert_encryption_key(&self, key: &StoredEncryptionKey) -> Result<(), StoreError> {
        let statement = sql::insert(D, key);
        self.writer
            .write(move |c| execute(c, &statement).map(drop))
            .await
    }

    pub async fn encryption_keys(&self) -> Result<Vec<StoredEncryptionKey>, StoreError> {
        self.read(|c| {
            query_all(c, &sql::list(D), |row| {
                Ok(StoredEncryptionKey {
                    kid: row.get(0)?,
                    kek_id: row.get(1)?,
                    created: row.get(2)?,
                    wrapped_dek: row.get(3)?,
                    ciphertext: row.get(4)?,
                })
            })
        })
        .await
    }
}
