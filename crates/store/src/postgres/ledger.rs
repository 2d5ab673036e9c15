//! The ledger on PostgreSQL: appends first lock the chain-head row, so
//! appends from any number of instances are serialized and the chain
//! order is the commit order; a batch of them is linked in memory after
//! the head it read and written in one statement. Both are calls of the
//! functions of migration 0039, which run the ledger's statements inside
//! the server, so its triggers check each step as before. Verification
//! reads one REPEATABLE READ snapshot.

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

/// What linking after the chain head needs, read in one statement
/// (`sql::lock_head_and_read`): the head, locked first (so the reads after
/// it see every append committed before the lock), the stored contents of
/// `transactions`' keys, and the balances of their accounts.
async fn lock_head_and_read<'a>(
    tx: &impl GenericClient,
    transactions: impl Iterator<Item = &'a LedgerTransaction> + Clone,
) -> Result<Read, StoreError> {
    let (accounts, keys) = ledger::accounts_and_keys(transactions);
    let rows = query(tx, &sql::lock_head_and_read(&keys, &accounts)).await?;
    let taken = Instant::now();
    let mut head = None;
    let (mut stored, mut balances) = (HashMap::new(), HashMap::new());
    for row in &rows {
        match row.get::<_, i32>(0) {
            0 => {
                head = Some(ChainHead {
                    sequence: row.get(3),
                    hash: row.get(2),
                })
            }
            1 => {
                stored.insert(row.get::<_, String>(1), row.get::<_, String>(2));
            }
            2 => {
                balances.insert((row.get(1), row.get(2)), row.get::<_, i64>(3));
            }
            part => {
                return Err(StoreError::Corrupt(format!(
                    "the ledger's read answered a row of part {part}"
                )))
            }
        }
    }
    let head =
        head.ok_or_else(|| StoreError::Corrupt("the ledger has no chain head".to_owned()))?;
    Ok(Read {
        head,
        taken,
        stored,
        balances,
    })
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
/// one statement, the chain linked in memory (`ledger::chain_batch`), and
/// every entry, its postings, the head moves and the final balances
/// written in one more.
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
/// and the final balances, in one statement (`sql::store_batch_call`).
pub(crate) async fn store(
    tx: &deadpool_postgres::Transaction<'_>,
    batch: &ChainedBatch,
) -> Result<(), StoreError> {
    query(tx, &sql::store_batch_call(batch)).await.map(drop)
}

/// [`store`] and the transaction's `COMMIT` in one pipeline of two statements, so that the
/// chain head, locked by the batch, is held one round trip less. A
/// statement that fails aborts the batch's transaction; the server then
/// answers the `COMMIT` by rolling it back, and this answers the
/// statement's error. `Ok` means committed.
pub(crate) async fn store_and_commit(
    tx: &impl GenericClient,
    batch: &ChainedBatch,
) -> Result<(), StoreError> {
    let commit = crate::sql::Sql {
        text: "COMMIT".to_owned(),
        params: vec![],
    };
    pipeline::run_all(tx, &[sql::store_batch_call(batch), commit])
        .await
        .map(drop)
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

#[cfg(test)]
mod tests {
    use super::store;
    use crate::ledger::{Chain, ChainedBatch};
    use crate::postgres::{pipeline, test_database, D};
    use crate::StoreError;
    use deadpool_postgres::GenericClient;
    use portcullis_ledger::chain::ChainHead;
    use portcullis_ledger::movements;
    use portcullis_ledger::{LedgerTransaction, TransactionKind};
    use std::collections::HashMap;

    fn capture(key: &str, amount_minor: i64) -> LedgerTransaction {
        let (header, parties) = crate::ledger::test_movement(TransactionKind::Capture, key);
        movements::capture(header, &parties, amount_minor, 3).unwrap()
    }

    /// Three captures linked after `head`, from zero balances.
    fn batch_after(head: ChainHead) -> ChainedBatch {
        let stored = HashMap::new();
        let mut chain = Chain::new(head, &stored, HashMap::new());
        let captures = [capture("a", 100), capture("b", 250), capture("c", 7)];
        chain.link_all(&captures).unwrap();
        chain.finish()
    }

    /// Every row of the ledger's four tables, as text, in key order.
    async fn ledger_rows(client: &impl GenericClient) -> Vec<String> {
        const TABLES: [&str; 4] = [
            "SELECT row_to_json(t)::text FROM ledger_transactions t ORDER BY sequence",
            "SELECT row_to_json(p)::text FROM ledger_postings p ORDER BY transaction_sequence, position",
            "SELECT row_to_json(b)::text FROM ledger_balances b ORDER BY account, currency",
            "SELECT row_to_json(h)::text FROM ledger_head h",
        ];
        let mut rows = vec![];
        for sql in TABLES {
            for row in client.query(sql, &[]).await.unwrap() {
                rows.push(row.get(0));
            }
        }
        rows
    }

    /// The function call writes exactly the rows the statements it
    /// replaced wrote: entries, postings (positions included), head, balances.
    #[tokio::test]
    async fn the_store_call_writes_the_rows_its_statements_wrote() {
        let Some(db) = test_database().await else {
            return;
        };
        let batch = batch_after(ChainHead::genesis());
        let mut client = db._store.pool.get().await.unwrap();
        let tx = client.transaction().await.unwrap();
        pipeline::run_all(&tx, &crate::sql::ledger::store_batch(D, &batch))
            .await
            .unwrap();
        let by_statements = ledger_rows(&tx).await;
        tx.rollback().await.unwrap();

        let tx = client.transaction().await.unwrap();
        store(&tx, &batch).await.unwrap();
        let by_call = ledger_rows(&tx).await;
        tx.commit().await.unwrap();
        assert_eq!(by_statements.len(), 3 + 9 + 3 + 1, "{by_statements:#?}");
        assert_eq!(by_call, by_statements);
        let report = db._store.verify_ledger().await.unwrap().unwrap();
        assert_eq!(report.entries, 3);
    }

    /// The call runs the ledger's statements, so the triggers still check
    /// each step: a batch linked after a head that is not the stored one
    /// is refused and leaves nothing.
    #[tokio::test]
    async fn a_batch_off_the_head_is_refused_by_the_triggers_and_leaves_nothing() {
        let Some(db) = test_database().await else {
            return;
        };
        let stale = ChainHead {
            sequence: 4,
            hash: "f".repeat(64),
        };
        let mut client = db._store.pool.get().await.unwrap();
        let tx = client.transaction().await.unwrap();
        let refused = store(&tx, &batch_after(stale)).await;
        assert!(
            matches!(&refused, Err(StoreError::Unavailable(message)) if message.contains("must follow the chain head")),
            "{refused:?}"
        );
        tx.rollback().await.unwrap();
        let rows = ledger_rows(&client).await;
        assert_eq!(rows.len(), 1, "only the genesis head: {rows:#?}");
    }
}
