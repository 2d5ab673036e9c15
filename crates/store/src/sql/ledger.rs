//! SQL for the ledger: appending to the chain, balances, and the reads
//! that verification and the balance read model need. Every value is bound.

use super::{fixed, Builder, Dialect, Sql};
use crate::model::SqlValue;
use portcullis_ledger::chain::{ChainEntry, ChainHead};

fn text(value: &str) -> SqlValue {
    SqlValue::Text(value.to_owned())
}

/// The chain head; on PostgreSQL locked until the transaction ends, which
/// serializes appends so the chain order is the commit order.
pub(crate) fn head(dialect: Dialect) -> Sql {
    match dialect {
        Dialect::Sqlite => fixed(
            dialect,
            "SELECT sequence, hash FROM ledger_head WHERE id = 1",
            vec![],
        ),
        Dialect::Postgres => fixed(
            dialect,
            "SELECT sequence, hash FROM ledger_head WHERE id = 1 FOR UPDATE",
            vec![],
        ),
    }
}

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

pub(crate) fn content_by_key(dialect: Dialect, key: &str) -> Sql {
    fixed(
        dialect,
        "SELECT content FROM ledger_transactions WHERE idempotency_key = ?1",
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

/// One posting row; `position` keeps the content's order.
pub(crate) struct PostingRow<'a> {
    pub sequence: i64,
    pub position: i64,
    pub account: &'a str,
    pub currency: &'a str,
    pub amount_minor: i64,
}

pub(crate) fn insert_posting(dialect: Dialect, row: &PostingRow<'_>) -> Sql {
    fixed(
        dialect,
        "INSERT INTO ledger_postings (transaction_sequence, position, account, currency, amount_minor) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
        vec![
            SqlValue::Integer(row.sequence),
            SqlValue::Integer(row.position),
            text(row.account),
            text(row.currency),
            SqlValue::Integer(row.amount_minor),
        ],
    )
}

pub(crate) fn balance(dialect: Dialect, account: &str, currency: &str) -> Sql {
    fixed(
        dialect,
        "SELECT balance_minor FROM ledger_balances WHERE account = ?1 AND currency = ?2",
        vec![text(account), text(currency)],
    )
}

/// Sets a balance to a value computed (with checked arithmetic) by the caller.
pub(crate) fn set_balance(
    dialect: Dialect,
    account: &str,
    currency: &str,
    balance_minor: i64,
) -> Sql {
    fixed(
        dialect,
        "INSERT INTO ledger_balances (account, currency, balance_minor) VALUES (?1, ?2, ?3) \
         ON CONFLICT (account, currency) DO UPDATE SET balance_minor = excluded.balance_minor",
        vec![
            text(account),
            text(currency),
            SqlValue::Integer(balance_minor),
        ],
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

/// What storing a chained batch runs, in order: per entry its row, its
/// postings and the head moved onto it (the triggers check each step, as
/// for a single append), then each touched balance set once.
pub(crate) fn store_batch(dialect: Dialect, batch: &crate::ledger::ChainedBatch) -> Vec<Sql> {
    let mut statements = Vec::with_capacity(batch.entries.len() * 3 + batch.balances.len());
    for (entry, next) in &batch.entries {
        statements.push(insert_transaction(dialect, entry));
        statements.push(insert_postings_of(dialect, entry));
        statements.push(move_head(dialect, next));
    }
    for ((account, currency), balance_minor) in &batch.balances {
        statements.push(set_balance(dialect, account, currency, *balance_minor));
    }
    statements
}
