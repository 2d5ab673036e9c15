//! The ledger on PostgreSQL: appends first lock the chain-head row, so
//! appends from any number of instances are serialized and the chain
//! order is the commit order; a batch of them is linked in memory after
//! the head it read and written in one pipeline. Verification reads one
//! REPEATABLE READ snapshot.

use super::{pipeline, query, D};
use crate::ledger::{
    self, assemble, Chain, ChainedBatch, Verification, VERIFY_BALANCE_PAGES_MAX,
    VERIFY_PAGE_BALANCES, VERIFY_PAGE_ENTRIES,
};
use crate::sql::ledger as sql;
use crate::StoreError;
use convert_rows::{balance_of, entry_of};
use deadpool_postgres::GenericClient;
use portcullis_ledger::chain::ChainHead;
use portcullis_ledger::verify::{StoredBalance, StoredEntry, StoredPosting, Verifier};
use portcullis_ledger::LedgerTransaction;
use std::collections::HashMap;
use std::time::Instant;

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

/// What linking after the chain head needs, read in one pipelined round
/// trip: the head, locked by the first statement (so the reads after it
/// see every append committed before the lock), the stored contents of
/// `transactions`' keys, and the balances of their accounts.
async fn lock_head_and_read<'a>(
    tx: &impl GenericClient,
    transactions: impl Iterator<Item = &'a LedgerTransaction> + Clone,
) -> Result<Read, StoreError> {
    let (accounts, keys) = ledger::accounts_and_keys(transactions);
    let mut statements = vec![sql::head(D)];
    statements.extend(
        keys.chunks(sql::LOOKUP_NAMES_MAX)
            .map(|chunk| sql::contents_by_keys(D, chunk)),
    );
    let key_lookups_end = statements.len();
    statements.extend(
        accounts
            .chunks(sql::LOOKUP_NAMES_MAX)
            .map(|chunk| sql::balances_of(D, chunk)),
    );
    let answers = pipeline::run_all(tx, &statements).await?;
    let taken = Instant::now();
    let mut read = Read {
        head: head_of(&answers[0].rows)?,
        taken,
        stored: HashMap::new(),
        balances: HashMap::new(),
    };
    for (index, answer) in answers.iter().enumerate().skip(1) {
        for row in &answer.rows {
            if index < key_lookups_end {
                read.stored
                    .insert(row.get::<_, String>(0), row.get::<_, String>(1));
            } else {
                let balance = balance_of(row);
                read.balances
                    .insert((balance.account, balance.currency), balance.balance_minor);
            }
        }
    }
    Ok(read)
}

/// What [`lock_head_and_read`] read, and when the head was taken.
struct Read {
    head: ChainHead,
    taken: Instant,
    stored: HashMap<String, String>,
    balances: HashMap<(String, String), i64>,
}

/// Appends `transactions` in order as appending them one by one would,
/// all or none: the chain head locked and the keys and balances read in
/// one pipelined round trip, the chain linked in memory
/// (`ledger::chain_batch`), and every entry, its postings, the head moves
/// and the final balances written in one more.
pub(crate) async fn append_batch(
    tx: &deadpool_postgres::Transaction<'_>,
    transactions: &[LedgerTransaction],
) -> Result<(), StoreError> {
    if transactions.is_empty() {
        return Ok(());
    }
    let read = lock_head_and_read(tx, transactions.iter()).await?;
    let batch = ledger::chain_batch(read.head, &read.stored, read.balances, transactions)?;
    store(tx, &batch).await
}

/// Several write sets' appends linked after the locked chain head.
pub(crate) struct Linked {
    /// When the head's lock was answered.
    pub taken: Instant,
    /// Each write set's outcome: linked, or why not (a floor, a key
    /// already used for another movement).
    pub outcomes: Vec<Result<(), StoreError>>,
    /// What [`store`] writes for the write sets that were linked.
    pub batch: ChainedBatch,
}

/// Locks the chain head, reads what linking needs, and links each of
/// `write_sets` (its appends in order, all or none) after the others in
/// memory, so that one write set's floor or duplicate key fails it alone.
/// Nothing is written: the caller stores the batch, or undoes a failing
/// write set's documents first (which lets go of the head).
pub(crate) async fn lock_and_link(
    tx: &impl GenericClient,
    write_sets: &[&[LedgerTransaction]],
) -> Result<Linked, StoreError> {
    let read = lock_head_and_read(tx, write_sets.iter().flat_map(|set| set.iter())).await?;
    let mut chain = Chain::new(read.head, &read.stored, read.balances);
    let outcomes = write_sets.iter().map(|set| chain.link_all(set)).collect();
    Ok(Linked {
        taken: read.taken,
        outcomes,
        batch: chain.finish(),
    })
}

/// Writes a linked batch: every entry, its postings and the head's move,
/// and the final balances, pipelined.
pub(crate) async fn store(
    tx: &deadpool_postgres::Transaction<'_>,
    batch: &ChainedBatch,
) -> Result<(), StoreError> {
    pipeline::run_chunked(tx, &sql::store_batch(D, batch)).await
}

/// [`store`] and the transaction's `COMMIT` in one pipeline, so that the
/// chain head, locked by the batch, is held one round trip less. A
/// statement that fails aborts the batch's transaction; the server then
/// answers the `COMMIT` by rolling it back, and this answers the
/// statement's error. `Ok` means committed.
pub(crate) async fn store_and_commit(
    tx: &impl GenericClient,
    batch: &ChainedBatch,
) -> Result<(), StoreError> {
    let mut statements = sql::store_batch(D, batch);
    statements.push(crate::sql::Sql {
        text: "COMMIT".to_owned(),
        params: vec![],
    });
    pipeline::run_chunked(tx, &statements).await
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
