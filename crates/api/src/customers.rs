//! `/v1/customers`: create, retrieve, update, delete, list, search.
//!
//! The first full resource and the pattern for the rest: each handler reads
//! as parse → authorise → decide (domain) → persist → respond.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::expand::Expand;
use crate::idempotency::{self, json_response, Executed};
use crate::lists;
use crate::routes::params::{self as p, Param};
use crate::routes::{doc, Routes};
use crate::state::AppState;
use crate::wire::{ApiRequest, Params};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_domain::api_keys::Access;
use portcullis_domain::customers::{
    Address, Customer, CustomerChanges, CustomerError, Email, Patch, Shipping,
};
use portcullis_domain::ids::CustomerId;
use portcullis_domain::search::SearchQuery;
use portcullis_store::{Doc, ListQuery, SqlValue, StoreError, Table, WriteOp, WriteSet};
use serde_json::{json, Value};

const RESOURCE: &str = "customers";
const EXPANDABLE: &[&str] = &[
    "default_source",
    "invoice_settings.default_payment_method",
    "test_clock",
];
const SEARCHABLE: &[&str] = &["email", "name", "created"];
const URL: &str = "/v1/customers";
const TEXT_CHARS_MAX: usize = 5000;

const ADDRESS: &[Param] = &[
    p::string("city", 200),
    p::string("country", 2),
    p::string("line1", 200),
    p::string("line2", 200),
    p::string("postal_code", 20),
    p::string("state", 200),
];
const SHIPPING: &[Param] = &[
    p::object("address", ADDRESS).required(),
    p::string("name", 200).required(),
    p::string("phone", 64),
];
/// What create and update accept.
const FIELDS: &[Param] = &[
    p::string("email", 512),
    p::string("name", TEXT_CHARS_MAX),
    p::string("description", TEXT_CHARS_MAX),
    p::string("phone", 64),
    p::object("address", ADDRESS),
    p::object("shipping", SHIPPING),
    p::list("preferred_locales"),
    p::METADATA,
    p::EXPAND,
];
const LIST: &[Param] = crate::routes::params::list_params![
    expand;
    p::string("email", 512),
];

pub fn routes() -> Routes {
    Routes::new()
        .post(
            doc(URL, "Create a customer", "customer").params(FIELDS),
            create,
        )
        .get(
            doc(URL, "List customers, newest first", "list").params(LIST),
            list,
        )
        .get(
            doc("/v1/customers/search", "Search customers", "search_result").params(p::SEARCH),
            search,
        )
        .get(
            doc(
                "/v1/customers/{id}",
                "Retrieve a customer (deleted ones answer deleted: true)",
                "customer_or_deleted",
            )
            .params(p::EXPAND_ONLY),
            retrieve,
        )
        .post(
            doc("/v1/customers/{id}", "Update a customer", "customer").params(FIELDS),
            update,
        )
        .delete(
            doc(
                "/v1/customers/{id}",
                "Delete a customer",
                "deleted_customer",
            )
            .params(p::NONE),
            delete,
        )
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    mut request: ApiRequest,
) -> Response {
    let parsed = (|| {
        caller.require(RESOURCE, Access::Write)?;
        let changes = changes_from(&mut request.params)?;
        let expand = Expand::parse(&caller, request.params.expand()?, EXPANDABLE, false)?;
        std::mem::take(&mut request.params).finish()?;
        let customer =
            Customer::create(&changes, caller.livemode(), state.now()).map_err(domain_error)?;
        Ok::<_, ApiError>((customer, expand))
    })();
    let (customer, expand) = match parsed {
        Ok(parsed) => parsed,
        Err(err) => return err.into_response(),
    };
    idempotency::respond(&state, &caller, &request, || async {
        let mut writes = WriteSet::new();
        writes.push(WriteOp::Insert {
            table: Table::Customers,
            scope: caller.scope(),
            id: customer.id.to_string(),
            created: customer.created,
            columns: columns_of(&customer),
            body: stored_body(&customer)?,
        });
        Ok(Executed::ok(
            rendered(&state, &caller, &customer, &expand).await?,
            writes,
        ))
    })
    .await
}

