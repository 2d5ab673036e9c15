//! `/v1/payment_methods` (types `card`, `alipay`, `wechat_pay`): create, retrieve, update, attach,
//! detach, list, and `/v1/customers/{id}/payment_methods`. Publishable keys
//! may create payment methods, as browsers do.

use super::cards::{details_of, parse_card, seal, CardInput};
use super::render::render_payment_method;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::events::{event, previous_attributes, Origin};
use crate::idempotency::{self, json_response, Executed};
use crate::lists;
use crate::routes::{doc, Routes};
use crate::state::AppState;
use crate::stored_json;
use crate::wire::{ApiRequest, Params};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_domain::api_keys::{Access, KeyKind};
use portcullis_domain::cards::CardNumber;
use portcullis_domain::customers::Address;
use portcullis_domain::ids::new_id;
use portcullis_domain::metadata::Metadata;
use portcullis_domain::payment_methods::{
    BillingDetails, CardDetails, PaymentMethod, PaymentMethodType,
};
use portcullis_domain::sandbox_cards::test_payment_method_number;
use portcullis_store::{Doc, ListQuery, Scope, SqlValue, StoreError, Table, WriteOp, WriteSet};
use serde_json::Value;

const RESOURCE: &str = "payment_methods";

use super::request_params as rp;
use crate::routes::params::NONE;

pub fn routes() -> Routes {
    let one = "/v1/payment_methods/{id}";
    Routes::new()
        .post(
            doc(
                "/v1/payment_methods",
                "Create a PaymentMethod (card, alipay, wechat_pay)",
                "payment_method",
            )
            .params(rp::METHOD_CREATE),
            create,
        )
        .get(
            doc("/v1/payment_methods", "List PaymentMethods", "list").params(rp::METHOD_LIST),
            list,
        )
        .get(
            doc(one, "Retrieve a PaymentMethod", "payment_method").params(NONE),
            retrieve,
        )
        .post(
            doc(one, "Update a PaymentMethod", "payment_method").params(rp::METHOD_UPDATE),
            update,
        )
        .post(
            doc(
                "/v1/payment_methods/{id}/attach",
                "Attach a PaymentMethod to a customer",
                "payment_method",
            )
            .params(rp::METHOD_ATTACH),
            attach,
        )
        .post(
            doc(
                "/v1/payment_methods/{id}/detach",
                "Detach a PaymentMethod from its customer",
                "payment_method",
            )
            .params(NONE),
            detach,
        )
        .get(
            doc(
                "/v1/customers/{id}/payment_methods",
                "List a customer's PaymentMethods",
                "list",
            )
            .params(rp::CUSTOMER_METHOD_LIST),
            list_for_customer,
        )
}

/// A new card payment method and the writes that store it (vault record
/// and document), for create and for inline `payment_method_data`.
pub fn new_card_method(
    state: &AppState,
    scope: &Scope,
    input: &CardInput,
    billing_details: BillingDetails,
    metadata: Metadata,
) -> ApiResult<(PaymentMethod, Vec<WriteOp>)> {
    let id = new_id("pm");
    let created = state.now();
    let (card, vault_write) = seal(state, scope, &id, input, created)?;
    let method = PaymentMethod {
        id,
        created,
        livemode: scope.livemode,
        customer: None,
        billing_details,
        kind: PaymentMethodType::Card,
        card: Some(card),
        metadata,
        test_card: None,
    };
    if let Some(cvc) = &input.cvc {
        state.cvcs.hold(&method.id, cvc.clone());
    }
    let doc_write = insert_write(scope, &method)?;
    Ok((method, vec![vault_write, doc_write]))
}

