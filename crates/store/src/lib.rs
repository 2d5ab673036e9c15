//! Portcullis storage: one [`Store`] handle over two backends, chosen by the
//! database URL's scheme: SQLite (`sqlite://…`, the embedded default) and
//! PostgreSQL (`postgres://…`, for several stateless instances).
//!
//! This is the only crate that contains SQL. Callers speak in documents
//! (a resource's JSON body plus a few indexed columns), declarative
//! [`WriteSet`]s applied atomically with optimistic version checks, and a
//! handful of operations for merchants, API keys and idempotency keys.

mod bulk;
mod encryption_keys;
mod error;
mod ledger;
mod migrations;
mod model;
mod postgres;
#[cfg(test)]
mod query_plans;
mod reversals;
mod risk_memory;
mod sql;
mod sqlite;
mod webhooks;

pub use encryption_keys::StoredEncryptionKey;
pub use error::StoreError;
pub use ledger::{Verification, BALANCE_ACCOUNTS_MAX};
pub use model::{
    ColumnKind, CreatedRange, Doc, IdempotencyClaim, ListPage, ListQuery, PageCursor,
    RiskCardsRead, RiskCounterQuery, RiskCounters, RiskHistory, RiskMetric, RiskSighting,
    RiskSubjectKind, RiskWindowCounts, RiskWrite, RoutingOutcomeCounts, RoutingOutcomeQuery,
    ScanOp, ScanQuery, Scope, ScopedDoc, SqlValue, Table, WriteOp, WriteSet, ONE_OF_VALUES_MAX,
    RISK_LIFETIME_BUCKET,
};
pub use portcullis_ledger::verify::StoredBalance;
pub use reversals::{PendingReversalRow, ReversalState, REVERSALS_PAGE_MAX};
pub use risk_memory::RiskMemory;
pub use webhooks::{
    AttemptLog, AttemptRecord, Backlog, ClaimedDelivery, DeliveryClaim, DeliveryFilter,
    DeliveryKey, DeliveryPage, DeliveryRecord, DeliveryState, Redelivery, CLAIM_EXCLUDED_MAX,
    CLAIM_LIMIT_MAX, DELIVERY_PAGE_MAX,
};

use portcullis_domain::api_keys::ApiKeyRecord;
use portcullis_domain::ids::{ApiKeyId, MerchantId};
use portcullis_domain::merchants::Merchant;
use portcullis_domain::search::SearchQuery;
use portcullis_domain::UnixSeconds;

/// A PostgreSQL pool's connections at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolUse {
    /// Connections open (idle or lent out).
    pub open: usize,
    /// Open connections no task holds.
    pub idle: usize,
    /// Tasks waiting for a connection.
    pub waiting: usize,
}

/// Tunables of a store, each bounded and named with its unit.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Most write sets the SQLite writer commits in one transaction.
    pub sqlite_write_batch_max: usize,
    /// Read connections kept open to SQLite.
    pub sqlite_readers: usize,
    /// Connections in the PostgreSQL pool.
    pub postgres_pool_size: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            sqlite_write_batch_max: 256,
            sqlite_readers: 4,
            postgres_pool_size: 16,
        }
    }
}

/// A handle on the database; cheap to clone, safe to share.
#[derive(Clone)]
pub enum Store {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

/// Calls the same method on whichever backend this store is.
macro_rules! dispatch {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match $self {
            Store::Sqlite(s) => s.$method($($arg),*).await,
            Store::Postgres(s) => s.$method($($arg),*).await,
        }
    };
}

/// How many ledger appends `writes` holds.
fn ledger_appends(writes: &WriteSet) -> u64 {
    writes.ledger_appends().count() as u64
}

/// Counts committed appends in `portcullis_ledger_appends_total`.
fn count_ledger_appends(appends: u64) {
    if appends > 0 {
        metrics::counter!("portcullis_ledger_appends_total").increment(appends);
    }
}

