//! Verification: replays the chain as stored, in sequence order, and checks
//! each entry's place, links, hash, content and postings, then every stored
//! balance against the sum of its postings. The first fault found is
//! reported, naming the entry (or the account) where it is.

use crate::chain::{link_hash, ChainHead};
use crate::transaction::LedgerTransaction;
use std::collections::BTreeMap;
use std::fmt;

/// One posting row as stored, in the order of its position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredPosting {
    pub account: String,
    pub currency: String,
    pub amount_minor: i64,
}

/// One transaction row as stored, with its posting rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEntry {
    pub sequence: i64,
    pub id: String,
    pub idempotency_key: String,
    pub content: String,
    pub hash: String,
    pub previous_hash: String,
    pub created: i64,
    pub postings: Vec<StoredPosting>,
}

/// One balance row as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBalance {
    pub account: String,
    pub currency: String,
    pub balance_minor: i64,
}

/// What is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The entry is not the one that should follow (deleted, inserted or moved).
    OutOfSequence { expected: i64 },
    /// Its previous-hash is not the hash of the entry before it.
    BrokenLink,
    /// Its hash is not the hash of its content after the previous hash.
    HashMismatch,
    /// Its content is not a well-formed, balanced transaction.
    BadContent(String),
    /// Its id, key or time columns differ from its content.
    ColumnsDiffer,
    /// Its posting rows differ from its content.
    PostingsDiffer,
    /// Rows outside the chain: transactions or postings the entries do not account for.
    StrayRows { transactions: i64, postings: i64 },
    /// The chain-head row does not name the last entry.
    HeadMismatch { head: ChainHead },
    /// A balance row differs from the sum of the account's postings.
    BalanceMismatch(Box<BalanceMismatch>),
}

/// A balance row that differs from the sum of its account's postings
/// (boxed in [`Fault`], so that a `Result<_, Finding>` stays small).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalanceMismatch {
    pub account: String,
    pub currency: String,
    pub stored_minor: i64,
    pub computed_minor: i128,
}

/// The first fault found, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The entry at fault (by its stored sequence and id), if an entry is.
    pub sequence: Option<i64>,
    pub id: Option<String>,
    pub fault: Fault,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(sequence) = self.sequence {
            write!(
                f,
                "entry {sequence} ({}): ",
                self.id.as_deref().unwrap_or("?")
            )?;
        }
        match &self.fault {
            Fault::OutOfSequence { expected } => write!(f, "out of sequence: expected entry {expected} here (an entry was deleted, inserted or moved)"),
            Fault::BrokenLink => write!(f, "previous_hash does not match the hash of the entry before it (history was rewritten or reordered)"),
            Fault::HashMismatch => write!(f, "hash does not match its content (the entry was changed)"),
            Fault::BadContent(why) => write!(f, "content is not a valid transaction: {why}"),
            Fault::ColumnsDiffer => write!(f, "id, idempotency key or created differ from the hashed content"),
            Fault::PostingsDiffer => write!(f, "posting rows differ from the hashed content"),
            Fault::StrayRows { transactions, postings } => write!(f, "{transactions} transaction rows and {postings} posting rows are stored, more than the chain holds"),
            Fault::HeadMismatch { head } => write!(f, "the chain head says entry {} ({}), which is not the last entry", head.sequence, head.hash),
            Fault::BalanceMismatch(mismatch) => write!(
                f,
                "balance of {} in {} is {} but its postings sum to {}",
                mismatch.account, mismatch.currency, mismatch.stored_minor, mismatch.computed_minor
            ),
        }
    }
}

impl std::error::Error for Finding {}

/// What a clean verification saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub entries: u64,
    pub head: ChainHead,
    pub balances: usize,
}

/// Checks a chain fed to it in stored sequence order.
#[derive(Debug)]
pub struct Verifier {
    head: ChainHead,
    entries: u64,
    postings: u64,
    balances: BTreeMap<(String, String), i128>,
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new()
    }
}

impl Verifier {
    pub fn new() -> Self {
        Self {
            head: ChainHead::genesis(),
            entries: 0,
            postings: 0,
            balances: BTreeMap::new(),
        }
    }

    /// The last entry checked so far.
    pub fn head(&self) -> &ChainHead {
        &self.head
    }