/// A payment method from a test id such as `pm_card_visa` (test mode only):
/// a fresh payment method for that test card, as Stripe does. Its number
/// is public, so nothing is sealed: the only write is the document, which
/// names the test id ([`PaymentMethod::test_card`]).
pub fn from_test_id(
    state: &AppState,
    scope: &Scope,
    test_id: &str,
) -> ApiResult<Option<(PaymentMethod, Vec<WriteOp>)>> {
    let Some(number) = test_payment_method_number(test_id).filter(|_| !scope.livemode) else {
        return Ok(None);
    };
    let number = CardNumber::parse(number).map_err(|e| ApiError::internal(&e))?;
    let (year, _) = portcullis_domain::year_month_of(state.now());
    let expiry = portcullis_domain::cards::CardExpiry::from_stored(12, (year + 3) as u16)
        .ok_or_else(|| ApiError::internal(&"test card expiry"))?;
    let input = CardInput {
        number,
        expiry,
        cvc: None,
    };
    let method = PaymentMethod {
        id: new_id("pm"),
        created: state.now(),
        livemode: scope.livemode,
        customer: None,
        billing_details: BillingDetails::default(),
        kind: PaymentMethodType::Card,
        card: Some(details_of(state, scope, &input)),
        metadata: Metadata::default(),
        test_card: Some(test_id.to_owned()),
    };
    let doc_write = insert_write(scope, &method)?;
    Ok(Some((method, vec![doc_write])))
}

/// A new wallet payment method (`alipay`, `wechat_pay`) and the write
/// that stores it: for create, and for a confirm paying with a wallet.
pub fn new_wallet_method(
    state: &AppState,
    scope: &Scope,
    kind: PaymentMethodType,
    billing_details: BillingDetails,
    metadata: Metadata,
) -> ApiResult<(PaymentMethod, WriteOp)> {
    let mut method = PaymentMethod::wallet(
        new_id("pm"),
        state.now(),
        scope.livemode,
        kind,
        billing_details,
    );
    method.metadata = metadata;
    let write = insert_write(scope, &method)?;
    Ok((method, write))
}

fn insert_write(scope: &Scope, method: &PaymentMethod) -> ApiResult<WriteOp> {
    Ok(WriteOp::Insert {
        table: Table::PaymentMethods,
        scope: scope.clone(),
        id: method.id.clone(),
        created: method.created,
        columns: method_columns(method),
        body: stored_json::to_string_sized(method, stored_json::RECORD_BYTES_INITIAL)
            .map_err(|e| ApiError::internal(&e))?,
    })
}

fn method_columns(method: &PaymentMethod) -> Vec<(&'static str, SqlValue)> {
    vec![
        ("customer", method.customer.as_deref().into()),
        (
            "method_type",
            SqlValue::Text(method.kind.as_str().to_owned()),
        ),
    ]
}

fn update_write(scope: &Scope, doc: &Doc, method: &PaymentMethod) -> ApiResult<WriteOp> {
    Ok(WriteOp::Update {
        table: Table::PaymentMethods,
        scope: scope.clone(),
        id: method.id.clone(),
        expected_version: doc.version,
        columns: method_columns(method),
        body: stored_json::to_string_sized(method, stored_json::RECORD_BYTES_INITIAL)
            .map_err(|e| ApiError::internal(&e))?,
    })
}

/// The card of `method`; a wallet payment method cannot pay where a card
/// is asked for (a card flow, a card's expiry).
pub fn card_of(method: &PaymentMethod) -> ApiResult<&CardDetails> {
    method.card.as_ref().ok_or_else(|| {
        ApiError::invalid(
            "payment_intent_incompatible_payment_method",
            format!(
                "The PaymentMethod {} is of type {}, not card.",
                method.id,
                method.kind.as_str()
            ),
            "payment_method",
        )
    })
}

/// [`card_of`], for a card payment method to change.
pub fn card_of_mut(method: &mut PaymentMethod) -> ApiResult<&mut CardDetails> {
    card_of(method)?;
    method
        .card
        .as_mut()
        .ok_or_else(|| ApiError::internal(&"a card payment method without its card"))
}

/// The caller's payment method `id`; 404 when it is not theirs.
pub async fn load(
    state: &AppState,
    scope: &Scope,
    id: &str,
    param: &str,
) -> ApiResult<(Doc, PaymentMethod)> {
    let doc = state
        .store
        .get(Table::PaymentMethods, scope, id)
        .await?
        .ok_or_else(|| ApiError::no_such("payment_method", id, param))?;
    let method = serde_json::from_str(&doc.body).map_err(|e| ApiError::internal(&e))?;
    Ok((doc, method))
}

