//! A charge on the wire as a typed serializer that borrows the charge: the
//! same fields in the same order as Stripe's object, written straight to
//! bytes. An event serializes it without first building a `Value` tree
//! (a payment writes its charge into `charge.succeeded` or
//! `charge.failed`); `render_charge` turns it into a tree for the callers
//! that edit or expand one.

use super::render::NOT_ASSESSED;
use portcullis_domain::cards::{CardBrand, CardFunding};
use portcullis_domain::charges::{CardPresence, Charge, ChargeStatus, Outcome, WalletCharge};
use portcullis_domain::money::Currency;
use portcullis_domain::payment_methods::CardDetails;
use serde::Serialize;
use serde_json::{json, Map, Value};

/// `{}`.
#[derive(Serialize)]
pub struct Empty {}

#[derive(Serialize)]
struct Checks<'a> {
    address_line1_check: (),
    address_postal_code_check: (),
    cvc_check: &'a Option<String>,
}

#[derive(Serialize)]
struct Networks<'a> {
    available: [&'a CardBrand; 1],
    preferred: (),
}

#[derive(Serialize)]
struct ThreeDSecureUsage {
    supported: bool,
}

/// A payment method's or charge's `card` (the BIN is never rendered).
#[derive(Serialize)]
pub struct CardWire<'a> {
    brand: &'a CardBrand,
    checks: Checks<'a>,
    country: &'a Option<String>,
    display_brand: &'a CardBrand,
    exp_month: u8,
    exp_year: u16,
    fingerprint: &'a str,
    funding: &'a CardFunding,
    generated_from: (),
    last4: &'a str,
    networks: Networks<'a>,
    three_d_secure_usage: ThreeDSecureUsage,
    wallet: (),
}

impl<'a> CardWire<'a> {
    pub fn of(card: &'a CardDetails) -> Self {
        Self {
            brand: &card.brand,
            checks: Checks {
                address_line1_check: (),
                address_postal_code_check: (),
                cvc_check: &card.cvc_check,
            },
            country: &card.country,
            display_brand: &card.brand,
            exp_month: card.exp_month,
            exp_year: card.exp_year,
            fingerprint: &card.fingerprint,
            funding: &card.funding,
            generated_from: (),
            last4: &card.last4,
            networks: Networks {
                available: [&card.brand],
                preferred: (),
            },
            three_d_secure_usage: ThreeDSecureUsage { supported: true },
            wallet: (),
        }
    }
}

#[derive(Serialize)]
struct CardPresentWire<'a> {
    brand: &'a CardBrand,
    country: &'a Option<String>,
    exp_month: u8,
    exp_year: u16,
    fingerprint: &'a str,
    funding: &'a CardFunding,
    last4: &'a str,
    network: &'a CardBrand,
}

/// `payment_method_details`: `card`, `card_present` for a terminal's
/// payment, the wallet's (Stripe's `alipay` / `wechat_pay` shapes) for a
/// wallet charge, or `null` when the charge holds none of these.
#[derive(Serialize)]
#[serde(untagged)]
enum DetailsWire<'a> {
    Card {
        card: CardWire<'a>,
        #[serde(rename = "type")]
        kind: &'static str,
    },
    CardPresent {
        card_present: CardPresentWire<'a>,
        #[serde(rename = "type")]
        kind: &'static str,
    },
    Wallet(Value),
    None(()),
}

impl<'a> DetailsWire<'a> {
    fn of(c: &'a Charge) -> Self {
        if let Some(wallet) = &c.wallet {
            return DetailsWire::Wallet(wallet_details(wallet));
        }
        let Some(card) = &c.card else {
            return DetailsWire::None(());
        };
        match c.presence {
            CardPresence::Card => DetailsWire::Card {
                card: CardWire::of(card),
                kind: "card",
            },
            CardPresence::CardPresent => DetailsWire::CardPresent {
                card_present: CardPresentWire {
                    brand: &card.brand,
                    country: &card.country,
                    exp_month: card.exp_month,
                    exp_year: card.exp_year,
                    fingerprint: &card.fingerprint,
                    funding: &card.funding,
                    last4: &card.last4,
                    network: &card.brand,
                },
                kind: "card_present",
            },
        }
    }
}

