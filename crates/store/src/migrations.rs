//! Schema migrations, numbered, each written once per dialect. Applied in
//! order at start-up and by `portcullis migrate`; applied ones are recorded
//! in `schema_migrations` with the SHA-256 of the text that ran. A run
//! refuses, before changing anything, a database that has a version this
//! binary does not know (migrated by a newer one) or whose applied
//! migration's text has changed since (`plan_migrations`).

use crate::sql::Dialect;
use crate::StoreError;
use sha2::{Digest, Sha256};

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
        version: 9,
        sqlite: include_str!("../migrations/sqlite/0009_iso8583.sql"),
        postgres: include_str!("../migrations/postgres/0009_iso8583.sql"),
    },
    Migration {
        version: 10,
        sqlite: include_str!("../migrations/sqlite/0010_connector_accounts.sql"),
        postgres: include_str!("../migrations/postgres/0010_connector_accounts.sql"),
    },
    Migration {
        version: 11,
        sqlite: include_str!("../migrations/sqlite/0011_write_less.sql"),
        postgres: include_str!("../migrations/postgres/0011_write_less.sql"),
    },
    Migration {
        version: 12,
        sqlite: include_str!("../migrations/sqlite/0012_secrets_at_rest.sql"),
        postgres: include_str!("../migrations/postgres/0012_secrets_at_rest.sql"),
    },
    Migration {
        version: 15,
        sqlite: include_str!("../migrations/sqlite/0015_customer_accounts.sql"),
        postgres: include_str!("../migrations/postgres/0015_customer_accounts.sql"),
    },
    Migration {
        version: 16,
        sqlite: include_str!("../migrations/sqlite/0016_routing.sql"),
        postgres: include_str!("../migrations/postgres/0016_routing.sql"),
    },
    Migration {
        version: 17,
        sqlite: include_str!("../migrations/sqlite/0017_checkout_sessions.sql"),
        postgres: include_str!("../migrations/postgres/0017_checkout_sessions.sql"),
    },
    Migration {
        version: 18,
        sqlite: include_str!("../migrations/sqlite/0018_wallet_trades.sql"),
        postgres: include_str!("../migrations/postgres/0018_wallet_trades.sql"),
    },
    Migration {
        version: 20,
        sqlite: include_str!("../migrations/sqlite/0020_routing_outcomes.sql"),
        postgres: include_str!("../migrations/postgres/0020_routing_outcomes.sql"),
    },
    Migration {
        version: 22,
        sqlite: include_str!("../migrations/sqlite/0022_dashboard.sql"),
        postgres: include_str!("../migrations/postgres/0022_dashboard.sql"),
    },
    Migration {
        version: 25,
        sqlite: include_str!("../migrations/sqlite/0025_account_passkeys.sql"),
        postgres: include_str!("../migrations/postgres/0025_account_passkeys.sql"),
    },
    Migration {
        version: 27,
        sqlite: include_str!("../migrations/sqlite/0027_dashboard_filters_and_keys.sql"),
        postgres: include_str!("../migrations/postgres/0027_dashboard_filters_and_keys.sql"),
    },
    Migration {
        version: 30,
        sqlite: include_str!("../migrations/sqlite/0030_passkey_challenge_expiry.sql"),
        postgres: include_str!("../migrations/postgres/0030_passkey_challenge_expiry.sql"),
    },
    Migration {
        version: 33,
        sqlite: include_str!("../migrations/sqlite/0033_risk_rules_deleted.sql"),
        postgres: include_str!("../migrations/postgres/0033_risk_rules_deleted.sql"),
    },
    Migration {
        version: 35,
        sqlite: include_str!("../migrations/sqlite/0035_balance_step_up_expiry.sql"),
        postgres: include_str!("../migrations/postgres/0035_balance_step_up_expiry.sql"),
    },
    Migration {
        version: 37,
        sqlite: include_str!("../migrations/sqlite/0037_payment_method_types.sql"),
        postgres: include_str!("../migrations/postgres/0037_payment_method_types.sql"),
    },
    Migration {
        version: 38,
        sqlite: include_str!("../migrations/sqlite/0038_unread_index_entries.sql"),
        postgres: include_str!("../migrations/postgres/0038_unread_index_entries.sql"),
    },
    Migration {
        version: 39,
        sqlite: include_str!("../migrations/sqlite/0039_ledger_functions.sql"),
        postgres: include_str!("../migrations/postgres/0039_ledger_functions.sql"),
    },
    Migration {
        version: 40,
        sqlite: include_str!("../migrations/sqlite/0040_ledger_postings_clustered.sql"),
        postgres: include_str!("../migrations/postgres/0040_ledger_postings_clustered.sql"),
    },
];

