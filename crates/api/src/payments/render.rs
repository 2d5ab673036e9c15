//! Payment objects on the wire, with every field of Stripe's objects (the
//! client libraries and the published schemas expect them present).

use super::charge_wire::{CardWire, ChargeWire};
use super::intent_wire::IntentWire;
use portcullis_domain::charges::Charge;
use portcullis_domain::payment_intents::PaymentIntent;
use portcullis_domain::payment_methods::PaymentMethod;
use portcullis_domain::refunds::{Refund, RefundStatus};
use serde_json::{json, Value};

pub fn render_payment_method(m: &PaymentMethod) -> Value {
    json!({
        "id": m.id,
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {
            "address": m.billing_details.address.clone().unwrap_or_default(),
            "email": m.billing_details.email,
            "name": m.billing_details.name,
            "phone": m.billing_details.phone,
        },
        "card": CardWire::of(&m.card),
        "created": m.created,
        "customer": m.customer,
        "livemode": m.livemode,
        "metadata": m.metadata,
        "type": "card",
    })
}

/// A PaymentIntent as a `Value` tree, for callers that edit, expand or
/// cut it down; the bytes are those of [`IntentWire`].
pub fn render_payment_intent(pi: &PaymentIntent) -> Value {
    serde_json::to_value(IntentWire::of(pi)).expect("a payment intent renders")
}

/// The fields of a PaymentIntent that Stripe answers to a publishable key
/// (with the intent's client secret): what a browser needs to finish the
/// payment, and nothing about the customer, the metadata or the charge.
const PUBLISHABLE_INTENT_FIELDS: &[&str] = &[
    "id",
    "object",
    "amount",
    "automatic_payment_methods",
    "balance_step_up",
    "canceled_at",
    "cancellation_reason",
    "capture_method",
    "client_secret",
    "confirmation_method",
    "created",
    "currency",
    "description",
    "last_payment_error",
    "livemode",
    "next_action",
    "payment_method",
    "payment_method_types",
    "processing",
    "receipt_email",
    "setup_future_usage",
    "shipping",
    "status",
];

/// A rendered PaymentIntent cut down to what a publishable key may see.
pub fn publishable_intent(mut intent: Value) -> Value {
    if let Value::Object(fields) = &mut intent {
        fields.retain(|name, _| PUBLISHABLE_INTENT_FIELDS.contains(&name.as_str()));
    }
    intent
}

/// An answer to a publishable key: the intent it holds (the object itself,
/// or an error's `payment_intent`) cut down to the publishable fields.
pub fn publishable_answer(mut body: Value) -> Value {
    if body.get("object").and_then(Value::as_str) == Some("payment_intent") {
        return publishable_intent(body);
    }
    if let Some(intent) = body
        .get_mut("error")
        .and_then(|error| error.get_mut("payment_intent"))
    {
        *intent = publishable_intent(intent.take());
    }
    body
}

/// The `outcome.risk_level` of a charge no risk rule assessed.
pub const NOT_ASSESSED: &str = "not_assessed";

/// A charge as a `Value` tree, for callers that edit or expand it; the
/// bytes are those of [`ChargeWire`].
pub fn render_charge(c: &Charge) -> Value {
    serde_json::to_value(ChargeWire::of(c)).expect("a charge renders")
}

/// Where a refund goes: the card, the wallet (Stripe's `alipay` /
/// `wechat_pay` shapes; the provider's refund reference is not kept), or
/// the customer's balance (a payment from the balance has no charge).
fn destination_details(r: &Refund) -> Value {
    if r.charge.is_none() {
        return json!({ "customer_balance": {}, "type": "customer_balance" });
    }
    match r.wallet.as_deref() {
        Some("alipay") => json!({
            "alipay": { "reference": null, "reference_status": reference_status(r) },
            "type": "alipay",
        }),
        Some(wallet) => json!({ wallet: { "reference": null }, "type": wallet }),
        None => json!({
            "card": { "reference_status": "pending", "reference_type": "acquirer_reference_number", "type": "refund" },
            "type": "card",
        }),
    }
}

/// Stripe's `reference_status`: `available` once refunded, `pending`
/// before, `unavailable` when the refund did not happen.
fn reference_status(r: &Refund) -> &'static str {
    match r.status {
        RefundStatus::Succeeded => "available",
        RefundStatus::Pending => "pending",
        _ => "unavailable",
    }
}

pub fn render_refund(r: &Refund) -> Value {
    json!({
        "id": r.id,
        "object": "refund",
        "amount": r.amount_minor,
        "balance_transaction": r.balance_transaction,
        "charge": r.charge,
        "created": r.created,
        "currency": r.currency,
        "customer": r.customer,
        "destination_details": destination_details(r),
        "failure_balance_transaction": r.failure_balance_transaction,
        "failure_reason": r.failure_reason,
        "metadata": r.metadata,
        "payment_intent": r.payment_intent,
        "payment_method": r.payment_method,
        "pending_reason": if r.status == RefundStatus::Pending { Some("processing") } else { None },
        "reason": r.reason,
        "receipt_number": null,
        "source_transfer_reversal": null,
        "status": r.status,
        "transfer_reversal": null,
    })
}
