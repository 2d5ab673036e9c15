//! `portcullis user create --merchant acct_… --email … --role …`: a
//! merchant dashboard user, pending until its one-time activation link
//! (printed here, valid seven days) is followed and a password chosen.

use crate::admin::{existing_merchant, now_s, open_store};
use crate::cli::UserCommand;
use crate::secrets::{self, KeyHashUse};
use crate::settings::Settings;
use anyhow::bail;
use portcullis_api::dashboard::users::{self, Role};

pub async fn run(settings: &Settings, command: UserCommand) -> anyhow::Result<()> {
    let UserCommand::Create {
        merchant,
        email,
        role,
        json,
    } = command;
    let Some(role) = Role::parse(&role) else {
        bail!("--role must be owner, developer, analyst or support");
    };
    let store = open_store(settings, KeyHashUse::HashesKeys).await?;
    let result = async {
        let merchant_id = existing_merchant(&store, &merchant).await?;
        let hasher =
            secrets::key_hash_secret(settings.key_hash_secret_hex.as_deref(), &settings.data_dir)?;
        let (user, token) =
            users::create(&store, &hasher, &merchant_id, &email, role, now_s()).await?;
        let link = format!("{}/dashboard/activate?token={token}", base_url(settings));
        tracing::info!(user = %user.id, merchant_id = %merchant_id, role = role.as_str(), "dashboard user created");
        if json {
            println!(
                "{}",
                serde_json::json!({"id": user.id, "merchant": merchant_id, "email": user.email,
                    "role": role.as_str(), "activation_link": link, "expires_at": user.activation_expires_at})
            );
        } else {
            println!("dashboard user {} ({}, {})", user.id, user.email, role.as_str());
            println!("  activation link (shown once, valid 7 days): {link}");
        }
        Ok(())
    }
    .await;
    store.close().await;
    result
}

/// `public_url`, else the address `serve` listens on.
fn base_url(settings: &Settings) -> String {
    if let Some(url) = &settings.api.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    match settings.listen.parse() {
        Ok(address) => crate::serve::own_url(settings, address),
        Err(_) => format!("http://{}", settings.listen),
    }
}
