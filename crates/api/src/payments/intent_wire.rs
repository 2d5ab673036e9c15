//! A PaymentIntent on the wire as a typed serializer that borrows the
//! intent: Stripe's fields in Stripe's order, written straight to bytes.
//! Events (`payment_intent.created`, `.succeeded`, `.payment_failed`)
//! serialize it without first building a `Value` tree;
//! `render_payment_intent` turns it into a tree for the callers that edit,
//! expand or cut one down.

use super::charge_wire::Empty;
use portcullis_domain::metadata::Metadata;
use portcullis_domain::money::Currency;
use portcullis_domain::payment_intents::{
    BalanceStepUp, CancellationReason, CaptureMethod, ConfirmationMethod, IntentPurpose,
    NextAction, PaymentError, PaymentIntent, PaymentIntentStatus,
};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

#[derive(Serialize)]
struct AmountDetails {
    tip: Empty,
}

#[derive(Serialize)]
struct CardOptions {
    installments: (),
    mandate_options: (),
    network: (),
    request_three_d_secure: &'static str,
}

#[derive(Serialize)]
struct MethodOptions {
    card: CardOptions,
}

#[derive(Serialize)]
struct MethodRef<'a> {
    id: &'a str,
    object: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct ErrorWire<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    code: &'a str,
    decline_code: &'a Option<String>,
    message: &'a str,
    charge: &'a Option<String>,
    payment_method: Option<MethodRef<'a>>,
}

impl<'a> ErrorWire<'a> {
    fn of(e: &'a PaymentError) -> Self {
        Self {
            kind: &e.kind,
            code: &e.code,
            decline_code: &e.decline_code,
            message: &e.message,
            charge: &e.charge,
            payment_method: e.payment_method.as_deref().map(|id| MethodRef {
                id,
                object: "payment_method",
                kind: "card",
            }),
        }
    }
}

#[derive(Serialize)]
struct Redirect<'a> {
    url: &'a str,
    return_url: &'a Option<String>,
}

/// `{"type": "redirect_to_url", "redirect_to_url": …}`, or a wallet's
/// `{"type": kind, kind: details}`.
struct NextActionWire<'a>(&'a NextAction);

impl Serialize for NextActionWire<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        match self.0 {
            NextAction::RedirectToUrl { url, return_url } => {
                map.serialize_entry("type", "redirect_to_url")?;
                map.serialize_entry("redirect_to_url", &Redirect { url, return_url })?;
            }
            NextAction::Wallet { kind, details } => {
                map.serialize_entry("type", kind)?;
                map.serialize_entry(kind, details)?;
            }
        }
        map.end()
    }
}

/// A PaymentIntent as Stripe's `payment_intent` object.
#[derive(Serialize)]
pub struct IntentWire<'a> {
    id: &'a str,
    object: &'static str,
    amount: i64,
    amount_capturable: i64,
    amount_details: AmountDetails,
    amount_received: i64,
    application: (),
    application_fee_amount: (),
    automatic_payment_methods: (),
    /// Why and until when a payment from the balance waits for its
    /// holder's step-up (not Stripe's: a gateway extension), while it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    balance_step_up: Option<&'a BalanceStepUp>,
    canceled_at: &'a Option<i64>,
    cancellation_reason: &'a Option<CancellationReason>,
    capture_method: &'a CaptureMethod,
    client_secret: &'a str,
    confirmation_method: &'a ConfirmationMethod,
    created: i64,
    currency: &'a Currency,
    customer: &'a Option<String>,
    description: &'a Option<String>,
    last_payment_error: Option<ErrorWire<'a>>,
    latest_charge: &'a Option<String>,
    livemode: bool,
    metadata: &'a Metadata,
    next_action: Option<NextActionWire<'a>>,
    on_behalf_of: (),
    payment_method: &'a Option<String>,
    payment_method_configuration_details: (),
    payment_method_options: MethodOptions,
    payment_method_types: &'a [String],
    payment_record: (),
    processing: (),
    purpose: &'a Option<IntentPurpose>,
    receipt_email: &'a Option<String>,
    review: &'a Option<String>,
    setup_future_usage: &'a Option<String>,
    shipping: (),
    source: (),
    statement_descriptor: (),
    statement_descriptor_suffix: &'a Option<String>,
    status: &'a PaymentIntentStatus,
    transfer_data: (),
    transfer_group: (),
}

