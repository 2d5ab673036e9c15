//! Connector accounts (`ca_…`): a merchant's credentials at an institution
//! (a wallet provider today; acquirers and processors later), the endpoint
//! where that institution is reached, and which fields of the credentials
//! are secret. Secret credentials are sealed by the caller (the vault) and
//! never leave the server again: the account shows them only as `"set"`.

use crate::card_connectors::{CardRouting, CardRoutingChanges};
use crate::metadata::{Metadata, MetadataError, MetadataUpdate};
use crate::webhooks::WebhookUrl;
use crate::UnixSeconds;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const CONNECTOR_ACCOUNT_ID_PREFIX: &str = "ca";
/// Longest credential value accepted (a PEM RSA-4096 key fits easily).
pub const CREDENTIAL_CHARS_MAX: usize = 8192;
/// Length of WeChat Pay's API v3 key (the AES-256-GCM key, as text).
pub const API_V3_KEY_CHARS: usize = 32;

/// The institution an account connects to: a wallet provider, or a card
/// institution that routing chooses among (`sandbox`, `iso8583`,
/// `processor`, `stripe`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectorType {
    Alipay,
    WechatPay,
    /// The built-in sandbox acquirer (test mode only).
    Sandbox,
    /// An ISO 8583 acquirer host at `endpoint` (`host:port`), with the
    /// merchant's acceptor ids as credentials.
    Iso8583,
    /// An HTTP card processor of our published protocol
    /// (`portcullis processor-sim`).
    Processor,
    /// Stripe (or another gateway speaking its API) as an upstream.
    Stripe,
}

/// Whether an account's institution needs an `endpoint`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointRule {
    /// Optional; this URL when not given.
    Default(&'static str),
    /// The account must name one (an `http`/`https` URL).
    Required,
    /// The account must name a TCP address, `host:port`.
    Address,
    /// The institution is reached otherwise; an endpoint is refused.
    None,
}

/// Whether a credential is shown back (an identifier) or only as `"set"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exposure {
    /// An identifier such as `app_id`: shown in the clear, stored in the clear.
    Shown,
    /// Key material: sealed, shown as `"set"`.
    Sealed,
}

/// One field of `credentials[…]` for a type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CredentialField {
    pub name: &'static str,
    pub exposure: Exposure,
    pub required: bool,
    /// What the value must look like.
    pub shape: Shape,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Printable ASCII without spaces, at most this many characters.
    Token(usize),
    /// A PEM private key (`-----BEGIN … PRIVATE KEY-----`).
    PemPrivateKey,
    /// A PEM public key (`-----BEGIN … PUBLIC KEY-----`).
    PemPublicKey,
    /// Exactly this many printable ASCII characters.
    Exactly(usize),
    /// Between this many and that many ASCII digits.
    Digits(usize, usize),
    /// One of these words.
    OneOf(&'static [&'static str]),
}

const fn field(name: &'static str, exposure: Exposure, shape: Shape) -> CredentialField {
    CredentialField {
        name,
        exposure,
        required: true,
        shape,
    }
}

const ALIPAY_FIELDS: &[CredentialField] = &[
    field("app_id", Exposure::Shown, Shape::Token(32)),
    field("private_key", Exposure::Sealed, Shape::PemPrivateKey),
    field("alipay_public_key", Exposure::Sealed, Shape::PemPublicKey),
];

const WECHAT_PAY_FIELDS: &[CredentialField] = &[
    field("mchid", Exposure::Shown, Shape::Token(32)),
    field("appid", Exposure::Shown, Shape::Token(32)),
    field("private_key", Exposure::Sealed, Shape::PemPrivateKey),
    field("certificate_serial", Exposure::Shown, Shape::Token(64)),
    field(
        "api_v3_key",
        Exposure::Sealed,
        Shape::Exactly(API_V3_KEY_CHARS),
    ),
    field("platform_public_key", Exposure::Sealed, Shape::PemPublicKey),
    field("platform_serial", Exposure::Shown, Shape::Token(64)),
    CredentialField {
        name: "api_v2_key",
        exposure: Exposure::Sealed,
        required: false,
        shape: Shape::Exactly(API_V3_KEY_CHARS),
    },
];

const fn optional(name: &'static str, exposure: Exposure, shape: Shape) -> CredentialField {
    CredentialField {
        name,
        exposure,
        required: false,
        shape,
    }
}

