//! Sample objects rendered by the real render functions, from which the
//! OpenAPI document derives each object's schema.

use crate::customers::render as render_customer;
use crate::payments::render_samples;
use portcullis_domain::customers::{Customer, CustomerChanges};
use portcullis_domain::ids::MerchantId;
use portcullis_store::{Scope, WriteOp};
use serde_json::{json, Value};

/// `(object name, sample)` for every object the API answers.
pub fn objects() -> Vec<(&'static str, Value)> {
    let customer = Customer::create(&CustomerChanges::default(), false, 0)
        .expect("an empty customer is valid");
    let customer_json = render_customer(&customer);
    let mut objects = vec![
        ("customer", customer_json.clone()),
        (
            "deleted_customer",
            json!({ "id": customer.id, "object": "customer", "deleted": true }),
        ),
        ("event", sample_event(&customer_json)),
    ];
    objects.extend(render_samples());
    objects.extend(crate::webhooks::render_samples());
    objects.extend(crate::risk::render_samples());
    objects.extend(crate::connector_accounts::render_samples());
    objects.extend(crate::routing::rules::render_samples());
    objects.extend(crate::routing::evaluate::render_samples());
    objects.extend(crate::checkout::render_samples());
    objects.extend(crate::client_encryption::render_samples());
    objects.extend(crate::accounts::render_samples());
    objects.extend(crate::customer_balance::render_samples());
    objects
}

fn sample_event(object: &Value) -> Value {
    let scope = Scope {
        merchant_id: MerchantId::generate(),
        livemode: false,
    };
    match crate::events::event(
        &scope,
        "customer.created",
        object,
        None,
        &Default::default(),
        0,
    ) {
        WriteOp::Insert { body, .. } => serde_json::from_str(&body).expect("events are JSON"),
        _ => unreachable!("events are inserted"),
    }
}
