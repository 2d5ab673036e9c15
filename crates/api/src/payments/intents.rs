//! `/v1/payment_intents`: create (optionally confirming), retrieve, update,
//! confirm, list and search. Capture and cancel live in `capture`.

use super::confirm::{
    check_confirmable, confirm, confirm_input_from, confirm_new, resolve_method, ConfirmInput,
};
use super::records::{self, load};
use super::render::render_payment_intent;
use super::Ctx;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::events::{event, previous_attributes, Origin};
use crate::expand::Expand;
use crate::idempotency::{self, json_response, AnswerBody, Executed};
use crate::lists;
use crate::routes::{doc, Routes};
use crate::state::AppState;
use crate::wire::{ApiRequest, Params};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_domain::api_keys::{Access, KeyKind};
use portcullis_domain::customers::Patch;
use portcullis_domain::money::{Amount, Currency, MoneyError};
use portcullis_domain::payment_intents::{
    CaptureMethod, IntentChanges, IntentError, IntentPurpose, PaymentIntent, PaymentIntentStatus,
};
use portcullis_domain::search::SearchQuery;
use portcullis_store::{ListQuery, SqlValue, StoreError, Table, WriteSet};
use serde_json::Value;

pub const RESOURCE: &str = "payment_intents";
pub const EXPANDABLE: &[&str] = &["customer", "payment_method", "latest_charge"];
const SEARCHABLE: &[&str] = &["status", "customer", "created"];
const URL: &str = "/v1/payment_intents";
/// The payment method types an intent may list.
const ACCEPTED_TYPES: &[&str] = &["card", "alipay", "wechat_pay", "customer_balance"];

use super::request_params as rp;

pub fn routes() -> Routes {
    let one = "/v1/payment_intents/{id}";
    Routes::new()
        .post(
            doc(
                URL,
                "Create a PaymentIntent (confirm=true to pay at once)",
                "payment_intent",
            )
            .params(rp::INTENT_CREATE),
            create,
        )
        .get(
            doc(URL, "List PaymentIntents, newest first", "list").params(rp::INTENT_LIST),
            list,
        )
        .get(
            doc(
                "/v1/payment_intents/search",
                "Search PaymentIntents",
                "search_result",
            )
            .params(crate::routes::params::SEARCH),
            search,
        )
        .get(
            doc(one, "Retrieve a PaymentIntent", "payment_intent").params(rp::INTENT_RETRIEVE),
            retrieve,
        )
        .post(
            doc(one, "Update a PaymentIntent", "payment_intent").params(rp::INTENT_UPDATE),
            update,
        )
        .post(
            doc(
                "/v1/payment_intents/{id}/confirm",
                "Confirm a PaymentIntent",
                "payment_intent",
            )
            .params(rp::INTENT_CONFIRM),
            confirm_endpoint,
        )
        .post(
            doc(
                "/v1/payment_intents/{id}/capture",
                "Capture an authorized PaymentIntent",
                "payment_intent",
            )
            .params(rp::INTENT_CAPTURE),
            super::capture::capture,
        )
        .post(
            doc(
                "/v1/payment_intents/{id}/cancel",
                "Cancel a PaymentIntent",
                "payment_intent",
            )
            .params(rp::INTENT_CANCEL),
            super::capture::cancel,
        )
}

/// 400 with the amount's own error code.
pub fn money_error(err: MoneyError, param: &str) -> ApiError {
    let message = match err {
        MoneyError::AmountTooSmall => "Amount must be at least 1 in the currency's minor unit.",
        MoneyError::AmountTooLarge => {
            "Amount must be no more than 99,999,999 in the currency's minor unit."
        }
        MoneyError::InvalidCurrency => "Invalid currency: use a three-letter ISO 4217 code.",
    };
    ApiError::invalid(err.code(), message, param)
}

fn intent_error(err: IntentError, intent: &PaymentIntent) -> ApiError {
    match err {
        IntentError::UnexpectedState { action, .. } => super::unexpected_state(intent, action),
        IntentError::Metadata(e) => {
            ApiError::invalid("parameter_invalid", e.to_string(), e.param())
        }
    }
}

