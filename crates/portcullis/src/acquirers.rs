//! The settings file's `[connectors.<name>]` tables: acquirers other than
//! the default, each chosen by the merchants it lists (only for a merchant
//! with no card connector account of a served type in the payment's mode:
//! its accounts come first). Today one type,
//! `iso8583`:
//!
//! ```toml
//! [connectors.acquirer_a]
//! type = "iso8583"
//! address = "127.0.0.1:9583"
//! profile = "default"          # or "default_ascii"
//! framing = "binary2"          # or "ascii4"
//! acquirer_id = "12345"        # DE 32
//! card_acceptor_id = "MERCHANT0000001"  # DE 42, 15 characters
//! terminal_id = "TERM0001"     # DE 41, 8 characters
//! merchant_category_code = "5999"
//! connect_timeout_ms = 2000
//! request_timeout_ms = 10000
//! in_flight_max = 64
//! echo_interval_s = 30
//! merchants = ["acct_…"]
//! ```

use anyhow::{bail, Context};
use portcullis_api::acquirer_reversals::StoredReversals;
use portcullis_connectors::iso8583::reversals::ReversalStore;
use portcullis_connectors::iso8583::{AcceptorIds, Iso8583Connector, Session, SessionOptions};
use portcullis_connectors::{Connector, Iso8583, Route};
use portcullis_iso8583::{Framing, Profile};
use portcullis_store::{Store, REVERSALS_PAGE_MAX};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// One `[connectors.<name>]` table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorFile {
    #[serde(rename = "type")]
    kind: String,
    address: String,
    #[serde(default = "default_profile")]
    profile: String,
    #[serde(default = "default_framing")]
    framing: String,
    acquirer_id: String,
    card_acceptor_id: String,
    terminal_id: String,
    #[serde(default = "default_mcc")]
    merchant_category_code: String,
    card_acceptor_name: Option<String>,
    #[serde(default = "default_connect_timeout_ms")]
    connect_timeout_ms: u64,
    request_timeout_ms: Option<u64>,
    #[serde(default = "default_in_flight_max")]
    in_flight_max: usize,
    #[serde(default = "default_echo_interval_s")]
    echo_interval_s: u64,
    #[serde(default)]
    merchants: Vec<String>,
}

fn default_profile() -> String {
    "default".into()
}
fn default_framing() -> String {
    "binary2".into()
}
fn default_mcc() -> String {
    "5999".into()
}
fn default_connect_timeout_ms() -> u64 {
    2_000
}
fn default_in_flight_max() -> usize {
    64
}
fn default_echo_interval_s() -> u64 {
    30
}

/// Most requests in flight one ISO 8583 connection may be configured for.
const IN_FLIGHT_MAX: usize = 1_000;

/// A checked `[connectors.<name>]`.
#[derive(Clone, Debug)]
pub struct AcquirerSettings {
    pub name: String,
    pub session: SessionOptions,
    pub ids: AcceptorIds,
    pub merchants: Vec<String>,
}

fn fixed(field: &str, value: &str, length: usize) -> anyhow::Result<()> {
    if value.len() != length || !value.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        bail!("{field} must be {length} printable ASCII characters");
    }
    Ok(())
}

