//! Fresh databases for the store's contract tests, one per test, on either
//! backend, plus the small fixtures the contracts share.
//!
//! SQLite gets a file in a temporary directory; PostgreSQL gets a database
//! of its own, `portcullis_test_<random hex>`, on the server at
//! [`PG_HOST`]:[`PG_PORT`], dropped again when the test ends (also when it
//! panics). What happens when that server is missing is decided in one
//! place: [`postgres_unreachable`].

use portcullis_domain::ids::MerchantId;
use portcullis_domain::merchants::Merchant;
use portcullis_domain::UnixSeconds;
use portcullis_store::{Scope, SqlValue, Store, StoreOptions, Table, WriteOp, WriteSet};
use std::fmt::Display;
use std::time::Duration;
use tempfile::TempDir;

pub const PG_HOST: &str = "127.0.0.1";
pub const PG_PORT: u16 = 5432;
const PG_USER: &str = "postgres";
/// The maintenance database the test databases are created from and dropped by.
const PG_ADMIN_DB: &str = "postgres";
/// How long to wait for the server before calling it unreachable.
const PG_CONNECT_TIMEOUT_S: u64 = 5;

/// The one rule for a PostgreSQL server that cannot be reached: the test
/// fails, saying how to start the server or to skip on purpose. Only an
/// explicit `PORTCULLIS_SKIP_POSTGRES=1` skips it (printed straight to the
/// stderr handle, which libtest does not capture), and never under
/// `CI=true`, so neither a broken CI setup nor a developer's plain
/// `cargo test` can pass by silently skipping half the contract.
pub fn postgres_unreachable(cause: &dyn Display) {
    let ci = std::env::var("CI").as_deref() == Ok("true");
    let skip = std::env::var("PORTCULLIS_SKIP_POSTGRES").as_deref() == Ok("1");
    if ci || !skip {
        panic!(
            "PostgreSQL not reachable at {PG_HOST}:{PG_PORT} ({cause}). Start it (user postgres, trust \
             auth), or set PORTCULLIS_SKIP_POSTGRES=1 to skip the PostgreSQL tests on purpose \
             (never allowed under CI=true)."
        );
    }
    let line = format!("SKIPPED (PORTCULLIS_SKIP_POSTGRES=1): PostgreSQL not reachable at {PG_HOST}:{PG_PORT} ({cause})\n");
    let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
}

/// A store on a database that exists for one test only.
pub struct TestDb {
    /// Declared before the guard so the store lets go of its connections and
    /// files before the database is dropped.
    pub store: Store,
    /// The URL the store was opened with, for opening it again.
    pub url: String,
    _guard: Guard,
}

enum Guard {
    Sqlite(TempDir),
    Postgres(PgDatabase),
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}/test.db", dir.path().display());
        let store = open(&url).await;
        assert_eq!(store.backend_name(), "sqlite");
        TestDb {
            store,
            url,
            _guard: Guard::Sqlite(dir),
        }
    }

    /// `None` when the server cannot be reached and the test is to be skipped.
    pub async fn postgres() -> Option<TestDb> {
        let database = match PgDatabase::create().await {
            Ok(database) => database,
            Err(cause) => {
                postgres_unreachable(&with_sources(&cause));
                return None;
            }
        };
        let url = pg_url(&database.name);
        let store = open(&url).await;
        assert_eq!(store.backend_name(), "postgres");
        Some(TestDb {
            store,
            url,
            _guard: Guard::Postgres(database),
        })
    }

    /// A second, independent store on the same database.
    pub async fn reopen(&self) -> Store {
        open(&self.url).await
    }

    /// Runs `sql` behind the store's back, as someone with access to the
    /// database would; the error text if the database refuses it.
    pub async fn raw_execute(&self, sql: &str) -> Result<(), String> {
        match &self._guard {
            Guard::Sqlite(dir) => {
                let conn = rusqlite::Connection::open(dir.path().join("test.db")).unwrap();
                conn.execute_batch(sql).map_err(|e| e.to_string())
            }
            Guard::Postgres(database) => {
                let client = pg_connect(&database.name).await.unwrap();
                client
                    .batch_execute(sql)
                    .await
                    .map_err(|e| with_sources(&e))
            }
        }
    }

    /// A connection of its own to the PostgreSQL database, for holding
    /// locks behind the store's back; `None` on SQLite.
    #[allow(dead_code)] // used by the ledger contract, not by every test crate
    pub async fn raw_postgres(&self) -> Option<tokio_postgres::Client> {
        match &self._guard {
            Guard::Sqlite(_) => None,
            Guard::Postgres(database) => Some(pg_connect(&database.name).await.unwrap()),
        }
    }

    /// The versions recorded in `schema_migrations`, read behind the
    /// store's back.
    pub async fn applied_migrations(&self) -> Vec<i64> {
        const SQL: &str = "SELECT version FROM schema_migrations ORDER BY version";
        match &self._guard {
            Guard::Sqlite(dir) => {
                let conn = rusqlite::Connection::open(dir.path().join("test.db")).unwrap();
                let mut stmt = conn.prepare(SQL).unwrap();
                let rows = stmt.query_map([], |row| row.get(0)).unwrap();
                rows.collect::<Result<_, _>>().unwrap()
            }
            Guard::Postgres(database) => {
                let client = pg_connect(&database.name).await.unwrap();
                let rows = client.query(SQL, &[]).await.unwrap();
                rows.iter().map(|row| row.get(0)).collect()
            }
        }
    }
}

