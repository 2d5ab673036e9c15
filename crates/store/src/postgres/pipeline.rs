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
    let statements: Vec<&Sql> = statements.iter().collect();
    run_each(client, &statements)
        .await
        .map_err(|(_, err)| err)?
        .into_iter()
        .collect()
}

/// Runs `statements` in order in one round trip and answers each one's
/// own outcome: after the first failure inside a transaction the server
/// refuses the rest ("current transaction is aborted"), so only the first
/// error in statement order names a cause. A statement that cannot even be
/// prepared stops everything: its index and error.
pub(crate) async fn run_each(
    client: &impl GenericClient,
    statements: &[&Sql],
) -> Result<Vec<Result<Answer, StoreError>>, (usize, StoreError)> {
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

/// Runs `statements` in one round trip for a group commit. The first
/// statement that failed, in order, is blamed on its write set (`owner_of`
/// its index: `Ok(Err((write set, error)))`) when it has one; a failure
/// of a statement no write set owns (the chain head) is `Err`, a failure
/// of the whole batch.
pub(crate) async fn run_blamed(
    client: &impl GenericClient,
    statements: &[&Sql],
    owner_of: impl Fn(usize) -> Option<usize>,
) -> Result<Result<Vec<Answer>, (usize, StoreError)>, StoreError> {
    let blame = |index: usize, err: StoreError| match owner_of(index) {
        Some(owner) => Ok(Err((owner, err))),
        None => Err(err),
    };
    let answers = match run_each(client, statements).await {
        Ok(answers) => answers,
        Err((index, err)) => return blame(index, err),
    };
    let mut rows = Vec::with_capacity(answers.len());
    for (index, answer) in answers.into_iter().enumerate() {
        match answer {
            Ok(answer) => rows.push(answer),
            Err(err) => return blame(index, err),
        }
    }
    Ok(Ok(rows))
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
) -> Result<Vec<tokio_postgres::Statement>, (usize, StoreError)> {
    let mut prepared = Vec::with_capacity(statements.len());
    for (index, sql) in statements.iter().enumerate() {
        let stmt = client.prepare_cached(&sql.text).await;
        prepared.push(stmt.map_err(|err| (index, map_err(err)))?);
    }
    Ok(prepared)
}