/// Reads the fields create and update share.
fn changes_from(params: &mut Params) -> ApiResult<IntentChanges> {
    let amount = match params.integer("amount")? {
        Some(minor) => Some(Amount::parse_minor(minor).map_err(|e| money_error(e, "amount"))?),
        None => None,
    };
    let currency = match params.string("currency", 3)? {
        Some(code) => Some(Currency::parse(&code).map_err(|e| money_error(e, "currency"))?),
        None => None,
    };
    let capture_method = match params.string("capture_method", 20)? {
        Some(text) => Some(CaptureMethod::parse(&text).ok_or_else(|| {
            ApiError::invalid(
                "parameter_invalid",
                "capture_method must be automatic, automatic_async or manual.",
                "capture_method",
            )
        })?),
        None => None,
    };
    Ok(IntentChanges {
        amount,
        currency,
        customer: params.patch_string("customer", 255)?,
        description: params.patch_string("description", 1000)?,
        metadata: params.metadata()?,
        payment_method: None,
        receipt_email: params.patch_string("receipt_email", 512)?,
        return_url: None,
        capture_method,
        statement_descriptor_suffix: params.patch_string("statement_descriptor_suffix", 22)?,
        setup_future_usage: params.patch_string("setup_future_usage", 20)?,
    })
}

struct CreateRequest {
    changes: IntentChanges,
    payment_method_types: Vec<String>,
    purpose: Option<IntentPurpose>,
    confirm: bool,
    confirm_input: ConfirmInput,
    expand: Expand,
}

fn parse_create(caller: &Caller, params: &mut Params, now_s: i64) -> ApiResult<CreateRequest> {
    let changes = changes_from(params)?;
    if changes.amount.is_none() {
        return Err(ApiError::missing_parameter("amount"));
    }
    if changes.currency.is_none() {
        return Err(ApiError::missing_parameter("currency"));
    }
    let payment_method_types = match params.patch_string_list("payment_method_types", 30)? {
        Patch::Set(types) => types,
        _ => vec!["card".to_owned()],
    };
    if let Some(bad) = payment_method_types
        .iter()
        .find(|t| !ACCEPTED_TYPES.contains(&t.as_str()))
    {
        return Err(ApiError::invalid(
            "parameter_invalid",
            format!("The payment method type {bad:?} is not supported."),
            "payment_method_types",
        ));
    }
    if let Some(method) = params.string("confirmation_method", 20)? {
        if method != "automatic" && method != "manual" {
            return Err(ApiError::invalid(
                "parameter_invalid",
                "confirmation_method must be automatic or manual.",
                "confirmation_method",
            ));
        }
    }
    if let Some(mut automatic) = params.object("automatic_payment_methods")? {
        automatic.boolean("enabled")?;
        automatic.string("allow_redirects", 10)?;
        automatic.finish()?;
    }
    let purpose = purpose_from(params, &changes, &payment_method_types)?;
    let confirm = params.boolean("confirm")?.unwrap_or(false);
    let confirm_input = confirm_input_from(params, now_s)?;
    if !confirm
        && (confirm_input.off_session
            || confirm_input.method.as_ref().is_some_and(|method| {
                method.is_inline()
                    || matches!(
                        method,
                        super::confirm::MethodSource::Wallet(..)
                            | super::confirm::MethodSource::CustomerBalance
                    )
            }))
    {
        // Stripe accepts these only with confirm=true.
        let param = if confirm_input.off_session {
            "off_session"
        } else {
            "payment_method_data"
        };
        return Err(ApiError::invalid(
            "parameter_invalid",
            format!("{param} may only be given with confirm=true."),
            param,
        ));
    }
    let expand = Expand::parse(caller, params.expand()?, EXPANDABLE, false)?;
    std::mem::take(params).finish()?;
    Ok(CreateRequest {
        changes,
        payment_method_types,
        purpose,
        confirm,
        confirm_input,
        expand,
    })
}

/// Reads `purpose`: a top-up names the customer whose wallet it fills and
/// cannot itself be paid from a wallet.
fn purpose_from(
    params: &mut Params,
    changes: &IntentChanges,
    payment_method_types: &[String],
) -> ApiResult<Option<IntentPurpose>> {
    let Some(text) = params.string("purpose", 30)? else {
        return Ok(None);
    };
    let purpose = IntentPurpose::parse(&text).ok_or_else(|| {
        ApiError::invalid(
            "parameter_invalid",
            "purpose must be customer_balance_top_up.",
            "purpose",
        )
    })?;
    if !matches!(changes.customer, Patch::Set(_)) {
        return Err(ApiError::invalid(
            "parameter_missing",
            "A customer_balance_top_up PaymentIntent needs the customer whose balance it credits.",
            "customer",
        ));
    }
    if payment_method_types.iter().any(|t| t == "customer_balance") {
        return Err(ApiError::invalid(
            "parameter_invalid",
            "A top-up of the customer balance cannot be paid from a customer balance.",
            "payment_method_types",
        ));
    }
    Ok(Some(purpose))
}

