//! The signals of one payment: a fixed, named set of values the score
//! model and the rules read. A signal the gateway could not learn (no IP
//! given, no IP database, no history) is [`SignalValue::Unknown`], and a
//! comparison with an unknown value is false: a rule never fires on a
//! guess.
//!
//! Numbers are fixed point: `i64` micro-units (one millionth), so money
//! (`amount_in_usd` = 12.34 is `12_340_000`) and ratios share one exact
//! representation and nothing goes through `f64`.

use serde::{Deserialize, Serialize};

/// Micro-units in one unit of a [`SignalValue::Number`].
pub const MICROS_PER_UNIT: i64 = 1_000_000;

/// What kind of value a signal holds, for the parser's type checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Number,
    Text,
    Bool,
}

macro_rules! signals {
    ($($variant:ident = $name:literal : $kind:ident, $doc:literal;)*) => {
        /// Every signal a rule may name, as `:name:`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Signal { $(#[doc = $doc] $variant,)* }

        impl Signal {
            /// Every signal, in declaration order (the index of [`Signals`]).
            pub const ALL: &'static [Signal] = &[$(Signal::$variant,)*];

            /// The name rules use between colons.
            pub fn name(self) -> &'static str {
                match self { $(Signal::$variant => $name,)* }
            }

            pub fn kind(self) -> Kind {
                match self { $(Signal::$variant => Kind::$kind,)* }
            }

            /// What the signal means, for documentation and errors.
            pub fn description(self) -> &'static str {
                match self { $(Signal::$variant => $doc,)* }
            }
        }
    };
}

