//! Stored-value limits: `POST/GET /v1/customer_balance_limits` set and read
//! a merchant's limits per currency (no `customer`) or one customer's
//! (which replace the merchant's field by field), and [`enforce`] checks a
//! movement against them: the most a wallet may hold, and the most that
//! may go in or out in one UTC day. A customer's movements are serialized
//! (each rewrites the customer's record), so the day's sums are exact.

use super::transactions::{parse_doc, Stored};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::idempotency::{self, Executed};
use crate::lists;
use crate::state::AppState;
use crate::wire::{ApiRequest, Params};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use portcullis_domain::api_keys::Access;
use portcullis_domain::customers::Patch;
use portcullis_domain::ids::{new_id, CustomerId};
use portcullis_domain::money::Currency;
use portcullis_domain::wallet::{WalletDay, WalletLimits};
use portcullis_store::{
    CreatedRange, Doc, ListQuery, PageCursor, Scope, SqlValue, Table, WriteOp, WriteSet,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The holder column of a merchant's own limits.
const MERCHANT_HOLDER: &str = "*";
/// Pages of today's transactions read to sum a day (100 each); a wallet
/// with more movements in one day than this is refused further ones.
const DAY_PAGES_MAX: usize = 10;

#[derive(Clone, Debug, Serialize, Deserialize)]
struct StoredLimits {
    id: String,
    customer: Option<CustomerId>,
    currency: Currency,
    limits: WalletLimits,
    created: i64,
    livemode: bool,
}

fn render(stored: &StoredLimits) -> Value {
    json!({
        "id": stored.id,
        "object": "customer_balance_limit",
        "customer": stored.customer,
        "currency": stored.currency.as_str(),
        "balance_max": stored.limits.balance_max,
        "daily_credit_max": stored.limits.daily_credit_max,
        "daily_debit_max": stored.limits.daily_debit_max,
        "created": stored.created,
        "livemode": stored.livemode,
    })
}

fn limit_patch(params: &mut Params, name: &str) -> ApiResult<Patch<i64>> {
    Ok(match params.patch_string(name, 20)? {
        Patch::Keep => Patch::Keep,
        Patch::Clear => Patch::Clear,
        Patch::Set(text) => match text.parse::<i64>() {
            Ok(value) if value >= 0 => Patch::Set(value),
            _ => {
                return Err(ApiError::invalid(
                    "parameter_invalid_integer",
                    format!(
                    "{name} must be a whole number of minor units, 0 or more (empty removes it)."
                ),
                    name,
                ))
            }
        },
    })
}

fn patched(current: Option<i64>, patch: &Patch<i64>) -> Option<i64> {
    match patch {
        Patch::Keep => current,
        Patch::Clear => None,
        Patch::Set(value) => Some(*value),
    }
}

struct SetRequest {
    customer: Option<String>,
    currency: Currency,
    patches: [Patch<i64>; 3],
}

fn parse_set(request: &mut ApiRequest) -> ApiResult<SetRequest> {
    let params = &mut request.params;
    let customer = params.string("customer", 64)?;
    let currency = Currency::parse(&params.required_string("currency", 3)?)
        .map_err(|e| ApiError::invalid(e.code(), e.to_string(), "currency"))?;
    let patches = [
        limit_patch(params, "balance_max")?,
        limit_patch(params, "daily_credit_max")?,
        limit_patch(params, "daily_debit_max")?,
    ];
    std::mem::take(params).finish()?;
    Ok(SetRequest {
        customer,
        currency,
        patches,
    })
}

pub async fn set(
    State(state): State<AppState>,
    caller: Caller,
    mut request: ApiRequest,
) -> Response {
    let parsed = caller
        .require("customers", Access::Write)
        .and_then(|()| parse_set(&mut request));
    let set = match parsed {
        Ok(set) => set,
        Err(err) => return err.into_response(),
    };
    idempotency::respond(&state, &caller, &request, || async {
        let scope = caller.scope();
        let customer = match &set.customer {
            Some(id) => Some(crate::customers::find_live(&state, &caller, id).await?.id),
            None => None,
        };
        let holder = customer
            .as_ref()
            .map_or(MERCHANT_HOLDER.to_owned(), |c| c.to_string());
        let found = find(&state, &scope, &holder, set.currency).await?;
        let now = state.now();
        let (doc, current) = match found {
            Some((doc, stored)) => (Some(doc), stored),
            None => (
                None,
                StoredLimits {
                    id: new_id("cbl"),
                    customer,
                    currency: set.currency,
                    limits: WalletLimits::default(),
                    created: now,
                    livemode: scope.livemode,
                },
            ),
        };
        let [balance, credit, debit] = &set.patches;
        let stored = StoredLimits {
            limits: WalletLimits {
                balance_max: patched(current.limits.balance_max, balance),
                daily_credit_max: patched(current.limits.daily_credit_max, credit),
                daily_debit_max: patched(current.limits.daily_debit_max, debit),
            },
            ..current
        };
        let body = serde_json::to_string(&stored).map_err(|err| ApiError::internal(&err))?;
        let columns = vec![
            ("holder", SqlValue::Text(holder.clone())),
            (
                "currency",
                SqlValue::Text(stored.currency.as_str().to_owned()),
            ),
        ];
        let op = match doc {
            Some(doc) => WriteOp::Update {
                table: Table::CustomerBalanceLimits,
                scope: scope.clone(),
                id: stored.id.clone(),
                expected_version: doc.version,
                columns,
                body,
            },
            None => WriteOp::Insert {
                table: Table::CustomerBalanceLimits,
                scope: scope.clone(),
                id: stored.id.clone(),
                created: now,
                columns,
                body,
            },
        };
        Ok(Executed::ok(render(&stored), WriteSet { ops: vec![op] }))
    })
    .await
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        caller.require("customers", Access::Read)?;
        let params = &mut request.params;
        let holder = params
            .string("customer", 64)?
            .unwrap_or_else(|| MERCHANT_HOLDER.to_owned());
        let query = ListQuery {
            scope: caller.scope(),
            filters: vec![("holder", SqlValue::Text(holder))],
            one_of: vec![],
            created: CreatedRange::default(),
            cursor: PageCursor::Newest,
            limit: lists::limit(params)?,
        };
        std::mem::take(params).finish()?;
        let page = state
            .store
            .list(Table::CustomerBalanceLimits, &query)
            .await?;
        let data = page
            .docs
            .iter()
            .map(|doc| parse(doc).map(|stored| render(&stored)))
            .collect::<ApiResult<Vec<Value>>>()?;
        Ok(lists::list_object(
            "/v1/customer_balance_limits",
            data,
            page.has_more,
        ))
    };
    super::transactions::answer(result.await)
}

