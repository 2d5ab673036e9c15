//! Payment objects on the wire, with every field of Stripe's objects (the
//! client libraries and the published schemas expect them present).

use super::charge_wire::{CardWire, ChargeWire};
use portcullis_domain::charges::Charge;
use portcullis_domain::payment_intents::{NextAction, PaymentIntent};
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

pub fn render_payment_intent(pi: &PaymentIntent) -> Value {
    let next_action = pi.next_action.as_ref().map(|action| match action {
        NextAction::RedirectToUrl { url, return_url } => json!({
            "type": "redirect_to_url",
            "redirect_to_url": { "url": url, "return_url": return_url },
        }),
        NextAction::Wallet { kind, details } => {
            let mut action = serde_json::Map::new();
            action.insert("type".into(), json!(kind));
            action.insert(kind.clone(), details.clone());
            Value::Object(action)
        }
    });
    let last_payment_error = pi.last_payment_error.as_ref().map(|e| {
        json!({
            "type": e.kind,
            "code": e.code,
            "decline_code": e.decline_code,
            "message": e.message,
            "charge": e.charge,
            "payment_method": e.payment_method.as_ref().map(|id| json!({"id": id, "object": "payment_method", "type": "card"})),
        })
    });
    json!({
        "id": pi.id,
        "object": "payment_intent",
        "amount": pi.amount.minor(),
        "amount_capturable": pi.amount_capturable_minor,
        "amount_details": { "tip": {} },
        "amount_received": pi.amount_received_minor,
        "application": null,
        "application_fee_amount": null,
        "automatic_payment_methods": null,
        "canceled_at": pi.canceled_at,
        "cancellation_reason": pi.cancellation_reason,
        "capture_method": pi.capture_method,
        "client_secret": pi.client_secret,
        "confirmation_method": pi.confirmation_method,
        "created": pi.created,
        "currency": pi.currency,
        "customer": pi.customer,
        "description": pi.description,
        "last_payment_error": last_payment_error,
        "latest_charge": pi.latest_charge,
        "livemode": pi.livemode,
        "metadata": pi.metadata,
        "next_action": next_action,
        "on_behalf_of": null,
        "payment_method": pi.payment_method,
        "payment_method_configuration_details": null,
        "payment_method_options": { "card": { "installments": null, "mandate_options": null, "network": null, "request_three_d_secure": "automatic" } },
        "payment_method_types": pi.payment_method_types,
        "payment_record": null,
        "processing": null,
        "receipt_email": pi.receipt_email,
        "review": pi.review,
        "setup_future_usage": pi.setup_future_usage,
        "shipping": null,
        "source": null,
        "statement_descriptor": null,
        "statement_descriptor_suffix": pi.statement_descriptor_suffix,
        "status": pi.status,
        "transfer_data": null,
        "transfer_group": null,
    })
}

/// The fields of a PaymentIntent that Stripe answers to a publishable key
/// (with the intent's client secret): what a browser needs to finish the
/// payment, and nothing about the customer, the metadata or the charge.
const PUBLISHABLE_INTENT_FIELDS: &[&str] = &[
    "id",
    "object",
    "amount",
    "automatic_payment_methods",
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

/// A charge as a `Value` tree, for callers that edit or expand it; the
/// bytes are those of [`ChargeWire`].
pub fn render_charge(c: &Charge) -> Value {
    serde_json::to_value(ChargeWire::of(c)).expect("a charge renders")
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
        "destination_details": { "card": { "reference_status": "pending", "reference_type": "acquirer_reference_number", "type": "refund" }, "type": "card" },
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