signals! {
    Amount = "amount": Number, "The amount in major units of the payment's currency.";
    AmountInUsd = "amount_in_usd": Number, "The amount converted to US dollars by the configured rate table.";
    Currency = "currency": Text, "The payment's currency, lowercase ISO 4217.";
    PaymentMethodType = "payment_method_type": Text, "card, alipay or wechat_pay.";
    CardBrand = "card_brand": Text, "visa, mastercard, amex, …";
    CardBin = "card_bin": Text, "The card's first six digits.";
    CardCountry = "card_country": Text, "The issuing country by the BIN table (ISO 3166 alpha-2).";
    CardFunding = "card_funding": Text, "credit, debit, prepaid or unknown, by the BIN table.";
    CardFingerprint = "card_fingerprint": Text, "The card's keyed fingerprint.";
    Customer = "customer": Text, "The customer id (cus_…).";
    Email = "email": Text, "The billing or receipt email, lowercased.";
    IpAddress = "ip_address": Text, "The customer's IP address.";
    IpCountry = "ip_country": Text, "The IP address's country by the IP database.";
    BillingCountry = "billing_country": Text, "The billing address's country.";
    IsOffSession = "is_off_session": Bool, "The customer is not present.";
    IsAuthenticated = "is_3d_secure_authenticated": Bool, "The customer passed the authentication challenge.";
    IpDistanceKm = "ip_distance_km": Number, "Distance from the same card's previous payment's IP location.";
    IpSpeedKmh = "ip_speed_kmh": Number, "Distance over time since the same card's previous payment.";
    ImpossibleTravel = "impossible_travel": Bool, "ip_speed_kmh is faster than an airliner (over 1000 km/h).";
    CardAverageAmountInUsd = "card_average_amount_in_usd": Number, "Average authorized amount of this card so far.";
    AmountToCardAverage = "amount_to_card_average": Number, "This amount over the card's average (1 = usual).";
    CustomerAverageAmountInUsd = "customer_average_amount_in_usd": Number, "Average authorized amount of this customer so far.";
    AmountToCustomerAverage = "amount_to_customer_average": Number, "This amount over the customer's average.";
    TotalCardHourly = "total_charges_per_card_number_hourly": Number, "Attempts with this card in the hour, this one included.";
    TotalCardDaily = "total_charges_per_card_number_daily": Number, "Attempts with this card in the day, this one included.";
    AuthorizedCardHourly = "authorized_charges_per_card_number_hourly": Number, "Authorized payments with this card in the hour.";
    AuthorizedCardDaily = "authorized_charges_per_card_number_daily": Number, "Authorized payments with this card in the day.";
    DeclinedCardHourly = "declined_charges_per_card_number_hourly": Number, "Declined or blocked payments with this card in the hour.";
    DeclinedCardDaily = "declined_charges_per_card_number_daily": Number, "Declined or blocked payments with this card in the day.";
    TotalCustomerHourly = "total_charges_per_customer_hourly": Number, "Attempts by this customer in the hour, this one included.";
    TotalCustomerDaily = "total_charges_per_customer_daily": Number, "Attempts by this customer in the day, this one included.";
    AuthorizedCustomerHourly = "authorized_charges_per_customer_hourly": Number, "Authorized payments of this customer in the hour.";
    AuthorizedCustomerDaily = "authorized_charges_per_customer_daily": Number, "Authorized payments of this customer in the day.";
    DeclinedCustomerHourly = "declined_charges_per_customer_hourly": Number, "Declined or blocked payments of this customer in the hour.";
    DeclinedCustomerDaily = "declined_charges_per_customer_daily": Number, "Declined or blocked payments of this customer in the day.";
    TotalEmailHourly = "total_charges_per_email_hourly": Number, "Attempts with this email in the hour, this one included.";
    TotalEmailDaily = "total_charges_per_email_daily": Number, "Attempts with this email in the day, this one included.";
    AuthorizedEmailHourly = "authorized_charges_per_email_hourly": Number, "Authorized payments with this email in the hour.";
    AuthorizedEmailDaily = "authorized_charges_per_email_daily": Number, "Authorized payments with this email in the day.";
    DeclinedEmailHourly = "declined_charges_per_email_hourly": Number, "Declined or blocked payments with this email in the hour.";
    DeclinedEmailDaily = "declined_charges_per_email_daily": Number, "Declined or blocked payments with this email in the day.";
    TotalIpHourly = "total_charges_per_ip_address_hourly": Number, "Attempts from this IP in the hour, this one included.";
    TotalIpDaily = "total_charges_per_ip_address_daily": Number, "Attempts from this IP in the day, this one included.";
    AuthorizedIpHourly = "authorized_charges_per_ip_address_hourly": Number, "Authorized payments from this IP in the hour.";
    AuthorizedIpDaily = "authorized_charges_per_ip_address_daily": Number, "Authorized payments from this IP in the day.";
    DeclinedIpHourly = "declined_charges_per_ip_address_hourly": Number, "Declined or blocked payments from this IP in the hour.";
    DeclinedIpDaily = "declined_charges_per_ip_address_daily": Number, "Declined or blocked payments from this IP in the day.";
    CardsPerIpHourly = "cards_per_ip_address_hourly": Number, "Distinct cards tried from this IP in the hour, this one included.";
    CardsPerIpDaily = "cards_per_ip_address_daily": Number, "Distinct cards tried from this IP in the day, this one included.";
    CardsPerCustomerHourly = "cards_per_customer_hourly": Number, "Distinct cards tried by this customer in the hour, this one included.";
    CardsPerCustomerDaily = "cards_per_customer_daily": Number, "Distinct cards tried by this customer in the day, this one included.";
    CardsPerEmailHourly = "cards_per_email_hourly": Number, "Distinct cards tried with this email in the hour, this one included.";
    CardsPerEmailDaily = "cards_per_email_daily": Number, "Distinct cards tried with this email in the day, this one included.";
    RiskScore = "risk_score": Number, "The model's score, 0–100.";
    RiskLevel = "risk_level": Text, "normal, elevated or highest.";
}

impl Signal {
    /// The signal named `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Signal> {
        Signal::ALL.iter().copied().find(|s| s.name() == name)
    }
}

/// One signal's value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SignalValue {
    #[default]
    Unknown,
    Bool(bool),
    /// Micro-units: `1_500_000` is 1.5.
    Number(i64),
    Text(String),
}

impl SignalValue {
    /// A whole number (a count, kilometres) as micro-units, saturating.
    pub fn count(n: i64) -> Self {
        SignalValue::Number(n.saturating_mul(MICROS_PER_UNIT))
    }

    pub fn text(text: impl Into<String>) -> Self {
        SignalValue::Text(text.into())
    }

