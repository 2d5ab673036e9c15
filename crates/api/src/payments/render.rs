//! Payment objects on the wire, with every field of Stripe's objects (the
//! client libraries and the published schemas expect them present).

use super::charge_wire::{CardWire, ChargeWire};
use super::intent_wire::IntentWire;
use crate::error::{ApiError, ApiResult};
use portcullis_domain::charges::Charge;
use portcullis_domain::payment_intents::PaymentIntent;
use portcullis_domain::payment_methods::PaymentMethod;
use portcullis_domain::refunds::{Refund, RefundStatus};
use serde_json::value::RawValue;
use serde_json::{json, Value};

/// A PaymentMethod as Stripe's object: its `type` and the hash named by
/// it — `card` with the card's details, `alipay: {}` or `wechat_pay: {}`
/// (Stripe's wallet hashes hold nothing) — and no other type's hash; `id`
/// and `object` first, the rest by name, as Stripe writes them.
pub fn render_payment_method(m: &PaymentMethod) -> Value {
    let details = match &m.card {
        Some(card) => json!(CardWire::of(card)),
        None => json!({}),
    };
    let rest = std::collections::BTreeMap::from([
        ("allow_redisplay", json!("unspecified")),
        (
            "billing_details",
            json!({
                "address": m.billing_details.address.clone().unwrap_or_default(),
                "email": m.billing_details.email,
                "name": m.billing_details.name,
                "phone": m.billing_details.phone,
            }),
        ),
        (m.kind.as_str(), details),
        ("created", json!(m.created)),
        ("customer", json!(m.customer)),
        ("livemode", json!(m.livemode)),
        ("metadata", json!(m.metadata)),
        ("type", json!(m.kind.as_str())),
    ]);
    let mut rendered = serde_json::Map::new();
    rendered.insert("id".into(), json!(m.id));
    rendered.insert("object".into(), json!("payment_method"));
    rendered.extend(rest.into_iter().map(|(k, v)| (k.to_owned(), v)));
    Value::Object(rendered)
}

/// A PaymentIntent as a `Value` tree, for callers that edit, expand or
/// cut it down; the bytes are those of [`IntentWire`].
pub fn render_payment_intent(pi: &PaymentIntent) -> Value {
    serde_json::to_value(IntentWire::of(pi)).expect("a payment intent renders")
}

/// A PaymentIntent written once as [`IntentWire`], for an answer and the
/// event that carries the same intent (see `AnswerBody`): the bytes
/// [`render_payment_intent`]'s tree writes, without the tree.
pub fn rendered_payment_intent(pi: &PaymentIntent) -> ApiResult<Box<RawValue>> {
    serde_json::value::to_raw_value(&IntentWire::of(pi)).map_err(|e| ApiError::internal(&e))
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

#[cfg(test)]
mod method_tests {
    use super::render_payment_method;
    use portcullis_domain::payment_methods::{BillingDetails, PaymentMethod, PaymentMethodType};

    /// A wallet payment method's bytes: Stripe's object with its type's
    /// empty hash in its place by name, and no `card`.
    #[test]
    fn a_wallet_payment_method_is_written_as_stripes() {
        let method = PaymentMethod::wallet(
            "pm_1".into(),
            1_700_000_000,
            false,
            PaymentMethodType::Alipay,
            BillingDetails::default(),
        );
        assert_eq!(
            render_payment_method(&method).to_string(),
            concat!(
                r#"{"id":"pm_1","object":"payment_method","alipay":{},"allow_redisplay":"unspecified","#,
                r#""billing_details":{"address":{"city":null,"country":null,"line1":null,"line2":null,"postal_code":null,"state":null},"email":null,"name":null,"phone":null},"#,
                r#""created":1700000000,"customer":null,"livemode":false,"metadata":{},"type":"alipay"}"#
            )
        );
        let wechat = PaymentMethod {
            kind: PaymentMethodType::WechatPay,
            ..method
        };
        let rendered = render_payment_method(&wechat);
        assert_eq!(rendered["wechat_pay"], serde_json::json!({}));
        assert_eq!(rendered["type"], "wechat_pay");
        assert!(rendered.get("alipay").is_none() && rendered.get("card").is_none());
    }
}
