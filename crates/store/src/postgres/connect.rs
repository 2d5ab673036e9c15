//! Reaching the PostgreSQL server, and saying plainly why it could not be
//! reached: the pool's and the driver's own `Display` stop at "db error",
//! hiding the server's message (database does not exist, role refused) and
//! the socket's (connection refused).

use crate::StoreError;
use deadpool_postgres::PoolError;
use std::error::Error as _;
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

/// The database every PostgreSQL server has, used to create others.
const MAINTENANCE_DATABASE: &str = "postgres";

/// The server's message with its SQLSTATE, or the driver's error with
/// every cause under it (e.g. "Connection refused (os error 111)").
pub(crate) fn describe(err: &tokio_postgres::Error) -> String {
    if let Some(db) = err.as_db_error() {
        return format!(
            "the server says: {} (SQLSTATE {})",
            db.message(),
            db.code().code()
        );
    }
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(inner) = cause {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text = format!("{text}: {inner_text}");
        }
        cause = inner.source();
    }
    text
}

/// A connection the pool could not make, with its real cause.
pub(crate) fn pool_error(err: PoolError) -> StoreError {
    match err {
        PoolError::Backend(inner) => StoreError::Unavailable(describe(&inner)),
        other => StoreError::Unavailable(other.to_string()),
    }
}

/// Creates the database `url` names unless it exists; true if it was made.
/// Connects to the same server's `postgres` database, as `createdb` does.
pub async fn create_database_if_missing(url: &str) -> Result<bool, StoreError> {
    let config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| StoreError::Config(format!("invalid PostgreSQL URL: {e}")))?;
    let name = config
        .get_dbname()
        .or(config.get_user())
        .ok_or_else(|| StoreError::Config("the PostgreSQL URL names no database".to_owned()))?
        .to_owned();
    match config.connect(NoTls).await {
        Ok(_) => return Ok(false),
        Err(err) if err.code() == Some(&SqlState::INVALID_CATALOG_NAME) => {}
        Err(err) => return Err(StoreError::Unavailable(describe(&err))),
    }
    let mut maintenance = config.clone();
    maintenance.dbname(MAINTENANCE_DATABASE);
    let (client, connection) = maintenance
        .connect(NoTls)
        .await
        .map_err(|e| StoreError::Unavailable(describe(&e)))?;
    let driver = tokio::spawn(connection);
    let quoted = format!("\"{}\"", name.replace('"', "\"\""));
    let created = client
        .batch_execute(&format!("CREATE DATABASE {quoted}"))
        .await;
    drop(client);
    let _ = driver.await;
    match created {
        Ok(()) => Ok(true),
        // Another instance created it between our two connections.
        Err(err) if err.code() == Some(&SqlState::DUPLICATE_DATABASE) => Ok(false),
        Err(err) => Err(StoreError::Unavailable(format!(
            "creating database {quoted}: {}",
            describe(&err)
        ))),
    }
}