    /// Checks the next stored entry.
    pub fn check(&mut self, entry: &StoredEntry) -> Result<(), Finding> {
        let at = |fault| Finding {
            sequence: Some(entry.sequence),
            id: Some(entry.id.clone()),
            fault,
        };
        let expected = self.head.sequence + 1;
        if entry.sequence != expected {
            return Err(at(Fault::OutOfSequence { expected }));
        }
        if entry.previous_hash != self.head.hash {
            return Err(at(Fault::BrokenLink));
        }
        if link_hash(&entry.previous_hash, &entry.content) != entry.hash {
            return Err(at(Fault::HashMismatch));
        }
        let transaction = LedgerTransaction::parse_canonical(&entry.content)
            .map_err(|e| at(Fault::BadContent(e.to_string())))?;
        if transaction.id() != entry.id
            || transaction.idempotency_key() != entry.idempotency_key
            || transaction.created() != entry.created
        {
            return Err(at(Fault::ColumnsDiffer));
        }
        let rows_match = transaction.postings().len() == entry.postings.len()
            && transaction
                .postings()
                .iter()
                .zip(&entry.postings)
                .all(|(p, row)| {
                    p.account.to_string() == row.account
                        && p.currency.as_str() == row.currency
                        && p.amount_minor == row.amount_minor
                });
        if !rows_match {
            return Err(at(Fault::PostingsDiffer));
        }
        for posting in transaction.postings() {
            let key = (posting.account.to_string(), posting.currency.to_string());
            *self.balances.entry(key).or_default() += i128::from(posting.amount_minor);
        }
        self.head = ChainHead {
            sequence: entry.sequence,
            hash: entry.hash.clone(),
        };
        self.entries += 1;
        self.postings += entry.postings.len() as u64;
        Ok(())
    }

    /// Checks that the stored row counts are what the chain holds (no
    /// posting rows beyond the chain, no transactions out of it).
    pub fn check_counts(&self, transactions: i64, postings: i64) -> Result<(), Finding> {
        if u64::try_from(transactions) == Ok(self.entries)
            && u64::try_from(postings) == Ok(self.postings)
        {
            return Ok(());
        }
        Err(Finding {
            sequence: None,
            id: None,
            fault: Fault::StrayRows {
                transactions,
                postings,
            },
        })
    }

    /// Checks the chain-head row and every balance row against what the
    /// entries add up to (an account with postings but no row, or a row
    /// with no postings, must be zero).
    pub fn finish(
        self,
        stored_head: &ChainHead,
        stored: &[StoredBalance],
    ) -> Result<Report, Finding> {
        if *stored_head != self.head {
            return Err(Finding {
                sequence: None,
                id: None,
                fault: Fault::HeadMismatch {
                    head: stored_head.clone(),
                },
            });
        }
        let mut rows: BTreeMap<(String, String), i64> = BTreeMap::new();
        for row in stored {
            rows.insert(
                (row.account.clone(), row.currency.clone()),
                row.balance_minor,
            );
        }
        let mut keys: Vec<&(String, String)> = self.balances.keys().chain(rows.keys()).collect();
        keys.sort();
        keys.dedup();
        for key in keys {
            let computed = self.balances.get(key).copied().unwrap_or(0);
            let stored_minor = rows.get(key).copied().unwrap_or(0);
            if i128::from(stored_minor) != computed {
                return Err(Finding {
                    sequence: None,
                    id: None,
                    fault: Fault::BalanceMismatch(Box::new(BalanceMismatch {
                        account: key.0.clone(),
                        currency: key.1.clone(),
                        stored_minor,
                        computed_minor: computed,
                    })),
                });
            }
        }
        Ok(Report {
            entries: self.entries,
            head: self.head,
            balances: self.balances.len(),
        })
    }
}

