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
