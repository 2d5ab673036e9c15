//! `portcullis ledger verify | checkpoint`: tamper evidence for the ledger.
//!
//! `verify` replays the chain and every balance from one snapshot and
//! fails naming the first bad entry. `checkpoint` signs the verified head
//! with the ledger signing key (Ed25519, PKCS#8 in a 0600 file made on
//! first use), so a third party holding it can later prove, with `verify
//! --checkpoint`, that history up to it was not rewritten, even by someone
//! who recomputed every hash after an edit.

use crate::admin::open_store;
use crate::cli::LedgerCommand;
use crate::secrets::write_private;
use crate::settings::Settings;
use anyhow::{bail, Context};
use portcullis_ledger::checkpoint::{Checkpoint, SignedCheckpoint, SigningKey};
use portcullis_ledger::verify::Report;
use portcullis_store::Store;
use std::path::Path;

pub async fn run(settings: &Settings, command: LedgerCommand) -> anyhow::Result<()> {
    let store = open_store(settings, crate::secrets::KeyHashUse::ChecksOnly).await?;
    let outcome = match command {
        LedgerCommand::Verify { checkpoint } => {
            verify(&store, settings, checkpoint.as_deref()).await
        }
        LedgerCommand::Checkpoint { out } => checkpoint(&store, settings, out.as_deref()).await,
    };
    store.close().await;
    outcome
}

/// The verified report, or an error naming the first bad entry.
async fn verified(store: &Store) -> anyhow::Result<Report> {
    match store.verify_ledger().await.context("reading the ledger")? {
        Ok(report) => Ok(report),
        Err(finding) => bail!("ledger verification FAILED: {finding}"),
    }
}

async fn verify(
    store: &Store,
    settings: &Settings,
    checkpoint: Option<&Path>,
) -> anyhow::Result<()> {
    let report = verified(store).await?;
    println!(
        "ledger verified: {} entries, {} balances, head {} {}",
        report.entries, report.balances, report.head.sequence, report.head.hash
    );
    let Some(path) = checkpoint else {
        return Ok(());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let held: SignedCheckpoint = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a ledger checkpoint", path.display()))?;
    let ours = signing_key(&settings.ledger_signing_key_file)?.public_key_hex();
    held.verify_signature(Some(&ours))
        .context("the checkpoint's signature is not valid for this gateway's ledger signing key")?;
    let sequence = held.checkpoint.sequence;
    if sequence > report.head.sequence {
        bail!("ledger verification FAILED: the checkpoint names entry {sequence}, but the ledger ends at {} (history was truncated)", report.head.sequence);
    }
    let stored = if sequence == 0 {
        Some(portcullis_ledger::chain::GENESIS_HASH.to_owned())
    } else {
        store.ledger_hash_at(sequence).await?
    };
    if stored.as_deref() != Some(held.checkpoint.hash.as_str()) {
        bail!("ledger verification FAILED: entry {sequence} no longer has the checkpoint's hash {} (history was rewritten)", held.checkpoint.hash);
    }
    println!(
        "checkpoint holds: entry {sequence} still has hash {}",
        held.checkpoint.hash
    );
    Ok(())
}

async fn checkpoint(store: &Store, settings: &Settings, out: Option<&Path>) -> anyhow::Result<()> {
    let report = verified(store).await?;
    let key = signing_key(&settings.ledger_signing_key_file)?;
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let signed = key.sign(Checkpoint {
        sequence: report.head.sequence,
        hash: report.head.hash,
        created,
    });
    let json = serde_json::to_string_pretty(&signed)?;
    match out {
        Some(path) => std::fs::write(path, format!("{json}\n"))
            .with_context(|| format!("writing {}", path.display()))?,
        None => println!("{json}"),
    }
    Ok(())
}

/// The checkpoint signing key, made (mode 0600) on first use.
fn signing_key(path: &Path) -> anyhow::Result<SigningKey> {
    if !path.exists() {
        let pkcs8 = SigningKey::generate_pkcs8().map_err(|e| anyhow::anyhow!("{e}"))?;
        write_private(path, hex::encode(pkcs8).as_bytes())?;
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let pkcs8 =
        hex::decode(text.trim()).with_context(|| format!("{} must hold hex", path.display()))?;
    SigningKey::from_pkcs8(&pkcs8).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}