impl TestDb {
    /// `(version, checksum)` of each row of `schema_migrations`, by version,
    /// read behind the store's back.
    pub async fn migration_checksums(&self) -> Vec<(i64, Option<String>)> {
        const SQL: &str = "SELECT version, checksum FROM schema_migrations ORDER BY version";
        match &self._guard {
            Guard::Sqlite(dir) => {
                let conn = rusqlite::Connection::open(dir.path().join("test.db")).unwrap();
                let mut stmt = conn.prepare(SQL).unwrap();
                let rows = stmt
                    .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
                    .unwrap();
                rows.collect::<Result<_, _>>().unwrap()
            }
            Guard::Postgres(database) => {
                let client = pg_connect(&database.name).await.unwrap();
                let rows = client.query(SQL, &[]).await.unwrap();
                rows.iter().map(|row| (row.get(0), row.get(1))).collect()
            }
        }
    }
}

/// An error and its causes on one line: tokio-postgres's own text is
/// only "error connecting to server"; the source says why.
fn with_sources(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

async fn open(url: &str) -> Store {
    Store::open(url, &StoreOptions::default())
        .await
        .unwrap_or_else(|e| panic!("opening {url}: {e}"))
}

fn pg_url(database: &str) -> String {
    format!("postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}")
}

/// A client on `database`, its connection driven by a spawned task.
async fn pg_connect(database: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let mut config: tokio_postgres::Config = pg_url(database).parse()?;
    config.connect_timeout(Duration::from_secs(PG_CONNECT_TIMEOUT_S));
    let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// A PostgreSQL database with nothing in it, not even the migrations, for
/// tests that build an older schema by hand; dropped with this.
#[allow(dead_code)] // used by the upgrade tests, not by every test crate
pub struct EmptyPostgres {
    pub url: String,
    database: PgDatabase,
}

#[allow(dead_code)] // used by the upgrade tests, not by every test crate
impl EmptyPostgres {
    /// `None` when the server cannot be reached and the test is to be skipped.
    pub async fn create() -> Option<Self> {
        match PgDatabase::create().await {
            Ok(database) => Some(Self {
                url: pg_url(&database.name),
                database,
            }),
            Err(cause) => {
                postgres_unreachable(&with_sources(&cause));
                None
            }
        }
    }

    pub async fn client(&self) -> tokio_postgres::Client {
        pg_connect(&self.database.name).await.unwrap()
    }
}

/// A database created for one test and dropped when this is dropped.
struct PgDatabase {
    name: String,
}

impl PgDatabase {
    async fn create() -> Result<Self, tokio_postgres::Error> {
        let name = format!("portcullis_test_{:016x}", rand::random::<u64>());
        let admin = pg_connect(PG_ADMIN_DB).await?;
        // The name is ours, [a-z0-9_] only: safe to splice into DDL.
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await?;
        Ok(Self { name })
    }
}

impl Drop for PgDatabase {
    /// Drops the database on a thread with its own runtime: `Drop` cannot
    /// await, and blocking on the test's runtime from inside it would panic.
    fn drop(&mut self) {
        let name = self.name.clone();
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the cleanup");
            runtime.block_on(async {
                let admin = pg_connect(PG_ADMIN_DB).await?;
                admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
            })
        });
        match cleanup.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: could not drop test database {}: {e}", self.name),
            Err(_) => eprintln!("warning: dropping test database {} panicked", self.name),
        }
    }
}

/// Seconds since the epoch at which every fixture is created; fixed, so
/// tests state their times explicitly.
pub const T0: UnixSeconds = 1_700_000_000;

/// A merchant, stored.
pub async fn merchant(store: &Store, name: &str) -> Merchant {
    let merchant = Merchant::new(name, T0).expect("a valid merchant name");
    store.insert_merchant(&merchant).await.unwrap();
    merchant
}

pub fn test_scope(merchant_id: &MerchantId) -> Scope {
    Scope {
        merchant_id: merchant_id.clone(),
        livemode: false,
    }
}

/// A customer document to insert; the body mirrors the indexed columns.
#[derive(Clone, Debug)]
pub struct Customer {
    pub id: String,
    pub created: UnixSeconds,
    pub email: String,
    pub name: String,
    pub deleted: bool,
    pub metadata: serde_json::Value,
}

impl Customer {
    pub fn new(id: &str, created: UnixSeconds, email: &str, name: &str) -> Self {
        Self {
            id: id.to_owned(),
            created,
            email: email.to_owned(),
            name: name.to_owned(),
            deleted: false,
            metadata: serde_json::json!({}),
        }
    }

    pub fn deleted(mut self) -> Self {
        self.deleted = true;
        self
    }

    pub fn with_metadata(mut self, key: &str, value: &str) -> Self {
        self.metadata[key] = serde_json::Value::from(value);
        self
    }

    pub fn body(&self) -> String {
        serde_json::json!({
            "id": self.id,
            "object": "customer",
            "created": self.created,
            "email": self.email,
            "name": self.name,
            "deleted": self.deleted,
            "metadata": self.metadata,
        })
        .to_string()
    }

    pub fn columns(&self) -> Vec<(&'static str, SqlValue)> {
        vec![
            ("email", SqlValue::Text(self.email.clone())),
            ("name", SqlValue::Text(self.name.clone())),
            ("deleted", SqlValue::Bool(self.deleted)),
        ]
    }

    pub fn insert(&self, scope: &Scope) -> WriteOp {
        WriteOp::Insert {
            table: Table::Customers,
            scope: scope.clone(),
            id: self.id.clone(),
            created: self.created,
            columns: self.columns(),
            body: self.body(),
        }
    }
}

/// A write set of one operation.
pub fn one(op: WriteOp) -> WriteSet {
    WriteSet { ops: vec![op] }
}

/// Inserts each customer in its own write set, in order, so `seq` follows
/// the order of `customers`.
pub async fn insert_all(store: &Store, scope: &Scope, customers: &[Customer]) {
    for customer in customers {
        store.commit(one(customer.insert(scope))).await.unwrap();
    }
}