    /// `Some(text)` as text, `None` as unknown.
    pub fn text_or_unknown(text: Option<&str>) -> Self {
        text.map_or(SignalValue::Unknown, |t| SignalValue::Text(t.to_owned()))
    }

    pub fn is_known(&self) -> bool {
        !matches!(self, SignalValue::Unknown)
    }

    /// The value as the JSON a charge's outcome shows: numbers in units
    /// with up to six decimals, written exactly (no float rounding).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            SignalValue::Unknown => serde_json::Value::Null,
            SignalValue::Bool(b) => (*b).into(),
            SignalValue::Text(t) => t.clone().into(),
            SignalValue::Number(micros) => {
                let whole = micros / MICROS_PER_UNIT;
                let frac = (micros % MICROS_PER_UNIT).abs();
                if frac == 0 {
                    whole.into()
                } else {
                    let sign = if *micros < 0 && whole == 0 { "-" } else { "" };
                    let digits = format!("{frac:06}");
                    let text = format!("{sign}{whole}.{}", digits.trim_end_matches('0'));
                    serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
                }
            }
        }
    }
}

/// Every signal's value for one payment, indexed by [`Signal`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signals {
    values: Vec<SignalValue>,
}

impl Default for Signals {
    fn default() -> Self {
        Self {
            values: vec![SignalValue::Unknown; Signal::ALL.len()],
        }
    }
}

impl Signals {
    pub fn get(&self, signal: Signal) -> &SignalValue {
        &self.values[signal as usize]
    }

    pub fn set(&mut self, signal: Signal, value: SignalValue) {
        self.values[signal as usize] = value;
    }

    /// The known signals by name, for storing and replaying in dry runs.
    pub fn snapshot(&self) -> Snapshot<'_> {
        Snapshot(self)
    }

    /// Signals from a stored [`Snapshot`]; names no longer known are ignored.
    pub fn from_snapshot(map: &serde_json::Map<String, serde_json::Value>) -> Self {
        let mut signals = Signals::default();
        for (name, value) in map {
            if let (Some(signal), Ok(value)) = (
                Signal::from_name(name),
                serde_json::from_value::<SignalValue>(value.clone()),
            ) {
                signals.set(signal, value);
            }
        }
        signals
    }
}

/// The known signals by name, each value as it serializes: what a stored
/// risk evaluation keeps. Written straight from the borrowed signals, with
/// no `Value` built per signal (one snapshot per payment).
pub struct Snapshot<'a>(&'a Signals);

impl Serialize for Snapshot<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let known = Signal::ALL
            .iter()
            .map(|signal| (signal.name(), self.0.get(*signal)))
            .filter(|(_, value)| value.is_known());
        serializer.collect_map(known)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found_again() {
        for (i, signal) in Signal::ALL.iter().enumerate() {
            assert_eq!(*signal as usize, i);
            assert_eq!(Signal::from_name(signal.name()), Some(*signal));
        }
    }

    #[test]
    fn numbers_render_exactly() {
        assert_eq!(
            SignalValue::Number(12_340_000).to_json().to_string(),
            "12.34"
        );
        assert_eq!(SignalValue::count(7).to_json().to_string(), "7");
        assert_eq!(SignalValue::Number(-500_000).to_json().to_string(), "-0.5");
    }

    #[test]
    fn a_snapshot_writes_the_bytes_of_its_value_map_and_round_trips() {
        let mut signals = Signals::default();
        signals.set(Signal::AmountInUsd, SignalValue::Number(1_500_000));
        signals.set(Signal::IpCountry, SignalValue::text("JP"));
        signals.set(Signal::IsOffSession, SignalValue::Bool(true));
        let stored = serde_json::to_string(&signals.snapshot()).unwrap();
        // The bytes of the map of `Value`s the snapshot was built as before.
        let tree: serde_json::Map<String, serde_json::Value> = Signal::ALL
            .iter()
            .filter(|signal| signals.get(**signal).is_known())
            .map(|signal| {
                let value = serde_json::to_value(signals.get(*signal)).unwrap();
                (signal.name().to_owned(), value)
            })
            .collect();
        assert_eq!(stored, serde_json::Value::Object(tree).to_string());
        let snapshot: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&stored).unwrap();
        assert_eq!(Signals::from_snapshot(&snapshot), signals);
    }
}
