//! SQL for the ledger: appending to the chain, balances, and the reads
//! that verification and the balance read model need. Every value is bound.

use super::{fixed, Builder, Dialect, Sql};
use crate::ledger::PairAmount;
use crate::model::SqlValue;
use portcullis_ledger::chain::{ChainEntry, ChainHead};

fn text(value: &str) -> SqlValue {
    SqlValue::Text(value.to_owned())
}

/// The chain head, read. PostgreSQL's appends lock it first
/// ([`lock_head_and_read`]); SQLite's writer is alone.
pub(crate) fn read_head(dialect: Dialect) -> Sql {
    fixed(
        dialect,
        "SELECT sequence, hash FROM ledger_head WHERE id = 1",
        vec![],
    )
}

pub(crate) fn move_head(dialect: Dialect, head: &ChainHead) -> Sql {
    fixed(
        dialect,
        "UPDATE ledger_head SET sequence = ?1, hash = ?2 WHERE id = 1",
        vec![SqlValue::Integer(head.sequence), text(&head.hash)],
    )
}

/// The chain head and the stored content of `key`'s transaction (`NULL`
/// if none), in one statement: sequence, hash, content. SQLite's writer
/// reads them together; PostgreSQL locks the head first ([`head`]).
pub(crate) fn head_and_content_by_key(dialect: Dialect, key: &str) -> Sql {
    fixed(
        dialect,
        "SELECT sequence, hash, \
         (SELECT content FROM ledger_transactions WHERE idempotency_key = ?1) \
         FROM ledger_head WHERE id = 1",
        vec![text(key)],
    )
}

pub(crate) fn insert_transaction(dialect: Dialect, entry: &ChainEntry) -> Sql {
    let tx = &entry.transaction;
    fixed(
        dialect,
        "INSERT INTO ledger_transactions (sequence, id, idempotency_key, content, hash, previous_hash, created) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        vec![
            SqlValue::Integer(entry.sequence),
            text(tx.id()),
            text(tx.idempotency_key()),
            text(&entry.content),
            text(&entry.hash),
            text(&entry.previous_hash),
            SqlValue::Integer(tx.created()),
        ],
    )
}

/// Most balance rows in one multi-row upsert.
const BALANCE_ROWS_PER_STATEMENT_MAX: usize = 200;

/// `INSERT INTO ledger_balances … VALUES` with one row per pair, for an
/// upsert clause to follow.
fn insert_balances(dialect: Dialect, rows: &[PairAmount]) -> Builder {
    let mut b = Builder::new(
        dialect,
        "INSERT INTO ledger_balances (account, currency, balance_minor) VALUES ",
    );
    for (i, ((account, currency), amount_minor)) in rows.iter().enumerate() {
        if i > 0 {
            b.push(", ");
        }
        b.push("(").bind(text(account)).push(", ");
        b.bind(text(currency)).push(", ");
        b.bind(SqlValue::Integer(*amount_minor)).push(")");
    }
    b
}

/// Sets each balance to the value computed (with checked arithmetic) by
/// the caller, in one statement per [`BALANCE_ROWS_PER_STATEMENT_MAX`]
/// rows. A multi-row upsert may name a key once: `balances` are distinct.
fn set_balances(dialect: Dialect, balances: &[PairAmount]) -> Vec<Sql> {
    balances
        .chunks(BALANCE_ROWS_PER_STATEMENT_MAX)
        .map(|chunk| {
            let mut b = insert_balances(dialect, chunk);
            b.push(
                " ON CONFLICT (account, currency) DO UPDATE SET balance_minor = excluded.balance_minor",
            );
            b.finish()
        })
        .collect()
}

/// Adds each of `moves` (distinct pairs, at most a handful: one
/// transaction's) to its balance, a missing balance being zero, in one
/// statement. SQLite only: an integer sum that leaves the 64-bit range
/// becomes a real there, so such a sum is not written, and the statement
/// changes fewer rows than `moves` has (the caller then refuses the
/// append, as `ledger::add`'s checked arithmetic would). No `RETURNING`:
/// on SQLite it costs more than reading the few floored balances after.
pub(crate) fn add_to_balances(moves: &[PairAmount]) -> Sql {
    let mut b = insert_balances(Dialect::Sqlite, moves);
    b.push(
        " ON CONFLICT (account, currency) DO UPDATE \
         SET balance_minor = balance_minor + excluded.balance_minor \
         WHERE typeof(balance_minor + excluded.balance_minor) = 'integer'",
    );
    b.finish()
}