pub(crate) const CREATE_MIGRATIONS_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied BIGINT NOT NULL, checksum TEXT)";

/// Seconds since the epoch, for the `applied` column.
pub(crate) fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Adds the `checksum` column to a `schema_migrations` made before
/// checksums were recorded (PostgreSQL; SQLite asks `pragma_table_info`
/// first, as it has no `ADD COLUMN IF NOT EXISTS`).
pub(crate) const ADD_CHECKSUM_COLUMN_POSTGRES: &str =
    "ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum TEXT";
pub(crate) const ADD_CHECKSUM_COLUMN_SQLITE: &str =
    "ALTER TABLE schema_migrations ADD COLUMN checksum TEXT";
pub(crate) const HAS_CHECKSUM_COLUMN_SQLITE: &str =
    "SELECT COUNT(*) > 0 FROM pragma_table_info('schema_migrations') WHERE name = 'checksum'";
pub(crate) const SELECT_APPLIED: &str = "SELECT version, checksum FROM schema_migrations";

impl Migration {
    /// The text this dialect runs.
    pub(crate) fn text(&self, dialect: Dialect) -> &'static str {
        match dialect {
            Dialect::Sqlite => self.sqlite,
            Dialect::Postgres => self.postgres,
        }
    }

    /// `sha256:<hex>` of the text this dialect runs, as `schema_migrations`
    /// records it.
    pub(crate) fn checksum(&self, dialect: Dialect) -> String {
        let digest = Sha256::digest(self.text(dialect).as_bytes());
        let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
        format!("sha256:{hex}")
    }
}

/// A row of `schema_migrations` as read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AppliedMigration {
    pub version: i64,
    /// `None` for rows written before checksums were recorded.
    pub checksum: Option<String>,
}

/// What one migration run does, in order.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Run the migration's text and record it with its checksum.
    Apply(&'static Migration),
    /// Applied before checksums were recorded: record today's text's
    /// checksum (trusted once, checked from then on).
    RecordChecksum(&'static Migration),
}

impl PartialEq for Migration {
    fn eq(&self, other: &Self) -> bool {
        self.version == other.version
    }
}
impl Eq for Migration {}
impl std::fmt::Debug for Migration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Migration({})", self.version)
    }
}

