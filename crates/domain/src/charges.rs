//! Charges: one per authorization attempt that reached a decision, with
//! its outcome (network status, risk level and score, the rule that fired).

use crate::money::Currency;
use crate::payment_methods::CardDetails;
use crate::UnixSeconds;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChargeStatus {
    Succeeded,
    Pending,
    Failed,
}

/// How the card reached the gateway: given by a client (`card`) or read
/// by a registered terminal (`card_present`); the charge's
/// `payment_method_details.type`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardPresence {
    #[default]
    Card,
    CardPresent,
}

impl CardPresence {
    pub fn as_str(self) -> &'static str {
        match self {
            CardPresence::Card => "card",
            CardPresence::CardPresent => "card_present",
        }
    }
}

/// Stripe's `outcome` object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// `approved_by_network`, `declined_by_network`, `not_sent_to_network`.
    pub network_status: String,
    /// The card network's code for a decline (ISO 8583 DE 39), when the
    /// acquirer speaks to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_decline_code: Option<String>,
    pub reason: Option<String>,
    /// `normal`, `elevated`, `highest`.
    pub risk_level: String,
    /// 0–100.
    pub risk_score: u8,
    /// The risk rule that decided, if one did.
    pub rule: Option<String>,
    pub seller_message: String,
    /// `authorized`, `manual_review`, `issuer_declined`, `blocked`, `invalid`.
    pub kind: String,
    /// The risk signals that mattered: those the deciding rule read and
    /// those that added to the score, by name.
    #[serde(default)]
    pub signals: serde_json::Map<String, serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charge {
    pub id: String,
    pub created: UnixSeconds,
    pub livemode: bool,
    pub amount_minor: i64,
    pub amount_captured_minor: i64,
    pub amount_refunded_minor: i64,
    pub currency: Currency,
    pub captured: bool,
    pub status: ChargeStatus,
    pub payment_intent: String,
    /// The PaymentMethod (`pm_…`) of the charge; `None` for a payment from
    /// the customer balance, and for wallet charges recorded before wallet
    /// payments had payment methods.
    pub payment_method: Option<String>,
    pub customer: Option<String>,
    pub description: Option<String>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub outcome: Outcome,
    /// The card of a card charge; `None` for a wallet charge.
    pub card: Option<CardDetails>,
    pub disputed: bool,
    /// The acquirer's reference for the authorization, for capture, void and refund.
    pub connector_reference: Option<String>,
    /// The attempt (`pa_…`) this charge records.
    pub attempt: String,
    /// The balance transaction (`txn_…`) of its capture, once captured.
    #[serde(default)]
    pub balance_transaction: Option<String>,
    /// The fee taken on capture, in minor units.
    #[serde(default)]
    pub fee_minor: i64,
    /// The part of that fee given back by refunds that still stand.
    #[serde(default)]
    pub fee_returned_minor: i64,
    /// The review (`prv_…`) a risk rule opened for this charge.
    #[serde(default)]
    pub review: Option<String>,
    /// `card`, or `card_present` for a terminal's payment.
    #[serde(default)]
    pub presence: CardPresence,
    /// How routing chose the connector (`connector_account`, `decided_by`,
    /// `rule`, `candidates`, `attempts`), as the charge shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<serde_json::Value>,
    /// The wallet a wallet charge was paid with (Alipay, WeChat Pay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wallet: Option<WalletCharge>,
    /// Whose receivable its capture was booked under: the connector
    /// account (`ca_…`) that authorized it, or the server's connector.
    /// `None` before a card capture is booked, for a wallet charge (its
    /// provider's receivable), and for charges captured before this was
    /// recorded (the server's connector's); refunds and disputes take the
    /// money back out of the same receivable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receivable: Option<String>,
}

/// What a wallet charge records of the provider's payment: Stripe's
/// `payment_method_details.alipay|wechat_pay`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletCharge {
    /// `alipay` or `wechat_pay`.
    pub provider: String,
    /// Alipay `trade_no` / WeChat Pay `transaction_id`, as the provider
    /// reported it (`None` when it did not say).
    pub transaction_id: Option<String>,
    /// Alipay's buyer (`buyer_user_id`, else `buyer_logon_id`), as the
    /// provider reported it; WeChat Pay names no buyer id in Stripe's shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_id: Option<String>,
    /// The buyer's account keyed per merchant (from Alipay's buyer id or
    /// WeChat Pay's payer `openid`); `None` when the provider named none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

impl Charge {
    /// Minor units captured and not yet refunded or reserved for a refund.
    pub fn refundable_minor(&self) -> i64 {
        self.amount_captured_minor - self.amount_refunded_minor
    }

    pub fn is_fully_refunded(&self) -> bool {
        self.amount_captured_minor > 0 && self.amount_refunded_minor >= self.amount_captured_minor
    }
}
