//! The ledger's storage rules, shared by both backends: how an append
//! treats a key that exists, which balances it must leave non-negative,
//! and how stored rows are assembled for verification.

use crate::StoreError;
use portcullis_ledger::policy::must_stay_non_negative;
use portcullis_ledger::verify::{Finding, Report, StoredEntry, StoredPosting};
use portcullis_ledger::LedgerTransaction;

/// Transactions read per page while verifying.
pub(crate) const VERIFY_PAGE_ENTRIES: usize = 500;
/// Balance rows read per page while verifying.
pub(crate) const VERIFY_PAGE_BALANCES: usize = 1_000;
/// Most pages of balance rows verification reads (10^8 account-currency pairs).
pub(crate) const VERIFY_BALANCE_PAGES_MAX: usize = 100_000;
/// Most accounts one balance read may name.
pub const BALANCE_ACCOUNTS_MAX: usize = 16;

/// What verifying the stored ledger found: a clean report, or the first
/// bad entry (an operating fact, not a storage error).
pub type Verification = Result<Report, Finding>;

/// Decides what appending `transaction` does when its key was used by
/// the transaction whose canonical content is `existing`: nothing, if it
/// records the same movement (a retried write); `Duplicate` otherwise.
pub(crate) fn repeat_of(existing: &str, transaction: &LedgerTransaction) -> Result<(), StoreError> {
    let existing = LedgerTransaction::parse_canonical(existing)
        .map_err(|e| StoreError::Corrupt(format!("ledger transaction: {e}")))?;
    if existing.same_movement(transaction) {
        Ok(())
    } else {
        Err(StoreError::Duplicate)
    }
}

/// The balances `transaction` must leave at zero or above, as stored text.
pub(crate) fn floors(transaction: &LedgerTransaction) -> Vec<(String, String)> {
    must_stay_non_negative(transaction)
        .into_iter()
        .map(|(account, currency)| (account.to_string(), currency.to_string()))
        .collect()
}

/// `balance_minor + amount_minor`, refusing to overflow.
pub(crate) fn add(balance_minor: i64, amount_minor: i64) -> Result<i64, StoreError> {
    balance_minor
        .checked_add(amount_minor)
        .ok_or_else(|| StoreError::Corrupt("a ledger balance overflowed".to_owned()))
}

/// Attaches posting rows (by transaction sequence, in order) to their entries.
pub(crate) fn assemble(
    mut entries: Vec<StoredEntry>,
    postings: Vec<(i64, StoredPosting)>,
) -> Vec<StoredEntry> {
    let mut index = 0;
    for (sequence, posting) in postings {
        while index < entries.len() && entries[index].sequence < sequence {
            index += 1;
        }
        match entries.get_mut(index) {
            Some(entry) if entry.sequence == sequence => entry.postings.push(posting),
            // Rows of a transaction that is not there show up as a
            // count mismatch once the chain has been read.
            _ => {}
        }
    }
    entries
}
