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
        .ok_or_else(overflowed)
}

/// The error of a balance that would leave the 64-bit range.
pub(crate) fn overflowed() -> StoreError {
    StoreError::Corrupt("a ledger balance overflowed".to_owned())
}

/// An (account, currency) pair as stored text and an amount in minor
/// units: a balance, or what a transaction adds to one.
pub(crate) type PairAmount = ((String, String), i64);

/// What `transaction` adds to each (account, currency) it posts to, in
/// the order first posted; refuses a sum that overflows.
pub(crate) fn balance_moves(
    transaction: &LedgerTransaction,
) -> Result<Vec<PairAmount>, StoreError> {
    let mut moves: Vec<PairAmount> = Vec::new();
    for posting in transaction.postings() {
        let pair = (posting.account.to_string(), posting.currency.to_string());
        match moves.iter_mut().find(|(moved, _)| *moved == pair) {
            Some((_, amount_minor)) => *amount_minor = add(*amount_minor, posting.amount_minor)?,
            None => moves.push((pair, posting.amount_minor)),
        }
    }
    Ok(moves)
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
    pub balances: Vec<PairAmount>,
}

/// Links `transactions` after `head` in order, exactly as appending them
/// one at a time would: a key already stored (`stored`: key → canonical
/// content) or appended earlier in the batch is a no-op for the same
/// movement and `Duplicate` otherwise; `balances` (the stored balances of
/// every pair the batch touches; a missing pair is zero) move with checked
/// arithmetic, and a balance the policy floors at zero that goes below it
/// after any one transaction refuses the whole batch.
pub(crate) fn chain_batch<'t>(
    head: ChainHead,
    stored: &HashMap<String, String>,
    balances: HashMap<(String, String), i64>,
    transactions: impl IntoIterator<Item = &'t LedgerTransaction>,
) -> Result<ChainedBatch, StoreError> {
    let mut chain = Chain::new(head, stored, balances);
    for transaction in transactions {
        chain.link(transaction)?;
    }
    Ok(chain.finish())
}

/// A chain being linked in memory after a locked head, by the rules of
/// [`chain_batch`]; [`Chain::link_all`] links one write set's
/// transactions all or none, so that one write set's failure leaves the
/// others linked.
pub(crate) struct Chain<'a> {
    head: ChainHead,
    stored: &'a HashMap<String, String>,
    balances: HashMap<(String, String), i64>,
    entries: Vec<(portcullis_ledger::chain::ChainEntry, ChainHead)>,
    /// Keys linked so far → their index in `entries`.
    appended: HashMap<String, usize>,
    touched: Vec<(String, String)>,
}

impl<'a> Chain<'a> {
    pub(crate) fn new(
        head: ChainHead,
        stored: &'a HashMap<String, String>,
        balances: HashMap<(String, String), i64>,
    ) -> Self {
        Self {
            head,
            stored,
            balances,
            entries: vec![],
            appended: HashMap::new(),
            touched: vec![],
        }
    }

    /// Links `transactions` in order, or none of them: on an error the
    /// chain is as it was before.
    pub(crate) fn link_all(
        &mut self,
        transactions: &[LedgerTransaction],
    ) -> Result<(), StoreError> {
        let (head, balances, appended) = (
            self.head.clone(),
            self.balances.clone(),
            self.appended.clone(),
        );
        let (entries, touched) = (self.entries.len(), self.touched.len());
        let linked = transactions
            .iter()
            .try_for_each(|transaction| self.link(transaction));
        if linked.is_err() {
            (self.head, self.balances, self.appended) = (head, balances, appended);
            self.entries.truncate(entries);
            self.touched.truncate(touched);
        }
        linked
    }

    /// Links one transaction; on an error the chain may be half-moved
    /// (see [`Chain::link_all`]).
    fn link(&mut self, transaction: &LedgerTransaction) -> Result<(), StoreError> {
        let key = transaction.idempotency_key();
        if let Some(existing) = self.stored.get(key) {
            return repeat_of(existing, transaction);
        }
        if let Some(index) = self.appended.get(key) {
            return repeat_of(&self.entries[*index].0.content, transaction);
        }
        for posting in transaction.postings() {
            let pair = (posting.account.to_string(), posting.currency.to_string());
            let balance = self.balances.get(&pair).copied().unwrap_or(0);
            self.touched.push(pair.clone());
            self.balances
                .insert(pair, add(balance, posting.amount_minor)?);
        }
        for pair in floors(transaction) {
            if self.balances.get(&pair).copied().unwrap_or(0) < 0 {
                let (account, currency) = pair;
                return Err(StoreError::InsufficientBalance { account, currency });
            }
        }
        self.appended.insert(key.to_owned(), self.entries.len());
        let (entry, next) = portcullis_ledger::chain::append(&self.head, transaction.clone());
        self.head = next.clone();
        self.entries.push((entry, next));
        Ok(())
    }

