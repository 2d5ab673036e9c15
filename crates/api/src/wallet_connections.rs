//! Connecting to the wallet provider of a connector account: the
//! account's endpoint is checked again at connect time as webhook targets
//! are (a literal address, or every address its name resolves to, must be
//! public unless `--connectors-allow-private-endpoints`), and the HTTP
//! client resolves names only through the checked resolver, so a DNS
//! answer that changes after the check cannot reach a private address.
//! Redirects are never followed. The clients themselves (signing,
//! verification, timeouts) are `portcullis_connectors::wallets`.

use crate::webhooks::targets::{self, CheckedResolver, TargetError};
use portcullis_connectors::wallets::alipay::{AlipayClient, AlipayCredentials};
use portcullis_connectors::wallets::wechat_pay::{WechatPayClient, WechatPayCredentials};
use portcullis_connectors::wallets::WalletCallError;
use portcullis_domain::connector_accounts::{ConnectorAccount, ConnectorType};
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use zeroize::Zeroizing;

/// Idle connections kept per provider host.
const IDLE_PER_HOST_MAX: usize = 8;

/// A connected provider client.
pub enum WalletConnection {
    Alipay(AlipayClient),
    WechatPay(WechatPayClient),
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("the account's endpoint is refused: {0}")]
    Endpoint(#[from] TargetError),
    #[error("the account has no credentials[{0}]")]
    MissingCredential(&'static str),
    #[error("the account has no endpoint")]
    NoEndpoint,
    #[error("the account is not a wallet provider's")]
    NotAWallet,
    #[error("the account's credentials are unusable: {0}")]
    Credentials(#[from] WalletCallError),
}

/// What a connection needs besides the account.
pub struct ConnectOptions<'a> {
    /// `--connectors-allow-private-endpoints`.
    pub allow_private: bool,
    /// The bound of each provider call.
    pub call_timeout: Duration,
    /// `public_url`, before the account's `notify_path`.
    pub notify_base_url: &'a str,
}

/// The HTTP client for provider calls (one per private-address policy).
fn http_client(allow_private: bool) -> reqwest::Client {
    static PUBLIC_ONLY: OnceLock<reqwest::Client> = OnceLock::new();
    static PRIVATE_ALLOWED: OnceLock<reqwest::Client> = OnceLock::new();
    let cell = if allow_private {
        &PRIVATE_ALLOWED
    } else {
        &PUBLIC_ONLY
    };
    cell.get_or_init(|| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(CheckedResolver { allow_private }))
            .pool_max_idle_per_host(IDLE_PER_HOST_MAX)
            .build()
            .expect("the wallet HTTP client builds")
    })
    .clone()
}

/// Connects to `account`'s provider with its opened secret `secrets`.
pub async fn connect(
    account: &ConnectorAccount,
    secrets: &BTreeMap<String, String>,
    options: &ConnectOptions<'_>,
) -> Result<WalletConnection, ConnectError> {
    let endpoint = account.endpoint.as_ref().ok_or(ConnectError::NoEndpoint)?;
    let url = endpoint.url().ok_or(ConnectError::NoEndpoint)?;
    targets::check_url(url, options.allow_private).await?;
    let http = http_client(options.allow_private);
    let endpoint = endpoint.base();
    let notify_url = format!(
        "{}{}",
        options.notify_base_url.trim_end_matches('/'),
        account.kind.notify_path(&account.id)
    );
    Ok(match account.kind {
        ConnectorType::Alipay => {
            let credentials = alipay_credentials(account, secrets)?;
            WalletConnection::Alipay(AlipayClient::new(
                http,
                &endpoint,
                credentials,
                &notify_url,
                options.call_timeout,
            )?)
        }
        ConnectorType::WechatPay => {
            let credentials = wechat_pay_credentials(account, secrets)?;
            WalletConnection::WechatPay(WechatPayClient::new(
                http,
                &endpoint,
                credentials,
                &notify_url,
                options.call_timeout,
            )?)
        }
        ConnectorType::Sandbox
        | ConnectorType::Iso8583
        | ConnectorType::Processor
        | ConnectorType::Stripe => return Err(ConnectError::NotAWallet),
    })
}

/// Credential `name` of `account`: shown, or opened from `secrets`.
fn credential(
    account: &ConnectorAccount,
    secrets: &BTreeMap<String, String>,
    name: &'static str,
) -> Result<String, ConnectError> {
    account
        .shown_credentials
        .get(name)
        .or_else(|| secrets.get(name))
        .cloned()
        .ok_or(ConnectError::MissingCredential(name))
}

/// An Alipay account's credentials (also what verifies its notifications).
pub fn alipay_credentials(
    account: &ConnectorAccount,
    secrets: &BTreeMap<String, String>,
) -> Result<AlipayCredentials, ConnectError> {
    let get = |name| credential(account, secrets, name);
    Ok(AlipayCredentials {
        app_id: get("app_id")?,
        private_key_pem: Zeroizing::new(get("private_key")?),
        alipay_public_key_pem: get("alipay_public_key")?,
    })
}

/// A WeChat Pay account's credentials (also what verifies and decrypts
/// its notifications).
pub fn wechat_pay_credentials(
    account: &ConnectorAccount,
    secrets: &BTreeMap<String, String>,
) -> Result<WechatPayCredentials, ConnectError> {
    let get = |name| credential(account, secrets, name);
    Ok(WechatPayCredentials {
        mchid: get("mchid")?,
        appid: get("appid")?,
        private_key_pem: Zeroizing::new(get("private_key")?),
        certificate_serial: get("certificate_serial")?,
        api_v3_key: Zeroizing::new(get("api_v3_key")?),
        platform_public_key_pem: get("platform_public_key")?,
        platform_serial: get("platform_serial")?,
        api_v2_key: get("api_v2_key").ok().map(Zeroizing::new),
    })
}
