//! Merchants: the accounts that are paid. Every other object belongs to
//! exactly one merchant.

use crate::ids::MerchantId;
use crate::UnixSeconds;
use serde::Serialize;

/// Longest merchant name accepted.
pub const MERCHANT_NAME_LEN_MAX: usize = 200;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Merchant {
    pub id: MerchantId,
    pub name: String,
    pub created: UnixSeconds,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MerchantError {
    #[error("a merchant name must be 1 to {MERCHANT_NAME_LEN_MAX} characters")]
    InvalidName,
}

impl Merchant {
    /// A new merchant with a fresh id.
    pub fn new(name: &str, created: UnixSeconds) -> Result<Self, MerchantError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MERCHANT_NAME_LEN_MAX {
            return Err(MerchantError::InvalidName);
        }
        Ok(Self {
            id: MerchantId::generate(),
            name: name.to_owned(),
            created,
        })
    }
}