async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        caller.require(RESOURCE, Access::Read)?;
        let expand = Expand::parse(&caller, request.params.expand()?, EXPANDABLE, false)?;
        std::mem::take(&mut request.params).finish()?;
        let (_, customer) = load(&state, &caller, &id).await?;
        if customer.deleted {
            return Ok(deleted_object(&customer));
        }
        rendered(&state, &caller, &customer, &expand).await
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
        let changes = changes_from(&mut request.params)?;
        let expand = Expand::parse(&caller, request.params.expand()?, EXPANDABLE, false)?;
        std::mem::take(&mut request.params).finish()?;
        Ok::<_, ApiError>((changes, expand))
    })();
    let (changes, expand) = match parsed {
        Ok(parsed) => parsed,
        Err(err) => return err.into_response(),
    };
    idempotency::respond(&state, &caller, &request, || async {
        let (doc, customer) = load_live(&state, &caller, &id).await?;
        let updated = customer.updated(&changes).map_err(domain_error)?;
        let writes = update_writes(&caller, &doc, &updated)?;
        Ok(Executed::ok(
            rendered(&state, &caller, &updated, &expand).await?,
            writes,
        ))
    })
    .await
}

async fn delete(
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
    idempotency::respond(&state, &caller, &request, || async {
        let (doc, customer) = load_live(&state, &caller, &id).await?;
        let deleted = customer.deleted();
        let writes = update_writes(&caller, &doc, &deleted)?;
        Ok(Executed::ok(deleted_object(&deleted), writes))
    })
    .await
}

