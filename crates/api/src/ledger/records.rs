//! The ledger's read models as stored documents: balance transactions
//! and payouts, and their Stripe renderings.

use crate::payments::records::Record;
use portcullis_domain::ids::CustomerId;
use portcullis_domain::metadata::Metadata;
use portcullis_domain::money::Currency;
use portcullis_store::{SqlValue, Table};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// `pending` until `available_on`, then `available`.
pub const PENDING: &str = "pending";
pub const AVAILABLE: &str = "available";

/// A balance transaction (`txn_…`): one movement of a merchant's balance,
/// with its fee. `net = amount − fee`, all in minor units of `currency`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceTransaction {
    pub id: String,
    pub created: i64,
    pub livemode: bool,
    pub amount_minor: i64,
    pub fee_minor: i64,
    pub currency: Currency,
    /// Stripe's `type`: `charge`, `refund`, `refund_failure`, `adjustment`, `payout`, `payout_cancel`.
    pub kind: String,
    pub reporting_category: String,
    pub description: Option<String>,
    /// The object that moved the money (`ch_…`, `re_…`, `dp_…`, `po_…`).
    pub source: String,
    pub status: String,
    pub available_on: i64,
    /// The ledger transaction (`ltx_…`) that recorded it.
    pub ledger_transaction: String,
}

impl BalanceTransaction {
    pub fn net_minor(&self) -> i64 {
        self.amount_minor - self.fee_minor
    }
}

impl Record for BalanceTransaction {
    const TABLE: Table = Table::BalanceTransactions;
    const OBJECT: &'static str = "balance_transaction";
    fn id(&self) -> &str {
        &self.id
    }
    fn created(&self) -> i64 {
        self.created
    }
    fn columns(&self) -> Vec<(&'static str, SqlValue)> {
        vec![
            ("source", SqlValue::Text(self.source.clone())),
            ("txn_type", SqlValue::Text(self.kind.clone())),
            ("currency", SqlValue::Text(self.currency.to_string())),
            ("status", SqlValue::Text(self.status.clone())),
            ("available_on", SqlValue::Integer(self.available_on)),
        ]
    }
}

pub fn render_balance_transaction(t: &BalanceTransaction) -> Value {
    let fee_details: Vec<Value> = if t.fee_minor == 0 {
        vec![]
    } else {
        vec![json!({
            "amount": t.fee_minor,
            "application": null,
            "currency": t.currency,
            "description": "Portcullis processing fees",
            "type": "stripe_fee",
        })]
    };
    json!({
        "id": t.id,
        "object": "balance_transaction",
        "amount": t.amount_minor,
        "available_on": t.available_on,
        "created": t.created,
        "currency": t.currency,
        "description": t.description,
        "exchange_rate": null,
        "fee": t.fee_minor,
        "fee_details": fee_details,
        "net": t.net_minor(),
        "reporting_category": t.reporting_category,
        "source": t.source,
        "status": t.status,
        "type": t.kind,
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayoutStatus {
    Pending,
    Paid,
    Canceled,
}

impl PayoutStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PayoutStatus::Pending => "pending",
            PayoutStatus::Paid => "paid",
            PayoutStatus::Canceled => "canceled",
        }
    }
}

/// A payout (`po_…`) of available funds to the merchant's bank account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payout {
    pub id: String,
    pub created: i64,
    pub livemode: bool,
    pub amount_minor: i64,
    pub currency: Currency,
    /// When the worker marks it paid, unless canceled first.
    pub arrival_date: i64,
    pub status: PayoutStatus,
    pub description: Option<String>,
    pub metadata: Metadata,
    pub balance_transaction: String,
    /// The `payout_cancel` balance transaction, once canceled.
    pub cancel_balance_transaction: Option<String>,
    /// A withdrawal of this customer's stored value (`customer_balance`
    /// payouts): its balance transactions are the customer's (`cbtxn_…`).
    /// `None`: the merchant's own funds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<CustomerId>,
}

impl Record for Payout {
    const TABLE: Table = Table::Payouts;
    const OBJECT: &'static str = "payout";
    fn id(&self) -> &str {
        &self.id
    }
    fn created(&self) -> i64 {
        self.created
    }
    fn columns(&self) -> Vec<(&'static str, SqlValue)> {
        vec![
            ("currency", SqlValue::Text(self.currency.to_string())),
            ("status", SqlValue::Text(self.status.as_str().to_owned())),
            ("arrival_date", SqlValue::Integer(self.arrival_date)),
        ]
    }
}

pub fn render_payout(p: &Payout) -> Value {
    json!({
        "id": p.id,
        "object": "payout",
        "amount": p.amount_minor,
        "arrival_date": p.arrival_date,
        "automatic": false,
        "balance_transaction": p.balance_transaction,
        "created": p.created,
        "currency": p.currency,
        "customer": p.customer,
        "description": p.description,
        "destination": null,
        "failure_balance_transaction": null,
        "failure_code": null,
        "failure_message": null,
        "livemode": p.livemode,
        "metadata": p.metadata,
        "method": "standard",
        "original_payout": null,
        "reconciliation_status": "not_applicable",
        "reversed_by": null,
        "source_type": "card",
        "statement_descriptor": null,
        "status": p.status.as_str(),
        "type": "bank_account",
    })
}