/// An intent id derived from the idempotency key (unguessable: a keyed
/// hash), so a retry after a failure between phases finds the same intent
/// instead of creating, and charging, a second one.
fn intent_id_for(
    state: &AppState,
    caller: &Caller,
    idempotency_key: Option<&str>,
) -> Option<String> {
    let key = idempotency_key?;
    let data = format!("{}\u{0}{key}", caller.merchant_id);
    Some(format!(
        "pi_{}",
        &state.key_hasher.keyed_digest("payment_intent_id", &data)[..24]
    ))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    mut request: ApiRequest,
) -> Response {
    let parsed = caller
        .require(RESOURCE, Access::Write)
        .and_then(|()| parse_create(&caller, &mut request.params, state.now()));
    let create = match parsed {
        Ok(create) => create,
        Err(err) => return err.into_response(),
    };
    let fixed_id = intent_id_for(&state, &caller, request.idempotency_key.as_deref());
    idempotency::respond(&state, &caller, &request, || async {
        let scope = caller.scope();
        let origin = Origin::of(&request);
        let ctx = Ctx {
            state: &state,
            scope: &scope,
            origin: &origin,
        };
        if create.confirm && !stored(&ctx, fixed_id.as_deref()).await? {
            // The common case: phase one stores the new intent.
            let (intent, created) = build_intent(&ctx, &create, fixed_id.as_deref()).await?;
            let mut done = confirm_new(&ctx, intent, created, &create.confirm_input).await?;
            if done.status == StatusCode::OK {
                done.body =
                    super::expanded_after(&state, &caller, done.body, &create.expand, &done.writes)
                        .await?;
            }
            return Ok(done);
        }
        if create.confirm {
            let customer = match &create.changes.customer {
                Patch::Set(customer) => Some(customer.as_str()),
                _ => None,
            };
            check_confirmable(&state, &scope, &create.confirm_input, customer).await?;
        }
        let (id, retried) = insert_intent(&ctx, &create, fixed_id.as_deref()).await?;
        if retried {
            // A retry of a request that died mid-way: answer what the first
            // one achieved (recovery may have settled it) rather than
            // confirming a second time — unless it died before confirming.
            let (_, intent) = load::<PaymentIntent>(&state, &scope, &id, "intent").await?;
            let never_confirmed = intent.pending_attempt.is_none()
                && intent.latest_charge.is_none()
                && matches!(
                    intent.status,
                    PaymentIntentStatus::RequiresPaymentMethod
                        | PaymentIntentStatus::RequiresConfirmation
                );
            if !(create.confirm && never_confirmed) {
                let body = super::expanded(
                    &state,
                    &caller,
                    render_payment_intent(&intent),
                    &create.expand,
                )
                .await?;
                return Ok(Executed::ok(body, WriteSet::new()));
            }
        }
        if !create.confirm {
            let (_, intent) = load::<PaymentIntent>(&state, &scope, &id, "intent").await?;
            let body = super::expanded(
                &state,
                &caller,
                render_payment_intent(&intent),
                &create.expand,
            )
            .await?;
            return Ok(Executed::ok(body, WriteSet::new()));
        }
        let mut done = confirm(&ctx, &id, &create.confirm_input).await?;
        if done.status == StatusCode::OK {
            done.body =
                super::expanded_after(&state, &caller, done.body, &create.expand, &done.writes)
                    .await?;
        }
        Ok(done)
    })
    .await
}

/// Whether an earlier attempt of this request stored its intent already.
async fn stored(ctx: &Ctx<'_>, fixed_id: Option<&str>) -> ApiResult<bool> {
    match fixed_id {
        None => Ok(false),
        Some(id) => Ok(ctx
            .state
            .store
            .get(Table::PaymentIntents, ctx.scope, id)
            .await?
            .is_some()),
    }
}

