//! A Checkout Session and its line items on the wire, in Stripe's shapes
//! (`checkout.session`, `item` with an inline `price`), with every field
//! the official libraries read. Fields for features Portcullis does not
//! have (discounts, tax, shipping, subscriptions) carry Stripe's neutral
//! values, never invented ones.

use portcullis_domain::checkout::{
    CheckoutMethod, CheckoutPaymentStatus, CheckoutRequest, CheckoutSession, CheckoutStatus,
    LineItem, LineItemRequest, Payer,
};
use portcullis_domain::money::Currency;
use serde_json::{json, Value};

/// The object's name, also the prefix of its events.
pub const OBJECT: &str = "checkout.session";

/// Where the hosted page of session `id` is served, under `base_url`.
pub fn page_url(base_url: &str, id: &str) -> String {
    format!("{base_url}/checkout/{id}")
}

/// The session as the API answers it. `url` is set while it is open.
pub fn render(session: &CheckoutSession, base_url: &str) -> Value {
    let open = session.status == CheckoutStatus::Open;
    let paid = session.payment_status == CheckoutPaymentStatus::Paid;
    let methods: Vec<&str> = session
        .payment_method_types
        .iter()
        .map(|m| m.as_str())
        .collect();
    json!({
        "id": session.id.as_str(),
        "object": OBJECT,
        "after_expiration": null,
        "allow_promotion_codes": null,
        "amount_subtotal": session.amount_total_minor,
        "amount_total": session.amount_total_minor,
        "automatic_tax": { "enabled": false, "liability": null, "status": null },
        "billing_address_collection": null,
        "cancel_url": session.cancel_url,
        "client_reference_id": session.client_reference_id,
        "client_secret": null,
        "consent": null,
        "consent_collection": null,
        "created": session.created,
        "currency": session.currency,
        "custom_fields": [],
        "custom_text": {
            "after_submit": null, "shipping_address": null, "submit": null,
            "terms_of_service_acceptance": null
        },
        "customer": session.customer,
        "customer_creation": if session.customer.is_some() { Value::Null } else { json!("if_required") },
        "customer_details": if paid { customer_details(session) } else { Value::Null },
        "customer_email": session.customer_email,
        "expires_at": session.expires_at,
        "invoice": null,
        "invoice_creation": null,
        "livemode": session.livemode,
        "locale": session.locale,
        "metadata": session.metadata,
        "mode": "payment",
        "payment_intent": session.payment_intent,
        "payment_link": null,
        "payment_method_collection": "if_required",
        "payment_method_configuration_details": null,
        "payment_method_options": {},
        "payment_method_types": methods,
        "payment_status": match session.payment_status {
            CheckoutPaymentStatus::Unpaid => "unpaid",
            CheckoutPaymentStatus::Paid => "paid",
        },
        "phone_number_collection": { "enabled": false },
        "recovered_from": null,
        "setup_intent": null,
        "shipping_address_collection": null,
        "shipping_cost": null,
        "shipping_details": null,
        "shipping_options": [],
        "status": session.status.as_str(),
        "submit_type": null,
        "subscription": null,
        "success_url": session.success_url,
        "total_details": { "amount_discount": 0, "amount_shipping": 0, "amount_tax": 0 },
        "ui_mode": "hosted",
        "url": if open { json!(page_url(base_url, session.id.as_str())) } else { Value::Null },
    })
}

/// What the payer told us: only the email we know, nothing invented.
fn customer_details(session: &CheckoutSession) -> Value {
    json!({
        "address": null,
        "email": session.customer_email,
        "name": null,
        "phone": null,
        "tax_exempt": "none",
        "tax_ids": []
    })
}

/// One line item (`item`) with its inline price.
pub fn render_line_item(item: &LineItem, session: &CheckoutSession) -> Value {
    json!({
        "id": item.id,
        "object": "item",
        "amount_discount": 0,
        "amount_subtotal": item.amount_total_minor,
        "amount_tax": 0,
        "amount_total": item.amount_total_minor,
        "currency": item.currency,
        "description": item.name,
        "price": {
            "id": item.price_id,
            "object": "price",
            "active": false,
            "billing_scheme": "per_unit",
            "created": session.created,
            "currency": item.currency,
            "custom_unit_amount": null,
            "livemode": session.livemode,
            "lookup_key": null,
            "metadata": {},
            "nickname": null,
            "product": item.product_id,
            "recurring": null,
            "tax_behavior": "unspecified",
            "tiers_mode": null,
            "transform_quantity": null,
            "type": "one_time",
            "unit_amount": item.unit_amount_minor,
            "unit_amount_decimal": item.unit_amount_minor.to_string()
        },
        "quantity": item.quantity
    })
}

/// Samples for the OpenAPI document, from the real render functions.
pub fn render_samples() -> Vec<(&'static str, Value)> {
    let request = CheckoutRequest {
        line_items: vec![LineItemRequest {
            name: "Sample".into(),
            description: None,
            currency: Currency::parse("usd").expect("usd is a currency"),
            unit_amount_minor: 1000,
            quantity: 1,
        }],
        success_url: "https://shop.example/done".into(),
        cancel_url: None,
        payer: Payer::Anonymous,
        client_reference_id: None,
        methods: vec![CheckoutMethod::Card],
        locale: None,
        expires_at: None,
        metadata: Default::default(),
    };
    let session = CheckoutSession::open(request, false, 0).expect("the sample session is valid");
    vec![
        (OBJECT, render(&session, "https://gateway.example")),
        ("item", render_line_item(&session.line_items[0], &session)),
    ]
}