pub fn billing_details_from(params: &mut Params) -> ApiResult<BillingDetails> {
    let Some(mut billing) = params.object("billing_details")? else {
        return Ok(BillingDetails::default());
    };
    let address = match billing.object("address")? {
        Some(mut a) => {
            let text = |p: &mut Params, name: &str| p.string(name, 200);
            let address = Address {
                city: text(&mut a, "city")?,
                country: text(&mut a, "country")?,
                line1: text(&mut a, "line1")?,
                line2: text(&mut a, "line2")?,
                postal_code: text(&mut a, "postal_code")?,
                state: text(&mut a, "state")?,
            };
            a.finish()?;
            Some(address)
        }
        None => None,
    };
    let details = BillingDetails {
        address,
        email: billing.string("email", 512)?,
        name: billing.string("name", 200)?,
        phone: billing.string("phone", 64)?,
    };
    billing.finish()?;
    Ok(details)
}

/// Where a new card comes from: `card[number]` & co., or
/// `card[encrypted]` (a JWE, opened once parsing is done).
enum CardSource {
    Plain(CardInput),
    Encrypted(String),
}

/// What `POST /v1/payment_methods` creates: a card (from `card[…]`) or a
/// wallet's payment method (`type=alipay|wechat_pay`, whose hash is empty).
enum NewMethod {
    Card(CardSource),
    Wallet(PaymentMethodType),
}

/// `type` and the hash it names.
fn new_method_from(params: &mut Params, now_s: i64) -> ApiResult<NewMethod> {
    let text = params.required_string("type", 20)?;
    let kind = PaymentMethodType::parse(&text).ok_or_else(|| {
        ApiError::invalid(
            "parameter_invalid",
            "type must be card, alipay or wechat_pay.",
            "type",
        )
    })?;
    if kind != PaymentMethodType::Card {
        if let Some(hash) = params.object(kind.as_str())? {
            hash.finish()?;
        }
        return Ok(NewMethod::Wallet(kind));
    }
    let mut card = params
        .object("card")?
        .ok_or_else(|| ApiError::missing_parameter("card"))?;
    let input = card_source(&mut card, now_s)?;
    card.finish()?;
    Ok(NewMethod::Card(input))
}

/// `card[encrypted]` alone, or the plain card fields.
fn card_source(card: &mut Params, now_s: i64) -> ApiResult<CardSource> {
    match card.string("encrypted", crate::client_encryption::ENCRYPTED_CHARS_MAX)? {
        Some(compact) => Ok(CardSource::Encrypted(compact)),
        None => parse_card(card, now_s).map(CardSource::Plain),
    }
}

/// The publishable key may create payment methods; everything else needs
/// a secret key or a restricted key's grant.
fn require_create(caller: &Caller) -> ApiResult<()> {
    if caller.kind == KeyKind::Publishable {
        return Ok(());
    }
    caller.require(RESOURCE, Access::Write)
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    mut request: ApiRequest,
) -> Response {
    let parsed = (|| {
        require_create(&caller)?;
        let params = &mut request.params;
        let input = new_method_from(params, state.now())?;
        let billing_details = billing_details_from(params)?;
        let metadata = Metadata::default()
            .updated(
                &params
                    .metadata()?
                    .unwrap_or(portcullis_domain::metadata::MetadataUpdate::Clear),
            )
            .map_err(|e| ApiError::invalid("parameter_invalid", e.to_string(), e.param()))?;
        std::mem::take(params).finish()?;
        Ok::<_, ApiError>((input, billing_details, metadata))
    })();
    let (input, billing_details, metadata) = match parsed {
        Ok(parsed) => parsed,
        Err(err) => return err.into_response(),
    };
    let input = match input {
        NewMethod::Card(CardSource::Encrypted(compact)) => {
            match crate::client_encryption::open_card(&state, &compact).await {
                Ok(card) => NewMethod::Card(CardSource::Plain(card)),
                Err(err) => return err.into_response(),
            }
        }
        other => other,
    };
    idempotency::respond(&state, &caller, &request, || async {
        let scope = caller.scope();
        let (billing, metadata) = (billing_details.clone(), metadata.clone());
        let (method, writes) = match &input {
            NewMethod::Card(CardSource::Plain(card)) => {
                new_card_method(&state, &scope, card, billing, metadata)?
            }
            NewMethod::Card(CardSource::Encrypted(_)) => {
                return Err(ApiError::internal(&"an encrypted card left unopened"))
            }
            NewMethod::Wallet(kind) => {
                let (method, write) = new_wallet_method(&state, &scope, *kind, billing, metadata)?;
                (method, vec![write])
            }
        };
        Ok(Executed::ok(
            render_payment_method(&method),
            WriteSet { ops: writes },
        ))
    })
    .await
}

