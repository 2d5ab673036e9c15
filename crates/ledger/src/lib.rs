//! The Portcullis ledger: who owes what to whom, as double-entry
//! bookkeeping that can only grow.
//!
//! Every movement of money is a [`LedgerTransaction`] of two or more
//! [`Posting`]s that sum to zero per currency, built only through the
//! checked [`TransactionBuilder`]. Transactions are chained: each stores the
//! SHA-256 of its canonical content and of the previous transaction's hash
//! ([`chain`]), so editing, deleting or reordering history is detectable by
//! [`verify`]. Corrections are new reversing transactions, never edits.
//!
//! This crate is pure: no I/O, no SQL, no HTTP. The store persists what it
//! builds; the API decides when money moves ([`movements`]) and at what
//! price ([`fees`]).

pub mod accounts;
pub mod chain;
pub mod checkpoint;
pub mod fees;
pub mod movements;
pub mod policy;
pub mod transaction;
pub mod verify;

pub use accounts::{Account, Bucket};
pub use transaction::{LedgerTransaction, Posting, TransactionBuilder, TransactionKind};

/// Why a ledger value could not be built.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum LedgerError {
    #[error("a ledger transaction needs at least two postings")]
    TooFewPostings,
    #[error("a ledger transaction has at most {max} postings", max = transaction::POSTINGS_MAX)]
    TooManyPostings,
    #[error("a posting's amount must not be zero")]
    ZeroPosting,
    #[error("the postings in {currency} sum to {sum_minor}, not zero")]
    Unbalanced { currency: String, sum_minor: i128 },
    #[error("an amount overflowed")]
    Overflow,
    #[error("invalid {what}: {value:?}")]
    Invalid { what: &'static str, value: String },
}

impl LedgerError {
    pub(crate) fn invalid(what: &'static str, value: impl Into<String>) -> Self {
        LedgerError::Invalid {
            what,
            value: value.into(),
        }
    }
}

/// Longest idempotency key, id or source reference in a ledger transaction.
pub const TOKEN_LEN_MAX: usize = 255;

/// True for the text allowed in ids, keys, sources and account codes: it
/// never contains the separators of the canonical form (`|`, `=`, newline).
pub(crate) fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= TOKEN_LEN_MAX
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b':' | b'.'))
}
