//! PaymentMethods of type `card`, `alipay` and `wechat_pay`. A card's
//! number lives only in the vault; a card payment method keeps what may be
//! shown (brand, last four, expiry, funding, country) and the keyed
//! fingerprint. A wallet payment method holds nothing of the wallet: the
//! provider names its buyer on each payment (the charge's
//! `payment_method_details`).

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

/// A payment method's `type`. Documents stored before wallets had payment
/// methods hold no type: they are cards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethodType {
    #[default]
    Card,
    Alipay,
    WechatPay,
}

impl PaymentMethodType {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "card" => Some(Self::Card),
            "alipay" => Some(Self::Alipay),
            "wechat_pay" => Some(Self::WechatPay),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Card => "card",
            Self::Alipay => "alipay",
            Self::WechatPay => "wechat_pay",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentMethod {
    pub id: String,
    pub created: UnixSeconds,
    pub livemode: bool,
    pub customer: Option<String>,
    pub billing_details: BillingDetails,
    #[serde(rename = "type", default)]
    pub kind: PaymentMethodType,
    /// The card of a `card` payment method; `None` for a wallet's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<CardDetails>,
    pub metadata: Metadata,
    /// The published test payment method this card came from
    /// (`pm_card_visa`; test mode only). Its number is public
    /// ([`crate::sandbox_cards`]), so no vault record holds it: a payment
    /// with a test id writes no ciphertext and seals nothing. Kept in the
    /// stored document, never rendered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_card: Option<String>,
}

impl PaymentMethod {
    /// A wallet payment method (`alipay`, `wechat_pay`): no card.
    pub fn wallet(
        id: String,
        created: UnixSeconds,
        livemode: bool,
        kind: PaymentMethodType,
        billing_details: BillingDetails,
    ) -> Self {
        PaymentMethod {
            id,
            created,
            livemode,
            customer: None,
            billing_details,
            kind,
            card: None,
            metadata: Metadata::default(),
            test_card: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_stored_before_types_loads_as_a_card() {
        let stored = r#"{"id":"pm_1","created":1,"livemode":false,"customer":null,
            "billing_details":{"address":null,"email":null,"name":null,"phone":null},
            "card":{"brand":"visa","last4":"4242","bin":"424242","exp_month":12,
            "exp_year":2030,"funding":"credit","country":"US","fingerprint":"f",
            "cvc_check":null},"metadata":{}}"#;
        let method: PaymentMethod = serde_json::from_str(stored).unwrap();
        assert_eq!(method.kind, PaymentMethodType::Card);
        assert_eq!(method.card.unwrap().last4, "4242");
    }

    #[test]
    fn a_wallet_method_is_stored_with_its_type_and_no_card() {
        let method = PaymentMethod::wallet(
            "pm_2".into(),
            1,
            false,
            PaymentMethodType::WechatPay,
            BillingDetails::default(),
        );
        let text = serde_json::to_string(&method).unwrap();
        assert!(text.contains(r#""type":"wechat_pay""#), "{text}");
        assert!(!text.contains("card"), "{text}");
        let back: PaymentMethod = serde_json::from_str(&text).unwrap();
        assert_eq!(back, method);
    }
}