/// Stores a new intent with its `payment_intent.created` event; returns its
/// id, and whether it already existed: an intent stored under `fixed_id` by
/// an earlier attempt of the same request is kept.
async fn insert_intent(
    ctx: &Ctx<'_>,
    create: &CreateRequest,
    fixed_id: Option<&str>,
) -> ApiResult<(String, bool)> {
    let (intent, created) = build_intent(ctx, create, fixed_id).await?;
    let mut writes = WriteSet::new();
    writes.push(records::insert(ctx.scope, &intent)?);
    writes.ops.extend(created.ops);
    match ctx.state.store.commit(writes).await {
        Ok(()) => Ok((intent.id, false)),
        Err(StoreError::Duplicate) if fixed_id.is_some() => Ok((intent.id, true)),
        Err(err) => Err(err.into()),
    }
}

/// A new intent, not stored, and the writes that go with storing it: its
/// `payment_intent.created` event (and a payment method it names).
async fn build_intent(
    ctx: &Ctx<'_>,
    create: &CreateRequest,
    fixed_id: Option<&str>,
) -> ApiResult<(PaymentIntent, WriteSet)> {
    let changes = &create.changes;
    let (amount, currency) = (
        changes.amount.expect("checked in parse"),
        changes.currency.expect("checked in parse"),
    );
    let mut intent = PaymentIntent::create(
        amount,
        currency,
        create.payment_method_types.clone(),
        ctx.scope.livemode,
        ctx.state.now(),
    );
    intent.purpose = create.purpose;
    if let Some(id) = fixed_id {
        intent.client_secret = intent.client_secret.replacen(&intent.id, id, 1);
        intent.id = id.to_owned();
    }
    if let Patch::Set(customer) = &changes.customer {
        super::methods::ensure_customer_exists(ctx.state, ctx.scope, customer).await?;
    }
    let mut writes = WriteSet::new();
    let mut changes = changes.clone();
    if let Some(super::confirm::MethodSource::Existing(_)) = &create.confirm_input.method {
        if !create.confirm {
            let source = create.confirm_input.method.as_ref().expect("matched");
            let (method, method_writes) = resolve_method(ctx.state, ctx.scope, source).await?;
            let customer = match &changes.customer {
                Patch::Set(customer) => Some(customer.as_str()),
                _ => None,
            };
            super::confirm::check_owner(ctx.state, ctx.scope, customer, &method).await?;
            writes.ops.extend(method_writes);
            changes.payment_method = Some(method.id);
        }
    }
    intent
        .change(&changes)
        .map_err(|e| intent_error(e, &intent.clone()))?;
    if create.confirm {
        intent.return_url = create.confirm_input.return_url.clone();
    }
    intent.customer_ip = create.confirm_input.customer_ip.map(|ip| ip.to_string());
    writes.push(created_event(ctx, &intent));
    Ok((intent, writes))
}

/// The `payment_intent.created` event of a new intent.
pub(crate) fn created_event(ctx: &Ctx<'_>, intent: &PaymentIntent) -> portcullis_store::WriteOp {
    event(
        ctx.scope,
        "payment_intent.created",
        &super::intent_wire::IntentWire::of(intent),
        None,
        ctx.origin,
        ctx.state.now(),
    )
}

/// Publishable keys reach an intent only with its client secret.
fn check_client_secret(
    caller: &Caller,
    params: &mut Params,
    intent: Option<&PaymentIntent>,
) -> ApiResult<()> {
    let secret = params.string("client_secret", 255)?;
    if caller.kind != KeyKind::Publishable {
        return Ok(());
    }
    match (secret, intent) {
        (Some(secret), Some(intent)) if secrets_equal(&secret, &intent.client_secret) => Ok(()),
        (Some(_), Some(_)) => Err(ApiError::invalid(
            "parameter_invalid",
            "The client_secret does not match this PaymentIntent.",
            "client_secret",
        )),
        (None, _) => Err(ApiError::forbidden(
            "A publishable key needs the PaymentIntent's client_secret.",
        )),
        (Some(_), None) => Ok(()),
    }
}

/// Compares client secrets in constant time, so response timing does not
/// reveal how much of a guessed secret is right.
fn secrets_equal(presented: &str, expected: &str) -> bool {
    use subtle::ConstantTimeEq;
    presented.as_bytes().ct_eq(expected.as_bytes()).into()
}