/// One balance (none: zero).
pub(crate) fn balance(dialect: Dialect, account: &str, currency: &str) -> Sql {
    fixed(
        dialect,
        "SELECT balance_minor FROM ledger_balances WHERE account = ?1 AND currency = ?2",
        vec![text(account), text(currency)],
    )
}

/// Binds `values` as the list of an `IN (…)` (`NULL` when empty: matches nothing).
fn bind_list(b: &mut Builder, values: &[String]) {
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            b.push(", ");
        }
        b.bind(text(value));
    }
    if values.is_empty() {
        b.push("NULL");
    }
}

/// The balances of the given accounts (at most a handful), every currency.
pub(crate) fn balances_of(dialect: Dialect, accounts: &[String]) -> Sql {
    let mut b = Builder::new(
        dialect,
        "SELECT account, currency, balance_minor FROM ledger_balances WHERE account IN (",
    );
    bind_list(&mut b, accounts);
    b.push(") ORDER BY account, currency");
    b.finish()
}

/// A page of balance rows after `(account, currency)`, in key order.
pub(crate) fn balances_after(dialect: Dialect, after: &(String, String), limit: usize) -> Sql {
    fixed(
        dialect,
        "SELECT account, currency, balance_minor FROM ledger_balances \
         WHERE account > ?1 OR (account = ?1 AND currency > ?2) ORDER BY account, currency LIMIT ?3",
        vec![text(&after.0), text(&after.1), SqlValue::Integer(limit as i64)],
    )
}

/// A page of transactions after `after_sequence`, in sequence order:
/// sequence, id, idempotency_key, content, hash, previous_hash, created.
pub(crate) fn entries_after(dialect: Dialect, after_sequence: i64, limit: usize) -> Sql {
    fixed(
        dialect,
        "SELECT sequence, id, idempotency_key, content, hash, previous_hash, created \
         FROM ledger_transactions WHERE sequence > ?1 ORDER BY sequence LIMIT ?2",
        vec![
            SqlValue::Integer(after_sequence),
            SqlValue::Integer(limit as i64),
        ],
    )
}

/// The posting rows of transactions `first..=last`, in order.
pub(crate) fn postings_between(dialect: Dialect, first: i64, last: i64) -> Sql {
    fixed(
        dialect,
        "SELECT transaction_sequence, account, currency, amount_minor FROM ledger_postings \
         WHERE transaction_sequence BETWEEN ?1 AND ?2 ORDER BY transaction_sequence, position",
        vec![SqlValue::Integer(first), SqlValue::Integer(last)],
    )
}

pub(crate) fn counts(dialect: Dialect) -> Sql {
    fixed(
        dialect,
        "SELECT (SELECT COUNT(*) FROM ledger_transactions), (SELECT COUNT(*) FROM ledger_postings)",
        vec![],
    )
}

pub(crate) fn hash_at(dialect: Dialect, sequence: i64) -> Sql {
    fixed(
        dialect,
        "SELECT hash FROM ledger_transactions WHERE sequence = ?1",
        vec![SqlValue::Integer(sequence)],
    )
}

/// Most idempotency keys or accounts one bulk lookup names.
pub(crate) const LOOKUP_NAMES_MAX: usize = 500;

/// The stored content of whichever of `keys` exist (at most
/// [`LOOKUP_NAMES_MAX`]): idempotency_key, content.
pub(crate) fn contents_by_keys(dialect: Dialect, keys: &[String]) -> Sql {
    assert!(
        keys.len() <= LOOKUP_NAMES_MAX,
        "too many keys in one lookup"
    );
    let mut b = Builder::new(
        dialect,
        "SELECT idempotency_key, content FROM ledger_transactions WHERE idempotency_key IN (",
    );
    bind_list(&mut b, keys);
    b.push(")");
    b.finish()
}

/// Every posting row of one entry in one statement.
pub(crate) fn insert_postings_of(dialect: Dialect, entry: &ChainEntry) -> Sql {
    let mut b = Builder::new(
        dialect,
        "INSERT INTO ledger_postings (transaction_sequence, position, account, currency, amount_minor) VALUES ",
    );
    for (position, posting) in entry.transaction.postings().iter().enumerate() {
        if position > 0 {
            b.push(", ");
        }
        b.push("(")
            .bind(SqlValue::Integer(entry.sequence))
            .push(", ");
        b.bind(SqlValue::Integer(position as i64)).push(", ");
        b.bind(SqlValue::Text(posting.account.to_string()))
            .push(", ");
        b.bind(SqlValue::Text(posting.currency.to_string()))
            .push(", ");
        b.bind(SqlValue::Integer(posting.amount_minor)).push(")");
    }
    b.finish()
}

