//! Ledger accounts. Each merchant has, per mode, three buckets (`pending`:
//! captured, not yet settled; `available`: may be paid out; `reserved`:
//! held for payouts on their way); the gateway has its `fee_revenue`; each
//! connector a `receivable` (what the acquirer owes us); and one `external`
//! account stands for the world outside: money entering and leaving.
//!
//! Balances are signed sums of postings. Liabilities and revenue (merchant
//! buckets, fee revenue) grow positive; what others owe us (`receivable`)
//! and what left the system (`external`) are their counter-entries.
//! Test-mode and live-mode money never share an account.

use crate::{is_token, LedgerError};
use portcullis_domain::ids::{CustomerId, MerchantId};
use std::fmt;

/// A merchant's balance bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Bucket {
    Pending,
    Available,
    Reserved,
}

impl Bucket {
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Pending => "pending",
            Bucket::Available => "available",
            Bucket::Reserved => "reserved",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(Bucket::Pending),
            "available" => Some(Bucket::Available),
            "reserved" => Some(Bucket::Reserved),
            _ => None,
        }
    }
}

/// One account of the ledger. Its code (`Display`) is its stored name:
/// `test:merchant:acct_…:pending`, `live:fee_revenue`,
/// `test:receivable:sandbox`, `test:external`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Account {
    Merchant {
        merchant: MerchantId,
        livemode: bool,
        bucket: Bucket,
    },
    FeeRevenue {
        livemode: bool,
    },
    Receivable {
        connector: String,
        livemode: bool,
    },
    External {
        livemode: bool,
    },
    /// A customer's stored value (e-wallet) held by a merchant: a
    /// liability, positive while the wallet holds money, never below zero.
    CustomerBalance {
        merchant: MerchantId,
        customer: CustomerId,
        livemode: bool,
    },
}

fn mode(livemode: bool) -> &'static str {
    if livemode {
        "live"
    } else {
        "test"
    }
}

impl Account {
    pub fn merchant(merchant: &MerchantId, livemode: bool, bucket: Bucket) -> Self {
        Account::Merchant {
            merchant: merchant.clone(),
            livemode,
            bucket,
        }
    }

    /// A connector's receivable; the name must be a plain token.
    pub fn receivable(connector: &str, livemode: bool) -> Result<Self, LedgerError> {
        if !is_token(connector) || connector.contains(':') {
            return Err(LedgerError::invalid("connector name", connector));
        }
        Ok(Account::Receivable {
            connector: connector.to_owned(),
            livemode,
        })
    }

    /// Parses an account code written by `Display`.
    pub fn parse(code: &str) -> Result<Self, LedgerError> {
        let bad = || LedgerError::invalid("account", code);
        let parts: Vec<&str> = code.splitn(5, ':').collect();
        let livemode = match parts.first() {
            Some(&"live") => true,
            Some(&"test") => false,
            _ => return Err(bad()),
        };
        match parts[1..] {
            ["merchant", id, bucket] => Ok(Account::Merchant {
                merchant: MerchantId::parse(id).ok_or_else(bad)?,
                livemode,
                bucket: Bucket::parse(bucket).ok_or_else(bad)?,
            }),
            ["fee_revenue"] => Ok(Account::FeeRevenue { livemode }),
            ["receivable", connector] => Account::receivable(connector, livemode),
            ["external"] => Ok(Account::External { livemode }),
            ["customer_balance", merchant, customer] => Ok(Account::CustomerBalance {
                merchant: MerchantId::parse(merchant).ok_or_else(bad)?,
                customer: CustomerId::parse(customer).ok_or_else(bad)?,
                livemode,
            }),
            _ => Err(bad()),
        }
    }

    pub fn livemode(&self) -> bool {
        match self {
            Account::Merchant { livemode, .. }
            | Account::FeeRevenue { livemode }
            | Account::Receivable { livemode, .. }
            | Account::External { livemode }
            | Account::CustomerBalance { livemode, .. } => *livemode,
        }
    }

    /// The merchant bucket this account is, if it is one.
    pub fn bucket(&self) -> Option<Bucket> {
        match self {
            Account::Merchant { bucket, .. } => Some(*bucket),
            _ => None,
        }
    }
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Account::Merchant {
                merchant,
                livemode,
                bucket,
            } => write!(
                f,
                "{}:merchant:{merchant}:{}",
                mode(*livemode),
                bucket.as_str()
            ),
            Account::FeeRevenue { livemode } => write!(f, "{}:fee_revenue", mode(*livemode)),
            Account::Receivable {
                connector,
                livemode,
            } => write!(f, "{}:receivable:{connector}", mode(*livemode)),
            Account::External { livemode } => write!(f, "{}:external", mode(*livemode)),
            Account::CustomerBalance {
                merchant,
                customer,
                livemode,
            } => write!(
                f,
                "{}:customer_balance:{merchant}:{customer}",
                mode(*livemode)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        let merchant = MerchantId::parse("acct_123").unwrap();
        for account in [
            Account::merchant(&merchant, false, Bucket::Pending),
            Account::merchant(&merchant, true, Bucket::Available),
            Account::merchant(&merchant, false, Bucket::Reserved),
            Account::FeeRevenue { livemode: true },
            Account::receivable("sandbox", false).unwrap(),
            Account::External { livemode: false },
            Account::CustomerBalance {
                merchant: merchant.clone(),
                customer: CustomerId::parse("cus_123").unwrap(),
                livemode: false,
            },
        ] {
            assert_eq!(Account::parse(&account.to_string()), Ok(account));
        }
        assert_eq!(
            Account::merchant(&merchant, false, Bucket::Pending).to_string(),
            "test:merchant:acct_123:pending"
        );
    }

    #[test]
    fn malformed_codes_are_refused() {
        for bad in [
            "",
            "test",
            "prod:external",
            "test:merchant:acct_1",
            "test:merchant:cus_1:pending",
            "test:merchant:acct_1:spare",
            "test:receivable:",
            "test:receivable:a:b",
            "test:external:x",
            "test:customer_balance:acct_1",
            "test:customer_balance:acct_1:acct_2",
        ] {
            assert!(Account::parse(bad).is_err(), "{bad:?}");
        }
    }
}