/// Checks the tables; `connector_timeout_ms` is the default request timeout
/// and its upper bound (the guard cuts every call there).
pub fn parse(
    tables: BTreeMap<String, ConnectorFile>,
    connector_timeout_ms: u64,
) -> anyhow::Result<Vec<AcquirerSettings>> {
    let mut parsed = Vec::new();
    for (name, table) in tables {
        let context = || format!("[connectors.{name}]");
        let check = || -> anyhow::Result<AcquirerSettings> {
            if table.kind != "iso8583" {
                bail!("type must be \"iso8583\"");
            }
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                bail!("the name may hold letters, digits, _ and - only");
            }
            let profile =
                Profile::parse(&table.profile).context("profile is default or default_ascii")?;
            let framing = Framing::parse(&table.framing).context("framing is binary2 or ascii4")?;
            if table.acquirer_id.is_empty()
                || table.acquirer_id.len() > 11
                || !table.acquirer_id.bytes().all(|b| b.is_ascii_digit())
            {
                bail!("acquirer_id is 1 to 11 digits (DE 32)");
            }
            fixed("card_acceptor_id", &table.card_acceptor_id, 15)?;
            fixed("terminal_id", &table.terminal_id, 8)?;
            if table.merchant_category_code.len() != 4
                || !table
                    .merchant_category_code
                    .bytes()
                    .all(|b| b.is_ascii_digit())
            {
                bail!("merchant_category_code is 4 digits");
            }
            let name_location = match &table.card_acceptor_name {
                Some(text) => {
                    fixed("card_acceptor_name", &format!("{text:<40}"), 40)?;
                    Some(format!("{text:<40}"))
                }
                None => None,
            };
            let request_timeout_ms = table.request_timeout_ms.unwrap_or(connector_timeout_ms);
            if request_timeout_ms == 0 || request_timeout_ms > connector_timeout_ms {
                bail!("request_timeout_ms must be between 1 and connector_timeout_ms ({connector_timeout_ms})");
            }
            if table.in_flight_max == 0 || table.in_flight_max > IN_FLIGHT_MAX {
                bail!("in_flight_max must be between 1 and {IN_FLIGHT_MAX}");
            }
            if table.echo_interval_s == 0 {
                bail!("echo_interval_s must be positive");
            }
            Ok(AcquirerSettings {
                name: name.clone(),
                session: SessionOptions {
                    address: table.address.clone(),
                    resolver: None,
                    profile,
                    framing,
                    acquirer_id: table.acquirer_id.clone(),
                    connect_timeout: Duration::from_millis(table.connect_timeout_ms),
                    request_timeout: Duration::from_millis(request_timeout_ms),
                    in_flight_max: table.in_flight_max,
                    echo_idle: Duration::from_secs(table.echo_interval_s),
                    backoff_min: Duration::from_millis(100),
                    backoff_max: Duration::from_secs(10),
                },
                ids: AcceptorIds {
                    acquirer_id: table.acquirer_id.clone(),
                    card_acceptor_id: table.card_acceptor_id.clone(),
                    terminal_id: table.terminal_id.clone(),
                    merchant_category_code: table.merchant_category_code.clone(),
                    name_location,
                },
                merchants: table.merchants.clone(),
            })
        };
        parsed.push(check().with_context(context)?);
    }
    Ok(parsed)
}

/// The routes of the configured acquirers. Their pending reversals are in
/// the database (`portcullis_api::acquirer_reversals`); those a previous run left
/// being reversed are resumed here, and any instance's recovery worker
/// reverses an original whose attempt was left in doubt.
pub async fn routes(
    acquirers: &[AcquirerSettings],
    data_dir: &Path,
    store: &Store,
) -> anyhow::Result<Vec<Route>> {
    let mut routes = Vec::new();
    for acquirer in acquirers {
        let reversals = Arc::new(StoredReversals::new(store.clone(), &acquirer.name));
        let old_journal = data_dir.join(format!("iso8583-{}-reversals.jsonl", acquirer.name));
        crate::stored_reversals::migrate_and_prune(&reversals, store, &old_journal)
            .await
            .with_context(|| format!("[connectors.{}] pending reversals", acquirer.name))?;
        let left = reversals
            .reversing(REVERSALS_PAGE_MAX)
            .await
            .with_context(|| format!("[connectors.{}] pending reversals", acquirer.name))?;
        let connector = Iso8583::new(Iso8583Connector::new(
            Session::new(acquirer.session.clone()),
            acquirer.ids.clone(),
            reversals,
        ));
        if !left.is_empty() {
            tracing::warn!(connector = %acquirer.name, count = left.len(), "resuming ISO 8583 reversals left pending");
            connector.resume_reversals(left);
        }
        routes.push(Route {
            name: acquirer.name.clone(),
            connector: Arc::new(connector) as Arc<dyn Connector>,
            merchants: acquirer.merchants.clone(),
        });
    }
    Ok(routes)
}
