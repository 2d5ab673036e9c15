//! What a routing rule can ask of a payment: `:amount:` (in the currency's
//! major unit), `:amount_in_usd:`, `:currency:`, `:card_brand:`,
//! `:card_funding:`, `:card_country:` (the BIN's country),
//! `:payment_method_type:`, `:customer:` and `:metadata.KEY:` (the
//! payment's metadata). Numbers are micro-units (millionths), as in the
//! risk rules; an attribute nobody knows (no BIN entry, no USD rate, no
//! customer) is unknown, and any comparison with it is false.

use portcullis_domain::cards::CardBrand;
use portcullis_domain::money::Currency;
use std::collections::BTreeMap;

/// Micro-units per major unit.
pub const MICROS_PER_UNIT: i64 = 1_000_000;

/// The payment being routed, as routing sees it (never a card number).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payment {
    pub amount_minor: i64,
    pub currency: Currency,
    /// In cents, when a rate was known.
    pub amount_in_usd_cents: Option<i64>,
    pub card_brand: CardBrand,
    /// `credit`, `debit`, `prepaid`, when the BIN table says.
    pub card_funding: Option<String>,
    /// ISO 3166-1 alpha-2, when the BIN table says.
    pub card_country: Option<String>,
    pub payment_method_type: String,
    /// `cus_…`.
    pub customer: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

/// An attribute a rule names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attribute {
    Amount,
    AmountInUsd,
    Currency,
    CardBrand,
    CardFunding,
    CardCountry,
    PaymentMethodType,
    Customer,
    Metadata(String),
}

/// Whether an attribute is a number or text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Number,
    Text,
}

/// An attribute's value for one payment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// Micro-units.
    Number(i64),
    Text(String),
}

/// Every attribute name the language knows (`metadata.KEY` aside).
pub const NAMES: &[&str] = &[
    "amount",
    "amount_in_usd",
    "currency",
    "card_brand",
    "card_funding",
    "card_country",
    "payment_method_type",
    "customer",
];

/// Longest metadata key (Stripe's limit).
const METADATA_KEY_CHARS_MAX: usize = 40;

impl Attribute {
    pub fn parse(name: &str) -> Option<Attribute> {
        if let Some(key) = name.strip_prefix("metadata.") {
            let valid = !key.is_empty() && key.chars().count() <= METADATA_KEY_CHARS_MAX;
            return valid.then(|| Attribute::Metadata(key.to_owned()));
        }
        Some(match name {
            "amount" => Attribute::Amount,
            "amount_in_usd" => Attribute::AmountInUsd,
            "currency" => Attribute::Currency,
            "card_brand" => Attribute::CardBrand,
            "card_funding" => Attribute::CardFunding,
            "card_country" => Attribute::CardCountry,
            "payment_method_type" => Attribute::PaymentMethodType,
            "customer" => Attribute::Customer,
            _ => return None,
        })
    }

    pub fn kind(&self) -> Kind {
        match self {
            Attribute::Amount | Attribute::AmountInUsd => Kind::Number,
            _ => Kind::Text,
        }
    }

    /// The value for `payment`, or `None` when unknown.
    pub fn of(&self, payment: &Payment) -> Option<Value> {
        let text = |t: &str| Some(Value::Text(t.to_owned()));
        match self {
            Attribute::Amount => {
                let exponent = u32::from(payment.currency.exponent());
                let scale = MICROS_PER_UNIT.checked_div(10_i64.checked_pow(exponent)?)?;
                payment.amount_minor.checked_mul(scale).map(Value::Number)
            }
            Attribute::AmountInUsd => payment
                .amount_in_usd_cents?
                .checked_mul(MICROS_PER_UNIT / 100)
                .map(Value::Number),
            Attribute::Currency => text(payment.currency.as_str()),
            Attribute::CardBrand => text(payment.card_brand.as_str()),
            Attribute::CardFunding => text(payment.card_funding.as_deref()?),
            Attribute::CardCountry => text(payment.card_country.as_deref()?),
            Attribute::PaymentMethodType => text(&payment.payment_method_type),
            Attribute::Customer => text(payment.customer.as_deref()?),
            Attribute::Metadata(key) => text(payment.metadata.get(key)?),
        }
    }
}
