//! `/v1/checkout/sessions`: create, retrieve, list, expire, and a
//! session's line items — Stripe's Checkout Sessions API, so that
//! `stripe.checkout.Session.create` works unchanged. A session is paid on
//! its hosted page and completes in the commit that makes its intent paid,
//! whichever path that is (see [`completion_writes`]); it expires at
//! `expires_at` (`expiry::run`) or when the merchant expires it; each of
//! those moves commits its `checkout.session.*` event in the same write set.

pub(crate) mod balance;
mod closing;
pub mod expiry;
pub(crate) mod page;
mod pay;
mod render;
mod request;
mod texts;
pub(crate) mod top_up;
mod wallet;

pub use render::render_samples;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorType};
use crate::events::{event, Origin};
use crate::expand::Expand;
use crate::idempotency::{self, json_response, Executed};
use crate::lists;
use crate::payments::records::{self, Record};
use crate::routes::params::{self as p, Param};
use crate::routes::{doc, Routes};
use crate::state::AppState;
use crate::wire::{ApiRequest, Params};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_domain::api_keys::Access;
use portcullis_domain::checkout::{
    CheckoutSession, CheckoutSessionId, CheckoutStatus, CheckoutTransition,
};
use portcullis_domain::payment_intents::PaymentIntent;
use portcullis_store::{
    Doc, ListQuery, PageCursor, Scope, SqlValue, StoreError, Table, WriteOp, WriteSet,
};
use serde_json::Value;

/// The resource name restricted keys' permissions use.
const RESOURCE: &str = "checkout_sessions";
const URL: &str = "/v1/checkout/sessions";
/// Fields `expand[]` may replace by their objects (`line_items` is
/// expanded here, the others by [`Expand`]).
const EXPANDABLE: &[&str] = &["customer", "payment_intent"];
const LINE_ITEMS: &str = "line_items";

impl Record for CheckoutSession {
    const TABLE: Table = Table::CheckoutSessions;
    const OBJECT: &'static str = "checkout session";
    fn id(&self) -> &str {
        self.id.as_str()
    }
    fn created(&self) -> i64 {
        self.created
    }
    fn columns(&self) -> Vec<(&'static str, SqlValue)> {
        vec![
            ("status", SqlValue::Text(self.status.as_str().to_owned())),
            ("expires_at", SqlValue::Integer(self.expires_at)),
            ("payment_intent", self.payment_intent.as_deref().into()),
            ("customer", self.customer.as_deref().into()),
        ]
    }
}

const LIST: &[Param] = crate::routes::params::list_params![
    expand;
    p::one_of("status", &["open", "complete", "expired"]),
    p::string("payment_intent", 255),
    p::string("customer", 255),
];
const LINE_ITEMS_LIST: &[Param] = &[
    p::integer("limit"),
    p::string("starting_after", 255),
    p::string("ending_before", 255),
];

pub fn routes() -> Routes {
    Routes::new()
        .merge(page::routes())
        .merge(pay::routes())
        .merge(wallet::routes())
        .post(
            doc(URL, "Create a Checkout Session", render::OBJECT).params(request::CREATE),
            create,
        )
        .get(
            doc(URL, "List Checkout Sessions, newest first", "list").params(LIST),
            list,
        )
        .get(
            doc(
                "/v1/checkout/sessions/{id}",
                "Retrieve a Checkout Session",
                render::OBJECT,
            )
            .params(p::EXPAND_ONLY),
            retrieve,
        )
        .post(
            doc(
                "/v1/checkout/sessions/{id}/expire",
                "Expire an open Checkout Session",
                render::OBJECT,
            )
            .params(p::EXPAND_ONLY),
            expire,
        )
        .get(
            doc(
                "/v1/checkout/sessions/{id}/line_items",
                "List a Checkout Session's line items",
                "list",
            )
            .params(LINE_ITEMS_LIST),
            line_items,
        )
}

/// What `expand[]` asked for: the line items, and the id fields.
struct Expansion {
    line_items: bool,
    others: Expand,
}