fn parse(doc: &Doc) -> ApiResult<StoredLimits> {
    serde_json::from_str(&doc.body).map_err(|err| ApiError::internal(&err))
}

async fn find(
    state: &AppState,
    scope: &Scope,
    holder: &str,
    currency: Currency,
) -> ApiResult<Option<(Doc, StoredLimits)>> {
    let query = ListQuery {
        scope: scope.clone(),
        filters: vec![
            ("holder", SqlValue::Text(holder.to_owned())),
            ("currency", SqlValue::Text(currency.as_str().to_owned())),
        ],
        one_of: vec![],
        created: CreatedRange::default(),
        cursor: PageCursor::Newest,
        limit: 1,
    };
    let page = state
        .store
        .list(Table::CustomerBalanceLimits, &query)
        .await?;
    match page.docs.into_iter().next() {
        Some(doc) => {
            let stored = parse(&doc)?;
            Ok(Some((doc, stored)))
        }
        None => Ok(None),
    }
}

/// The customer's limits over the merchant's, in `currency`.
pub(super) async fn effective(
    state: &AppState,
    scope: &Scope,
    customer: &CustomerId,
    currency: Currency,
) -> ApiResult<WalletLimits> {
    let merchant = find(state, scope, MERCHANT_HOLDER, currency)
        .await?
        .map(|(_, s)| s.limits)
        .unwrap_or_default();
    let own = find(state, scope, customer.as_str(), currency)
        .await?
        .map(|(_, s)| s.limits)
        .unwrap_or_default();
    Ok(own.over(merchant))
}

/// Money in and out of the wallet since the start of today (UTC).
async fn today(
    state: &AppState,
    scope: &Scope,
    customer: &CustomerId,
    currency: Currency,
) -> ApiResult<(i64, i64)> {
    let midnight = state.now() - state.now().rem_euclid(86_400);
    let (mut credited, mut debited) = (0i64, 0i64);
    let mut cursor = PageCursor::Newest;
    for _ in 0..DAY_PAGES_MAX {
        let query = ListQuery {
            scope: scope.clone(),
            filters: vec![
                ("customer", SqlValue::Text(customer.to_string())),
                ("currency", SqlValue::Text(currency.as_str().to_owned())),
            ],
            one_of: vec![],
            created: CreatedRange {
                gte: Some(midnight),
                ..CreatedRange::default()
            },
            cursor,
            limit: 100,
        };
        let page = state
            .store
            .list(Table::CustomerBalanceTransactions, &query)
            .await?;
        for doc in &page.docs {
            let stored: Stored = parse_doc(doc)?;
            // Stripe's sign: a negative amount is money in.
            let overflow = || ApiError::internal(&"a day's wallet sum overflowed");
            if stored.amount < 0 {
                credited = credited.checked_add(-stored.amount).ok_or_else(overflow)?;
            } else {
                debited = debited.checked_add(stored.amount).ok_or_else(overflow)?;
            }
        }
        match (page.has_more, page.docs.last()) {
            (true, Some(last)) => cursor = PageCursor::StartingAfter(last.id.clone()),
            _ => return Ok((credited, debited)),
        }
    }
    Err(ApiError::invalid(
        "balance_limit_exceeded",
        "This wallet has moved money too many times today; try again tomorrow.",
        "amount",
    ))
}

/// Refuses (400 `balance_limit_exceeded`) moving `delta` (positive: in)
/// through a wallet that holds `held`.
pub async fn enforce(
    state: &AppState,
    scope: &Scope,
    customer: &CustomerId,
    currency: Currency,
    held: i64,
    delta: i64,
) -> ApiResult<()> {
    let limits = effective(state, scope, customer, currency).await?;
    if limits == WalletLimits::default() {
        return Ok(());
    }
    let (credited_today, debited_today) = today(state, scope, customer, currency).await?;
    limits
        .check(
            WalletDay {
                held,
                credited_today,
                debited_today,
            },
            delta,
        )
        .map_err(|breach| {
            ApiError::invalid(
                "balance_limit_exceeded",
                format!(
                    "This movement would exceed the wallet's {} in {}.",
                    breach.as_str(),
                    currency.as_str()
                ),
                "amount",
            )
        })
}

pub fn sample() -> Value {
    render(&StoredLimits {
        id: "cbl_sample".into(),
        customer: None,
        currency: Currency::parse("usd").expect("usd"),
        limits: WalletLimits {
            balance_max: Some(100_000),
            daily_credit_max: Some(50_000),
            daily_debit_max: None,
        },
        created: 0,
        livemode: false,
    })
}