impl<'a> IntentWire<'a> {
    pub fn of(pi: &'a PaymentIntent) -> Self {
        Self {
            id: &pi.id,
            object: "payment_intent",
            amount: pi.amount.minor(),
            amount_capturable: pi.amount_capturable_minor,
            amount_details: AmountDetails { tip: Empty {} },
            amount_received: pi.amount_received_minor,
            application: (),
            application_fee_amount: (),
            automatic_payment_methods: (),
            balance_step_up: pi.waiting_balance_step_up(),
            canceled_at: &pi.canceled_at,
            cancellation_reason: &pi.cancellation_reason,
            capture_method: &pi.capture_method,
            client_secret: &pi.client_secret,
            confirmation_method: &pi.confirmation_method,
            created: pi.created,
            currency: &pi.currency,
            customer: &pi.customer,
            description: &pi.description,
            last_payment_error: pi.last_payment_error.as_ref().map(ErrorWire::of),
            latest_charge: &pi.latest_charge,
            livemode: pi.livemode,
            metadata: &pi.metadata,
            next_action: pi.next_action.as_ref().map(NextActionWire),
            on_behalf_of: (),
            payment_method: &pi.payment_method,
            payment_method_configuration_details: (),
            payment_method_options: MethodOptions {
                card: CardOptions {
                    installments: (),
                    mandate_options: (),
                    network: (),
                    request_three_d_secure: "automatic",
                },
            },
            payment_method_types: &pi.payment_method_types,
            payment_record: (),
            processing: (),
            purpose: &pi.purpose,
            receipt_email: &pi.receipt_email,
            review: &pi.review,
            setup_future_usage: &pi.setup_future_usage,
            shipping: (),
            source: (),
            statement_descriptor: (),
            statement_descriptor_suffix: &pi.statement_descriptor_suffix,
            status: &pi.status,
            transfer_data: (),
            transfer_group: (),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::IntentWire;
    use portcullis_domain::money::{Amount, Currency};
    use portcullis_domain::payment_intents::{NextAction, PaymentError, PaymentIntent};
    use serde_json::{json, Value};

    /// The intent as the `json!` tree this serializer replaced built it.
    fn tree(pi: &PaymentIntent) -> Value {
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

    fn intent() -> PaymentIntent {
        let usd = Currency::parse("usd").expect("usd exists");
        let amount = Amount::parse_minor(2_000).expect("valid");
        PaymentIntent::create(amount, usd, vec!["card".into()], false, 1_700_000_000)
    }

    fn assert_same_bytes(pi: &PaymentIntent) {
        let typed = serde_json::to_string(&IntentWire::of(pi)).expect("serializes");
        assert_eq!(typed, tree(pi).to_string());
        assert_eq!(super::super::render::render_payment_intent(pi), tree(pi));
    }

    #[test]
    fn a_new_intent_is_written_as_the_tree_was() {
        assert_same_bytes(&intent());
    }

    #[test]
    fn a_declined_intent_with_every_field_is_written_as_the_tree_was() {
        let mut pi = intent();
        pi.customer = Some("cus_1".into());
        pi.description = Some("tea \"Earl Grey\" ☕".into());
        pi.receipt_email = Some("a@example.com".into());
        pi.review = Some("prv_1".into());
        pi.latest_charge = Some("ch_1".into());
        pi.payment_method = Some("pm_1".into());
        pi.setup_future_usage = Some("off_session".into());
        pi.statement_descriptor_suffix = Some("TEA".into());
        pi.canceled_at = Some(1_700_000_100);
        pi.last_payment_error = Some(PaymentError {
            kind: "card_error".into(),
            code: "card_declined".into(),
            decline_code: Some("insufficient_funds".into()),
            message: "Your card has insufficient funds.".into(),
            charge: Some("ch_1".into()),
            payment_method: Some("pm_1".into()),
        });
        pi.metadata =
            serde_json::from_value(json!({ "order": "42", "z": "last" })).expect("metadata");
        assert_same_bytes(&pi);
        pi.last_payment_error.as_mut().expect("set").payment_method = None;
        assert_same_bytes(&pi);
    }

    #[test]
    fn next_actions_are_written_as_the_tree_was() {
        let mut pi = intent();
        pi.next_action = Some(NextAction::RedirectToUrl {
            url: "https://gateway.example/3ds/pa_1".into(),
            return_url: Some("https://shop.example/done".into()),
        });
        assert_same_bytes(&pi);
        pi.next_action = Some(NextAction::Wallet {
            kind: "wechat_pay_display_qr_code".into(),
            details: json!({ "data": "weixin://wxpay/bizpayurl?pr=abc", "image_url_png": "https://x/qr.png" }),
        });
        assert_same_bytes(&pi);
    }
}
