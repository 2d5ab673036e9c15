//! A fresh database for one run: an SQLite file in a new temporary
//! directory, or a new PostgreSQL database on a loopback server, dropped
//! when the run ends.

use anyhow::{bail, Context};
use std::path::PathBuf;

/// A database that exists for one run, with a data directory beside it
/// (key-hash secret, vault keyring, journals, logs).
pub struct FreshDatabase {
    pub url: String,
    pub backend: &'static str,
    pub data_dir: PathBuf,
    admin_url: Option<String>,
    name: Option<String>,
    _dir: tempfile::TempDir,
}

impl FreshDatabase {
    /// `requested`: none (a new SQLite file), `sqlite` or `sqlite://` (the
    /// same), or `postgres://user@127.0.0.1:5432/db`, whose server gets a
    /// new database `portcullis_run_…` for this run.
    pub async fn create(requested: Option<&str>) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("portcullis-run-")
            .tempdir_in(std::env::temp_dir())
            .context("making a temporary directory")?;
        let data_dir = dir.path().join("data");
        std::fs::create_dir_all(&data_dir)?;
        let requested = requested.unwrap_or("sqlite://");
        if requested == "sqlite" || requested == "sqlite://" {
            return Ok(Self {
                url: format!("sqlite://{}", data_dir.join("portcullis.db").display()),
                backend: "sqlite",
                data_dir,
                admin_url: None,
                name: None,
                _dir: dir,
            });
        }
        if !requested.starts_with("postgres://") && !requested.starts_with("postgresql://") {
            bail!("--database-url must be sqlite:// (a fresh file) or postgres://… (a fresh database is made on that server)");
        }
        let config: tokio_postgres::Config = requested.parse().context("parsing --database-url")?;
        if !is_loopback(&config) {
            bail!("the benchmark runs against a PostgreSQL server on this machine only (127.0.0.1, ::1 or localhost)");
        }
        let name = format!("portcullis_run_{}", hex::encode(rand::random::<[u8; 6]>()));
        admin_sql(requested, &format!("CREATE DATABASE {name}")).await?;
        let base = requested
            .rsplit_once('/')
            .map_or(requested, |(base, _)| base);
        Ok(Self {
            url: format!("{base}/{name}"),
            backend: "postgres",
            data_dir,
            admin_url: Some(requested.to_owned()),
            name: Some(name),
            _dir: dir,
        })
    }

    /// Drops a PostgreSQL database made for this run (SQLite's directory
    /// goes with `self`).
    pub async fn drop_database(&self) {
        if let (Some(admin), Some(name)) = (&self.admin_url, &self.name) {
            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            if let Err(err) = admin_sql(admin, &sql).await {
                eprintln!("could not drop {name}: {err:#}");
            }
        }
    }
}

fn is_loopback(config: &tokio_postgres::Config) -> bool {
    use tokio_postgres::config::Host;
    !config.get_hosts().is_empty()
        && config.get_hosts().iter().all(|host| match host {
            Host::Tcp(name) => name == "localhost" || name == "127.0.0.1" || name == "::1",
            Host::Unix(_) => true,
        })
}

async fn admin_sql(url: &str, sql: &str) -> anyhow::Result<()> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .context("connecting to PostgreSQL")?;
    let task = tokio::spawn(connection);
    client
        .batch_execute(sql)
        .await
        .context("running admin SQL")?;
    drop(client);
    let _ = task.await;
    Ok(())
}
