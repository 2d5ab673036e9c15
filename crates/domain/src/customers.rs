//! Customers: the people and businesses a merchant charges repeatedly.
//! The first full resource, and the pattern later ones follow: a domain
//! struct that is stored as-is, a `Changes` struct of what a request asks
//! for, and one function that applies changes or says why it cannot.

use crate::ids::CustomerId;
use crate::metadata::{Metadata, MetadataError, MetadataUpdate};
use crate::UnixSeconds;
use serde::{Deserialize, Serialize};

pub const EMAIL_CHARS_MAX: usize = 512;
pub const TEXT_FIELD_CHARS_MAX: usize = 5000;
pub const PREFERRED_LOCALES_MAX: usize = 10;

/// A change to one optional field: leave it, clear it (`field=`), or set it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Patch<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T: Clone> Patch<T> {
    fn apply_to(&self, current: &Option<T>) -> Option<T> {
        match self {
            Patch::Keep => current.clone(),
            Patch::Clear => None,
            Patch::Set(value) => Some(value.clone()),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub city: Option<String>,
    pub country: Option<String>,
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub postal_code: Option<String>,
    pub state: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipping {
    pub address: Address,
    pub name: String,
    pub phone: Option<String>,
}

/// An email address as far as a payment gateway can check one: one `@`,
/// something either side, no spaces, a bounded length.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(text: &str) -> Result<Self, CustomerError> {
        let text = text.trim();
        let valid = text.chars().count() <= EMAIL_CHARS_MAX
            && !text.chars().any(char::is_whitespace)
            && matches!(text.split_once('@'), Some((local, domain))
                if !local.is_empty() && !domain.is_empty() && !domain.contains('@'));
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(CustomerError::InvalidEmail)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub id: CustomerId,
    pub created: UnixSeconds,
    pub livemode: bool,
    pub email: Option<Email>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub phone: Option<String>,
    pub address: Option<Address>,
    pub shipping: Option<Shipping>,
    pub preferred_locales: Vec<String>,
    pub metadata: Metadata,
    /// Deleted customers keep their record; they answer `deleted: true`.
    #[serde(default)]
    pub deleted: bool,
}

/// What a create or update request asks to change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CustomerChanges {
    pub email: Patch<Email>,
    pub name: Patch<String>,
    pub description: Patch<String>,
    pub phone: Patch<String>,
    pub address: Patch<Address>,
    pub shipping: Patch<Shipping>,
    pub preferred_locales: Patch<Vec<String>>,
    pub metadata: Option<MetadataUpdate>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CustomerError {
    #[error("Invalid email address.")]
    InvalidEmail,
    #[error("{field} may be at most {TEXT_FIELD_CHARS_MAX} characters.")]
    TextTooLong { field: &'static str },
    #[error("preferred_locales may have at most {PREFERRED_LOCALES_MAX} entries.")]
    TooManyLocales,
    #[error(transparent)]
    Metadata(#[from] MetadataError),
}

impl CustomerError {
    /// The wire-format parameter the error is about.
    pub fn param(&self) -> String {
        match self {
            CustomerError::InvalidEmail => "email".to_owned(),
            CustomerError::TextTooLong { field } => (*field).to_owned(),
            CustomerError::TooManyLocales => "preferred_locales".to_owned(),
            CustomerError::Metadata(err) => err.param(),
        }
    }
}

impl Customer {
    /// A new customer from a create request.
    pub fn create(
        changes: &CustomerChanges,
        livemode: bool,
        created: UnixSeconds,
    ) -> Result<Self, CustomerError> {
        let blank = Customer {
            id: CustomerId::generate(),
            created,
            livemode,
            email: None,
            name: None,
            description: None,
            phone: None,
            address: None,
            shipping: None,
            preferred_locales: vec![],
            metadata: Metadata::default(),
            deleted: false,
        };
        blank.updated(changes)
    }

    /// This customer after `changes`; `self` is untouched.
    pub fn updated(&self, changes: &CustomerChanges) -> Result<Self, CustomerError> {
        for (field, patch) in [
            ("name", &changes.name),
            ("description", &changes.description),
            ("phone", &changes.phone),
        ] {
            if matches!(patch, Patch::Set(text) if text.chars().count() > TEXT_FIELD_CHARS_MAX) {
                return Err(CustomerError::TextTooLong { field });
            }
        }
        if matches!(&changes.preferred_locales, Patch::Set(l) if l.len() > PREFERRED_LOCALES_MAX) {
            return Err(CustomerError::TooManyLocales);
        }
        let metadata = match &changes.metadata {
            Some(update) => self.metadata.updated(update)?,
            None => self.metadata.clone(),
        };
        Ok(Customer {
            id: self.id.clone(),
            created: self.created,
            livemode: self.livemode,
            email: changes.email.apply_to(&self.email),
            name: changes.name.apply_to(&self.name),
            description: changes.description.apply_to(&self.description),
            phone: changes.phone.apply_to(&self.phone),
            address: changes.address.apply_to(&self.address),
            shipping: changes.shipping.apply_to(&self.shipping),
            preferred_locales: match &changes.preferred_locales {
                Patch::Keep => self.preferred_locales.clone(),
                Patch::Clear => vec![],
                Patch::Set(locales) => locales.clone(),
            },
            metadata,
            deleted: self.deleted,
        })
    }

    /// This customer, deleted.
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

    #[test]
    fn emails_are_checked() {
        assert!(Email::parse("jenny@example.com").is_ok());
        for bad in ["", "jenny", "@example.com", "jenny@", "a b@c.d", "a@b@c"] {
            assert_eq!(Email::parse(bad), Err(CustomerError::InvalidEmail), "{bad}");
        }
    }

    #[test]
    fn update_keeps_clears_and_sets() {
        let created = Customer::create(
            &CustomerChanges {
                name: Patch::Set("Jenny".into()),
                description: Patch::Set("vip".into()),
                ..Default::default()
            },
            false,
            1,
        )
        .unwrap();
        let updated = created
            .updated(&CustomerChanges {
                description: Patch::Clear,
                email: Patch::Set(Email::parse("j@x.io").unwrap()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(updated.name.as_deref(), Some("Jenny"));
        assert_eq!(updated.description, None);
        assert_eq!(updated.email.unwrap().as_str(), "j@x.io");
        assert_eq!(updated.id, created.id);
    }

    #[test]
    fn overlong_text_names_its_field() {
        let err = Customer::create(
            &CustomerChanges {
                phone: Patch::Set("9".repeat(TEXT_FIELD_CHARS_MAX + 1)),
                ..Default::default()
            },
            false,
            1,
        )
        .unwrap_err();
        assert_eq!(err.param(), "phone");
    }
}