/// The acceptor ids every ISO 8583 message carries (DE 32, 42, 41, 18), the
/// codec profile and framing of the host.
const ISO8583_FIELDS: &[CredentialField] = &[
    field("acquirer_id", Exposure::Shown, Shape::Digits(1, 11)),
    field("card_acceptor_id", Exposure::Shown, Shape::Exactly(15)),
    field("terminal_id", Exposure::Shown, Shape::Exactly(8)),
    optional(
        "merchant_category_code",
        Exposure::Shown,
        Shape::Digits(4, 4),
    ),
    optional("profile", Exposure::Shown, Shape::OneOf(ISO8583_PROFILES)),
    optional("framing", Exposure::Shown, Shape::OneOf(ISO8583_FRAMINGS)),
];

/// The ISO 8583 codec profiles an account may name (`default` when not).
pub const ISO8583_PROFILES: &[&str] = &["default", "default_ascii"];
/// The ISO 8583 framings an account may name (`binary2` when not).
pub const ISO8583_FRAMINGS: &[&str] = &["binary2", "ascii4"];

const PROCESSOR_FIELDS: &[CredentialField] =
    &[field("secret", Exposure::Sealed, Shape::Token(256))];

const STRIPE_FIELDS: &[CredentialField] = &[
    field("secret_key", Exposure::Sealed, Shape::Token(256)),
    CredentialField {
        name: "webhook_secret",
        exposure: Exposure::Sealed,
        required: false,
        shape: Shape::Token(256),
    },
];

impl ConnectorType {
    const ALL: [ConnectorType; 6] = [
        Self::Alipay,
        Self::WechatPay,
        Self::Sandbox,
        Self::Iso8583,
        Self::Processor,
        Self::Stripe,
    ];

