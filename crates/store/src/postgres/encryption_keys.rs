//! `checkout_encryption_keys` on PostgreSQL.

use super::{execute, query, PgStore, D};
use crate::encryption_keys::StoredEncryptionKey;
use crate::sql::encryption_keys as sql;
use crate::StoreError;

impl PgStore {
    pub async fn insert_encryption_key(&self, key: &StoredEncryptionKey) -> Result<(), StoreError> {
        execute(&self.client().await?, &sql::insert(D, key))
            .await
            .map(drop)
    }

    pub async fn encryption_keys(&self) -> Result<Vec<StoredEncryptionKey>, StoreError> {
        let rows = query(&self.client().await?, &sql::list(D)).await?;
        Ok(rows
            .iter()
            .map(|row| StoredEncryptionKey {
                kid: row.get(0),
                kek_id: row.get(1),
                created: row.get(2),
                wrapped_dek: row.get(3),
                ciphertext: row.get(4),
            })
            .collect())
    }
}
