//! Refunds of captured charges. The sum of a charge's refunds that are not
//! failed or canceled never exceeds what was captured: the amount is
//! reserved on the charge in the same transaction that records the refund.

use crate::metadata::Metadata;
use crate::money::Currency;
use crate::UnixSeconds;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    Pending,
    RequiresAction,
    Succeeded,
    Failed,
    Canceled,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::RequiresAction => "requires_action",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
        }
    }

    /// Failed and canceled refunds give their amount back to the charge.
    pub fn releases_amount(self) -> bool {
        matches!(self, Self::Failed | Self::Canceled)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundReason {
    Duplicate,
    Fraudulent,
    RequestedByCustomer,
}

impl RefundReason {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "duplicate" => Some(Self::Duplicate),
            "fraudulent" => Some(Self::Fraudulent),
            "requested_by_customer" => Some(Self::RequestedByCustomer),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub id: String,
    pub created: UnixSeconds,
    pub livemode: bool,
    pub amount_minor: i64,
    pub currency: Currency,
    /// The refunded charge; `None` for a payment from the customer's
    /// stored-value balance, which has no charge (the refund returns to
    /// the balance).
    pub charge: Option<String>,
    pub payment_intent: String,
    /// The charge's customer and payment method, as Stripe shows them.
    #[serde(default)]
    pub customer: Option<String>,
    #[serde(default)]
    pub payment_method: Option<String>,
    pub reason: Option<RefundReason>,
    pub status: RefundStatus,
    pub failure_reason: Option<String>,
    pub metadata: Metadata,
    /// True once the acquirer has been asked (atomic phase two).
    pub sent_to_connector: bool,
    /// True once the acquirer's answer is final; until then the recovery
    /// worker polls it (pending refunds settle; some succeeded ones fail).
    pub settled: bool,
    /// The balance transaction (`txn_…`) that took the refund from the merchant.
    #[serde(default)]
    pub balance_transaction: Option<String>,
    /// The part of the charge's fee this refund gave back, in minor units.
    #[serde(default)]
    pub fee_returned_minor: i64,
    /// The balance transaction that gave it back when the refund failed or was canceled.
    #[serde(default)]
    pub failure_balance_transaction: Option<String>,
    /// The wallet (`alipay`, `wechat_pay`) a wallet charge's refund goes
    /// back through; `None` for a card's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wallet: Option<String>,
}