/// What `caller` may see of an answer about an intent: everything, or for
/// a publishable key only Stripe's publishable fields.
fn as_seen_by(caller: &Caller, body: Value) -> Value {
    if caller.kind == KeyKind::Publishable {
        super::render::publishable_answer(body)
    } else {
        body
    }
}

/// [`as_seen_by`] for an answer that may still be rendered bytes: parsed
/// only when the caller's key cuts it down.
fn answer_seen_by(caller: &Caller, body: AnswerBody) -> ApiResult<AnswerBody> {
    if caller.kind == KeyKind::Publishable {
        Ok(as_seen_by(caller, body.into_tree()?).into())
    } else {
        Ok(body)
    }
}

async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        if caller.kind != KeyKind::Publishable {
            caller.require(RESOURCE, Access::Read)?;
        }
        let (_, intent) = load::<PaymentIntent>(&state, &caller.scope(), &id, "intent").await?;
        check_client_secret(&caller, &mut request.params, Some(&intent))?;
        let expand = Expand::parse(&caller, request.params.expand()?, EXPANDABLE, false)?;
        std::mem::take(&mut request.params).finish()?;
        let body =
            super::expanded(&state, &caller, render_payment_intent(&intent), &expand).await?;
        Ok(as_seen_by(&caller, body))
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
        let changes = changes_from(params)?;
        let method = params.string("payment_method", 255)?;
        let types = params.patch_string_list("payment_method_types", 30)?;
        if matches!(&types, Patch::Set(t) if t.iter().any(|t| !ACCEPTED_TYPES.contains(&t.as_str())))
        {
            return Err(ApiError::invalid(
                "parameter_invalid",
                "payment_method_types may hold card, alipay, wechat_pay and customer_balance.",
                "payment_method_types",
            ));
        }
        let expand = Expand::parse(&caller, params.expand()?, EXPANDABLE, false)?;
        std::mem::take(params).finish()?;
        Ok::<_, ApiError>((changes, method, expand))
    })();
    let (changes, method, expand) = match parsed {
        Ok(parsed) => parsed,
        Err(err) => return err.into_response(),
    };
    idempotency::respond(&state, &caller, &request, || async {
        let scope = caller.scope();
        let _lock = state.locks.lock(&id).await;
        let (doc, before) = load::<PaymentIntent>(&state, &scope, &id, "intent").await?;
        let mut intent = before.clone();
        let mut writes = WriteSet::new();
        let mut changes = changes.clone();
        if let Patch::Set(customer) = &changes.customer {
            super::methods::ensure_customer_exists(&state, &scope, customer).await?;
        }
        let mut named_method = None;
        if let Some(source) = &method {
            let source = super::confirm::MethodSource::Existing(source.clone());
            let (method, method_writes) = resolve_method(&state, &scope, &source).await?;
            writes.ops.extend(method_writes);
            changes.payment_method = Some(method.id.clone());
            named_method = Some(method);
        }
        intent
            .change(&changes)
            .map_err(|e| intent_error(e, &before))?;
        if let Some(method) = &named_method {
            super::confirm::check_owner(&state, &scope, intent.customer.as_deref(), method).await?;
        }
        let rendered = render_payment_intent(&intent);
        let previous = previous_attributes(&render_payment_intent(&before), &rendered);
        writes.push(records::update(&scope, &doc, &intent)?);
        writes.push(event(
            &scope,
            "payment_intent.updated",
            &rendered,
            previous,
            &Origin::of(&request),
            state.now(),
        ));
        let body =
            super::expanded_after(&state, &caller, rendered.into(), &expand, &writes).await?;
        Ok(Executed::ok(body, writes))
    })
    .await
}

