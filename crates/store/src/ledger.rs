//! The ledger's storage rules, shared by both backends: how an append
//! treats a key that exists, which balances it must leave non-negative,
//! and how stored rows are assembled for verification.

use crate::StoreError;
use portcullis_ledger::chain::ChainHead;
use portcullis_ledger::policy::must_stay_non_negative;
use portcullis_ledger::verify::{Finding, Report, StoredEntry, StoredPosting};
use portcullis_ledger::LedgerTransaction;
use std::collections::HashMap;

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

/// A batch of appends linked in memory (see [`chain_batch`]).
#[derive(Debug)]
pub(crate) struct ChainedBatch {
    /// The entries to store, in chain order; each is followed by moving
    /// the head onto it, as the database's triggers require.
    pub entries: Vec<(portcullis_ledger::chain::ChainEntry, ChainHead)>,
    /// The final balance of every (account, currency) the batch moved.
    pub balances: Vec<((String, String), i64)>,
}

/// Links `transactions` after `head` in order, exactly as appending them
/// one at a time would: a key already stored (`stored`: key → canonical
/// content) or appended earlier in the batch is a no-op for the same
/// movement and `Duplicate` otherwise; `balances` (the stored balances of
/// every pair the batch touches; a missing pair is zero) move with checked
/// arithmetic, and a balance the policy floors at zero that goes below it
/// after any one transaction refuses the whole batch.
pub(crate) fn chain_batch(
    head: ChainHead,
    stored: &HashMap<String, String>,
    mut balances: HashMap<(String, String), i64>,
    transactions: Vec<LedgerTransaction>,
) -> Result<ChainedBatch, StoreError> {
    let mut entries: Vec<(portcullis_ledger::chain::ChainEntry, ChainHead)> = vec![];
    let mut appended: HashMap<String, usize> = HashMap::new();
    let mut touched: Vec<(String, String)> = vec![];
    let mut head = head;
    for transaction in transactions {
        let key = transaction.idempotency_key();
        if let Some(existing) = stored.get(key) {
            repeat_of(existing, &transaction)?;
            continue;
        }
        if let Some(index) = appended.get(key) {
            repeat_of(&entries[*index].0.content, &transaction)?;
            continue;
        }
        for posting in transaction.postings() {
            let pair = (posting.account.to_string(), posting.currency.to_string());
            let balance = balances.get(&pair).copied().unwrap_or(0);
            touched.push(pair.clone());
            balances.insert(pair, add(balance, posting.amount_minor)?);
        }
        for (account, currency) in floors(&transaction) {
            let pair = (account, currency);
            if balances.get(&pair).copied().unwrap_or(0) < 0 {
                let (account, currency) = pair;
                return Err(StoreError::InsufficientBalance { account, currency });
            }
        }
        appended.insert(key.to_owned(), entries.len());
        let (entry, next) = portcullis_ledger::chain::append(&head, transaction);
        head = next.clone();
        entries.push((entry, next));
    }
    touched.sort();
    touched.dedup();
    let balances = touched
        .into_iter()
        .map(|pair| {
            let balance = balances.get(&pair).copied().unwrap_or(0);
            (pair, balance)
        })
        .collect();
    Ok(ChainedBatch { entries, balances })
}

/// The (account, currency) pairs and idempotency keys `transactions` touch,
/// for reading what [`chain_batch`] needs in a few statements.
pub(crate) fn accounts_and_keys(transactions: &[LedgerTransaction]) -> (Vec<String>, Vec<String>) {
    let mut accounts: Vec<String> = transactions
        .iter()
        .flat_map(|tx| tx.postings().iter().map(|p| p.account.to_string()))
        .collect();
    accounts.sort();
    accounts.dedup();
    let keys = transactions
        .iter()
        .map(|tx| tx.idempotency_key().to_owned())
        .collect();
    (accounts, keys)
}
