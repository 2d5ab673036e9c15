//! SQL of `checkout_encryption_keys`, once for both dialects.

use super::{fixed, Dialect, Sql};
use crate::encryption_keys::StoredEncryptionKey;
use crate::model::SqlValue;

/// Inserts the key unless one exists for its KEK already (another
/// instance won the race; callers read back whichever is stored).
pub(crate) fn insert(d: Dialect, key: &StoredEncryptionKey) -> Sql {
    fixed(
        d,
        "INSERT INTO checkout_encryption_keys (kid, kek_id, created, wrapped_dek, ciphertext) \
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (kek_id) DO NOTHING",
        vec![
            SqlValue::Text(key.kid.clone()),
            SqlValue::Text(key.kek_id.clone()),
            SqlValue::Integer(key.created),
            SqlValue::Text(key.wrapped_dek.clone()),
            SqlValue::Text(key.ciphertext.clone()),
        ],
    )
}

/// Every stored key, newest first.
pub(crate) fn list(d: Dialect) -> Sql {
    fixed(
        d,
        "SELECT kid, kek_id, created, wrapped_dek, ciphertext FROM checkout_encryption_keys \
         ORDER BY created DESC, kid",
        vec![],
    )
}
