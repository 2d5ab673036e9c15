//! The hash chain. Entry `n` stores `hash_n = SHA-256(hash_{n-1} || "\n" ||
//! canonical content_n)` (lowercase hex), and `hash_{n-1}` beside it; the
//! first entry links to [`GENESIS_HASH`]. Sequences start at 1 and have no
//! gaps, so a deleted, edited, inserted or reordered entry breaks the chain
//! at the first place it touches.

use crate::transaction::LedgerTransaction;
use sha2::{Digest, Sha256};

/// What the first entry names as its predecessor: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash of an entry with `content` following one whose hash is `previous_hash`.
pub fn link_hash(previous_hash: &str, content: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(previous_hash.as_bytes());
    hasher.update(b"\n");
    hasher.update(content.as_bytes());
    hex::encode(hasher.finalize())
}

/// The head of a chain: the last entry's sequence and hash (sequence 0
/// and [`GENESIS_HASH`] for an empty ledger).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainHead {
    pub sequence: i64,
    pub hash: String,
}

impl ChainHead {
    pub fn genesis() -> Self {
        Self {
            sequence: 0,
            hash: GENESIS_HASH.to_owned(),
        }
    }
}

/// A transaction as stored: its place in the chain and its links.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainEntry {
    pub sequence: i64,
    pub transaction: LedgerTransaction,
    pub content: String,
    pub hash: String,
    pub previous_hash: String,
}

/// Links `transaction` after `head`: the entry to store, and the new head.
pub fn append(head: &ChainHead, transaction: LedgerTransaction) -> (ChainEntry, ChainHead) {
    let content = transaction.canonical();
    let hash = link_hash(&head.hash, &content);
    let sequence = head.sequence + 1;
    let next = ChainHead {
        sequence,
        hash: hash.clone(),
    };
    let entry = ChainEntry {
        sequence,
        transaction,
        content,
        hash,
        previous_hash: head.hash.clone(),
    };
    (entry, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_hash_is_sha256_of_previous_newline_content() {
        // sha256("0…0\nabc"), computed independently (Python's hashlib).
        let expected = "ac10ec504bb4ed3d77c3b3d1cf8fc534a2f6658185a64fc00b24a1afce46cec3";
        assert_eq!(link_hash(GENESIS_HASH, "abc"), expected);
        assert_eq!(link_hash(GENESIS_HASH, "abc").len(), 64);
        assert_ne!(
            link_hash(GENESIS_HASH, "abc"),
            link_hash(GENESIS_HASH, "abd")
        );
    }
}
