//! Payment objects on the wire, with every field of Stripe's objects (the
//! client libraries and the published schemas expect them present).

use portcullis_domain::charges::{CardPresence, Charge, ChargeStatus, WalletCharge};
use portcullis_domain::payment_intents::{NextAction, PaymentIntent};
use portcullis_domain::payment_methods::{CardDetails, PaymentMethod};
use portcullis_domain::refunds::{Refund, RefundStatus};
use serde_json::{json, Value};

fn card_wire(card: &CardDetails) -> Value {
    json!({
        "brand": card.brand,
        "checks": {
            "address_line1_check": null,
            "address_postal_code_check": null,
            "cvc_check": card.cvc_check,
        },
        "country": card.country,
        "display_brand": card.brand,
        "exp_month": card.exp_month,
        "exp_year": card.exp_year,
        "fingerprint": card.fingerprint,
        "funding": card.funding,
        "generated_from": null,
        "last4": card.last4,
        "networks": { "available": [card.brand], "preferred": null },
        "three_d_secure_usage": { "supported": true },
        "wallet": null,
    })
}

/// `card` details, `card_present` ones for a terminal's payment, or the
/// wallet's (Stripe's `alipay` / `wechat_pay` shapes) for a wallet charge.
fn payment_method_details(c: &Charge) -> Value {
    if let Some(wallet) = &c.wallet {
        return wallet_details(wallet);
    }
    let Some(card) = &c.card else {
        return Value::Null;
    };
    match c.presence {
        CardPresence::Card => json!({ "card": card_wire(card), "type": "card" }),
        CardPresence::CardPresent => json!({
            "card_present": {
                "brand": card.brand,
                "country": card.country,
                "exp_month": card.exp_month,
                "exp_year": card.exp_year,
                "fingerprint": card.fingerprint,
                "funding": card.funding,
                "last4": card.last4,
                "network": card.brand,
            },
            "type": "card_present",
        }),
    }
}

/// Stripe's `payment_method_details` of an Alipay or WeChat Pay charge:
/// the provider's transaction id; the buyer is not known to us (`null`).
fn wallet_details(wallet: &WalletCharge) -> Value {
    let details = match wallet.provider.as_str() {
        "alipay" => json!({
            "buyer_id": null,
            "fingerprint": null,
            "transaction_id": wallet.transaction_id,
        }),
        _ => json!({
            "app_id": null,
            "fingerprint": null,
            "location": null,
            "reader": null,
            "transaction_id": wallet.transaction_id,
        }),
    };
    let mut object = serde_json::Map::new();
    object.insert(wallet.provider.clone(), details);
    object.insert("type".into(), json!(wallet.provider));
    Value::Object(object)
}

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
        "card": card_wire(&m.card),
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
        "purpose": pi.purpose,
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

/// The `outcome.risk_level` of a charge no risk rule assessed.
pub const NOT_ASSESSED: &str = "not_assessed";

pub fn render_charge(c: &Charge) -> Value {
    json!({
        "id": c.id,
        "object": "charge",
        "amount": c.amount_minor,
        "amount_captured": c.amount_captured_minor,
        "amount_refunded": c.amount_refunded_minor,
        "application": null,
        "application_fee": null,
        "application_fee_amount": null,
        "balance_transaction": c.balance_transaction,
        "routing": c.routing,
        "billing_details": { "address": {}, "email": null, "name": null, "phone": null },
        "calculated_statement_descriptor": "PORTCULLIS",
        "captured": c.captured,
        "created": c.created,
        "currency": c.currency,
        "customer": c.customer,
        "description": c.description,
        "disputed": c.disputed,
        "failure_balance_transaction": null,
        "failure_code": c.failure_code,
        "failure_message": c.failure_message,
        "fraud_details": {},
        "livemode": c.livemode,
        "metadata": {},
        "on_behalf_of": null,
        "outcome": {
            "network_decline_code": c.outcome.network_decline_code,
            "network_status": c.outcome.network_status,
            "reason": c.outcome.reason,
            "risk_level": c.outcome.risk_level,
            // A wallet charge is not scored (`not_assessed`, as Stripe).
            "risk_score": (c.outcome.risk_level != NOT_ASSESSED).then_some(c.outcome.risk_score),
            "rule": c.outcome.rule,
            "seller_message": c.outcome.seller_message,
            "type": c.outcome.kind,
            "signals": c.outcome.signals,
        },
        "paid": c.status == ChargeStatus::Succeeded,
        "payment_intent": c.payment_intent,
        "payment_method": c.payment_method,
        "payment_method_details": payment_method_details(c),
        "receipt_email": null,
        "receipt_number": null,
        "receipt_url": null,
        "refunded": c.is_fully_refunded(),
        "review": c.review,
        "shipping": null,
        "source": null,
        "source_transfer": null,
        "statement_descriptor": null,
        "statement_descriptor_suffix": null,
        "status": c.status,
        "transfer": null,
        "transfer_data": null,
        "transfer_group": null,
    })
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
