//! The ledger on PostgreSQL: every append first locks the chain-head row,
//! so appends from any number of instances are serialized and the chain
//! order is the commit order; verification reads one REPEATABLE READ
//! snapshot.

use super::{pipeline, query, D};
use crate::ledger::{
    self, assemble, repeat_of, Verification, VERIFY_BALANCE_PAGES_MAX, VERIFY_PAGE_BALANCES,
    VERIFY_PAGE_ENTRIES,
};
use crate::sql::ledger as sql;
use crate::StoreError;
use convert_rows::{balance_of, entry_of};
use deadpool_postgres::GenericClient;
use portcullis_ledger::chain::{self, ChainHead};
use portcullis_ledger::verify::{StoredBalance, StoredEntry, StoredPosting, Verifier};
use portcullis_ledger::LedgerTransaction;

mod convert_rows {
    use portcullis_ledger::verify::{StoredBalance, StoredEntry};
    pub(super) fn balance_of(row: &tokio_postgres::Row) -> StoredBalance {
        StoredBalance {
            account: row.get(0),
            currency: row.get(1),
            balance_minor: row.get(2),
        }
    }
    pub(super) fn entry_of(row: &tokio_postgres::Row) -> StoredEntry {
        StoredEntry {
            sequence: row.get(0),
            id: row.get(1),
            idempotency_key: row.get(2),
            content: row.get(3),
            hash: row.get(4),
            previous_hash: row.get(5),
            created: row.get(6),
            postings: vec![],
        }
    }
}

async fn head(client: &impl GenericClient) -> Result<ChainHead, StoreError> {
    head_of(&query(client, &sql::read_head(D)).await?)
}

fn head_of(rows: &[tokio_postgres::Row]) -> Result<ChainHead, StoreError> {
    let row = rows
        .first()
        .ok_or_else(|| StoreError::Corrupt("the ledger has no chain head".to_owned()))?;
    Ok(ChainHead {
        sequence: row.get(0),
        hash: row.get(1),
    })
}

/// Appends `transactions` in order as [`append`] would one by one: the
/// chain head locked and read, the keys and balances read in one
/// pipelined round trip, the chain linked in memory
/// (`ledger::chain_batch`), and every entry, its postings, the head moves
/// and the final balances written in one more.
pub(crate) async fn append_batch(
    tx: &deadpool_postgres::Transaction<'_>,
    transactions: &[LedgerTransaction],
) -> Result<(), StoreError> {
    if transactions.is_empty() {
        return Ok(());
    }
    let head = head_of(&query(tx, &sql::head(D)).await?)?;
    let (accounts, keys) = ledger::accounts_and_keys(transactions);
    let mut lookups: Vec<crate::sql::Sql> = keys
        .chunks(sql::LOOKUP_NAMES_MAX)
        .map(|chunk| sql::contents_by_keys(D, chunk))
        .collect();
    let key_lookups = lookups.len();
    lookups.extend(
        accounts
            .chunks(sql::LOOKUP_NAMES_MAX)
            .map(|chunk| sql::balances_of(D, chunk)),
    );
    let answers = pipeline::run_all(tx, &lookups).await?;
    let mut stored = std::collections::HashMap::new();
    let mut balances = std::collections::HashMap::new();
    for (index, answer) in answers.iter().enumerate() {
        for row in &answer.rows {
            if index < key_lookups {
                stored.insert(row.get::<_, String>(0), row.get::<_, String>(1));
            } else {
                let balance = balance_of(row);
                balances.insert((balance.account, balance.currency), balance.balance_minor);
            }
        }
    }
    let batch = ledger::chain_batch(head, &stored, balances, transactions.to_vec())?;
    pipeline::run_chunked(tx, &sql::store_batch(D, &batch)).await?;
    Ok(())
}

