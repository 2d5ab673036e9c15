//! `POST /v1/routing/evaluate`: the decision routing would make for a
//! hypothetical payment, without paying: `amount`, `currency`, and the card
//! as `payment_method` (a `pm_…` of the merchant or a `pm_card_*` test id)
//! or as `card_brand` with optional `card_funding` and `card_country`;
//! `customer`, `metadata[…]` and `payment_method_type` (default `card`)
//! as a payment would carry them. A split draws as a real payment does.

use super::decision::{self, PaymentFacts};
use super::RESOURCE;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::risk::docs::answer;
use crate::routes::params::{self as p, Param};
use crate::routes::{doc, Routes};
use crate::state::AppState;
use crate::wire::{ApiRequest, Params};
use axum::extract::State;
use axum::response::Response;
use portcullis_domain::api_keys::Access;
use portcullis_domain::card_connectors::parse_brand;
use portcullis_domain::metadata::Metadata;
use portcullis_domain::money::{Amount, Currency};
use portcullis_domain::payment_methods::PaymentMethod;
use portcullis_routing::Decision;
use portcullis_store::Scope;
use serde_json::{json, Value};

const URL: &str = "/v1/routing/evaluate";
const OBJECT: &str = "routing.decision";

/// A hypothetical payment's attributes.
const PAYMENT: &[Param] = &[
    p::string("currency", 3).required(),
    p::integer("amount").required(),
    p::string("payment_method", 255),
    p::string("card_brand", 32),
    p::string("card_funding", 16),
    p::string("card_country", 2),
    p::string("payment_method_type", 32),
    p::string("customer", 255),
    p::METADATA,
];

pub fn routes() -> Routes {
    Routes::new().post(
        doc(
            URL,
            "Dry run: the routing decision for a hypothetical payment",
            OBJECT,
        )
        .params(PAYMENT),
        evaluate,
    )
}

/// A decision on the wire (also each charge's `routing`, with `attempts`).
pub fn render_decision(decision: &Decision) -> Value {
    json!({
        "connector_account": decision.connector_account,
        "decided_by": decision.decided_by.as_str(),
        "rule": decision.rule,
        "candidates": decision.candidates,
    })
}

pub fn render_samples() -> Vec<(&'static str, Value)> {
    let decision = Decision {
        connector_account: Some("ca_sample".into()),
        decided_by: portcullis_routing::DecidedBy::Split,
        rule: Some("rr_sample".into()),
        candidates: vec!["ca_sample".into(), "ca_other".into()],
    };
    let mut body = render_decision(&decision);
    body["object"] = json!(OBJECT);
    vec![(OBJECT, body)]
}

fn invalid(param: &str, message: String) -> ApiError {
    ApiError::invalid("parameter_invalid", message, param)
}

fn metadata_of(params: &mut Params) -> ApiResult<std::collections::BTreeMap<String, String>> {
    let metadata = match params.metadata()? {
        Some(update) => Metadata::default()
            .updated(&update)
            .map_err(|e| invalid(&e.param(), e.to_string()))?,
        None => Metadata::default(),
    };
    Ok(metadata
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect())
}

/// The card of `payment_method`: a test id's card (nothing is stored), or
/// the merchant's own payment method.
async fn method_of(state: &AppState, scope: &Scope, id: &str) -> ApiResult<PaymentMethod> {
    use crate::payments::methods;
    if let Some((method, _unstored)) = methods::from_test_id(state, scope, id)? {
        return Ok(method);
    }
    Ok(methods::load(state, scope, id, "payment_method").await?.1)
}

async fn evaluate(
    State(state): State<AppState>,
    caller: Caller,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        caller.require(RESOURCE, Access::Read)?;
        let scope = caller.scope();
        let params = &mut request.params;
        let currency_text = params.required_string("currency", 3)?;
        let currency = Currency::parse(&currency_text)
            .map_err(|_| invalid("currency", format!("Invalid currency: {currency_text}.")))?;
        let amount_minor = params
            .integer("amount")?
            .ok_or_else(|| ApiError::missing_parameter("amount"))?;
        let amount =
            Amount::parse_minor(amount_minor).map_err(|e| invalid("amount", e.to_string()))?;
        let method = match params.string("payment_method", 255)? {
            Some(id) => Some(method_of(&state, &scope, &id).await?),
            None => None,
        };
        let card_brand = match (&method, params.string("card_brand", 32)?) {
            (Some(method), _) => crate::payments::methods::card_of(method)?.brand,
            (None, Some(text)) => parse_brand(&text)
                .ok_or_else(|| invalid("card_brand", format!("Invalid card_brand: {text}.")))?,
            (None, None) => return Err(ApiError::missing_parameter("card_brand")),
        };
        let facts = PaymentFacts {
            amount_minor: amount.minor(),
            currency,
            card_brand,
            bin: method
                .as_ref()
                .and_then(|m| m.card.as_ref())
                .map(|card| card.bin.as_str()),
            card_funding: params.string("card_funding", 16)?,
            card_country: params
                .string("card_country", 2)?
                .map(|c| c.to_ascii_uppercase()),
            payment_method_type: params
                .string("payment_method_type", 32)?
                .unwrap_or_else(|| "card".to_owned()),
            customer: params.string("customer", 255)?,
            metadata: metadata_of(params)?,
        };
        std::mem::take(params).finish()?;
        let segment = super::success::Segment {
            brand: card_brand,
            currency,
            bin: facts.bin.map(str::to_owned),
        };
        let payment = decision::payment_of(&state, scope.livemode, facts);
        let inputs = decision::load(&state, &scope).await?;
        let mut decided = decision::decide(&inputs, &payment, scope.livemode);
        super::success::decide(&state, &scope, &mut decided, &segment).await?;
        let mut body = render_decision(&decided);
        body["object"] = json!(OBJECT);
        Ok(body)
    };
    answer(result.await)
}