    pub fn parse(text: &str) -> Result<Self, ConnectorAccountError> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or(ConnectorAccountError::Type)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Alipay => "alipay",
            Self::WechatPay => "wechat_pay",
            Self::Sandbox => "sandbox",
            Self::Iso8583 => "iso8583",
            Self::Processor => "processor",
            Self::Stripe => "stripe",
        }
    }

    /// True for the institutions that take card payments (routing's
    /// candidates), false for wallets.
    pub fn takes_cards(self) -> bool {
        !matches!(self, Self::Alipay | Self::WechatPay)
    }

    /// True when the institution moves real money, so a live-mode account
    /// of it may serve live payments (the sandbox never does).
    pub fn is_real_institution(self) -> bool {
        self != Self::Sandbox
    }

    /// Whether `endpoint` applies, and its default.
    pub fn endpoint_rule(self) -> EndpointRule {
        match self {
            Self::Alipay => EndpointRule::Default("https://openapi.alipay.com"),
            Self::WechatPay => EndpointRule::Default("https://api.mch.weixin.qq.com"),
            Self::Stripe => EndpointRule::Default("https://api.stripe.com"),
            Self::Processor => EndpointRule::Required,
            Self::Iso8583 => EndpointRule::Address,
            Self::Sandbox => EndpointRule::None,
        }
    }

    /// The fields `credentials[…]` takes for this type.
    pub fn credential_fields(self) -> &'static [CredentialField] {
        match self {
            Self::Alipay => ALIPAY_FIELDS,
            Self::WechatPay => WECHAT_PAY_FIELDS,
            Self::Sandbox => &[],
            Self::Iso8583 => ISO8583_FIELDS,
            Self::Processor => PROCESSOR_FIELDS,
            Self::Stripe => STRIPE_FIELDS,
        }
    }

    fn credential_field(self, name: &str) -> Option<&'static CredentialField> {
        self.credential_fields().iter().find(|f| f.name == name)
    }

    /// The path of our notification receiver for an account of this type.
    pub fn notify_path(self, account_id: &str) -> String {
        format!("/notify/{}/{account_id}", self.as_str())
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorAccountError {
    #[error(
        "Invalid type: must be one of alipay, wechat_pay, sandbox, iso8583, processor, stripe."
    )]
    Type,
    #[error("Missing required param: endpoint (an account of type {0} names where its institution is reached).")]
    MissingEndpoint(&'static str),
    #[error("Invalid endpoint: an account of type {0} has no endpoint.")]
    EndpointNotApplicable(&'static str),
    #[error("Invalid {0}: routing settings apply to card connector types only (sandbox, iso8583, processor, stripe).")]
    NotCardType(&'static str),
    #[error("Invalid livemode: a sandbox account serves test mode only; use a test key.")]
    SandboxLive,
    #[error("{0}")]
    Routing(#[from] crate::card_connectors::CardRoutingError),
    #[error("Invalid endpoint: must be an absolute http or https URL with a host, without user or password.")]
    Endpoint,
    #[error("Invalid endpoint: an account of type {0} is reached at a TCP address, host:port (for example 10.0.0.5:9583).")]
    EndpointAddress(&'static str),
    #[error("Unknown credential credentials[{field}] for type {kind}.")]
    UnknownCredential { kind: &'static str, field: String },
    #[error("Missing required credential credentials[{0}].")]
    MissingCredential(&'static str),
    #[error("Invalid credentials[{field}]: {reason}.")]
    InvalidCredential { field: String, reason: String },
    #[error("{0}")]
    Metadata(#[from] MetadataError),
}

impl ConnectorAccountError {
    /// The request parameter at fault.
    pub fn param(&self) -> String {
        match self {
            Self::Type => "type".to_owned(),
            Self::Endpoint
            | Self::EndpointAddress(_)
            | Self::MissingEndpoint(_)
            | Self::EndpointNotApplicable(_) => "endpoint".to_owned(),
            Self::NotCardType(param) => (*param).to_owned(),
            Self::SandboxLive => "type".to_owned(),
            Self::Routing(err) => err.param(),
            Self::UnknownCredential { field, .. } | Self::InvalidCredential { field, .. } => {
                format!("credentials[{field}]")
            }
            Self::MissingCredential(field) => format!("credentials[{field}]"),
            Self::Metadata(err) => err.param(),
        }
    }
}

/// Credentials as given, split by exposure once checked for their type:
/// `shown` is stored and rendered in the clear, `sealed` goes to the vault.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub shown: BTreeMap<String, String>,
    pub sealed: BTreeMap<String, String>,
}

/// Never prints a value: only the names.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("shown", &self.shown.keys().collect::<Vec<_>>())
            .field("sealed", &self.sealed.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Credentials {
    /// Splits `given` by the fields of `kind`, refusing unknown names and
    /// values of the wrong shape. Required fields are checked by
    /// [`Credentials::check_complete`], after an update has merged.
    pub fn parse(
        kind: ConnectorType,
        given: BTreeMap<String, String>,
    ) -> Result<Self, ConnectorAccountError> {
        let mut credentials = Credentials::default();
        for (name, value) in given {
            let Some(field) = kind.credential_field(&name) else {
                return Err(ConnectorAccountError::UnknownCredential {
                    kind: kind.as_str(),
                    field: name,
                });
            };
            check_shape(field, &value)?;
            match field.exposure {
                Exposure::Shown => credentials.shown.insert(name, value),
                Exposure::Sealed => credentials.sealed.insert(name, value),
            };
        }
        Ok(credentials)
    }

    /// `self` with every field of `newer` replacing its own.
    pub fn merged(&self, newer: &Credentials) -> Credentials {
        let mut merged = self.clone();
        merged.shown.extend(newer.shown.clone());
        merged.sealed.extend(newer.sealed.clone());
        merged
    }

    /// Refuses credentials that lack a field `kind` requires.
    pub fn check_complete(&self, kind: ConnectorType) -> Result<(), ConnectorAccountError> {
        for field in kind.credential_fields().iter().filter(|f| f.required) {
            let present = match field.exposure {
                Exposure::Shown => self.shown.contains_key(field.name),
                Exposure::Sealed => self.sealed.contains_key(field.name),
            };
            if !present {
                return Err(ConnectorAccountError::MissingCredential(field.name));
            }
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.shown
            .get(name)
            .or_else(|| self.sealed.get(name))
            .map(String::as_str)
    }
}

fn check_shape(field: &CredentialField, value: &str) -> Result<(), ConnectorAccountError> {
    let invalid = |reason: String| ConnectorAccountError::InvalidCredential {
        field: field.name.to_owned(),
        reason,
    };
    let printable = |text: &str| text.bytes().all(|b| b.is_ascii_graphic());
    match field.shape {
        Shape::Token(max) if value.is_empty() || value.len() > max || !printable(value) => {
            Err(invalid(format!(
                "must be 1 to {max} printable characters without spaces"
            )))
        }
        Shape::Exactly(len) if value.len() != len || !printable(value) => Err(invalid(format!(
            "must be exactly {len} printable characters"
        ))),
        Shape::Digits(min, max)
            if value.len() < min
                || value.len() > max
                || !value.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Err(invalid(match min == max {
                true => format!("must be {min} digits"),
                false => format!("must be {min} to {max} digits"),
            }))
        }
        Shape::OneOf(words) if !words.contains(&value) => {
            Err(invalid(format!("must be one of {}", words.join(", "))))
        }
        Shape::PemPrivateKey if !is_pem(value, "PRIVATE KEY") => Err(invalid(
            "must be a PEM private key (PKCS#8 or PKCS#1)".to_owned(),
        )),
        Shape::PemPublicKey if !is_pem(value, "PUBLIC KEY") => {
            Err(invalid("must be a PEM public key".to_owned()))
        }
        _ if value.len() > CREDENTIAL_CHARS_MAX => Err(invalid(format!(
            "must be at most {CREDENTIAL_CHARS_MAX} characters"
        ))),
        _ => Ok(()),
    }
}

/// True when `text` is one PEM block whose label ends with `label`
/// (`PRIVATE KEY` matches both `PRIVATE KEY` and `RSA PRIVATE KEY`).
fn is_pem(text: &str, label: &str) -> bool {
    let text = text.trim();
    let Some(rest) = text.strip_prefix("-----BEGIN ") else {
        return false;
    };
    let Some((begin_label, _)) = rest.split_once("-----") else {
        return false;
    };
    begin_label.ends_with(label) && text.ends_with(&format!("-----END {begin_label}-----"))
}

/// Where an account's institution is reached: an absolute http(s) URL
/// without credentials, kept without a trailing slash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Endpoint(Target);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Target {
    Url(WebhookUrl),
    Address(Address),
}

/// A TCP address, `host:port`: a DNS name, an IPv4 literal or a bracketed
/// IPv6 literal, and a port other than 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    host: String,
    port: u16,
}

/// Longest DNS name accepted as an address's host.
const HOST_CHARS_MAX: usize = 253;

impl Address {
    fn parse(text: &str) -> Option<Address> {
        let (host, port) = text.rsplit_once(':')?;
        let port: u16 = port.parse().ok().filter(|port| *port != 0)?;
        let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(v6) => v6.parse::<std::net::Ipv6Addr>().ok()?.to_string(),
            None => {
                let valid = !host.is_empty()
                    && host.len() <= HOST_CHARS_MAX
                    && host
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
                valid.then(|| host.to_ascii_lowercase())?
            }
        };
        Some(Address { host, port })
    }

    /// The host, IPv6 literals without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    fn text(&self) -> String {
        match self.host.contains(':') {
            true => format!("[{}]:{}", self.host, self.port),
            false => format!("{}:{}", self.host, self.port),
        }
    }
}

impl Endpoint {
    /// An `http`/`https` URL, or a TCP address `host:port` (no scheme).
    pub fn parse(text: &str) -> Result<Self, ConnectorAccountError> {
        if !text.contains("://") {
            if let Some(address) = Address::parse(text) {
                return Ok(Self(Target::Address(address)));
            }
        }
        let trimmed = text.trim_end_matches('/');
        let url = WebhookUrl::parse(trimmed).map_err(|_| ConnectorAccountError::Endpoint)?;
        Ok(Self(Target::Url(url)))
    }

    /// The URL as a webhook target, for the private-address check; `None`
    /// for a TCP address.
    pub fn url(&self) -> Option<&WebhookUrl> {
        match &self.0 {
            Target::Url(url) => Some(url),
            Target::Address(_) => None,
        }
    }

    /// The TCP address; `None` for a URL.
    pub fn address(&self) -> Option<&Address> {
        match &self.0 {
            Target::Address(address) => Some(address),
            Target::Url(_) => None,
        }
    }

    /// The base URL without a trailing slash, so paths can be appended, or
    /// the address as `host:port`.
    pub fn base(&self) -> String {
        match &self.0 {
            Target::Url(url) => url.as_str().trim_end_matches('/').to_owned(),
            Target::Address(address) => address.text(),
        }
    }
}

impl TryFrom<String> for Endpoint {
    type Error = ConnectorAccountError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<Endpoint> for String {
    fn from(endpoint: Endpoint) -> String {
        endpoint.base()
    }
}

/// The endpoint of a `kind` account given `asked`, by the type's rule.
fn endpoint_for(
    kind: ConnectorType,
    asked: Option<&Endpoint>,
) -> Result<Option<Endpoint>, ConnectorAccountError> {
    match (kind.endpoint_rule(), asked) {
        (EndpointRule::None, None) => Ok(None),
        (EndpointRule::None, Some(_)) => {
            Err(ConnectorAccountError::EndpointNotApplicable(kind.as_str()))
        }
        (EndpointRule::Required | EndpointRule::Address, None) => {
            Err(ConnectorAccountError::MissingEndpoint(kind.as_str()))
        }
        (EndpointRule::Default(default), None) => Endpoint::parse(default).map(Some),
        (EndpointRule::Address, Some(endpoint)) => match endpoint.address() {
            Some(_) => Ok(Some(endpoint.clone())),
            None => Err(ConnectorAccountError::EndpointAddress(kind.as_str())),
        },
        (_, Some(endpoint)) => match endpoint.url() {
            Some(_) => Ok(Some(endpoint.clone())),
            None => Err(ConnectorAccountError::Endpoint),
        },
    }
}

/// The routing settings of a `kind` account: `current` changed, or the
/// defaults; none for wallets, which refuse them.
fn routing_for(
    kind: ConnectorType,
    current: Option<&CardRouting>,
    changes: &CardRoutingChanges,
) -> Result<Option<CardRouting>, ConnectorAccountError> {
    if !kind.takes_cards() {
        return match changes.is_empty() {
            true => Ok(None),
            false => Err(ConnectorAccountError::NotCardType(changes.first_named())),
        };
    }
    Ok(Some(current.cloned().unwrap_or_default().changed(changes)))
}

/// A connector account as stored: everything but the sealed credentials,
/// which the caller keeps beside it (their names are `sealed_names`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorAccount {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: ConnectorType,
    /// Absent for the types reached otherwise (`sandbox`, `iso8583`).
    #[serde(default)]
    pub endpoint: Option<Endpoint>,
    pub livemode: bool,
    pub created: UnixSeconds,
    pub metadata: Metadata,
    /// Identifiers shown in the clear.
    pub shown_credentials: BTreeMap<String, String>,
    /// Names of the credentials held sealed.
    pub sealed_names: Vec<String>,
    #[serde(default)]
    pub deleted: bool,
    /// Card types only: what routing may send to this account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<CardRouting>,
}

/// What a create or update asks for; `None` keeps the current value.
#[derive(Clone, Debug, Default)]
pub struct AccountChanges {
    pub endpoint: Option<Endpoint>,
    pub credentials: Credentials,
    pub metadata: Option<MetadataUpdate>,
    /// `enabled`, `card_brands[]`, `currencies[]`, `priority`.
    pub routing: CardRoutingChanges,
}

impl ConnectorAccount {
    /// A new account of `kind`; `credentials` must be complete.
    pub fn create(
        kind: ConnectorType,
        changes: &AccountChanges,
        livemode: bool,
        now: UnixSeconds,
    ) -> Result<Self, ConnectorAccountError> {
        let routing = routing_for(kind, None, &changes.routing)?;
        changes.credentials.check_complete(kind)?;
        if kind == ConnectorType::Sandbox && livemode {
            return Err(ConnectorAccountError::SandboxLive);
        }
        let endpoint = endpoint_for(kind, changes.endpoint.as_ref())?;
        let metadata = match &changes.metadata {
            Some(update) => Metadata::default().updated(update)?,
            None => Metadata::default(),
        };
        Ok(Self {
            id: crate::ids::new_id(CONNECTOR_ACCOUNT_ID_PREFIX),
            kind,
            endpoint,
            livemode,
            created: now,
            metadata,
            shown_credentials: changes.credentials.shown.clone(),
            sealed_names: changes.credentials.sealed.keys().cloned().collect(),
            deleted: false,
            routing,
        })
    }

    /// The account after `changes`, whose credentials are the complete
    /// merged set (see [`Credentials::merged`]).
    pub fn updated(
        &self,
        changes: &AccountChanges,
        merged: &Credentials,
    ) -> Result<Self, ConnectorAccountError> {
        merged.check_complete(self.kind)?;
        let mut updated = self.clone();
        if let Some(endpoint) = &changes.endpoint {
            updated.endpoint = endpoint_for(self.kind, Some(endpoint))?;
        }
        updated.routing = routing_for(self.kind, self.routing.as_ref(), &changes.routing)?;
        if let Some(update) = &changes.metadata {
            updated.metadata = self.metadata.updated(update)?;
        }
        updated.shown_credentials = merged.shown.clone();
        updated.sealed_names = merged.sealed.keys().cloned().collect();
        Ok(updated)
    }

    pub fn deleted(&self) -> Self {
        Self {
            deleted: true,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIVATE: &str = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n";
    const PUBLIC: &str = "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----";

    fn given(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn alipay_credentials_split_into_shown_and_sealed() {
        let credentials = Credentials::parse(
            ConnectorType::Alipay,
            given(&[
                ("app_id", "2021000000000001"),
                ("private_key", PRIVATE),
                ("alipay_public_key", PUBLIC),
            ]),
        )
        .unwrap();
        assert_eq!(credentials.shown.keys().collect::<Vec<_>>(), ["app_id"]);
        assert_eq!(
            credentials.sealed.keys().collect::<Vec<_>>(),
            ["alipay_public_key", "private_key"]
        );
        credentials.check_complete(ConnectorType::Alipay).unwrap();
        assert!(!format!("{credentials:?}").contains("MIIE"));
    }

    #[test]
    fn wrong_names_shapes_and_missing_fields_are_refused() {
        let unknown = Credentials::parse(ConnectorType::Alipay, given(&[("mchid", "1")]));
        assert_eq!(unknown.unwrap_err().param(), "credentials[mchid]");
        let short = Credentials::parse(ConnectorType::WechatPay, given(&[("api_v3_key", "abc")]));
        assert_eq!(short.unwrap_err().param(), "credentials[api_v3_key]");
        let not_pem = Credentials::parse(ConnectorType::Alipay, given(&[("private_key", PUBLIC)]));
        assert_eq!(not_pem.unwrap_err().param(), "credentials[private_key]");
        let partial =
            Credentials::parse(ConnectorType::Alipay, given(&[("app_id", "2021")])).unwrap();
        assert_eq!(
            partial.check_complete(ConnectorType::Alipay).unwrap_err(),
            ConnectorAccountError::MissingCredential("private_key")
        );
    }

    #[test]
    fn api_v2_key_is_optional_for_wechat_pay() {
        let fields = ConnectorType::WechatPay.credential_fields();
        let required: Vec<_> = fields
            .iter()
            .filter(|f| f.required)
            .map(|f| f.name)
            .collect();
        assert!(!required.contains(&"api_v2_key"));
        assert_eq!(required.len(), 7);
    }

    #[test]
    fn card_types_follow_their_endpoint_rule_and_the_sandbox_stays_in_test_mode() {
        let create = |kind, pairs: &[(&str, &str)], endpoint: Option<&str>, live| {
            let changes = AccountChanges {
                endpoint: endpoint.map(|e| Endpoint::parse(e).unwrap()),
                credentials: Credentials::parse(kind, given(pairs)).unwrap(),
                ..AccountChanges::default()
            };
            ConnectorAccount::create(kind, &changes, live, 1)
        };
        let secret = [("secret", "s3cret")];
        let processor = create(
            ConnectorType::Processor,
            &secret,
            Some("http://127.0.0.1:9"),
            true,
        )
        .unwrap();
        assert_eq!(processor.routing, Some(CardRouting::default()));
        assert_eq!(processor.sealed_names, ["secret"]);
        assert_eq!(
            create(ConnectorType::Processor, &secret, None, false).unwrap_err(),
            ConnectorAccountError::MissingEndpoint("processor")
        );
        let sandbox = create(ConnectorType::Sandbox, &[], None, false).unwrap();
        assert_eq!(sandbox.endpoint, None);
        assert_eq!(
            create(ConnectorType::Sandbox, &[], None, true).unwrap_err(),
            ConnectorAccountError::SandboxLive
        );
        assert_eq!(
            create(
                ConnectorType::Iso8583,
                &[
                    ("acquirer_id", "12345"),
                    ("card_acceptor_id", "MERCHANT0000001"),
                    ("terminal_id", "TERM0001"),
                ],
                Some("http://127.0.0.1:9"),
                false
            )
            .unwrap_err()
            .param(),
            "endpoint"
        );
        let stripe = create(
            ConnectorType::Stripe,
            &[("secret_key", "sk_test_1")],
            None,
            false,
        )
        .unwrap();
        assert_eq!(stripe.endpoint.unwrap().base(), "https://api.stripe.com");
        assert!(!ConnectorType::Alipay.takes_cards());
        assert!(!ConnectorType::Sandbox.is_real_institution());
    }

    #[test]
    fn endpoint_defaults_to_production_and_drops_trailing_slash() {
        let account = ConnectorAccount::create(
            ConnectorType::WechatPay,
            &AccountChanges {
                credentials: Credentials::parse(
                    ConnectorType::WechatPay,
                    given(&[
                        ("mchid", "1900000109"),
                        ("appid", "wxd678efh567hg6787"),
                        ("private_key", PRIVATE),
                        ("certificate_serial", "5157F09EFDC096DE15EBE81A47057A72"),
                        ("api_v3_key", "0123456789abcdef0123456789abcdef"),
                        ("platform_public_key", PUBLIC),
                        ("platform_serial", "PUB_KEY_ID_0114232134912410000"),
                    ]),
                )
                .unwrap(),
                ..AccountChanges::default()
            },
            false,
            1,
        )
        .unwrap();
        let endpoint = account.endpoint.as_ref().unwrap();
        assert_eq!(endpoint.base(), "https://api.mch.weixin.qq.com");
        assert!(account.id.starts_with("ca_"));
        let endpoint = Endpoint::parse("http://127.0.0.1:9/").unwrap();
        assert_eq!(endpoint.base(), "http://127.0.0.1:9");
        assert!(Endpoint::parse("ftp://x").is_err());
    }

    #[test]
    fn an_iso8583_endpoint_is_a_tcp_address_and_others_are_urls() {
        for (text, shown) in [
            ("10.0.0.5:9583", "10.0.0.5:9583"),
            ("Acquirer.Example.com:8583", "acquirer.example.com:8583"),
            ("[::1]:9583", "[::1]:9583"),
        ] {
            let endpoint = Endpoint::parse(text).unwrap();
            assert_eq!(endpoint.base(), shown);
            assert!(endpoint.url().is_none());
            let round_trip: Endpoint = serde_json::from_value(serde_json::json!(shown)).unwrap();
            assert_eq!(round_trip, endpoint);
        }
        for text in [
            "host:0",
            "host:70000",
            ":9583",
            "[nonsense]:1",
            "a b:1",
            "host",
        ] {
            assert!(Endpoint::parse(text).is_err(), "{text}");
        }
        let ids: BTreeMap<String, String> = given(&[
            ("acquirer_id", "12345"),
            ("card_acceptor_id", "MERCHANT0000001"),
            ("terminal_id", "TERM0001"),
        ]);
        let credentials = Credentials::parse(ConnectorType::Iso8583, ids).unwrap();
        let changes = AccountChanges {
            endpoint: Some(Endpoint::parse("10.0.0.5:9583").unwrap()),
            credentials,
            ..AccountChanges::default()
        };
        let account = ConnectorAccount::create(ConnectorType::Iso8583, &changes, false, 0).unwrap();
        assert_eq!(account.endpoint.unwrap().address().unwrap().port(), 9583);
        let as_url = AccountChanges {
            endpoint: Some(Endpoint::parse("https://acquirer.example.com").unwrap()),
            ..changes.clone()
        };
        let refused = ConnectorAccount::create(ConnectorType::Iso8583, &as_url, false, 0);
        assert_eq!(refused.unwrap_err().param(), "endpoint");
        let processor = AccountChanges {
            credentials: Credentials::parse(ConnectorType::Processor, given(&[("secret", "s")]))
                .unwrap(),
            ..changes
        };
        let refused = ConnectorAccount::create(ConnectorType::Processor, &processor, false, 0);
        assert_eq!(refused.unwrap_err().param(), "endpoint");
    }

    #[test]
    fn iso8583_ids_are_checked_for_their_fields() {
        for (name, value) in [
            ("acquirer_id", "12a"),
            ("acquirer_id", "123456789012"),
            ("card_acceptor_id", "SHORT"),
            ("terminal_id", "TERM00012"),
            ("merchant_category_code", "599"),
            ("profile", "ebcdic"),
            ("framing", "ascii2"),
        ] {
            let refused = Credentials::parse(ConnectorType::Iso8583, given(&[(name, value)]));
            assert_eq!(
                refused.unwrap_err().param(),
                format!("credentials[{name}]"),
                "{name}={value}"
            );
        }
    }
}