/// Decides what to run on a database that has `applied`, or refuses: a
/// database migrated by a newer binary (a version this one does not know),
/// or a migration whose text changed after it was applied.
pub(crate) fn plan_migrations(
    applied: &[AppliedMigration],
    dialect: Dialect,
    known: &'static [Migration],
) -> Result<Vec<Step>, StoreError> {
    let latest_known = known.iter().map(|m| m.version).max().unwrap_or(0);
    let mut unknown: Vec<i64> = applied
        .iter()
        .map(|row| row.version)
        .filter(|version| !known.iter().any(|m| m.version == *version))
        .collect();
    unknown.sort_unstable();
    if let Some(newest) = unknown.last() {
        return Err(StoreError::Schema(format!(
            "this database was migrated by a newer Portcullis: it has schema version {newest} \
             applied (unknown here: {unknown:?}), but this binary (portcullis {}) knows schema \
             versions up to {latest_known}; run the newer binary, or restore a backup taken \
             before the upgrade",
            env!("CARGO_PKG_VERSION")
        )));
    }
    let mut steps = Vec::new();
    for migration in known {
        let Some(row) = applied.iter().find(|row| row.version == migration.version) else {
            steps.push(Step::Apply(migration));
            continue;
        };
        let expected = migration.checksum(dialect);
        match &row.checksum {
            None => steps.push(Step::RecordChecksum(migration)),
            Some(recorded) if *recorded == expected => {}
            Some(recorded) => {
                return Err(StoreError::Schema(format!(
                    "schema migration {} changed after it was applied: the database recorded \
                     {recorded}, this binary's text is {expected}; put the migration back as it \
                     was and add the change as a new migration",
                    migration.version
                )))
            }
        }
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latest_known_version() -> i64 {
        MIGRATIONS.iter().map(|m| m.version).max().unwrap()
    }

    fn applied(version: i64, checksum: Option<String>) -> AppliedMigration {
        AppliedMigration { version, checksum }
    }

    #[test]
    fn a_fresh_database_applies_every_migration_in_order() {
        let steps = plan_migrations(&[], Dialect::Sqlite, MIGRATIONS).unwrap();
        let versions: Vec<i64> = steps
            .iter()
            .map(|step| match step {
                Step::Apply(m) => m.version,
                Step::RecordChecksum(m) => panic!("nothing to record on a fresh database: {m:?}"),
            })
            .collect();
        let mut sorted = versions.clone();
        sorted.sort_unstable();
        assert_eq!(versions, sorted);
        assert_eq!(versions.len(), MIGRATIONS.len());
    }

    #[test]
    fn an_up_to_date_database_runs_nothing() {
        let rows: Vec<_> = MIGRATIONS
            .iter()
            .map(|m| applied(m.version, Some(m.checksum(Dialect::Postgres))))
            .collect();
        assert_eq!(
            plan_migrations(&rows, Dialect::Postgres, MIGRATIONS).unwrap(),
            vec![]
        );
    }

    #[test]
    fn rows_without_a_checksum_get_one_recorded() {
        let first = &MIGRATIONS[0];
        let steps =
            plan_migrations(&[applied(first.version, None)], Dialect::Sqlite, MIGRATIONS).unwrap();
        assert_eq!(steps[0], Step::RecordChecksum(first));
        assert!(steps[1..].iter().all(|s| matches!(s, Step::Apply(_))));
    }

    #[test]
    fn a_changed_migration_is_refused_naming_it() {
        let first = &MIGRATIONS[0];
        let rows = [applied(first.version, Some("sha256:00".into()))];
        let err = plan_migrations(&rows, Dialect::Sqlite, MIGRATIONS)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("schema migration {} changed", first.version)),
            "{err}"
        );
        assert!(err.contains(&first.checksum(Dialect::Sqlite)), "{err}");
    }

    #[test]
    fn a_database_from_a_newer_binary_is_refused_naming_both_versions() {
        let newer = latest_known_version() + 7;
        let err = plan_migrations(
            &[applied(newer, Some("sha256:ff".into()))],
            Dialect::Postgres,
            MIGRATIONS,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains(&format!("schema version {newer}")), "{err}");
        assert!(
            err.contains(&format!("up to {}", latest_known_version())),
            "{err}"
        );
    }

    #[test]
    fn checksums_differ_per_dialect_and_are_stable() {
        let first = &MIGRATIONS[0];
        assert_eq!(
            first.checksum(Dialect::Sqlite),
            first.checksum(Dialect::Sqlite)
        );
        assert_ne!(
            first.checksum(Dialect::Sqlite),
            first.checksum(Dialect::Postgres)
        );
        assert_eq!(first.checksum(Dialect::Sqlite).len(), "sha256:".len() + 64);
    }
}