/// Appends `transaction` after the chain head (see `WriteOp::LedgerAppend`)
/// in two pipelined round trips, so the chain-head lock, held until COMMIT,
/// is held for as little time as possible.
pub(crate) async fn append(
    tx: &deadpool_postgres::Transaction<'_>,
    transaction: &LedgerTransaction,
) -> Result<(), StoreError> {
    // The lock runs first: a concurrent append of the same key waits there,
    // then the lookup after it finds the key.
    let found = pipeline::run_all(
        tx,
        &[
            sql::head(D),
            sql::content_by_key(D, transaction.idempotency_key()),
        ],
    )
    .await?;
    let head = head_of(&found[0].rows)?;
    if let Some(row) = found[1].rows.first() {
        return repeat_of(row.get(0), transaction);
    }
    let (entry, next) = chain::append(&head, transaction.clone());
    let mut statements = vec![sql::insert_transaction(D, &entry)];
    for (position, posting) in transaction.postings().iter().enumerate() {
        let (account, currency) = (posting.account.to_string(), posting.currency.to_string());
        let row = sql::PostingRow {
            sequence: entry.sequence,
            position: position as i64,
            account: &account,
            currency: &currency,
            amount_minor: posting.amount_minor,
        };
        statements.push(sql::insert_posting(D, &row));
        statements.push(sql::add_to_balance(
            D,
            &account,
            &currency,
            posting.amount_minor,
        ));
    }
    statements.push(sql::move_head(D, &next));
    let floors = ledger::floors(transaction);
    let first_floor = statements.len();
    statements.extend(
        floors
            .iter()
            .map(|(account, currency)| sql::balance(D, account, currency)),
    );
    let answers = pipeline::run_all(tx, &statements).await?;
    for ((account, currency), answer) in floors.into_iter().zip(&answers[first_floor..]) {
        if answer.rows.first().map_or(0, |row| row.get::<_, i64>(0)) < 0 {
            return Err(StoreError::InsufficientBalance { account, currency });
        }
    }
    Ok(())
}

pub(crate) async fn balances_of(
    client: &impl GenericClient,
    accounts: &[String],
) -> Result<Vec<StoredBalance>, StoreError> {
    Ok(query(client, &sql::balances_of(D, accounts))
        .await?
        .iter()
        .map(balance_of)
        .collect())
}

pub(crate) async fn hash_at(
    client: &impl GenericClient,
    sequence: i64,
) -> Result<Option<String>, StoreError> {
    Ok(query(client, &sql::hash_at(D, sequence))
        .await?
        .first()
        .map(|row| row.get(0)))
}

/// Verifies the whole ledger inside one REPEATABLE READ, read-only transaction.
pub(crate) async fn verify(
    client: &mut deadpool_postgres::Client,
) -> Result<Verification, StoreError> {
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(super::map_err)?;
    let counts = query(&tx, &sql::counts(D)).await?;
    let (transactions, postings): (i64, i64) = counts
        .first()
        .map_or((0, 0), |row| (row.get(0), row.get(1)));
    let mut verifier = Verifier::new();
    let mut after = 0;
    for _ in 0..transactions as usize / VERIFY_PAGE_ENTRIES + 2 {
        let page = entries_page(&tx, after).await?;
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
    let stored_head = head(&tx).await?;
    let balances = all_balances(&tx).await?;
    tx.commit().await.map_err(super::map_err)?;
    Ok(verifier.finish(&stored_head, &balances))
}

async fn entries_page(
    client: &impl GenericClient,
    after: i64,
) -> Result<Vec<StoredEntry>, StoreError> {
    let entries: Vec<StoredEntry> =
        query(client, &sql::entries_after(D, after, VERIFY_PAGE_ENTRIES))
            .await?
            .iter()
            .map(entry_of)
            .collect();
    let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
        return Ok(entries);
    };
    let rows = query(
        client,
        &sql::postings_between(D, first.sequence, last.sequence),
    )
    .await?;
    let postings = rows
        .iter()
        .map(|row| {
            (
                row.get::<_, i64>(0),
                StoredPosting {
                    account: row.get(1),
                    currency: row.get(2),
                    amount_minor: row.get(3),
                },
            )
        })
        .collect();
    Ok(assemble(entries, postings))
}

async fn all_balances(client: &impl GenericClient) -> Result<Vec<StoredBalance>, StoreError> {
    let mut rows: Vec<StoredBalance> = vec![];
    let mut after = (String::new(), String::new());
    for _ in 0..VERIFY_BALANCE_PAGES_MAX {
        let page: Vec<StoredBalance> = query(
            client,
            &sql::balances_after(D, &after, VERIFY_PAGE_BALANCES),
        )
        .await?
        .iter()
        .map(balance_of)
        .collect();
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
