//! Checkpoints: the chain head (sequence, hash, time) signed with the
//! gateway's Ed25519 key, for a third party to hold. Later, the entry at
//! that sequence must still have that hash: otherwise history before the
//! checkpoint was rewritten, even if every hash after it was recomputed.

use crate::LedgerError;
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use serde::{Deserialize, Serialize};

const CHECKPOINT_VERSION: &str = "portcullis-ledger-checkpoint/v1";

/// A chain head at a moment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub sequence: i64,
    pub hash: String,
    /// Unix seconds when the checkpoint was taken.
    pub created: i64,
}

impl Checkpoint {
    /// The bytes that are signed.
    pub fn message(&self) -> String {
        format!(
            "{CHECKPOINT_VERSION}\nsequence={}\nhash={}\ncreated={}\n",
            self.sequence, self.hash, self.created
        )
    }
}

/// A checkpoint with its signature and the signer's public key (hex).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedCheckpoint {
    pub algorithm: String,
    #[serde(flatten)]
    pub checkpoint: Checkpoint,
    pub public_key: String,
    pub signature: String,
}

impl SignedCheckpoint {
    /// Checks the signature, and that the signer is `expected_public_key`
    /// (hex) when one is given.
    pub fn verify_signature(&self, expected_public_key: Option<&str>) -> Result<(), LedgerError> {
        if self.algorithm != "ed25519" {
            return Err(LedgerError::invalid(
                "checkpoint algorithm",
                self.algorithm.as_str(),
            ));
        }
        if expected_public_key.is_some_and(|key| key != self.public_key) {
            return Err(LedgerError::invalid(
                "checkpoint signer",
                self.public_key.as_str(),
            ));
        }
        let key = hex::decode(&self.public_key)
            .map_err(|_| LedgerError::invalid("public key", self.public_key.as_str()))?;
        let signature = hex::decode(&self.signature)
            .map_err(|_| LedgerError::invalid("signature", self.signature.as_str()))?;
        UnparsedPublicKey::new(&ED25519, key)
            .verify(self.checkpoint.message().as_bytes(), &signature)
            .map_err(|_| LedgerError::invalid("checkpoint signature", self.signature.as_str()))
    }
}

/// The gateway's checkpoint signing key.
pub struct SigningKey {
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.public_key_hex())
    }
}

impl SigningKey {
    /// A new key, as PKCS#8 bytes to keep secret.
    pub fn generate_pkcs8() -> Result<Vec<u8>, LedgerError> {
        let random = ring::rand::SystemRandom::new();
        Ed25519KeyPair::generate_pkcs8(&random)
            .map(|doc| doc.as_ref().to_vec())
            .map_err(|_| LedgerError::invalid("signing key", "could not be generated"))
    }

    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, LedgerError> {
        Ed25519KeyPair::from_pkcs8(pkcs8)
            .map(|pair| Self { pair })
            .map_err(|_| LedgerError::invalid("signing key", "not an Ed25519 PKCS#8 key"))
    }

    pub fn public_key_hex(&self) -> String {
        hex::encode(self.pair.public_key().as_ref())
    }

    pub fn sign(&self, checkpoint: Checkpoint) -> SignedCheckpoint {
        let signature = self.pair.sign(checkpoint.message().as_bytes());
        SignedCheckpoint {
            algorithm: "ed25519".to_owned(),
            public_key: self.public_key_hex(),
            signature: hex::encode(signature.as_ref()),
            checkpoint,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_checkpoints_verify_and_any_change_breaks_them() {
        let key = SigningKey::from_pkcs8(&SigningKey::generate_pkcs8().unwrap()).unwrap();
        let signed = key.sign(Checkpoint {
            sequence: 7,
            hash: "ab".repeat(32),
            created: 1_700_000_000,
        });
        signed
            .verify_signature(Some(&key.public_key_hex()))
            .unwrap();
        let json = serde_json::to_string(&signed).unwrap();
        let back: SignedCheckpoint = serde_json::from_str(&json).unwrap();
        back.verify_signature(None).unwrap();
        let mut moved = signed.clone();
        moved.checkpoint.sequence = 6;
        assert!(moved.verify_signature(None).is_err());
        let other = SigningKey::from_pkcs8(&SigningKey::generate_pkcs8().unwrap()).unwrap();
        assert!(signed
            .verify_signature(Some(&other.public_key_hex()))
            .is_err());
        let forged = other.sign(signed.checkpoint.clone());
        assert!(forged
            .verify_signature(Some(&key.public_key_hex()))
            .is_err());
    }
}
