//! Schema migrations, numbered, each written once per dialect. Applied in
//! order at start-up and by `portcullis migrate`; applied ones are recorded
//! in `schema_migrations`.

pub(crate) struct Migration {
    pub version: i64,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sqlite: include_str!("../migrations/sqlite/0001_foundation.sql"),
        postgres: include_str!("../migrations/postgres/0001_foundation.sql"),
    },
    Migration {
        version: 2,
        sqlite: include_str!("../migrations/sqlite/0002_payments.sql"),
        postgres: include_str!("../migrations/postgres/0002_payments.sql"),
    },
    Migration {
        version: 3,
        sqlite: include_str!("../migrations/sqlite/0003_webhooks.sql"),
        postgres: include_str!("../migrations/postgres/0003_webhooks.sql"),
    },
    Migration {
        version: 4,
        sqlite: include_str!("../migrations/sqlite/0004_ledger.sql"),
        postgres: include_str!("../migrations/postgres/0004_ledger.sql"),
    },
    Migration {
        version: 5,
        sqlite: include_str!("../migrations/sqlite/0005_risk.sql"),
        postgres: include_str!("../migrations/postgres/0005_risk.sql"),
    },
    Migration {
        version: 8,
        sqlite: include_str!("../migrations/sqlite/0008_limits.sql"),
        postgres: include_str!("../migrations/postgres/0008_limits.sql"),
    },
    Migration {
        version: 10,
        sqlite: include_str!("../migrations/sqlite/0010_connector_accounts.sql"),
        postgres: include_str!("../migrations/postgres/0010_connector_accounts.sql"),
    },
    Migration {
        version: 15,
        sqlite: include_str!("../migrations/sqlite/0015_customer_accounts.sql"),
        postgres: include_str!("../migrations/postgres/0015_customer_accounts.sql"),
    },
];

pub(crate) const CREATE_MIGRATIONS_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied BIGINT NOT NULL)";

/// Seconds since the epoch, for the `applied` column.
pub(crate) fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
