//! The ledger on SQLite: appends run on the single writer (which already
//! serializes them, so the chain order is the commit order); verification
//! reads one snapshot on a reader connection.

use super::{execute, query_all, query_opt, D};
use crate::ledger::{
    self, assemble, repeat_of, Verification, VERIFY_BALANCE_PAGES_MAX, VERIFY_PAGE_BALANCES,
    VERIFY_PAGE_ENTRIES,
};
use crate::sql::ledger as sql;
use crate::StoreError;
use portcullis_ledger::chain::{self, ChainHead};
use portcullis_ledger::verify::{StoredBalance, StoredEntry, StoredPosting, Verifier};
use portcullis_ledger::LedgerTransaction;
use rusqlite::Connection;

fn head(conn: &Connection) -> Result<ChainHead, StoreError> {
    query_opt(conn, &sql::read_head(D), |row| {
        Ok(ChainHead {
            sequence: row.get(0)?,
            hash: row.get(1)?,
        })
    })?
    .ok_or_else(|| StoreError::Corrupt("the ledger has no chain head".to_owned()))
}

/// Appends `transaction` after the chain head (see `WriteOp::LedgerAppend`)
/// in five statements and a read per floored balance: the head and the
/// key's stored content read together, the entry, its postings, its
/// balances moved in one upsert, and the head moved onto the entry (the
/// triggers check each step). On an error the caller's savepoint undoes
/// what was written.
pub(crate) fn append(conn: &Connection, transaction: &LedgerTransaction) -> Result<(), StoreError> {
    let (head, existing) = head_and_content_by_key(conn, transaction.idempotency_key())?;
    if let Some(existing) = existing {
        return repeat_of(&existing, transaction);
    }
    let (entry, next) = chain::append(&head, transaction.clone());
    execute(conn, &sql::insert_transaction(D, &entry))?;
    execute(conn, &sql::insert_postings_of(D, &entry))?;
    let moves = ledger::balance_moves(transaction)?;
    if execute(conn, &sql::add_to_balances(&moves))? != moves.len() {
        return Err(ledger::overflowed());
    }
    for (account, currency) in ledger::floors(transaction) {
        if balance(conn, &account, &currency)? < 0 {
            return Err(StoreError::InsufficientBalance { account, currency });
        }
    }
    execute(conn, &sql::move_head(D, &next)).map(drop)
}

fn balance(conn: &Connection, account: &str, currency: &str) -> Result<i64, StoreError> {
    Ok(query_opt(conn, &sql::balance(D, account, currency), |row| row.get(0))?.unwrap_or(0))
}

fn head_and_content_by_key(
    conn: &Connection,
    key: &str,
) -> Result<(ChainHead, Option<String>), StoreError> {
    query_opt(conn, &sql::head_and_content_by_key(D, key), |row| {
        let head = ChainHead {
            sequence: row.get(0)?,
            hash: row.get(1)?,
        };
        Ok((head, row.get(2)?))
    })?
    .ok_or_else(|| StoreError::Corrupt("the ledger has no chain head".to_owned()))
}

