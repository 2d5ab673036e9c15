//! The gateway's client-side-encryption keys as stored: gateway-wide (not
//! per merchant), one per vault KEK, the private half sealed by the vault.
//! The store never sees a key in the clear.

/// One stored key. `wrapped_dek` and `ciphertext` are the vault's sealed
/// record, hex-encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEncryptionKey {
    pub kid: String,
    pub kek_id: String,
    pub created: i64,
    pub wrapped_dek: String,
    pub ciphertext: String,
}