impl Expansion {
    fn parse(caller: &Caller, params: &mut Params, in_list: bool) -> ApiResult<Self> {
        let wanted = if in_list {
            "data.line_items"
        } else {
            LINE_ITEMS
        };
        let mut paths = params.expand()?;
        let line_items = paths.iter().any(|p| p == wanted);
        paths.retain(|p| p != wanted);
        let others = Expand::parse(caller, paths, EXPANDABLE, in_list)?;
        Ok(Self { line_items, others })
    }

    async fn rendered(
        &self,
        state: &AppState,
        caller: &Caller,
        session: &CheckoutSession,
    ) -> ApiResult<Value> {
        let mut object = render::render(session, &state.base_url());
        if self.line_items {
            let page = line_item_page(session, &PageCursor::Newest, lists::LIMIT_MAX)?;
            object[LINE_ITEMS] = page;
        }
        if !self.others.is_empty() {
            self.others.apply(state, caller, &mut object, None).await?;
        }
        Ok(object)
    }
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    mut request: ApiRequest,
) -> Response {
    let parsed = (|| {
        caller.require(RESOURCE, Access::Write)?;
        let checkout = request::checkout_request(&mut request.params)?;
        let expansion = Expansion::parse(&caller, &mut request.params, false)?;
        std::mem::take(&mut request.params).finish()?;
        let session = CheckoutSession::open(checkout, caller.livemode(), state.now())
            .map_err(request::domain_error)?;
        Ok::<_, ApiError>((session, expansion))
    })();
    let (session, expansion) = match parsed {
        Ok(parsed) => parsed,
        Err(err) => return err.into_response(),
    };
    idempotency::respond(&state, &caller, &request, || async {
        if let Some(customer) = &session.customer {
            require_live_customer(&state, &caller, customer).await?;
        }
        let mut writes = WriteSet::new();
        writes.push(records::insert(&caller.scope(), &session)?);
        let body = expansion.rendered(&state, &caller, &session).await?;
        Ok(Executed::ok(body, writes))
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
        let expansion = Expansion::parse(&caller, &mut request.params, false)?;
        std::mem::take(&mut request.params).finish()?;
        let (_, session) = load(&state, &caller.scope(), &id).await?;
        expansion.rendered(&state, &caller, &session).await
    };
    answer(result.await)
}

async fn list(State(state): State<AppState>, caller: Caller, mut request: ApiRequest) -> Response {
    let result = async {
        caller.require(RESOURCE, Access::Read)?;
        let params = &mut request.params;
        let query = ListQuery {
            scope: caller.scope(),
            filters: list_filters(params)?,
            one_of: vec![],
            created: lists::created(params)?,
            cursor: lists::cursor(params)?,
            limit: lists::limit(params)?,
        };
        let expansion = Expansion::parse(&caller, params, true)?;
        std::mem::take(params).finish()?;
        let page = state
            .store
            .list(Table::CheckoutSessions, &query)
            .await
            .map_err(|err| match err {
                StoreError::NotFound => lists::cursor_not_found(render::OBJECT, &query.cursor),
                other => other.into(),
            })?;
        let mut data = Vec::with_capacity(page.docs.len());
        for session in records::decode_all::<CheckoutSession>(&page.docs)? {
            data.push(expansion.rendered(&state, &caller, &session).await?);
        }
        Ok(lists::list_object(URL, data, page.has_more))
    };
    answer(result.await)
}

/// `status`, `payment_intent` and `customer`, each an equality filter.
fn list_filters(params: &mut Params) -> ApiResult<Vec<(&'static str, SqlValue)>> {
    let mut filters = vec![];
    if let Some(status) = params.string("status", 20)? {
        if !matches!(status.as_str(), "open" | "complete" | "expired") {
            return Err(ApiError::invalid(
                "parameter_invalid",
                "Invalid status: must be one of open, complete or expired.",
                "status",
            ));
        }
        filters.push(("status", SqlValue::Text(status)));
    }
    for column in ["payment_intent", "customer"] {
        if let Some(id) = params.string(column, 255)? {
            filters.push((column, SqlValue::Text(id)));
        }
    }
    Ok(filters)
}

async fn expire(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Response {
    let parsed = (|| {
        caller.require(RESOURCE, Access::Write)?;
        let expansion = Expansion::parse(&caller, &mut request.params, false)?;
        std::mem::take(&mut request.params).finish()?;
        Ok::<_, ApiError>(expansion)
    })();
    let expansion = match parsed {
        Ok(parsed) => parsed,
        Err(err) => return err.into_response(),
    };
    let origin = Origin::of(&request);
    idempotency::respond(&state, &caller, &request, || async {
        let scope = caller.scope();
        let _lock = state.locks.lock(&id).await;
        let (doc, session) = load(&state, &scope, &id).await?;
        if session.status == CheckoutStatus::Open {
            match closing::before_expiry(&state, &scope, &session, &origin).await? {
                closing::Closing::Expire => {}
                closing::Closing::InFlight => return Err(payment_in_flight()),
                closing::Closing::Paid(intent) => {
                    let paid = complete(&state, &scope, &id, &intent, &origin).await?;
                    return Err(not_open(&paid));
                }
            }
        }
        let expired = session
            .moved(CheckoutTransition::Expire)
            .ok_or_else(|| not_open(&session))?;
        let writes = moved_writes(&state, &scope, &doc, &expired, &origin)?;
        let body = expansion.rendered(&state, &caller, &expired).await?;
        Ok(Executed::ok(body, writes))
    })
    .await
}

async fn line_items(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        caller.require(RESOURCE, Access::Read)?;
        let params = &mut request.params;
        let cursor = lists::cursor(params)?;
        let limit = lists::limit(params)?;
        std::mem::take(params).finish()?;
        let (_, session) = load(&state, &caller.scope(), &id).await?;
        line_item_page(&session, &cursor, limit)
    };
    answer(result.await)
}

/// One page of a session's line items, in the order they were given
/// (Stripe lists them so), with cursors over their `li_…` ids.
fn line_item_page(
    session: &CheckoutSession,
    cursor: &PageCursor,
    limit: usize,
) -> ApiResult<Value> {
    let items = &session.line_items;
    let position = |id: &str| {
        items
            .iter()
            .position(|item| item.id == id)
            .ok_or_else(|| lists::cursor_not_found("line item", cursor))
    };
    let (start, end) = match cursor {
        PageCursor::Newest => (0, items.len().min(limit)),
        PageCursor::StartingAfter(id) => {
            let from = position(id)? + 1;
            (from, items.len().min(from + limit))
        }
        PageCursor::EndingBefore(id) => {
            let to = position(id)?;
            (to.saturating_sub(limit), to)
        }
    };
    let has_more = match cursor {
        PageCursor::EndingBefore(_) => start > 0,
        _ => end < items.len(),
    };
    let data = items[start..end]
        .iter()
        .map(|item| render::render_line_item(item, session))
        .collect();
    let url = format!("{URL}/{}/line_items", session.id.as_str());
    Ok(lists::list_object(&url, data, has_more))
}

/// The writes of a session's move to `moved` (read at `doc`): the session
/// and its `checkout.session.<status>` event, together.
fn moved_writes(
    state: &AppState,
    scope: &Scope,
    doc: &Doc,
    moved: &CheckoutSession,
    origin: &Origin,
) -> ApiResult<WriteSet> {
    let kind = format!("{}.{}", render::OBJECT, event_suffix(moved));
    let object = render::render(moved, &state.base_url());
    let mut writes = WriteSet::new();
    writes.push(records::update(scope, doc, moved)?);
    writes.push(event(scope, &kind, &object, None, origin, state.now()));
    Ok(writes)
}

fn event_suffix(session: &CheckoutSession) -> &'static str {
    match session.status {
        CheckoutStatus::Complete => "completed",
        CheckoutStatus::Expired => "expired",
        CheckoutStatus::Open => "updated",
    }
}