async fn confirm_endpoint(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let parsed = async {
        if caller.kind != KeyKind::Publishable {
            caller.require(RESOURCE, Access::Write)?;
        }
        let (_, intent) = load::<PaymentIntent>(&state, &caller.scope(), &id, "intent").await?;
        let params = &mut request.params;
        check_client_secret(&caller, params, Some(&intent))?;
        let mut input = confirm_input_from(params, state.now())?;
        if caller.kind == KeyKind::Publishable {
            // A browser names its own address as it likes; risk rules see
            // the connection's (the merchant's server may name its
            // customer's with a secret key).
            input.customer_ip = request.client_ip;
        }
        // An app confirming a balance payment for its signed-in holder: the
        // session's device counts for the new-device step-up.
        if crate::customer_balance::payments::pays_from_balance(&intent, &input) {
            input.holder = crate::accounts::devices::holder_of(&state, &caller, &headers).await?;
        }
        params.string("receipt_email", 512)?;
        if let Some(method) = params.string("capture_method", 20)? {
            if CaptureMethod::parse(&method) != Some(intent.capture_method) {
                return Err(ApiError::invalid(
                    "parameter_invalid",
                    "capture_method cannot be changed at confirmation.",
                    "capture_method",
                ));
            }
        }
        let expand = Expand::parse(&caller, params.expand()?, EXPANDABLE, false)?;
        std::mem::take(params).finish()?;
        Ok::<_, ApiError>((input, expand))
    };
    let (input, expand) = match parsed.await {
        Ok(parsed) => parsed,
        Err(err) => return err.into_response(),
    };
    idempotency::respond(&state, &caller, &request, || async {
        let scope = caller.scope();
        let origin = Origin::of(&request);
        let ctx = Ctx {
            state: &state,
            scope: &scope,
            origin: &origin,
        };
        let mut done = confirm(&ctx, &id, &input).await?;
        if done.status == StatusCode::OK {
            done.body =
                super::expanded_after(&state, &caller, done.body, &expand, &done.writes).await?;
        }
        done.body = answer_seen_by(&caller, done.body)?;
        Ok(done)
    })
    .await
}

async fn list(State(state): State<AppState>, caller: Caller, mut request: ApiRequest) -> Response {
    let result = async {
        caller.require(RESOURCE, Access::Read)?;
        let params = &mut request.params;
        let mut filters = vec![];
        if let Some(customer) = params.string("customer", 255)? {
            filters.push(("customer", SqlValue::Text(customer)));
        }
        let query = ListQuery {
            scope: caller.scope(),
            filters,
            one_of: vec![],
            created: lists::created(params)?,
            cursor: lists::cursor(params)?,
            limit: lists::limit(params)?,
        };
        let expand = Expand::parse(&caller, params.expand()?, EXPANDABLE, true)?;
        std::mem::take(params).finish()?;
        let page = state
            .store
            .list(Table::PaymentIntents, &query)
            .await
            .map_err(|err| match err {
                StoreError::NotFound => lists::cursor_not_found("payment_intent", &query.cursor),
                other => other.into(),
            })?;
        let data = render_all(&state, &caller, &page.docs, &expand).await?;
        Ok(lists::list_object(URL, data, page.has_more))
    };
    answer(result.await)
}

async fn search(
    State(state): State<AppState>,
    caller: Caller,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        caller.require(RESOURCE, Access::Read)?;
        let params = &mut request.params;
        let text = params.required_string("query", 1000)?;
        let query = SearchQuery::parse(&text)
            .map_err(|err| ApiError::invalid("parameter_invalid", err.to_string(), "query"))?;
        lists::check_search(&query, Table::PaymentIntents, SEARCHABLE, "payment intents")?;
        let limit = lists::limit(params)?;
        let after_seq = lists::search_page(&state, &caller.scope(), Table::PaymentIntents, params)?;
        let expand = Expand::parse(&caller, params.expand()?, EXPANDABLE, true)?;
        std::mem::take(params).finish()?;
        let page = state
            .store
            .search(
                Table::PaymentIntents,
                &caller.scope(),
                &query,
                after_seq,
                limit,
            )
            .await?;
        let data = render_all(&state, &caller, &page.docs, &expand).await?;
        Ok(lists::search_object(
            &state,
            &caller.scope(),
            Table::PaymentIntents,
            "/v1/payment_intents/search",
            &page,
            data,
        ))
    };
    answer(result.await)
}

async fn render_all(
    state: &AppState,
    caller: &Caller,
    docs: &[portcullis_store::Doc],
    expand: &Expand,
) -> ApiResult<Vec<Value>> {
    let mut data = Vec::with_capacity(docs.len());
    for intent in records::decode_all::<PaymentIntent>(docs)? {
        data.push(super::expanded(state, caller, render_payment_intent(&intent), expand).await?);
    }
    Ok(data)
}

fn answer(result: ApiResult<Value>) -> Response {
    match result {
        Ok(body) => json_response(StatusCode::OK, body.to_string()),
        Err(err) => err.into_response(),
    }
}
