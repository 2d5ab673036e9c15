//! Webhook endpoints: where a merchant wants its events sent, which event
//! types, and the secrets deliveries are signed with. Also the pure rules
//! of delivery: the signature ([`signature`]), the retry schedule
//! ([`schedule`]) and which targets are allowed ([`targets`]).

pub mod schedule;
pub mod signature;
pub mod targets;

use crate::customers::Patch;
use crate::ids::random_base62;
use crate::metadata::{Metadata, MetadataError, MetadataUpdate};
use crate::UnixSeconds;
use serde::{Deserialize, Serialize};
pub use targets::WebhookUrl;

pub const ENDPOINT_ID_PREFIX: &str = "we";
pub const SECRET_PREFIX: &str = "whsec_";
const SECRET_RANDOM_CHARS: usize = 32;
/// Most event types one endpoint may list.
pub const ENABLED_EVENTS_MAX: usize = 100;
pub const EVENT_TYPE_CHARS_MAX: usize = 100;
pub const DESCRIPTION_CHARS_MAX: usize = 5000;
/// Most secrets an endpoint holds at once (the current one and rolled
/// ones not yet expired); rolling beyond this drops the oldest.
pub const SECRETS_MAX: usize = 5;
/// Longest time a rolled secret may stay valid.
pub const ROLL_EXPIRY_S_MAX: i64 = 7 * 24 * 3600;
/// Most live (not deleted) endpoints a merchant may have in one mode,
/// Stripe's figure. The database enforces it (migration 0008 repeats it).
pub const ENDPOINTS_MAX: usize = 16;

/// A signing secret, `whsec_…`. Shown once, at creation or roll; `Debug`
/// never prints it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    pub fn generate() -> Self {
        Self(format!(
            "{SECRET_PREFIX}{}",
            random_base62(SECRET_RANDOM_CHARS)
        ))
    }

    /// A secret as it was stored.
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    /// The secret itself: for signing, and for the one answer that shows it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(whsec_…)")
    }
}

/// A secret and, once rolled, when it stops signing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningSecret {
    pub secret: WebhookSecret,
    pub expires_at: Option<UnixSeconds>,
}

/// The event types an endpoint takes: a list of types, or `["*"]` alone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct EnabledEvents(Vec<String>);

impl EnabledEvents {
    pub fn parse(types: Vec<String>) -> Result<Self, WebhookError> {
        let valid = |t: &String| {
            t == "*"
                || (!t.is_empty()
                    && t.len() <= EVENT_TYPE_CHARS_MAX
                    && t.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.'
                    }))
        };
        let wildcard_alone = !types.iter().any(|t| t == "*") || types.len() == 1;
        if types.is_empty()
            || types.len() > ENABLED_EVENTS_MAX
            || !wildcard_alone
            || !types.iter().all(valid)
        {
            return Err(WebhookError::EnabledEvents);
        }
        let mut types = types;
        types.sort();
        types.dedup();
        Ok(Self(types))
    }

    pub fn types(&self) -> &[String] {
        &self.0
    }

    /// The stored column: the types between commas, `,a,b,`, so one type
    /// is found by looking for `,type,`.
    pub fn column_text(&self) -> String {
        format!(",{},", self.0.join(","))
    }

    pub fn takes(&self, event_type: &str) -> bool {
        self.0.iter().any(|t| t == "*" || t == event_type)
    }
}

impl TryFrom<Vec<String>> for EnabledEvents {
    type Error = WebhookError;
    fn try_from(types: Vec<String>) -> Result<Self, WebhookError> {
        Self::parse(types)
    }
}

impl From<EnabledEvents> for Vec<String> {
    fn from(events: EnabledEvents) -> Vec<String> {
        events.0
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("enabled_events must list 1 to {ENABLED_EVENTS_MAX} event types (lowercase letters, digits, '_' and '.'), or be [\"*\"] alone.")]
    EnabledEvents,
    #[error("description may be at most {DESCRIPTION_CHARS_MAX} characters.")]
    DescriptionTooLong,
    #[error("expires_in_s must be between 0 and {ROLL_EXPIRY_S_MAX}.")]
    RollExpiry,
    #[error(transparent)]
    Metadata(#[from] MetadataError),
}

impl WebhookError {
    /// The wire-format parameter the error is about.
    pub fn param(&self) -> String {
        match self {
            WebhookError::EnabledEvents => "enabled_events".to_owned(),
            WebhookError::DescriptionTooLong => "description".to_owned(),
            WebhookError::RollExpiry => "expires_in_s".to_owned(),
            WebhookError::Metadata(err) => err.param(),
        }
    }
}

/// What a create or update request asks for.
#[derive(Clone, Debug, Default)]
pub struct EndpointChanges {
    pub url: Option<WebhookUrl>,
    pub enabled_events: Option<EnabledEvents>,
    pub disabled: Option<bool>,
    pub description: Patch<String>,
    pub metadata: Option<MetadataUpdate>,
    pub api_version: Option<String>,
}

/// A webhook endpoint, stored as-is (secrets included: see README).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    pub id: String,
    pub created: UnixSeconds,
    pub livemode: bool,
    pub url: WebhookUrl,
    pub enabled_events: EnabledEvents,
    pub enabled: bool,
    pub description: Option<String>,
    pub metadata: Metadata,
    pub api_version: Option<String>,
    /// Newest first; the first never expires.
    pub secrets: Vec<SigningSecret>,
    pub deleted: bool,
}

