//! Pipelined statements: a write set's statements are sent one after
//! another without waiting for each answer (tokio-postgres sends a request
//! when its future is first polled; `in_order::join_in_order` first-polls
//! them in statement order, however many there are). The server runs them
//! in that order inside the transaction, and the first failure aborts the
//! rest, so the outcome is that of running them one by one; only the round
//! trips are saved (about ten per payment).

use super::convert::{map_err, params_of};
use super::in_order::join_in_order;
use crate::sql::Sql;
use crate::StoreError;
use deadpool_postgres::GenericClient;
use futures_util::TryStreamExt;

/// One statement's answer: the rows it returned and the rows it changed.
pub(crate) struct Answer {
    pub rows: Vec<tokio_postgres::Row>,
    pub affected: u64,
}

/// Runs `statements` in order and answers each one; the first error (in
/// statement order) fails the whole.
pub(crate) async fn run_all(
    client: &impl GenericClient,
    statements: &[Sql],
) -> Result<Vec<Answer>, StoreError> {
    run_each(client, &statements.iter().collect::<Vec<_>>()).await
}

/// [`run_all`] for statements that are not in one slice.
pub(crate) async fn run_each(
    client: &impl GenericClient,
    statements: &[&Sql],
) -> Result<Vec<Answer>, StoreError> {
    run_each_answered(client, statements)
        .await?
        .into_iter()
        .collect()
}

/// Runs `statements` in order and answers each one's own outcome: inside a
/// transaction, every statement after the first that fails answers that
/// the transaction is aborted. Fails as a whole only when a statement
/// cannot be prepared (before any is sent).
pub(crate) async fn run_each_answered(
    client: &impl GenericClient,
    statements: &[&Sql],
) -> Result<Vec<Result<Answer, StoreError>>, StoreError> {
    let prepared = prepare_all(client, statements).await?;
    let answered = join_in_order(
        statements
            .iter()
            .zip(&prepared)
            .map(|(sql, stmt)| run_one(client, stmt, sql)),
    )
    .await;
    Ok(answered
        .into_iter()
        .map(|answer| answer.map_err(map_err))
        .collect())
}

/// Statements one [`run_chunked`] pipeline holds: `join_in_order` polls
/// every unfinished statement at each wake-up, so its cost grows with the
/// square of the pipeline's length.
const CHUNK_STATEMENTS_MAX: usize = 256;

/// Runs a long list of statements (a bulk write's) in order, as pipelines
/// of at most [`CHUNK_STATEMENTS_MAX`]; answers are dropped.
pub(crate) async fn run_chunked(
    client: &impl GenericClient,
    statements: &[Sql],
) -> Result<(), StoreError> {
    for chunk in statements.chunks(CHUNK_STATEMENTS_MAX) {
        run_all(client, chunk).await?;
    }
    Ok(())
}

/// Runs `statements` as one transaction of their own in one round trip: a
/// single statement alone (its own implicit transaction), several between
/// `BEGIN` and `COMMIT` in one pipeline. How the commit is flushed is the
/// connection's setting (the risk counters' pool commits asynchronously).
/// A statement that fails aborts the rest (the server answers the `COMMIT`
/// of an aborted transaction by rolling it back); the `ROLLBACK` after a
/// failure makes sure the pooled connection is left outside any
/// transaction whatever failed.
pub(crate) async fn run_as_one_transaction(
    client: &deadpool_postgres::Client,
    statements: &[Sql],
) -> Result<(), StoreError> {
    let bare = |text: &str| Sql {
        text: text.to_owned(),
        params: vec![],
    };
    let (begin, commit) = (bare("BEGIN"), bare("COMMIT"));
    let pipelined: Vec<&Sql> = match statements {
        [one] => vec![one],
        several => [&begin]
            .into_iter()
            .chain(several)
            .chain([&commit])
            .collect(),
    };
    let ran = run_each(client, &pipelined).await.map(drop);
    if ran.is_err() {
        let _ = client.batch_execute("ROLLBACK").await;
    }
    ran
}

/// Statement texts one connection keeps prepared (deadpool's cache does not
/// bound itself): the writer's statements of several writes
/// (`sql::with_writes`) and multi-row inserts vary in shape with the write
/// set, so a connection serving odd write sets would otherwise keep every
/// shape it ever saw. The texts that recur (a payment's, a few dozen) are
/// prepared again after a clear, one Parse each.
const STATEMENTS_CACHED_MAX: usize = 512;

/// Empties `cache` once it holds more than [`STATEMENTS_CACHED_MAX`]
/// statements; statements prepared from it stay valid while held.
pub(crate) fn bound_statement_cache(cache: &deadpool_postgres::StatementCache) {
    if cache.size() > STATEMENTS_CACHED_MAX {
        cache.clear();
    }
}

/// Sends one statement (at the first poll) and reads its answer.
async fn run_one(
    client: &impl GenericClient,
    stmt: &tokio_postgres::Statement,
    sql: &Sql,
) -> Result<Answer, tokio_postgres::Error> {
    let stream = client.query_raw(stmt, params_of(sql)).await?;
    let mut stream = std::pin::pin!(stream);
    let mut rows = vec![];
    while let Some(row) = stream.try_next().await? {
        rows.push(row);
    }
    let affected = stream.rows_affected().unwrap_or(0);
    Ok(Answer { rows, affected })
}

/// Prepares every statement first (a cache hit answers at once), so that no
/// statement's Parse round trip lets a later one overtake it.
async fn prepare_all(
    client: &impl GenericClient,
    statements: &[&Sql],
) -> Result<Vec<tokio_postgres::Statement>, StoreError> {
    let mut prepared = Vec::with_capacity(statements.len());
    for sql in statements {
        prepared.push(client.prepare_cached(&sql.text).await.map_err(map_err)?);
    }
    Ok(prepared)
}

#[cfg(test)]
mod tests {
    use super::run_as_one_transaction;
    use crate::sql::Sql;

    fn bare(text: &str) -> Sql {
        Sql {
            text: text.to_owned(),
            params: vec![],
        }
    }

    /// A failing statement undoes the statements before it and leaves the
    /// pooled connection outside any transaction.
    #[tokio::test]
    async fn a_failed_transaction_of_its_own_leaves_nothing_and_no_open_transaction() {
        let Some(db) = super::super::test_database().await else {
            return;
        };
        let client = db._store.client().await.unwrap();
        let insert = "INSERT INTO merchants (id, name, created) VALUES ('acct_p', 'P', 1)";
        let statements = [bare(insert), bare("SELECT 1 / 0")];
        assert!(run_as_one_transaction(&client, &statements).await.is_err());
        let savepoint = client.batch_execute("SAVEPOINT outside").await;
        assert!(savepoint.is_err(), "a transaction was left open");
        let count = "SELECT count(*) FROM merchants WHERE id = 'acct_p'";
        let merchants: i64 = client.query_one(count, &[]).await.unwrap().get(0);
        assert_eq!(merchants, 0);

        run_as_one_transaction(&client, &[bare(insert)])
            .await
            .unwrap();
        let merchants: i64 = client.query_one(count, &[]).await.unwrap().get(0);
        assert_eq!(merchants, 1);
    }
}