async fn list(State(state): State<AppState>, caller: Caller, mut request: ApiRequest) -> Response {
    let result = async {
        caller.require(RESOURCE, Access::Read)?;
        let params = &mut request.params;
        let mut filters = vec![];
        if let Some(email) = params.string("email", 512)? {
            filters.push(("email", SqlValue::Text(email)));
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
            .list(Table::Customers, &query)
            .await
            .map_err(|err| match err {
                StoreError::NotFound => lists::cursor_not_found("customer", &query.cursor),
                other => other.into(),
            })?;
        let data = render_docs(&state, &caller, &page.docs, &expand).await?;
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
        lists::check_search(&query, Table::Customers, SEARCHABLE, "customers")?;
        let limit = lists::limit(params)?;
        let after_seq = lists::search_page(&state, &caller.scope(), Table::Customers, params)?;
        let expand = Expand::parse(&caller, params.expand()?, EXPANDABLE, true)?;
        std::mem::take(params).finish()?;
        let page = state
            .store
            .search(Table::Customers, &caller.scope(), &query, after_seq, limit)
            .await?;
        let data = render_docs(&state, &caller, &page.docs, &expand).await?;
        Ok(lists::search_object(
            &state,
            &caller.scope(),
            Table::Customers,
            "/v1/customers/search",
            &page,
            data,
        ))
    };
    answer(result.await)
}

fn answer(result: ApiResult<Value>) -> Response {
    match result {
        Ok(body) => json_response(StatusCode::OK, body.to_string()),
        Err(err) => err.into_response(),
    }
}

/// Reads `email`, `name`, `description`, `phone`, `address`, `shipping`,
/// `preferred_locales` and `metadata`.
fn changes_from(params: &mut Params) -> ApiResult<CustomerChanges> {
    Ok(CustomerChanges {
        email: match params.patch_string("email", 512)? {
            Patch::Set(text) => Patch::Set(Email::parse(&text).map_err(domain_error)?),
            Patch::Clear => Patch::Clear,
            Patch::Keep => Patch::Keep,
        },
        name: params.patch_string("name", TEXT_CHARS_MAX)?,
        description: params.patch_string("description", TEXT_CHARS_MAX)?,
        phone: params.patch_string("phone", 64)?,
        address: match params.patch_object("address")? {
            Patch::Set(mut p) => Patch::Set(address_from(&mut p)?),
            Patch::Clear => Patch::Clear,
            Patch::Keep => Patch::Keep,
        },
        shipping: match params.patch_object("shipping")? {
            Patch::Set(mut p) => Patch::Set(shipping_from(&mut p)?),
            Patch::Clear => Patch::Clear,
            Patch::Keep => Patch::Keep,
        },
        preferred_locales: params.patch_string_list("preferred_locales", 35)?,
        metadata: params.metadata()?,
    })
}

fn optional(patch: Patch<String>) -> Option<String> {
    match patch {
        Patch::Set(text) => Some(text),
        Patch::Clear | Patch::Keep => None,
    }
}

fn address_from(params: &mut Params) -> ApiResult<Address> {
    let address = Address {
        city: optional(params.patch_string("city", 200)?),
        country: optional(params.patch_string("country", 2)?),
        line1: optional(params.patch_string("line1", 200)?),
        line2: optional(params.patch_string("line2", 200)?),
        postal_code: optional(params.patch_string("postal_code", 20)?),
        state: optional(params.patch_string("state", 200)?),
    };
    std::mem::take(params).finish()?;
    Ok(address)
}

fn shipping_from(params: &mut Params) -> ApiResult<Shipping> {
    let mut address = params
        .object("address")?
        .ok_or_else(|| ApiError::missing_parameter(&params.name_of("address")))?;
    let shipping = Shipping {
        address: address_from(&mut address)?,
        name: params.required_string("name", 200)?,
        phone: optional(params.patch_string("phone", 64)?),
    };
    std::mem::take(params).finish()?;
    Ok(shipping)
}

fn domain_error(err: CustomerError) -> ApiError {
    let code = match err {
        CustomerError::InvalidEmail => "email_invalid",
        CustomerError::TextTooLong { .. } => "parameter_invalid_string",
        CustomerError::TooManyLocales | CustomerError::Metadata(_) => "parameter_invalid",
    };
    ApiError::invalid(code, err.to_string(), err.param())
}

fn columns_of(customer: &Customer) -> Vec<(&'static str, SqlValue)> {
    vec![
        ("email", customer.email.as_ref().map(Email::as_str).into()),
        ("name", customer.name.as_deref().into()),
        ("deleted", SqlValue::Bool(customer.deleted)),
    ]
}

fn stored_body(customer: &Customer) -> ApiResult<String> {
    serde_json::to_string(customer).map_err(|err| ApiError::internal(&err))
}

fn update_writes(caller: &Caller, doc: &Doc, customer: &Customer) -> ApiResult<WriteSet> {
    let mut writes = WriteSet::new();
    writes.push(WriteOp::Update {
        table: Table::Customers,
        scope: caller.scope(),
        id: customer.id.to_string(),
        expected_version: doc.version,
        columns: columns_of(customer),
        body: stored_body(customer)?,
    });
    Ok(writes)
}

/// A customer of `scope` (deleted or not: the caller decides) and the
/// rewrite of its record, unchanged but version-checked: a money movement
/// of the customer commits it, so two movements of one customer are
/// serialized (the second re-executes).
pub(crate) async fn serialized_write(
    state: &AppState,
    scope: &portcullis_store::Scope,
    id: &str,
) -> ApiResult<(Customer, WriteOp)> {
    let missing = || ApiError::no_such("customer", id, "customer");
    if CustomerId::parse(id).is_none() {
        return Err(missing());
    }
    let doc = state
        .store
        .get(Table::Customers, scope, id)
        .await?
        .ok_or_else(missing)?;
    let customer: Customer =
        serde_json::from_str(&doc.body).map_err(|err| ApiError::internal(&err))?;
    let op = WriteOp::Update {
        table: Table::Customers,
        scope: scope.clone(),
        id: customer.id.to_string(),
        expected_version: doc.version,
        columns: columns_of(&customer),
        body: stored_body(&customer)?,
    };
    Ok((customer, op))
}

/// The caller's customer `id`, deleted or not; 404 if it is not theirs.
async fn load(state: &AppState, caller: &Caller, id: &str) -> ApiResult<(Doc, Customer)> {
    let missing = || ApiError::no_such("customer", id, "id");
    if CustomerId::parse(id).is_none() {
        return Err(missing());
    }
    let doc = state
        .store
        .get(Table::Customers, &caller.scope(), id)
        .await?
        .ok_or_else(missing)?;
    let customer = serde_json::from_str(&doc.body).map_err(|err| ApiError::internal(&err))?;
    Ok((doc, customer))
}

/// Like [`load`], but a deleted customer is missing.
async fn load_live(state: &AppState, caller: &Caller, id: &str) -> ApiResult<(Doc, Customer)> {
    let (doc, customer) = load(state, caller, id).await?;
    if customer.deleted {
        return Err(ApiError::no_such("customer", id, "id"));
    }
    Ok((doc, customer))
}

/// The insert of a new customer, for writes made elsewhere (an account
/// registration creates its customer in the same write set).
pub(crate) fn insert_op(scope: portcullis_store::Scope, customer: &Customer) -> ApiResult<WriteOp> {
    Ok(WriteOp::Insert {
        table: Table::Customers,
        scope,
        id: customer.id.to_string(),
        created: customer.created,
        columns: columns_of(customer),
        body: stored_body(customer)?,
    })
}

/// A live customer of `caller` and the write set that replaces it by
/// `changed(customer)`, for changes made elsewhere (an account's verified
/// new email address).
pub(crate) async fn changed_writes(
    state: &AppState,
    caller: &Caller,
    id: &str,
    changes: &CustomerChanges,
) -> ApiResult<WriteSet> {
    let (doc, customer) = load_live(state, caller, id).await?;
    let updated = customer.updated(changes).map_err(domain_error)?;
    update_writes(caller, &doc, &updated)
}

/// What a customer's sub-resource list (`GET /v1/customers/{id}/<path>`)
/// reads: rows of `table` whose `customer` column names the customer.
pub(crate) struct Children<F> {
    pub table: Table,
    /// The `object` of the rows, for a cursor that names none of them.
    pub object: &'static str,
    /// The path after `/v1/customers/{id}/`.
    pub path: &'static str,
    pub render: F,
}

/// One page of a live customer's children, newest first, as a list object.
pub(crate) async fn list_children<F>(
    state: &AppState,
    caller: &Caller,
    customer: &str,
    params: &mut Params,
    children: Children<F>,
) -> ApiResult<Value>
where
    F: Fn(&Doc) -> ApiResult<Value>,
{
    caller.require(RESOURCE, Access::Read)?;
    let query = ListQuery {
        scope: caller.scope(),
        filters: vec![("customer", SqlValue::Text(customer.to_owned()))],
        one_of: vec![],
        created: lists::created(params)?,
        cursor: lists::cursor(params)?,
        limit: lists::limit(params)?,
    };
    std::mem::take(params).finish()?;
    find_live(state, caller, customer).await?;
    let page = state
        .store
        .list(children.table, &query)
        .await
        .map_err(|err| match err {
            StoreError::NotFound => lists::cursor_not_found(children.object, &query.cursor),
            other => other.into(),
        })?;
    let data = page
        .docs
        .iter()
        .map(&children.render)
        .collect::<ApiResult<Vec<Value>>>()?;
    Ok(lists::list_object(
        &format!("/v1/customers/{customer}/{}", children.path),
        data,
        page.has_more,
    ))
}

/// A live customer of `caller`, for checks made elsewhere; 404 otherwise.
pub(crate) async fn find_live(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Customer> {
    Ok(load_live(state, caller, id).await?.1)
}

/// A customer for `expand[]` elsewhere; `None` when the caller cannot see it.
pub async fn render_by_id(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Option<Value>> {
    match load(state, caller, id).await {
        Ok((_, customer)) if customer.deleted => Ok(Some(deleted_object(&customer))),
        Ok((_, customer)) => {
            let mut object = render(&customer);
            crate::customer_balance::apply_to_customer(
                state,
                &caller.scope(),
                &customer.id,
                &mut object,
            )
            .await?;
            Ok(Some(object))
        }
        Err(err) if err.status == StatusCode::NOT_FOUND => Ok(None),
        Err(err) => Err(err),
    }
}

async fn render_docs(
    state: &AppState,
    caller: &Caller,
    docs: &[Doc],
    expand: &Expand,
) -> ApiResult<Vec<Value>> {
    let mut data = Vec::with_capacity(docs.len());
    for doc in docs {
        let customer: Customer =
            serde_json::from_str(&doc.body).map_err(|err| ApiError::internal(&err))?;
        data.push(rendered(state, caller, &customer, expand).await?);
    }
    Ok(data)
}

async fn rendered(
    state: &AppState,
    caller: &Caller,
    customer: &Customer,
    expand: &Expand,
) -> ApiResult<Value> {
    let mut object = render(customer);
    // The stored-value balance lives in the ledger, not in the record.
    crate::customer_balance::apply_to_customer(state, &caller.scope(), &customer.id, &mut object)
        .await?;
    if !expand.is_empty() {
        expand.apply(state, caller, &mut object, None).await?;
    }
    Ok(object)
}

fn deleted_object(customer: &Customer) -> Value {
    json!({ "id": customer.id, "object": "customer", "deleted": true })
}

/// The customer on the wire, with every field Stripe's object has.
pub fn render(c: &Customer) -> Value {
    let invoice_prefix: String = c.id.as_str()[4..12].to_ascii_uppercase();
    json!({
        "id": c.id,
        "object": "customer",
        "address": c.address,
        "balance": 0,
        "created": c.created,
        "currency": null,
        "default_source": null,
        "delinquent": false,
        "description": c.description,
        "discount": null,
        "email": c.email,
        "invoice_prefix": invoice_prefix,
        "invoice_settings": {
            "custom_fields": null,
            "default_payment_method": null,
            "footer": null,
            "rendering_options": null
        },
        "livemode": c.livemode,
        "metadata": c.metadata,
        "name": c.name,
        "next_invoice_sequence": 1,
        "phone": c.phone,
        "preferred_locales": c.preferred_locales,
        "shipping": c.shipping,
        "tax_exempt": "none",
        "test_clock": null
    })
}
