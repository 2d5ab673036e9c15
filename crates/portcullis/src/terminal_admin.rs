//! `portcullis terminal create/list/revoke`: ISO 8583 terminals of a
//! merchant. The MAC key is printed once, at creation, and stored sealed by
//! the vault's key-encrypting key (so `vault rotate-key` re-wraps it).

use crate::admin::{existing_merchant, now_s, open_store};
use crate::cli::TerminalCommand;
use crate::settings::Settings;
use anyhow::bail;
use portcullis_api::terminals::registry;
use portcullis_store::Store;
use portcullis_vault::Vault;
use serde_json::json;

pub async fn run(settings: &Settings, command: TerminalCommand) -> anyhow::Result<()> {
    let store = open_store(settings, crate::secrets::KeyHashUse::ChecksOnly).await?;
    let result = run_on(settings, &store, command).await;
    store.close().await;
    result
}

async fn run_on(
    settings: &Settings,
    store: &Store,
    command: TerminalCommand,
) -> anyhow::Result<()> {
    let failed = |err: portcullis_api::error::ApiError| anyhow::anyhow!(err.message);
    match command {
        TerminalCommand::Create { merchant, json } => {
            let merchant_id = existing_merchant(store, &merchant).await?;
            let keyring = crate::vault_admin::load_for_serving(store, settings).await?;
            let vault = Vault::new(keyring);
            let created = registry::create(store, &vault, &merchant_id, now_s())
                .await
                .map_err(failed)?;
            let terminal = &created.terminal;
            if json {
                println!(
                    "{}",
                    json!({
                        "terminal_id": terminal.terminal_id,
                        "card_acceptor_id": terminal.card_acceptor_id,
                        "merchant": terminal.merchant,
                        "mac_key": created.mac_key_hex.as_str(),
                    })
                );
            } else {
                println!("terminal {} of {}", terminal.terminal_id, terminal.merchant);
                println!("  card acceptor id: {}", terminal.card_acceptor_id);
                println!("  MAC key (shown once): {}", created.mac_key_hex.as_str());
            }
            Ok(())
        }
        TerminalCommand::List { merchant, json } => {
            let merchant_id = existing_merchant(store, &merchant).await?;
            for terminal in registry::list(store, &merchant_id).await.map_err(failed)? {
                if json {
                    println!("{}", terminal.listing());
                } else {
                    let status = if terminal.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    println!(
                        "{}\t{}\t{}\t{status}",
                        terminal.terminal_id, terminal.card_acceptor_id, terminal.created
                    );
                }
            }
            Ok(())
        }
        TerminalCommand::Revoke { terminal_id } => {
            if !registry::revoke(store, &terminal_id, now_s())
                .await
                .map_err(failed)?
            {
                bail!("no terminal {terminal_id}");
            }
            println!("terminal {terminal_id} revoked");
            Ok(())
        }
    }
}