impl WebhookEndpoint {
    /// A new, enabled endpoint with a fresh secret. `url` and
    /// `enabled_events` are required (the caller has checked both exist).
    pub fn create(
        changes: &EndpointChanges,
        url: WebhookUrl,
        enabled_events: EnabledEvents,
        livemode: bool,
        now: UnixSeconds,
    ) -> Result<Self, WebhookError> {
        let blank = Self {
            id: crate::ids::new_id(ENDPOINT_ID_PREFIX),
            created: now,
            livemode,
            url,
            enabled_events,
            enabled: true,
            description: None,
            metadata: Metadata::default(),
            api_version: None,
            secrets: vec![SigningSecret {
                secret: WebhookSecret::generate(),
                expires_at: None,
            }],
            deleted: false,
        };
        blank.updated(changes)
    }

    pub fn updated(&self, changes: &EndpointChanges) -> Result<Self, WebhookError> {
        if matches!(&changes.description, Patch::Set(text) if text.chars().count() > DESCRIPTION_CHARS_MAX)
        {
            return Err(WebhookError::DescriptionTooLong);
        }
        let mut next = self.clone();
        if let Some(url) = &changes.url {
            next.url = url.clone();
        }
        if let Some(events) = &changes.enabled_events {
            next.enabled_events = events.clone();
        }
        if let Some(disabled) = changes.disabled {
            next.enabled = !disabled;
        }
        next.description = match &changes.description {
            Patch::Keep => self.description.clone(),
            Patch::Clear => None,
            Patch::Set(text) => Some(text.clone()),
        };
        if let Some(update) = &changes.metadata {
            next.metadata = self.metadata.updated(update)?;
        }
        if let Some(version) = &changes.api_version {
            next.api_version = Some(version.clone());
        }
        Ok(next)
    }

    /// A new current secret; the others keep signing for `expires_in_s`
    /// more (0 retires them now), never longer than they already would.
    pub fn rolled(&self, now: UnixSeconds, expires_in_s: i64) -> Result<Self, WebhookError> {
        if !(0..=ROLL_EXPIRY_S_MAX).contains(&expires_in_s) {
            return Err(WebhookError::RollExpiry);
        }
        let until = now + expires_in_s;
        let mut next = self.clone();
        let mut secrets = vec![SigningSecret {
            secret: WebhookSecret::generate(),
            expires_at: None,
        }];
        for old in &self.secrets {
            let expires_at = old.expires_at.map_or(until, |at| at.min(until));
            if expires_at > now {
                secrets.push(SigningSecret {
                    secret: old.secret.clone(),
                    expires_at: Some(expires_at),
                });
            }
        }
        secrets.truncate(SECRETS_MAX);
        next.secrets = secrets;
        Ok(next)
    }

    /// The secrets that sign a delivery sent at `now`, newest first.
    pub fn signing_secrets(&self, now: UnixSeconds) -> Vec<&WebhookSecret> {
        self.secrets
            .iter()
            .filter(|s| s.expires_at.is_none_or(|at| at > now))
            .map(|s| &s.secret)
            .collect()
    }

    /// The current secret, shown once after creation or a roll.
    pub fn current_secret(&self) -> &WebhookSecret {
        &self.secrets[0].secret
    }

    pub fn status(&self) -> &'static str {
        if self.enabled {
            "enabled"
        } else {
            "disabled"
        }
    }

    pub fn deleted(&self) -> Self {
        Self {
            deleted: true,
            enabled: false,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> WebhookEndpoint {
        let url = WebhookUrl::parse("https://example.com/hook").unwrap();
        let events = EnabledEvents::parse(vec!["*".into()]).unwrap();
        WebhookEndpoint::create(&EndpointChanges::default(), url, events, false, 1_000).unwrap()
    }

    #[test]
    fn enabled_events_are_a_list_of_types_or_the_wildcard_alone() {
        let events =
            EnabledEvents::parse(vec!["charge.succeeded".into(), "charge.failed".into()]).unwrap();
        assert_eq!(events.column_text(), ",charge.failed,charge.succeeded,");
        assert!(events.takes("charge.failed") && !events.takes("charge"));
        assert!(EnabledEvents::parse(vec!["*".into()])
            .unwrap()
            .takes("anything"));
        for bad in [
            vec![],
            vec!["*".into(), "charge.failed".into()],
            vec!["Charge".into()],
            vec!["a,b".into()],
        ] {
            assert!(EnabledEvents::parse(bad).is_err());
        }
    }

    #[test]
    fn a_new_endpoint_has_one_secret_that_debug_never_prints() {
        let e = endpoint();
        assert!(e.id.starts_with("we_") && e.enabled);
        assert!(e.current_secret().expose().starts_with("whsec_"));
        assert!(!format!("{e:?}").contains(e.current_secret().expose()));
    }

    #[test]
    fn a_rolled_secret_keeps_signing_until_it_expires() {
        let e = endpoint();
        let rolled = e.rolled(2_000, 60).unwrap();
        assert_ne!(rolled.current_secret(), e.current_secret());
        assert_eq!(
            rolled.signing_secrets(2_059),
            vec![rolled.current_secret(), e.current_secret()]
        );
        assert_eq!(rolled.signing_secrets(2_060), vec![rolled.current_secret()]);
        let retired_now = e.rolled(2_000, 0).unwrap();
        assert_eq!(retired_now.secrets.len(), 1);
        assert!(e.rolled(2_000, ROLL_EXPIRY_S_MAX + 1).is_err());
        let mut many = e.clone();
        for i in 0..10 {
            many = many.rolled(2_000 + i, 3_600).unwrap();
        }
        assert_eq!(many.secrets.len(), SECRETS_MAX);
    }
}