/// Stripe's `payment_method_details` of an Alipay or WeChat Pay charge:
/// the provider's transaction id, Alipay's buyer id and the buyer's
/// fingerprint, `null` where the provider named nothing.
pub(crate) fn wallet_details(wallet: &WalletCharge) -> Value {
    let details = match wallet.provider.as_str() {
        "alipay" => json!({
            "buyer_id": wallet.buyer_id,
            "fingerprint": wallet.fingerprint,
            "transaction_id": wallet.transaction_id,
        }),
        _ => json!({
            "app_id": null,
            "fingerprint": wallet.fingerprint,
            "location": null,
            "reader": null,
            "transaction_id": wallet.transaction_id,
        }),
    };
    let mut object = Map::new();
    object.insert(wallet.provider.clone(), details);
    object.insert("type".into(), json!(wallet.provider));
    Value::Object(object)
}

#[derive(Serialize)]
struct BillingWire {
    address: Empty,
    email: (),
    name: (),
    phone: (),
}

#[derive(Serialize)]
struct OutcomeWire<'a> {
    network_decline_code: &'a Option<String>,
    network_status: &'a str,
    reason: &'a Option<String>,
    risk_level: &'a str,
    /// A wallet charge is not scored (`not_assessed`, as Stripe): `null`.
    risk_score: Option<u8>,
    rule: &'a Option<String>,
    seller_message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    signals: &'a Map<String, Value>,
}

impl<'a> OutcomeWire<'a> {
    fn of(o: &'a Outcome) -> Self {
        Self {
            network_decline_code: &o.network_decline_code,
            network_status: &o.network_status,
            reason: &o.reason,
            risk_level: &o.risk_level,
            risk_score: (o.risk_level != NOT_ASSESSED).then_some(o.risk_score),
            rule: &o.rule,
            seller_message: &o.seller_message,
            kind: &o.kind,
            signals: &o.signals,
        }
    }
}

/// A charge as Stripe's `charge` object.
#[derive(Serialize)]
pub struct ChargeWire<'a> {
    id: &'a str,
    object: &'static str,
    amount: i64,
    amount_captured: i64,
    amount_refunded: i64,
    application: (),
    application_fee: (),
    application_fee_amount: (),
    balance_transaction: &'a Option<String>,
    routing: &'a Option<Value>,
    billing_details: BillingWire,
    calculated_statement_descriptor: &'static str,
    captured: bool,
    created: i64,
    currency: &'a Currency,
    customer: &'a Option<String>,
    description: &'a Option<String>,
    disputed: bool,
    failure_balance_transaction: (),
    failure_code: &'a Option<String>,
    failure_message: &'a Option<String>,
    fraud_details: Empty,
    livemode: bool,
    metadata: Empty,
    on_behalf_of: (),
    outcome: OutcomeWire<'a>,
    paid: bool,
    payment_intent: &'a str,
    payment_method: &'a Option<String>,
    payment_method_details: DetailsWire<'a>,
    receipt_email: (),
    receipt_number: (),
    receipt_url: (),
    refunded: bool,
    review: &'a Option<String>,
    shipping: (),
    source: (),
    source_transfer: (),
    statement_descriptor: (),
    statement_descriptor_suffix: (),
    status: &'a ChargeStatus,
    transfer: (),
    transfer_data: (),
    transfer_group: (),
}