impl Store {
    /// Opens the database named by `url` and applies pending migrations.
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            Ok(Store::Sqlite(
                sqlite::SqliteStore::open(path, options).await?,
            ))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Store::Postgres(
                postgres::PgStore::open(url, options).await?,
            ))
        } else {
            Err(StoreError::Config(unsupported_url(url)))
        }
    }

    /// Creates the PostgreSQL database `url` names if the server says it
    /// does not exist; true when it was created. SQLite files are created
    /// on open, so this is for `postgres://` URLs only.
    pub async fn create_postgres_database(url: &str) -> Result<bool, StoreError> {
        postgres::connect::create_database_if_missing(url).await
    }

    /// Which backend this is: `sqlite` or `postgres`.
    pub fn backend_name(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Succeeds when the database answers a query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        dispatch!(self.ping())
    }

    /// Finishes every queued write and stops the writer (SQLite); a no-op
    /// for PostgreSQL, whose writes are never queued.
    pub async fn close(&self) {
        if let Store::Sqlite(s) = self {
            s.close().await;
        }
    }

    pub async fn insert_merchant(&self, merchant: &Merchant) -> Result<(), StoreError> {
        dispatch!(self.insert_merchant(merchant))
    }

    pub async fn list_merchants(&self) -> Result<Vec<Merchant>, StoreError> {
        dispatch!(self.list_merchants())
    }

    /// Stores a client-side-encryption key unless its KEK has one already.
    pub async fn insert_encryption_key(&self, key: &StoredEncryptionKey) -> Result<(), StoreError> {
        dispatch!(self.insert_encryption_key(key))
    }

    /// Every client-side-encryption key, newest first.
    pub async fn encryption_keys(&self) -> Result<Vec<StoredEncryptionKey>, StoreError> {
        dispatch!(self.encryption_keys())
    }

    pub async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        dispatch!(self.insert_api_key(key))
    }

    pub async fn find_api_key_by_hash(
        &self,
        key_hash: &str,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        dispatch!(self.find_api_key_by_hash(key_hash))
    }

    pub async fn list_api_keys(
        &self,
        merchant_id: &MerchantId,
    ) -> Result<Vec<ApiKeyRecord>, StoreError> {
        dispatch!(self.list_api_keys(merchant_id))
    }

    /// Marks a key revoked; `false` when no such key exists. Revoking twice
    /// keeps the first revocation time.
    pub async fn revoke_api_key(
        &self,
        key_id: &ApiKeyId,
        now: UnixSeconds,
    ) -> Result<bool, StoreError> {
        dispatch!(self.revoke_api_key(key_id, now))
    }

    /// One document in `scope`, deleted or not.
    pub async fn get(
        &self,
        table: Table,
        scope: &Scope,
        id: &str,
    ) -> Result<Option<Doc>, StoreError> {
        dispatch!(self.get(table, scope, id))
    }

    /// A page of live documents, newest first.
    pub async fn list(&self, table: Table, query: &ListQuery) -> Result<ListPage, StoreError> {
        dispatch!(self.list(table, query))
    }

    /// A list page (as [`Store::list`]) whose rows also match every one of
    /// `clauses`: search clauses over the table's columns (at most
    /// [`portcullis_domain::search::SEARCH_CLAUSES_MAX`]); a clause naming
    /// no column of the table, or whose operator does not fit it, is a
    /// `Config` error.
    pub async fn list_matching(
        &self,
        table: Table,
        query: &ListQuery,
        clauses: &[portcullis_domain::search::SearchClause],
    ) -> Result<ListPage, StoreError> {
        if clauses.len() > portcullis_domain::search::SEARCH_CLAUSES_MAX {
            return Err(StoreError::Config("too many clauses".to_owned()));
        }
        dispatch!(self.list_matching(table, query, clauses))
    }

    /// A page of live documents matching a search query, newest first;
    /// `after_seq` continues from a previous page.
    pub async fn search(
        &self,
        table: Table,
        scope: &Scope,
        query: &SearchQuery,
        after_seq: Option<i64>,
        limit: usize,
    ) -> Result<ListPage, StoreError> {
        dispatch!(self.search(table, scope, query, after_seq, limit))
    }

    /// Documents across every scope matching `query`, oldest first: for
    /// background workers, never for answering a merchant's request.
    pub async fn scan(
        &self,
        table: Table,
        query: &ScanQuery,
    ) -> Result<Vec<ScopedDoc>, StoreError> {
        dispatch!(self.scan(table, query))
    }

    /// Applies every operation of `writes` or none of them. Committed
    /// ledger appends are counted in `portcullis_ledger_appends_total`.
    pub async fn commit(&self, writes: WriteSet) -> Result<(), StoreError> {
        let appends = ledger_appends(&writes);
        dispatch!(self.commit(writes))?;
        count_ledger_appends(appends);
        Ok(())
    }

    /// Applies a large write set of new rows (seeded history) like
    /// [`Store::commit`], all of it or none, with the same rows, triggers
    /// and checks, but in few statements: multi-row inserts, risk counter
    /// additions summed per bucket, ledger appends linked in one pass (one
    /// chain-head read, one key lookup and one balance read per batch).
    /// Not for the payment path: the whole set is one transaction, which
    /// holds the SQLite writer (and on PostgreSQL the chain head) while it
    /// runs.
    pub async fn commit_bulk(&self, writes: WriteSet) -> Result<(), StoreError> {
        let appends = ledger_appends(&writes);
        dispatch!(self.commit_bulk(writes))?;
        count_ledger_appends(appends);
        Ok(())
    }

    /// The ledger balances of `accounts` (account codes, at most
    /// [`BALANCE_ACCOUNTS_MAX`]), every currency each holds.
    pub async fn ledger_balances(
        &self,
        accounts: &[String],
    ) -> Result<Vec<StoredBalance>, StoreError> {
        if accounts.len() > BALANCE_ACCOUNTS_MAX {
            return Err(StoreError::Config(format!(
                "at most {BALANCE_ACCOUNTS_MAX} accounts per balance read"
            )));
        }
        dispatch!(self.ledger_balances(accounts))
    }

    /// Replays the whole ledger from one consistent snapshot: the chain,
    /// every entry's postings, the head row and every balance row.
    pub async fn verify_ledger(&self) -> Result<Verification, StoreError> {
        dispatch!(self.verify_ledger())
    }

    /// The stored hash of ledger entry `sequence`, if it exists.
    pub async fn ledger_hash_at(&self, sequence: i64) -> Result<Option<String>, StoreError> {
        dispatch!(self.ledger_hash_at(sequence))
    }

    /// The success-rate windows of routing (every account's, per segment).
    pub async fn routing_outcomes(
        &self,
        query: &RoutingOutcomeQuery,
    ) -> Result<Vec<RoutingOutcomeCounts>, StoreError> {
        dispatch!(self.routing_outcomes(query))
    }

    /// Each subject's velocity counters (a few indexed reads of the
    /// incremental counter rows, never a scan of payments) and where
    /// `card` (a fingerprint) was last seen paying, in one read: one
    /// connection and one round trip on PostgreSQL, one reader hand-off on
    /// SQLite.
    pub async fn risk_history(
        &self,
        queries: &[RiskCounterQuery],
        scope: &Scope,
        card: &str,
    ) -> Result<RiskHistory, StoreError> {
        dispatch!(self.risk_history(queries, scope, card))
    }

    /// Claims an idempotency key for a request about to execute. A claim
    /// in flight for longer than `lease_s` is taken over (its request died).
    pub async fn claim_idempotency(
        &self,
        merchant_id: &MerchantId,
        key: &str,
        fingerprint: &str,
        now: UnixSeconds,
        lease_s: i64,
    ) -> Result<IdempotencyClaim, StoreError> {
        dispatch!(self.claim_idempotency(merchant_id, key, fingerprint, now, lease_s))
    }

    /// Gives up a claim whose request stored no result, so a retry may run;
    /// `claimed_at` is the `now` the claim was made with.
    pub async fn release_idempotency(
        &self,
        merchant_id: &MerchantId,
        key: &str,
        claimed_at: UnixSeconds,
    ) -> Result<(), StoreError> {
        dispatch!(self.release_idempotency(merchant_id, key, claimed_at))
    }

    /// Deletes idempotency keys created before `created_before`; returns how many.
    /// Stamps the `serve` instance `instance_id` as running at `now_ms`,
    /// and answers how many instances were stamped since `live_since_ms`
    /// (at least 1: this one).
    pub async fn stamp_instance(
        &self,
        instance_id: &str,
        now_ms: i64,
        live_since_ms: i64,
    ) -> Result<u64, StoreError> {
        dispatch!(self.stamp_instance(instance_id, now_ms, live_since_ms))
    }

    /// The check value recorded for the secret `name`: `check_value` itself
    /// when none was recorded yet (it is recorded now), else the one the
    /// first process recorded, for the caller to compare with its own.
    pub async fn record_check_value(
        &self,
        name: &str,
        check_value: &str,
        now_s: UnixSeconds,
    ) -> Result<String, StoreError> {
        dispatch!(self.record_check_value(name, check_value, now_s))
    }

    /// The check value recorded for the secret `name`, if any; records nothing.
    pub async fn recorded_check_value(&self, name: &str) -> Result<Option<String>, StoreError> {
        dispatch!(self.recorded_check_value(name))
    }

    /// Removes the instance's stamp, on a clean shutdown.
    pub async fn leave_instance(&self, instance_id: &str) -> Result<(), StoreError> {
        dispatch!(self.leave_instance(instance_id))
    }

    pub async fn prune_idempotency(&self, created_before: UnixSeconds) -> Result<u64, StoreError> {
        dispatch!(self.prune_idempotency(created_before))
    }

    /// Deletes the passkey ceremonies (`pkch_…`) started before
    /// `created_before`, spent or not; returns how many.
    pub async fn prune_passkey_challenges(
        &self,
        created_before: UnixSeconds,
    ) -> Result<u64, StoreError> {
        dispatch!(self.prune_passkey_challenges(created_before))
    }

    /// Records an ISO 8583 original before it is sent (a repeat of the
    /// attempt keeps the first row).
    pub async fn record_reversal(&self, row: &PendingReversalRow) -> Result<(), StoreError> {
        dispatch!(self.record_reversal(row))
    }

    /// The recorded original of `attempt_id`, while it may need a reversal.
    pub async fn find_reversal(
        &self,
        attempt_id: &str,
    ) -> Result<Option<PendingReversalRow>, StoreError> {
        dispatch!(self.find_reversal(attempt_id))
    }

    pub async fn set_reversal_state(
        &self,
        attempt_id: &str,
        state: ReversalState,
    ) -> Result<(), StoreError> {
        dispatch!(self.set_reversal_state(attempt_id, state))
    }

    /// Forgets the original of `attempt_id`: declined, or reversed.
    pub async fn settle_reversal(&self, attempt_id: &str) -> Result<(), StoreError> {
        dispatch!(self.settle_reversal(attempt_id))
    }

    /// The oldest `limit` (at most [`REVERSALS_PAGE_MAX`]) originals of
    /// `connector` in `state`.
    pub async fn reversals_in_state(
        &self,
        connector: &str,
        state: ReversalState,
        limit: usize,
    ) -> Result<Vec<PendingReversalRow>, StoreError> {
        dispatch!(self.reversals_in_state(connector, state, limit.min(REVERSALS_PAGE_MAX)))
    }

    /// Forgets `sent` originals recorded before `created_before` (Unix
    /// seconds): approvals the gateway committed long ago.
    pub async fn forget_sent_reversals(
        &self,
        created_before: UnixSeconds,
    ) -> Result<u64, StoreError> {
        dispatch!(self.forget_sent_reversals(created_before))
    }

    // ------------------------------------------------------------ webhooks

    /// Claims up to `claim.limit` due deliveries for `claim.worker` until
    /// the lease ends; no other worker gets them meanwhile.
    pub async fn claim_deliveries(
        &self,
        claim: &DeliveryClaim,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        dispatch!(self.claim_deliveries(claim))
    }

    /// Gives claimed deliveries back, untouched, for any worker to take.
    pub async fn release_deliveries(
        &self,
        worker: &str,
        keys: &[DeliveryKey],
    ) -> Result<(), StoreError> {
        dispatch!(self.release_deliveries(worker, keys))
    }

    /// Logs an attempt, moves its delivery on and releases the claim; starts
    /// or ends the endpoint's run of failures. Answers when that run began
    /// (`None` when the endpoint is healthy). `ClaimLost` when the worker
    /// no longer holds the delivery (its lease ran out and another took it).
    pub async fn record_attempt(
        &self,
        record: &AttemptRecord,
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        dispatch!(self.record_attempt(record, now_ms))
    }

    /// Ends a claimed delivery as failed without an attempt.
    pub async fn abandon_delivery(
        &self,
        worker: &str,
        key: &DeliveryKey,
        reason: &str,
    ) -> Result<(), StoreError> {
        dispatch!(self.abandon_delivery(worker, key, reason))
    }

    /// A page of the scope's deliveries, newest first.
    pub async fn list_deliveries(
        &self,
        scope: &Scope,
        filter: &DeliveryFilter,
        limit: usize,
    ) -> Result<DeliveryPage, StoreError> {
        dispatch!(self.list_deliveries(scope, filter, limit))
    }

    /// Deliveries pending across every merchant, and the oldest one's
    /// creation time: the outbox's backlog, for the operator's metrics.
    pub async fn webhook_backlog(&self) -> Result<Backlog, StoreError> {
        dispatch!(self.webhook_backlog())
    }

    /// The PostgreSQL pool's connections, or `None` on SQLite (no pool).
    pub fn pool_use(&self) -> Option<PoolUse> {
        match self {
            Store::Sqlite(_) => None,
            Store::Postgres(s) => Some(s.pool_use()),
        }
    }

    /// A delivery's latest attempts, newest first. The caller has checked
    /// that the delivery is in its scope.
    pub async fn delivery_attempts(
        &self,
        key: &DeliveryKey,
        limit: usize,
    ) -> Result<Vec<AttemptLog>, StoreError> {
        dispatch!(self.delivery_attempts(key, limit))
    }

    /// Makes an event's deliveries (or one endpoint's) due now; returns how
    /// many. A delivery in the middle of an attempt is left alone.
    pub async fn redeliver(
        &self,
        scope: &Scope,
        event_id: &str,
        one: Option<&Redelivery>,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        dispatch!(self.redeliver(scope, event_id, one, now_ms))
    }
}

/// Why `url` is not a database URL Portcullis opens, saying what would be.
fn unsupported_url(url: &str) -> String {
    const EXPECTED: &str = "use sqlite://PATH (e.g. sqlite://portcullis-data/portcullis.db) or postgres://USER@HOST:PORT/DATABASE";
    match url.split_once("://") {
        Some((scheme, _)) => format!(
            "database URLs of scheme {scheme:?} are not supported (only SQLite and PostgreSQL are): {EXPECTED}"
        ),
        None => format!("{url:?} is not a database URL (a bare path needs the sqlite:// prefix): {EXPECTED}"),
    }
}
