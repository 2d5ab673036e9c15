//! The writer's transaction, begun without a round trip of its own: its
//! `BEGIN` goes at the head of the first round's pipeline (`rounds`), and
//! its `COMMIT` at the tail of the ledger's when the batch appends.
//!
//! tokio-postgres's `Transaction` sends `BEGIN` and waits for it, and rolls
//! back when dropped; this guard keeps that promise for a `BEGIN` sent in
//! a pipeline: a batch that fails is rolled back (`rollback`), and a guard
//! dropped while its transaction may still be open — a panic, a
//! cancellation, a `ROLLBACK` that failed — takes its connection out of
//! the pool and closes it, so the server rolls the transaction back and no
//! other caller is handed a connection inside it.

use crate::postgres::convert::map_err;
use crate::sql::Sql;
use crate::StoreError;
use deadpool_postgres::Client;

pub(super) struct BatchTransaction {
    /// `None` only once the guard has been dropped.
    client: Option<Client>,
    /// A `BEGIN` was sent and no `COMMIT` or `ROLLBACK` answered since.
    open: bool,
}

impl BatchTransaction {
    /// A guard on `client`, outside any transaction yet.
    pub(super) fn new(client: Client) -> Self {
        Self {
            client: Some(client),
            open: false,
        }
    }

    pub(super) fn client(&self) -> &Client {
        self.client
            .as_ref()
            .expect("the client is taken only on drop")
    }

    /// The `BEGIN` to send first in the next pipeline, if the transaction
    /// is not open yet; from here on it counts as open.
    pub(super) fn begin_statement(&mut self) -> Option<Sql> {
        if self.open {
            return None;
        }
        self.open = true;
        Some(Sql {
            text: "BEGIN".to_owned(),
            params: vec![],
        })
    }

    /// A pipeline ending in `COMMIT` answered without an error.
    pub(super) fn committed(&mut self) {
        self.open = false;
    }

    /// Commits in a round trip of its own.
    pub(super) async fn commit(&mut self) -> Result<(), StoreError> {
        self.end("COMMIT").await
    }

    /// Rolls the whole transaction back, if one may be open. When the
    /// `ROLLBACK` itself fails the guard stays open, so that dropping it
    /// closes the connection.
    pub(super) async fn rollback(&mut self) -> Result<(), StoreError> {
        if !self.open {
            return Ok(());
        }
        self.end("ROLLBACK").await
    }

    async fn end(&mut self, statement: &str) -> Result<(), StoreError> {
        self.client()
            .batch_execute(statement)
            .await
            .map_err(map_err)?;
        self.open = false;
        Ok(())
    }
}

impl Drop for BatchTransaction {
    fn drop(&mut self) {
        if let (true, Some(client)) = (self.open, self.client.take()) {
            tracing::warn!("a postgres writer transaction was left open; its connection is closed");
            drop(Client::take(client));
        }
    }
}
