//! PaymentMethods of type `card`. The number itself lives only in the
//! vault; a payment method keeps what may be shown (brand, last four,
//! expiry, funding, country) and the keyed fingerprint.

use crate::cards::{CardBrand, CardFunding};
use crate::customers::Address;
use crate::metadata::Metadata;
use crate::UnixSeconds;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardDetails {
    pub brand: CardBrand,
    pub last4: String,
    /// First six digits: what PCI DSS 3.4.1 allows beside the last four;
    /// used by risk rules, never rendered.
    pub bin: String,
    pub exp_month: u8,
    pub exp_year: u16,
    /// From a BIN table; `unknown` when no table knows the BIN.
    pub funding: CardFunding,
    /// Issuing country from a BIN table; `None` when no table knows it.
    pub country: Option<String>,
    /// Keyed hash of the number, stable per merchant.
    pub fingerprint: String,
    /// What an acquirer said of the CVC (`pass`, `fail`, `unchecked`), on
    /// a charge's copy; `unavailable` until one said anything.
    pub cvc_check: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingDetails {
    pub address: Option<Address>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentMethod {
    pub id: String,
    pub created: UnixSeconds,
    pub livemode: bool,
    pub customer: Option<String>,
    pub billing_details: BillingDetails,
    pub card: CardDetails,
    pub metadata: Metadata,
    /// The published test payment method this card came from
    /// (`pm_card_visa`; test mode only). Its number is public
    /// ([`crate::sandbox_cards`]), so no vault record holds it: a payment
    /// with a test id writes no ciphertext and seals nothing. Kept in the
    /// stored document, never rendered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_card: Option<String>,
}