    /// The entries linked and the final balance of every pair they moved.
    pub(crate) fn finish(mut self) -> ChainedBatch {
        self.touched.sort();
        self.touched.dedup();
        let balances = self
            .touched
            .into_iter()
            .map(|pair| {
                let balance = self.balances.get(&pair).copied().unwrap_or(0);
                (pair, balance)
            })
            .collect();
        ChainedBatch {
            entries: self.entries,
            balances,
        }
    }
}

/// The (account, currency) pairs and idempotency keys `transactions` touch,
/// for reading what [`chain_batch`] needs in a few statements.
pub(crate) fn accounts_and_keys<'a>(
    transactions: impl Iterator<Item = &'a LedgerTransaction> + Clone,
) -> (Vec<String>, Vec<String>) {
    let mut accounts: Vec<String> = transactions
        .clone()
        .flat_map(|tx| tx.postings().iter().map(|p| p.account.to_string()))
        .collect();
    accounts.sort();
    accounts.dedup();
    let keys = transactions
        .map(|tx| tx.idempotency_key().to_owned())
        .collect();
    (accounts, keys)
}

/// The parties (merchant `acct_chain`, test mode, usd, the sandbox) and a
/// header of `kind` keyed `key`, for the unit tests' ledger transactions.
#[cfg(test)]
pub(crate) fn test_movement(
    kind: portcullis_ledger::TransactionKind,
    key: &str,
) -> (
    portcullis_ledger::transaction::TransactionHeader,
    portcullis_ledger::movements::Parties,
) {
    let parties = portcullis_ledger::movements::Parties {
        merchant: portcullis_domain::ids::MerchantId::parse("acct_chain").unwrap(),
        livemode: false,
        currency: portcullis_domain::money::Currency::parse("usd").unwrap(),
        connector: "sandbox".into(),
    };
    let header = portcullis_ledger::transaction::TransactionHeader {
        id: format!("ltx_{key}"),
        idempotency_key: key.to_owned(),
        kind,
        source: "src_1".to_owned(),
        created: 1,
    };
    (header, parties)
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_ledger::movements;
    use portcullis_ledger::TransactionKind;

    fn payout(key: &str, amount_minor: i64) -> LedgerTransaction {
        let (header, parties) = test_movement(TransactionKind::Payout, key);
        movements::payout(header, &parties, amount_minor).unwrap()
    }

    #[test]
    fn a_balance_that_would_overflow_refuses_the_append() {
        let available = floors(&payout("any", 1)).remove(0);
        let stored = HashMap::new();
        let balances = HashMap::from([(available, i64::MIN + 5)]);
        let mut chain = Chain::new(ChainHead::genesis(), &stored, balances);
        assert!(matches!(
            chain.link_all(&[payout("a", 10)]),
            Err(StoreError::Corrupt(_))
        ));
        assert!(chain.finish().entries.is_empty());
    }

    #[test]
    fn a_refused_write_set_leaves_the_chain_as_it_was() {
        let available = floors(&payout("any", 1)).remove(0);
        let stored = HashMap::new();
        let balances = HashMap::from([(available.clone(), 150)]);
        let mut chain = Chain::new(ChainHead::genesis(), &stored, balances);
        assert_eq!(chain.link_all(&[payout("a", 100)]), Ok(()));
        // Its first payout fits, its second does not: neither is linked.
        assert!(matches!(
            chain.link_all(&[payout("b", 20), payout("c", 100)]),
            Err(StoreError::InsufficientBalance { .. })
        ));
        // So "b" is still free, and the 50 left pay it.
        assert_eq!(chain.link_all(&[payout("b", 50)]), Ok(()));
        let batch = chain.finish();
        let keys: Vec<&str> = batch
            .entries
            .iter()
            .map(|(entry, _)| entry.transaction.idempotency_key())
            .collect();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(batch.entries[1].1.sequence, 2);
        assert!(batch.balances.contains(&(available, 0)));
    }
}