async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    request: ApiRequest,
) -> Response {
    let result = async {
        caller.require(RESOURCE, Access::Read)?;
        request.params.finish()?;
        let (_, method) = load(&state, &caller.scope(), &id, "id").await?;
        Ok::<_, ApiError>(render_payment_method(&method))
    };
    answer(result.await)
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Response {
    let parsed = (|| {
        caller.require(RESOURCE, Access::Write)?;
        let params = &mut request.params;
        let billing = if params.holds_hash("billing_details") {
            Some(billing_details_from(params)?)
        } else {
            None
        };
        let metadata = params.metadata()?;
        let expiry = match params.object("card")? {
            Some(mut card) => {
                let month = card.integer("exp_month")?;
                let year = card.integer("exp_year")?;
                card.finish()?;
                Some((month, year))
            }
            None => None,
        };
        std::mem::take(params).finish()?;
        Ok::<_, ApiError>((billing, metadata, expiry))
    })();
    let (billing, metadata, expiry) = match parsed {
        Ok(parsed) => parsed,
        Err(err) => return err.into_response(),
    };
    idempotency::respond(&state, &caller, &request, || async {
        let scope = caller.scope();
        let (doc, before) = load(&state, &scope, &id, "id").await?;
        let mut method = before.clone();
        if let Some(billing) = &billing {
            method.billing_details = billing.clone();
        }
        if let Some(update) = &metadata {
            method.metadata = method
                .metadata
                .updated(update)
                .map_err(|e| ApiError::invalid("parameter_invalid", e.to_string(), e.param()))?;
        }
        if let Some((month, year)) = expiry {
            let (today_year, today_month) = portcullis_domain::year_month_of(state.now());
            let card = card_of_mut(&mut method).map_err(|_| {
                ApiError::invalid(
                    "parameter_unknown",
                    format!(
                        "card cannot be updated on a PaymentMethod of type {}.",
                        before.kind.as_str()
                    ),
                    "card",
                )
            })?;
            let expiry = portcullis_domain::cards::CardExpiry::parse(
                month.unwrap_or(i64::from(card.exp_month)),
                year.unwrap_or(i64::from(card.exp_year)),
                today_year,
                today_month,
            )
            .map_err(|e| super::cards::card_error(e, "card"))?;
            card.exp_month = expiry.month();
            card.exp_year = expiry.year();
        }
        let rendered = render_payment_method(&method);
        let previous = previous_attributes(&render_payment_method(&before), &rendered);
        let mut writes = WriteSet::new();
        writes.push(update_write(&scope, &doc, &method)?);
        writes.push(event(
            &scope,
            "payment_method.updated",
            &rendered,
            previous,
            &Origin::of(&request),
            state.now(),
        ));
        Ok(Executed::ok(rendered, writes))
    })
    .await
}

async fn attach(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Response {
    let parsed = (|| {
        caller.require(RESOURCE, Access::Write)?;
        let customer = request.params.required_string("customer", 255)?;
        std::mem::take(&mut request.params).finish()?;
        Ok::<_, ApiError>(customer)
    })();
    let customer = match parsed {
        Ok(customer) => customer,
        Err(err) => return err.into_response(),
    };
    set_customer(&state, &caller, &request, &id, Some(customer)).await
}

async fn detach(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Response {
    let parsed = caller
        .require(RESOURCE, Access::Write)
        .and_then(|()| std::mem::take(&mut request.params).finish());
    if let Err(err) = parsed {
        return err.into_response();
    }
    set_customer(&state, &caller, &request, &id, None).await
}

async fn set_customer(
    state: &AppState,
    caller: &Caller,
    request: &ApiRequest,
    id: &str,
    customer: Option<String>,
) -> Response {
    idempotency::respond(state, caller, request, || async {
        let scope = caller.scope();
        let (doc, mut method) = load(state, &scope, id, "id").await?;
        let kind = match &customer {
            Some(customer_id) => {
                ensure_customer_exists(state, &scope, customer_id).await?;
                if method.customer.as_deref().is_some_and(|c| c != customer_id) {
                    return Err(ApiError::invalid(
                        "payment_method_unexpected_state",
                        "This PaymentMethod is already attached to another customer; detach it first.",
                        "customer",
                    ));
                }
                "payment_method.attached"
            }
            None => {
                if method.customer.is_none() {
                    return Err(ApiError::invalid(
                        "payment_method_unexpected_state",
                        "This PaymentMethod is not attached to a customer.",
                        "id",
                    ));
                }
                "payment_method.detached"
            }
        };
        method.customer = customer.clone();
        let rendered = render_payment_method(&method);
        let mut writes = WriteSet::new();
        writes.push(update_write(&scope, &doc, &method)?);
        writes.push(event(&scope, kind, &rendered, None, &Origin::of(request), state.now()));
        Ok(Executed::ok(rendered, writes))
    })
    .await
}

/// 404 (`customer` param) unless the caller has a live customer `id`.
pub async fn ensure_customer_exists(state: &AppState, scope: &Scope, id: &str) -> ApiResult<()> {
    let doc = state.store.get(Table::Customers, scope, id).await?;
    let live = doc.is_some_and(|doc| !doc.body.contains("\"deleted\":true"));
    if live {
        Ok(())
    } else {
        Err(ApiError::no_such("customer", id, "customer"))
    }
}

async fn list(State(state): State<AppState>, caller: Caller, mut request: ApiRequest) -> Response {
    let customer = request.params.string("customer", 255);
    answer(
        list_methods(
            &state,
            &caller,
            &mut request.params,
            customer,
            "/v1/payment_methods",
        )
        .await,
    )
}

async fn list_for_customer(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Response {
    let url = format!("/v1/customers/{id}/payment_methods");
    let result = async {
        ensure_customer_exists(&state, &caller.scope(), &id)
            .await
            .map_err(|_| ApiError::no_such("customer", &id, "customer"))?;
        list_methods(
            &state,
            &caller,
            &mut request.params,
            Ok(Some(id.clone())),
            &url,
        )
        .await
    };
    answer(result.await)
}

async fn list_methods(
    state: &AppState,
    caller: &Caller,
    params: &mut Params,
    customer: ApiResult<Option<String>>,
    url: &str,
) -> ApiResult<Value> {
    caller.require(RESOURCE, Access::Read)?;
    let mut filters = vec![];
    if let Some(customer) = customer? {
        filters.push(("customer", SqlValue::Text(customer)));
    }
    if let Some(text) = params.string("type", 20)? {
        let kind = PaymentMethodType::parse(&text).ok_or_else(|| {
            ApiError::invalid(
                "parameter_invalid",
                "type must be card, alipay or wechat_pay.",
                "type",
            )
        })?;
        filters.push(("method_type", SqlValue::Text(kind.as_str().to_owned())));
    }
    let query = ListQuery {
        scope: caller.scope(),
        filters,
        one_of: vec![],
        created: lists::created(params)?,
        cursor: lists::cursor(params)?,
        limit: lists::limit(params)?,
    };
    std::mem::take(params).finish()?;
    let page = state
        .store
        .list(Table::PaymentMethods, &query)
        .await
        .map_err(|err| match err {
            StoreError::NotFound => lists::cursor_not_found("payment_method", &query.cursor),
            other => other.into(),
        })?;
    let data = page
        .docs
        .iter()
        .map(|doc| {
            serde_json::from_str(&doc.body)
                .map(|m: PaymentMethod| render_payment_method(&m))
                .map_err(|e| ApiError::internal(&e))
        })
        .collect::<ApiResult<Vec<Value>>>()?;
    Ok(lists::list_object(url, data, page.has_more))
}

fn answer(result: ApiResult<Value>) -> Response {
    match result {
        Ok(body) => json_response(StatusCode::OK, body.to_string()),
        Err(err) => err.into_response(),
    }
}
