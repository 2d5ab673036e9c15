//! The reference the ISO 8583 connector gives the gateway for an approved
//! authorization or purchase: everything a completion, reversal or refund
//! must name of the original (RRN, MTI, STAN, DE 7, currency, amount).
//! Opaque to the gateway; `iso8583:` then colon-separated fields.

use crate::connector::ConnectorError;
use crate::iso8583::messages::{parse_currency, OriginalData};
use portcullis_domain::money::Currency;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    pub rrn: String,
    pub mti: String,
    pub stan: String,
    pub transmission: String,
    pub currency: Currency,
    pub amount_minor: i64,
}

const PREFIX: &str = "iso8583";

impl Reference {
    pub fn encode(&self) -> String {
        format!(
            "{PREFIX}:{}:{}:{}:{}:{:03}:{}",
            self.rrn,
            self.mti,
            self.stan,
            self.transmission,
            self.currency.numeric(),
            self.amount_minor
        )
    }

    pub fn parse(text: &str) -> Result<Reference, ConnectorError> {
        let unknown = || ConnectorError::UnknownReference(text.to_owned());
        let parts: Vec<&str> = text.split(':').collect();
        let [PREFIX, rrn, mti, stan, transmission, currency, amount] = parts[..] else {
            return Err(unknown());
        };
        let digits =
            |part: &str, len: usize| part.len() == len && part.bytes().all(|b| b.is_ascii_digit());
        if !(digits(rrn, 12) && digits(mti, 4) && digits(stan, 6) && digits(transmission, 10)) {
            return Err(unknown());
        }
        Ok(Reference {
            rrn: rrn.to_owned(),
            mti: mti.to_owned(),
            stan: stan.to_owned(),
            transmission: transmission.to_owned(),
            currency: parse_currency(currency).ok_or_else(unknown)?,
            amount_minor: amount.parse().map_err(|_| unknown())?,
        })
    }

    /// DE 90 naming this original.
    pub fn original_data(&self, acquirer_id: &str) -> OriginalData {
        OriginalData {
            mti: self.mti.clone(),
            stan: self.stan.clone(),
            transmission: self.transmission.clone(),
            acquirer_id: acquirer_id.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_others() {
        let reference = Reference {
            rrn: "000000000042".into(),
            mti: "0100".into(),
            stan: "000007".into(),
            transmission: "1205101500".into(),
            currency: Currency::parse("usd").unwrap(),
            amount_minor: 1999,
        };
        let text = reference.encode();
        assert_eq!(text, "iso8583:000000000042:0100:000007:1205101500:840:1999");
        assert_eq!(Reference::parse(&text), Ok(reference));
        for bad in [
            "sb_123",
            "iso8583:1:0100:000007:1205101500:840:1",
            "iso8583:000000000042:0100:000007:1205101500:999:1",
        ] {
            assert!(
                matches!(
                    Reference::parse(bad),
                    Err(ConnectorError::UnknownReference(_))
                ),
                "{bad}"
            );
        }
    }
}
