//! Metadata: the merchant's own key–value pairs on an object, with Stripe's
//! limits and update rules (set a key, unset one key, clear all).

use std::collections::BTreeMap;

pub const METADATA_KEYS_MAX: usize = 50;
pub const METADATA_KEY_CHARS_MAX: usize = 40;
pub const METADATA_VALUE_CHARS_MAX: usize = 500;

/// Key–value pairs within the limits above.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Metadata(BTreeMap<String, String>);

/// One requested change to metadata, as the wire format expresses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetadataUpdate {
    /// `metadata=`: remove every key.
    Clear,
    /// `metadata[k]=v` sets, `metadata[k]=` removes one key.
    Change(Vec<(String, Option<String>)>),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MetadataError {
    #[error("Metadata can have at most {METADATA_KEYS_MAX} keys.")]
    TooManyKeys,
    #[error("Metadata keys must be 1 to {METADATA_KEY_CHARS_MAX} characters and may not contain '[' or ']': {0:?}")]
    InvalidKey(String),
    #[error("Metadata values can be at most {METADATA_VALUE_CHARS_MAX} characters (key {0:?}).")]
    ValueTooLong(String),
}

impl MetadataError {
    /// The wire-format parameter the error is about.
    pub fn param(&self) -> String {
        match self {
            MetadataError::TooManyKeys => "metadata".to_owned(),
            MetadataError::InvalidKey(key) | MetadataError::ValueTooLong(key) => {
                format!("metadata[{key}]")
            }
        }
    }
}

impl Metadata {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The metadata after `update`, or why the update is refused. `self` is
    /// left as it was either way.
    pub fn updated(&self, update: &MetadataUpdate) -> Result<Metadata, MetadataError> {
        let mut next = self.clone();
        match update {
            MetadataUpdate::Clear => next.0.clear(),
            MetadataUpdate::Change(changes) => {
                for (key, value) in changes {
                    check_key(key)?;
                    match value {
                        Some(value) => {
                            if value.chars().count() > METADATA_VALUE_CHARS_MAX {
                                return Err(MetadataError::ValueTooLong(key.clone()));
                            }
                            next.0.insert(key.clone(), value.clone());
                        }
                        None => {
                            next.0.remove(key);
                        }
                    }
                }
            }
        }
        if next.0.len() > METADATA_KEYS_MAX {
            return Err(MetadataError::TooManyKeys);
        }
        Ok(next)
    }
}

fn check_key(key: &str) -> Result<(), MetadataError> {
    let chars = key.chars().count();
    if chars == 0 || chars > METADATA_KEY_CHARS_MAX || key.contains(['[', ']']) {
        return Err(MetadataError::InvalidKey(key.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(pairs: &[(&str, Option<&str>)]) -> MetadataUpdate {
        MetadataUpdate::Change(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
                .collect(),
        )
    }

    #[test]
    fn set_unset_and_clear() {
        let m = Metadata::default()
            .updated(&set(&[("a", Some("1")), ("b", Some("2"))]))
            .unwrap();
        assert_eq!(m.len(), 2);
        let m = m.updated(&set(&[("a", None)])).unwrap();
        assert_eq!(m.get("a"), None);
        assert_eq!(m.get("b"), Some("2"));
        assert!(m.updated(&MetadataUpdate::Clear).unwrap().is_empty());
    }

    #[test]
    fn limits_are_enforced() {
        let fifty: Vec<(String, Option<String>)> = (0..50)
            .map(|i| (format!("k{i}"), Some("v".to_owned())))
            .collect();
        let full = Metadata::default()
            .updated(&MetadataUpdate::Change(fifty))
            .unwrap();
        assert_eq!(
            full.updated(&set(&[("one_more", Some("v"))])),
            Err(MetadataError::TooManyKeys)
        );
        // Replacing an existing key at the limit is fine.
        assert!(full.updated(&set(&[("k1", Some("w"))])).is_ok());
        let long_key = "k".repeat(41);
        assert!(matches!(
            Metadata::default().updated(&set(&[(&long_key, Some("v"))])),
            Err(MetadataError::InvalidKey(_))
        ));
        let long_value = "v".repeat(501);
        let err = Metadata::default()
            .updated(&set(&[("k", Some(&long_value))]))
            .unwrap_err();
        assert_eq!(err.param(), "metadata[k]");
        assert!(Metadata::default()
            .updated(&set(&[("k", Some(&"v".repeat(500)))]))
            .is_ok());
    }
}