fn not_open(session: &CheckoutSession) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorType::InvalidRequest,
        Some("checkout_session_unexpected_state"),
        format!(
            "Only Checkout Sessions with a status in [\"open\"] can be expired; this one is {}.",
            session.status.as_str()
        ),
    )
}

/// A session whose payment's outcome is not known yet cannot expire.
fn payment_in_flight() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        ErrorType::InvalidRequest,
        Some("checkout_session_payment_in_progress"),
        "A payment of this Checkout Session is in progress; try again once its outcome is known.",
    )
}

/// Session `id` of `scope`, or 404 as if it did not exist.
pub async fn load(state: &AppState, scope: &Scope, id: &str) -> ApiResult<(Doc, CheckoutSession)> {
    if CheckoutSessionId::parse(id).is_none() {
        return Err(ApiError::no_such(CheckoutSession::OBJECT, id, "id"));
    }
    records::load(state, scope, id, "id").await
}

/// Refuses a customer the caller does not have (or has deleted).
async fn require_live_customer(state: &AppState, caller: &Caller, id: &str) -> ApiResult<()> {
    match crate::customers::render_by_id(state, caller, id).await? {
        Some(customer) if customer.get("deleted").is_none() => Ok(()),
        _ => Err(ApiError::no_such("customer", id, "customer")),
    }
}