/// Appends a bulk commit's `transactions` in order after the chain head,
/// all or none, as [`append`] would one by one, with the chain linked in
/// memory (`ledger::chain_batch`): the keys, the balances and the head
/// are read in a few statements, then each entry is stored with its
/// postings and the head moved onto it (the triggers check each step),
/// and the balances set in multi-row upserts.
pub(crate) fn append_batch<'t>(
    conn: &Connection,
    transactions: impl Iterator<Item = &'t LedgerTransaction> + Clone,
) -> Result<(), StoreError> {
    let (accounts, keys) = ledger::accounts_and_keys(transactions.clone());
    if keys.is_empty() {
        return Ok(());
    }
    let mut stored = std::collections::HashMap::new();
    for chunk in keys.chunks(sql::LOOKUP_NAMES_MAX) {
        let rows = query_all(conn, &sql::contents_by_keys(D, chunk), |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?;
        stored.extend(rows);
    }
    let mut balances = std::collections::HashMap::new();
    for chunk in accounts.chunks(sql::LOOKUP_NAMES_MAX) {
        for row in query_all(conn, &sql::balances_of(D, chunk), balance_of_row)? {
            balances.insert((row.account, row.currency), row.balance_minor);
        }
    }
    let batch = ledger::chain_batch(head(conn)?, &stored, balances, transactions)?;
    for statement in sql::store_batch(D, &batch) {
        execute(conn, &statement)?;
    }
    Ok(())
}

pub(crate) fn balances_of(
    conn: &Connection,
    accounts: &[String],
) -> Result<Vec<StoredBalance>, StoreError> {
    query_all(conn, &sql::balances_of(D, accounts), balance_of_row)
}

fn balance_of_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredBalance> {
    Ok(StoredBalance {
        account: row.get(0)?,
        currency: row.get(1)?,
        balance_minor: row.get(2)?,
    })
}

pub(crate) fn hash_at(conn: &Connection, sequence: i64) -> Result<Option<String>, StoreError> {
    query_opt(conn, &sql::hash_at(D, sequence), |row| row.get(0))
}

/// Verifies the whole ledger inside one read transaction (one snapshot).
pub(crate) fn verify(conn: &Connection) -> Result<Verification, StoreError> {
    conn.execute_batch("BEGIN").map_err(super::map_err)?;
    let outcome = verify_in_snapshot(conn);
    let _ = conn.execute_batch("COMMIT");
    outcome
}

fn verify_in_snapshot(conn: &Connection) -> Result<Verification, StoreError> {
    let (transactions, postings): (i64, i64) =
        query_opt(conn, &sql::counts(D), |row| Ok((row.get(0)?, row.get(1)?)))?.unwrap_or((0, 0));
    let mut verifier = Verifier::new();
    let mut after = 0;
    let pages_max = transactions as usize / VERIFY_PAGE_ENTRIES + 2;
    for _ in 0..pages_max {
        let page = entries_page(conn, after)?;
        let Some(last) = page.last().map(|entry| entry.sequence) else {
            break;
        };
        for entry in &page {
            if let Err(finding) = verifier.check(entry) {
                return Ok(Err(finding));
            }
        }
        after = last;
    }
    if let Err(finding) = verifier.check_counts(transactions, postings) {
        return Ok(Err(finding));
    }
    let stored_head = query_opt(conn, &sql::read_head(D), |row| {
        Ok(ChainHead {
            sequence: row.get(0)?,
            hash: row.get(1)?,
        })
    })?
    .unwrap_or_else(ChainHead::genesis);
    Ok(verifier.finish(&stored_head, &all_balances(conn)?))
}

fn entries_page(conn: &Connection, after: i64) -> Result<Vec<StoredEntry>, StoreError> {
    let entries = query_all(
        conn,
        &sql::entries_after(D, after, VERIFY_PAGE_ENTRIES),
        |row| {
            Ok(StoredEntry {
                sequence: row.get(0)?,
                id: row.get(1)?,
                idempotency_key: row.get(2)?,
                content: row.get(3)?,
                hash: row.get(4)?,
                previous_hash: row.get(5)?,
                created: row.get(6)?,
                postings: vec![],
            })
        },
    )?;
    let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
        return Ok(entries);
    };
    let postings = query_all(
        conn,
        &sql::postings_between(D, first.sequence, last.sequence),
        |row| {
            Ok((
                row.get::<_, i64>(0)?,
                StoredPosting {
                    account: row.get(1)?,
                    currency: row.get(2)?,
                    amount_minor: row.get(3)?,
                },
            ))
        },
    )?;
    Ok(assemble(entries, postings))
}

fn all_balances(conn: &Connection) -> Result<Vec<StoredBalance>, StoreError> {
    let mut rows: Vec<StoredBalance> = vec![];
    let mut after = (String::new(), String::new());
    for _ in 0..VERIFY_BALANCE_PAGES_MAX {
        let page = query_all(
            conn,
            &sql::balances_after(D, &after, VERIFY_PAGE_BALANCES),
            balance_of_row,
        )?;
        let Some(last) = page.last() else {
            return Ok(rows);
        };
        after = (last.account.clone(), last.currency.clone());
        let full = page.len() == VERIFY_PAGE_BALANCES;
        rows.extend(page);
        if !full {
            return Ok(rows);
        }
    }
    Err(StoreError::Corrupt(
        "more ledger balances than verification reads".to_owned(),
    ))
}