/// The stored form of a chain entry, as the store writes it.
pub fn stored_form(entry: &crate::chain::ChainEntry) -> StoredEntry {
    StoredEntry {
        sequence: entry.sequence,
        id: entry.transaction.id().to_owned(),
        idempotency_key: entry.transaction.idempotency_key().to_owned(),
        content: entry.content.clone(),
        hash: entry.hash.clone(),
        previous_hash: entry.previous_hash.clone(),
        created: entry.transaction.created(),
        postings: entry
            .transaction
            .postings()
            .iter()
            .map(|p| StoredPosting {
                account: p.account.to_string(),
                currency: p.currency.to_string(),
                amount_minor: p.amount_minor,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{append, ChainHead};
    use crate::movements::{payout, Parties};
    use crate::transaction::{TransactionHeader, TransactionKind};
    use portcullis_domain::ids::MerchantId;
    use portcullis_domain::money::Currency;

    fn chain_of(count: i64) -> (Vec<StoredEntry>, ChainHead, Vec<StoredBalance>) {
        let parties = Parties {
            merchant: MerchantId::parse("acct_1").unwrap(),
            livemode: false,
            currency: Currency::parse("usd").unwrap(),
            connector: "sandbox".into(),
        };
        let mut head = ChainHead::genesis();
        let mut entries = vec![];
        for n in 1..=count {
            let header = TransactionHeader {
                id: format!("ltx_{n}"),
                idempotency_key: format!("payout:po_{n}"),
                kind: TransactionKind::Payout,
                source: format!("po_{n}"),
                created: n,
            };
            let (entry, next) = append(&head, payout(header, &parties, n).unwrap());
            entries.push(stored_form(&entry));
            head = next;
        }
        let total: i64 = (1..=count).sum();
        let balances = vec![
            StoredBalance {
                account: "test:merchant:acct_1:available".into(),
                currency: "usd".into(),
                balance_minor: -total,
            },
            StoredBalance {
                account: "test:merchant:acct_1:reserved".into(),
                currency: "usd".into(),
                balance_minor: total,
            },
        ];
        (entries, head, balances)
    }

    fn first_finding(
        entries: &[StoredEntry],
        head: &ChainHead,
        balances: &[StoredBalance],
    ) -> Option<Finding> {
        let mut verifier = Verifier::new();
        for entry in entries {
            if let Err(finding) = verifier.check(entry) {
                return Some(finding);
            }
        }
        verifier.finish(head, balances).err()
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let (entries, head, balances) = chain_of(4);
        assert_eq!(first_finding(&entries, &head, &balances), None);
    }

    #[test]
    fn edits_deletions_and_reorderings_name_the_first_bad_entry() {
        let (entries, head, balances) = chain_of(4);
        let mut edited = entries.clone();
        edited[1].postings[0].amount_minor = -7;
        let finding = first_finding(&edited, &head, &balances).unwrap();
        assert_eq!(
            (finding.sequence, finding.fault),
            (Some(2), Fault::PostingsDiffer)
        );

        let mut deleted = entries.clone();
        deleted.remove(2);
        let finding = first_finding(&deleted, &head, &balances).unwrap();
        assert_eq!(finding.sequence, Some(4));
        assert_eq!(finding.fault, Fault::OutOfSequence { expected: 3 });

        let mut reordered = entries.clone();
        reordered.swap(1, 2);
        (reordered[1].sequence, reordered[2].sequence) = (2, 3);
        let finding = first_finding(&reordered, &head, &balances).unwrap();
        assert_eq!(
            (finding.sequence, finding.id.as_deref()),
            (Some(2), Some("ltx_3"))
        );
        assert_eq!(finding.fault, Fault::BrokenLink);

        let mut rehashed = entries.clone();
        rehashed[0].content = rehashed[0]
            .content
            .replace("|-1\n", "|-2\n")
            .replace("|1\n", "|2\n");
        rehashed[0].hash = link_hash(&rehashed[0].previous_hash, &rehashed[0].content);
        let finding = first_finding(&rehashed, &head, &balances).unwrap();
        assert_eq!(
            (finding.sequence, finding.fault),
            (Some(1), Fault::PostingsDiffer)
        );

        let mut truncated = entries.clone();
        truncated.pop();
        let finding = first_finding(&truncated, &head, &balances).unwrap();
        assert!(
            matches!(finding.fault, Fault::HeadMismatch { .. }),
            "{finding}"
        );

        let mut wrong = balances.clone();
        wrong[1].balance_minor += 1;
        let finding = first_finding(&entries, &head, &wrong).unwrap();
        assert!(
            finding
                .to_string()
                .contains("test:merchant:acct_1:reserved"),
            "{finding}"
        );
    }
}