/// How often completing a session is tried again after another writer
/// changed it between the read and the commit.
const COMPLETE_TRIES_MAX: usize = 8;

/// Records that `payment_intent` paid session `id`: the session turns
/// `complete`/`paid` and `checkout.session.completed` is committed with it.
/// A session that intent completed already (in the commit that paid it,
/// see [`completion_writes`]) is answered as it is, with no second event;
/// a concurrent change makes it read the session again. Refused when the
/// session is no longer open otherwise (expired meanwhile).
pub async fn complete(
    state: &AppState,
    scope: &Scope,
    id: &str,
    payment_intent: &str,
    origin: &Origin,
) -> ApiResult<CheckoutSession> {
    for _ in 0..COMPLETE_TRIES_MAX {
        let (doc, session) = load(state, scope, id).await?;
        if session.status == CheckoutStatus::Complete
            && session.payment_intent.as_deref() == Some(payment_intent)
        {
            return Ok(session);
        }
        let paid = session
            .paid_by(payment_intent)
            .ok_or_else(|| not_open(&session))?;
        let writes = moved_writes(state, scope, &doc, &paid, origin)?;
        match state.store.commit(writes).await {
            Ok(()) => return Ok(paid),
            Err(StoreError::Conflict) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Err(ApiError::concurrent_change())
}

/// The writes completing the Checkout Session `intent` was made for, to
/// commit with what makes the intent paid (succeeded, or authorized for a
/// manual capture): the session `complete`/`paid` and its
/// `checkout.session.completed`, so a session never stays open under a
/// paid intent. None, without reading anything, for an intent made
/// through the API; none when the session is no longer open (completed
/// already, or expired) or is not linked to this intent.
pub async fn completion_writes(
    state: &AppState,
    scope: &Scope,
    intent: &PaymentIntent,
    origin: &Origin,
) -> ApiResult<Vec<WriteOp>> {
    let Some(id) = intent.checkout_session.as_deref() else {
        return Ok(vec![]);
    };
    if !closing::is_paid(intent) {
        return Ok(vec![]);
    }
    let (doc, session) = load(state, scope, id).await?;
    if session.payment_intent.as_deref() != Some(intent.id.as_str()) {
        return Ok(vec![]);
    }
    match session.paid_by(&intent.id) {
        Some(paid) => Ok(moved_writes(state, scope, &doc, &paid, origin)?.ops),
        None => Ok(vec![]),
    }
}

fn answer(result: ApiResult<Value>) -> Response {
    match result {
        Ok(body) => json_response(StatusCode::OK, body.to_string()),
        Err(err) => err.into_response(),
    }
}