/// PostgreSQL: the chain head locked, then the stored content of `keys`
/// and the balances of `accounts`, in one call of
/// `ledger_lock_head_and_read` (migration 0039), whose reads take their
/// snapshots after the lock is granted. Rows: part (0 the head, 1 a
/// stored key, 2 a balance), name (key, account), value (hash, content,
/// currency), amount_minor (sequence, balance).
pub(crate) fn lock_head_and_read(keys: &[String], accounts: &[String]) -> Sql {
    fixed(
        Dialect::Postgres,
        "SELECT part, name, value, amount_minor FROM ledger_lock_head_and_read(?1, ?2)",
        vec![
            SqlValue::Texts(keys.to_vec()),
            SqlValue::Texts(accounts.to_vec()),
        ],
    )
}

/// PostgreSQL: what [`store_batch`] runs, as one call of
/// `ledger_store_batch` (migration 0039), which runs the same statements
/// in the same order: per entry its row, its postings and the head moved
/// onto it, then the balances. Its rows go as arrays, one per column, so
/// the text is the same for every batch (one prepared statement).
pub(crate) fn store_batch_call(batch: &crate::ledger::ChainedBatch) -> Sql {
    let mut entries = EntryColumns::default();
    for (entry, next) in &batch.entries {
        assert!(
            next.sequence == entry.sequence && next.hash == entry.hash,
            "the head moves onto the entry just linked"
        );
        entries.push(entry);
    }
    let (mut accounts, mut currencies, mut amounts) = (vec![], vec![], vec![]);
    for ((account, currency), balance_minor) in &batch.balances {
        accounts.push(account.clone());
        currencies.push(currency.clone());
        amounts.push(*balance_minor);
    }
    let mut params = entries.into_params();
    params.extend([
        SqlValue::Texts(accounts),
        SqlValue::Texts(currencies),
        SqlValue::Integers(amounts),
    ]);
    fixed(
        Dialect::Postgres,
        "SELECT ledger_store_batch(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        params,
    )
}

/// A batch's entries and their postings, one array per column.
#[derive(Default)]
struct EntryColumns {
    sequences: Vec<i64>,
    ids: Vec<String>,
    keys: Vec<String>,
    contents: Vec<String>,
    hashes: Vec<String>,
    previous_hashes: Vec<String>,
    created: Vec<i64>,
    posting_counts: Vec<i64>,
    posting_accounts: Vec<String>,
    posting_currencies: Vec<String>,
    posting_amounts: Vec<i64>,
}

impl EntryColumns {
    fn push(&mut self, entry: &ChainEntry) {
        let tx = &entry.transaction;
        self.sequences.push(entry.sequence);
        self.ids.push(tx.id().to_owned());
        self.keys.push(tx.idempotency_key().to_owned());
        self.contents.push(entry.content.clone());
        self.hashes.push(entry.hash.clone());
        self.previous_hashes.push(entry.previous_hash.clone());
        self.created.push(tx.created());
        self.posting_counts.push(tx.postings().len() as i64);
        for posting in tx.postings() {
            self.posting_accounts.push(posting.account.to_string());
            self.posting_currencies.push(posting.currency.to_string());
            self.posting_amounts.push(posting.amount_minor);
        }
    }

    /// The function's first eleven arguments, in its order.
    fn into_params(self) -> Vec<SqlValue> {
        vec![
            SqlValue::Integers(self.sequences),
            SqlValue::Texts(self.ids),
            SqlValue::Texts(self.keys),
            SqlValue::Texts(self.contents),
            SqlValue::Texts(self.hashes),
            SqlValue::Texts(self.previous_hashes),
            SqlValue::Integers(self.created),
            SqlValue::Integers(self.posting_counts),
            SqlValue::Texts(self.posting_accounts),
            SqlValue::Texts(self.posting_currencies),
            SqlValue::Integers(self.posting_amounts),
        ]
    }
}

/// What storing a chained batch runs, in order: per entry its row, its
/// postings in one statement and the head moved onto it (the triggers
/// check each step), then every touched balance set once, in multi-row
/// upserts.
pub(crate) fn store_batch(dialect: Dialect, batch: &crate::ledger::ChainedBatch) -> Vec<Sql> {
    let mut statements = Vec::with_capacity(batch.entries.len() * 3 + 1);
    for (entry, next) in &batch.entries {
        statements.push(insert_transaction(dialect, entry));
        statements.push(insert_postings_of(dialect, entry));
        statements.push(move_head(dialect, next));
    }
    statements.extend(set_balances(dialect, &batch.balances));
    statements
}