impl<'a> ChargeWire<'a> {
    pub fn of(c: &'a Charge) -> Self {
        Self {
            id: &c.id,
            object: "charge",
            amount: c.amount_minor,
            amount_captured: c.amount_captured_minor,
            amount_refunded: c.amount_refunded_minor,
            application: (),
            application_fee: (),
            application_fee_amount: (),
            balance_transaction: &c.balance_transaction,
            routing: &c.routing,
            billing_details: BillingWire {
                address: Empty {},
                email: (),
                name: (),
                phone: (),
            },
            calculated_statement_descriptor: "PORTCULLIS",
            captured: c.captured,
            created: c.created,
            currency: &c.currency,
            customer: &c.customer,
            description: &c.description,
            disputed: c.disputed,
            failure_balance_transaction: (),
            failure_code: &c.failure_code,
            failure_message: &c.failure_message,
            fraud_details: Empty {},
            livemode: c.livemode,
            metadata: Empty {},
            on_behalf_of: (),
            outcome: OutcomeWire::of(&c.outcome),
            paid: c.status == ChargeStatus::Succeeded,
            payment_intent: &c.payment_intent,
            payment_method: &c.payment_method,
            payment_method_details: DetailsWire::of(c),
            receipt_email: (),
            receipt_number: (),
            receipt_url: (),
            refunded: c.is_fully_refunded(),
            review: &c.review,
            shipping: (),
            source: (),
            source_transfer: (),
            statement_descriptor: (),
            statement_descriptor_suffix: (),
            status: &c.status,
            transfer: (),
            transfer_data: (),
            transfer_group: (),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ChargeWire;
    use portcullis_domain::charges::{CardPresence, Charge, ChargeStatus};
    use portcullis_domain::payment_methods::CardDetails;
    use serde_json::{json, Value};

    /// The charge as the `json!` tree this serializer replaced built it.
    fn tree(c: &Charge) -> Value {
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
                "risk_score": (c.outcome.risk_level != super::NOT_ASSESSED).then_some(c.outcome.risk_score),
                "rule": c.outcome.rule,
                "seller_message": c.outcome.seller_message,
                "type": c.outcome.kind,
                "signals": c.outcome.signals,
            },
            "paid": c.status == ChargeStatus::Succeeded,
            "payment_intent": c.payment_intent,
            "payment_method": c.payment_method,
            "payment_method_details": details(c),
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

    fn card(card: &CardDetails) -> Value {
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

    fn details(c: &Charge) -> Value {
        if let Some(wallet) = &c.wallet {
            return super::wallet_details(wallet);
        }
        let Some(ref card_details) = c.card else {
            return Value::Null;
        };
        match c.presence {
            CardPresence::Card => json!({ "card": card(card_details), "type": "card" }),
            CardPresence::CardPresent => json!({
                "card_present": {
                    "brand": card_details.brand,
                    "country": card_details.country,
                    "exp_month": card_details.exp_month,
                    "exp_year": card_details.exp_year,
                    "fingerprint": card_details.fingerprint,
                    "funding": card_details.funding,
                    "last4": card_details.last4,
                    "network": card_details.brand,
                },
                "type": "card_present",
            }),
        }
    }

    fn charge(fields: Value) -> Charge {
        let mut doc = json!({
            "id": "ch_1", "created": 1_700_000_000, "livemode": false,
            "amount_minor": 2_000, "amount_captured_minor": 2_000,
            "amount_refunded_minor": 0, "currency": "usd", "captured": true,
            "status": "succeeded", "payment_intent": "pi_1", "payment_method": "pm_1",
            "customer": null, "description": null, "failure_code": null,
            "failure_message": null, "disputed": false, "connector_reference": "ref",
            "attempt": "pa_1",
            "outcome": {
                "network_status": "approved_by_network", "reason": null,
                "risk_level": "normal", "risk_score": 12, "rule": null,
                "seller_message": "Payment complete.", "kind": "authorized",
            },
            "card": {
                "brand": "visa", "last4": "4242", "bin": "424242", "exp_month": 12,
                "exp_year": 2034, "funding": "credit", "country": "US",
                "fingerprint": "fp_1", "cvc_check": "pass",
            },
        });
        for (name, value) in fields.as_object().expect("an object") {
            doc[name] = value.clone();
        }
        serde_json::from_value(doc).expect("a charge")
    }

    fn assert_same_bytes(c: &Charge) {
        let typed = serde_json::to_string(&ChargeWire::of(c)).expect("serializes");
        assert_eq!(typed, tree(c).to_string());
        assert_eq!(super::super::render::render_charge(c), tree(c));
    }

    #[test]
    fn a_succeeded_card_charge_is_written_as_the_tree_was() {
        assert_same_bytes(&charge(json!({})));
    }

    #[test]
    fn every_optional_field_set_is_written_as_the_tree_was() {
        assert_same_bytes(&charge(json!({
            "customer": "cus_1", "description": "tea \"Earl Grey\" ☕",
            "balance_transaction": "txn_1", "review": "prv_1", "disputed": true,
            "amount_refunded_minor": 2_000,
            "routing": { "connector_account": "ca_1", "candidates": ["ca_1", "ca_2"] },
            "outcome": {
                "network_status": "approved_by_network", "network_decline_code": "05",
                "reason": "elevated_risk_level", "risk_level": "elevated",
                "risk_score": 70, "rule": "rr_1", "seller_message": "Review.",
                "kind": "manual_review", "signals": { "ip_velocity": 9, "bin_country": "FR" },
            },
        })));
    }

    #[test]
    fn a_failed_terminal_charge_is_written_as_the_tree_was() {
        assert_same_bytes(&charge(json!({
            "status": "failed", "captured": false, "amount_captured_minor": 0,
            "failure_code": "card_declined", "failure_message": "Declined.",
            "presence": "card_present",
            "card": {
                "brand": "mastercard", "last4": "4444", "bin": "555555", "exp_month": 1,
                "exp_year": 2030, "funding": "debit", "country": null,
                "fingerprint": "fp_2", "cvc_check": null,
            },
        })));
    }

    #[test]
    fn a_wallet_charge_is_written_as_the_tree_was() {
        assert_same_bytes(&charge(json!({
            "card": null, "payment_method": null,
            "wallet": { "provider": "alipay", "transaction_id": "2026120622001" },
            "outcome": {
                "network_status": "approved_by_network", "reason": null,
                "risk_level": "not_assessed", "risk_score": 0, "rule": null,
                "seller_message": "Payment complete.", "kind": "authorized",
            },
        })));
    }

    /// The exact bytes of `payment_method_details` of a paid wallet charge:
    /// Stripe's `alipay` / `wechat_pay` hashes with what the provider said.
    #[test]
    fn wallet_details_are_written_in_stripes_shape() {
        let alipay = charge(json!({
            "card": null, "payment_method": "pm_1",
            "wallet": { "provider": "alipay", "transaction_id": "2026120622001",
                        "buyer_id": "2088000000000001", "fingerprint": "ab12" },
        }));
        assert_same_bytes(&alipay);
        let typed = serde_json::to_value(ChargeWire::of(&alipay)).expect("serializes");
        assert_eq!(typed["payment_method"], "pm_1");
        assert_eq!(
            typed["payment_method_details"].to_string(),
            r#"{"alipay":{"buyer_id":"2088000000000001","fingerprint":"ab12","transaction_id":"2026120622001"},"type":"alipay"}"#
        );
        let wechat = charge(json!({
            "card": null, "payment_method": "pm_2",
            "wallet": { "provider": "wechat_pay", "transaction_id": "4200001",
                        "fingerprint": "cd34" },
        }));
        assert_same_bytes(&wechat);
        let typed = serde_json::to_value(ChargeWire::of(&wechat)).expect("serializes");
        assert_eq!(
            typed["payment_method_details"].to_string(),
            r#"{"wechat_pay":{"app_id":null,"fingerprint":"cd34","location":null,"reader":null,"transaction_id":"4200001"},"type":"wechat_pay"}"#
        );
        // A provider that named no buyer: null, nothing invented.
        let unnamed = charge(json!({
            "card": null,
            "wallet": { "provider": "alipay", "transaction_id": null },
        }));
        let typed = serde_json::to_value(ChargeWire::of(&unnamed)).expect("serializes");
        assert_eq!(
            typed["payment_method_details"]["alipay"].to_string(),
            r#"{"buyer_id":null,"fingerprint":null,"transaction_id":null}"#
        );
    }
}
