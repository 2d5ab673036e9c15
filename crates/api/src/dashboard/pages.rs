//! The pages that show: payments (list with search and filters), one
//! payment's timeline, the review queue, webhook endpoints and deliveries.
//! They read the same documents the API renders.

use super::layout::{self, error_page, locale, see_other, Layout};
use super::payment_filters::{Filters, METHODS, STATUSES};
use super::session::SignedIn;
use super::users::Permission;
use super::{audit, texts};
use crate::error::{ApiError, ApiResult};
use crate::hosted::{money::format_amount, Locale};
use crate::state::AppState;
use crate::wire::ApiRequest;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use portcullis_domain::money::Currency;
use portcullis_store::{
    CreatedRange, DeliveryFilter, Doc, ListQuery, PageCursor, Scope, SqlValue, Table,
};
use serde_json::Value;

/// Most rows a list page shows.
const PAGE_ROWS: usize = 50;
/// Events looked through for a payment's webhook deliveries (newest).
const EVENTS_READ_MAX: usize = 100;

/// What every page handler starts with: the language, the signed-in user
/// (or the redirect to sign in), the flash.
pub struct Start {
    pub loc: Locale,
    pub lang_named: bool,
    pub signed: SignedIn,
    pub done: Option<String>,
}

pub async fn start(
    state: &AppState,
    headers: &HeaderMap,
    request: &mut ApiRequest,
    permission: Permission,
) -> Result<Start, Response> {
    let lang = layout::named_locale(request);
    let loc = locale(lang.as_deref(), headers);
    let done = field(request, "done", 20).ok().flatten();
    let signed = layout::guard(state, headers, loc).await?;
    if let Err(err) = signed.require(permission) {
        return Err(error_page(state, loc, &err));
    }
    Ok(Start {
        loc,
        lang_named: lang.is_some(),
        signed,
        done,
    })
}

impl Start {
    fn layout(&self, title: &str, path: &str) -> Layout {
        Layout::signed(&self.signed, self.loc, title, path).with_done(self.done.as_deref())
    }

    fn t(&self) -> &'static texts::Texts {
        texts::of(self.loc)
    }

    fn render(&self, state: &AppState, template: &impl Template) -> Response {
        layout::page(state, template, self.lang_named.then_some(self.loc))
    }
}

pub async fn home(
    State(state): State<AppState>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    match start(&state, &headers, &mut request, Permission::ViewPayments).await {
        Ok(_) => see_other("/dashboard/payments"),
        Err(response) => response,
    }
}

/// A form field that may be left empty (an empty field is absent).
pub fn field(request: &mut ApiRequest, name: &str, chars_max: usize) -> ApiResult<Option<String>> {
    use portcullis_domain::customers::Patch;
    Ok(match request.params.patch_string(name, chars_max)? {
        Patch::Set(text) => Some(text),
        Patch::Keep | Patch::Clear => None,
    })
}

/// `2026-12-05 21:40` (UTC).
pub fn when(unix_s: i64) -> String {
    let (y, m, d) = portcullis_domain::civil_from_days(unix_s.div_euclid(86_400));
    let s = unix_s.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", s / 3600, s % 3600 / 60)
}

pub fn money(amount: i64, currency: &str, loc: Locale) -> String {
    match Currency::parse(currency) {
        Ok(currency) => format_amount(amount, currency, loc),
        Err(_) => format!("{amount} {currency}"),
    }
}

fn text(value: &Value, key: &str) -> String {
    match &value[key] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn int(value: &Value, key: &str) -> i64 {
    value[key].as_i64().unwrap_or(0)
}

/// A risk signal as stored: numbers are fixed point in micro-units
/// (`portcullis_risk::signals::MICROS_PER_UNIT`), written here exactly.
fn signal_text(value: &Value) -> String {
    match value {
        Value::Number(n) => match n.as_i64() {
            Some(micros) => {
                let sign = if micros < 0 { "-" } else { "" };
                let (whole, fraction) = (
                    micros.unsigned_abs() / 1_000_000,
                    micros.unsigned_abs() % 1_000_000,
                );
                let fraction = format!("{fraction:06}");
                let fraction = fraction.trim_end_matches('0');
                if fraction.is_empty() {
                    format!("{sign}{whole}")
                } else {
                    format!("{sign}{whole}.{fraction}")
                }
            }
            None => n.to_string(),
        },
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn json(doc: &Doc) -> ApiResult<Value> {
    serde_json::from_str(&doc.body).map_err(|e| ApiError::internal(&e))
}

pub async fn list_json(
    state: &AppState,
    table: Table,
    scope: &Scope,
    filters: Vec<(&'static str, SqlValue)>,
    limit: usize,
) -> ApiResult<Vec<Value>> {
    let page = state
        .store
        .list(
            table,
            &ListQuery {
                scope: scope.clone(),
                filters,
                one_of: vec![],
                created: CreatedRange::default(),
                cursor: PageCursor::Newest,
                limit,
            },
        )
        .await?;
    page.docs.iter().map(json).collect()
}

// ---- payments --------------------------------------------------------------

pub struct PaymentRow {
    pub id: String,
    pub amount: String,
    pub status: String,
    pub created: String,
    pub customer: String,
    pub description: String,
    pub methods: String,
}

#[derive(Template)]
#[template(path = "dashboard/payments.html")]
struct PaymentsPage {
    l: Layout,
    f: Filters,
    rows: Vec<PaymentRow>,
    statuses: &'static [&'static str],
    methods: &'static [&'static str],
    older: Option<String>,
}

fn payment_row(intent: &Value, loc: Locale) -> PaymentRow {
    PaymentRow {
        id: text(intent, "id"),
        amount: money(int(intent, "amount"), &text(intent, "currency"), loc),
        status: text(intent, "status"),
        created: when(int(intent, "created")),
        customer: text(intent, "customer"),
        description: text(intent, "description"),
        methods: intent["payment_method_types"]
            .as_array()
            .map(|m| {
                m.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default(),
    }
}

pub async fn payments(
    State(state): State<AppState>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let s = match start(&state, &headers, &mut request, Permission::ViewPayments).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let result = async {
        let f = Filters::read(&mut request)?;
        let after = field(&mut request, "starting_after", 255)?;
        std::mem::take(&mut request.params).finish()?;
        if f.q.starts_with("pi_") {
            return Ok(Err(see_other(&format!("/dashboard/payments/{}", f.q))));
        }
        let (query, clauses) = f.query(&s.signed.scope(), after, PAGE_ROWS)?;
        let page = state
            .store
            .list_matching(Table::PaymentIntents, &query, &clauses)
            .await?;
        let mut rows = vec![];
        for doc in &page.docs {
            rows.push(payment_row(&json(doc)?, s.loc));
        }
        let older = page
            .has_more
            .then(|| page.docs.last().map(|d| d.id.clone()))
            .flatten();
        Ok(Ok(PaymentsPage {
            l: s.layout(s.t().payments, "/dashboard/payments"),
            f,
            rows,
            statuses: STATUSES,
            methods: METHODS,
            older,
        }))
    };
    match result.await {
        Ok(Ok(page)) => s.render(&state, &page),
        Ok(Err(redirect)) => redirect,
        Err(err) => error_page(&state, s.loc, &err),
    }
}

// ---- one payment -------------------------------------------------------------

pub struct TimelineRow {
    pub time: String,
    pub what: String,
    pub detail: String,
}

pub struct DeliveryRow {
    pub event: String,
    pub event_type: String,
    pub endpoint: String,
    pub state: String,
    pub attempts: i64,
    pub last_status: String,
}

pub struct Posting {
    pub id: String,
    pub kind: String,
    pub amount: String,
    pub fee: String,
    pub net: String,
    pub ledger_transaction: String,
}

#[derive(Template)]
#[template(path = "dashboard/payment.html")]
struct PaymentPage {
    l: Layout,
    p: PaymentRow,
    refundable: bool,
    capturable: bool,
    may_move: bool,
    may_resend: bool,
    timeline: Vec<TimelineRow>,
    /// Every signal assessed: name, value, whether it decided.
    risk: Vec<(String, String, bool)>,
    postings: Vec<Posting>,
    deliveries: Vec<DeliveryRow>,
    actions: Vec<TimelineRow>,
}

pub async fn payment(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Response {
    let s = match start(&state, &headers, &mut request, Permission::ViewPayments).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    if let Err(err) = std::mem::take(&mut request.params).finish() {
        return error_page(&state, s.loc, &err);
    }
    match payment_page(&state, &s, &id).await {
        Ok(page) => s.render(&state, &page),
        Err(err) => error_page(&state, s.loc, &err),
    }
}

async fn payment_page(state: &AppState, s: &Start, id: &str) -> ApiResult<PaymentPage> {
    let scope = s.signed.scope();
    let doc = state
        .store
        .get(Table::PaymentIntents, &scope, id)
        .await?
        .ok_or_else(|| ApiError::no_such("payment_intent", id, "id"))?;
    let intent = json(&doc)?;
    let by_intent = || vec![("payment_intent", SqlValue::Text(id.to_owned()))];
    let charges = list_json(state, Table::Charges, &scope, by_intent(), 100).await?;
    let refunds = list_json(state, Table::Refunds, &scope, by_intent(), 100).await?;
    let attempts = list_json(state, Table::PaymentAttempts, &scope, by_intent(), 100).await?;
    let evaluations = list_json(state, Table::RiskEvaluations, &scope, by_intent(), 100).await?;
    let currency = text(&intent, "currency");
    let mut timeline = vec![TimelineRow {
        time: when(int(&intent, "created")),
        what: "payment_intent.created".into(),
        detail: money(int(&intent, "amount"), &currency, s.loc),
    }];
    for a in &attempts {
        timeline.push(TimelineRow {
            time: when(int(a, "created")),
            what: format!("attempt.{}", text(a, "kind")),
            detail: format!(
                "{} · {} · resolved={}",
                text(a, "id"),
                money(int(a, "amount_minor"), &currency, s.loc),
                a["resolved"]
            ),
        });
    }
    // Why a payment from the balance asked for the holder's step-up.
    let step_up = &intent["balance_step_up"];
    if step_up.is_object() {
        timeline.push(TimelineRow {
            time: when(int(step_up, "asked_at")),
            what: format!("balance_step_up.{}", text(step_up, "reason")),
            detail: format!("expires_at {}", when(int(step_up, "expires_at"))),
        });
    }
    let mut risk = vec![];
    for e in &evaluations {
        timeline.push(TimelineRow {
            time: when(int(e, "created")),
            what: format!("risk.{}", text(e, "action")),
            detail: text(e, "rule"),
        });
        if let Some(signals) = e["signals"].as_object() {
            risk = signals
                .iter()
                .map(|(k, v)| (k.clone(), signal_text(v), false))
                .collect();
        }
    }
    let mut sources = vec![];
    for c in &charges {
        let outcome = &c["outcome"];
        timeline.push(TimelineRow {
            time: when(int(c, "created")),
            what: format!("charge.{}", text(c, "status")),
            detail: format!(
                "{} · {} · risk {} ({}) {}",
                text(c, "id"),
                text(outcome, "kind"),
                text(outcome, "risk_level"),
                text(outcome, "risk_score"),
                text(c, "failure_code")
            ),
        });
        // The signals that mattered to the decision, as the charge shows them.
        if let Some(signals) = outcome["signals"].as_object() {
            for row in risk.iter_mut() {
                row.2 = signals.contains_key(&row.0);
            }
        }
        sources.push(text(c, "id"));
    }
    for r in &refunds {
        timeline.push(TimelineRow {
            time: when(int(r, "created")),
            what: format!("refund.{}", text(r, "status")),
            detail: format!(
                "{} · {}",
                text(r, "id"),
                money(int(r, "amount_minor"), &currency, s.loc)
            ),
        });
        sources.push(text(r, "id"));
    }
    timeline.sort_by(|a, b| a.time.cmp(&b.time));
    let postings = postings(state, &scope, &sources, s.loc).await?;
    let mut objects = sources.clone();
    objects.push(id.to_owned());
    let deliveries = deliveries(state, &scope, &objects).await?;
    let actions = audit::about(state, &scope, id)
        .await?
        .into_iter()
        .map(|e| TimelineRow {
            time: when(e.created),
            what: e.action,
            detail: format!(
                "{} {}",
                e.email.unwrap_or_default(),
                e.result.unwrap_or_default()
            ),
        })
        .collect();
    let status = text(&intent, "status");
    let refundable = charges.iter().any(|c| {
        text(c, "status") == "succeeded"
            && int(c, "amount_refunded_minor") < int(c, "amount_captured_minor")
    });
    Ok(PaymentPage {
        l: s.layout(&format!("{} {id}", s.t().payments), "/dashboard/payments"),
        p: payment_row(&intent, s.loc),
        refundable,
        capturable: status == "requires_capture",
        may_move: s.signed.user.role.may(Permission::MovePayments),
        may_resend: s.signed.user.role.may(Permission::ResendWebhooks),
        timeline,
        risk,
        postings,
        deliveries,
        actions,
    })
}

async fn postings(
    state: &AppState,
    scope: &Scope,
    sources: &[String],
    loc: Locale,
) -> ApiResult<Vec<Posting>> {
    let mut rows = vec![];
    for source in sources {
        let filters = vec![("source", SqlValue::Text(source.clone()))];
        for t in list_json(state, Table::BalanceTransactions, scope, filters, 100).await? {
            let currency = text(&t, "currency");
            let (amount, fee) = (int(&t, "amount_minor"), int(&t, "fee_minor"));
            rows.push(Posting {
                id: text(&t, "id"),
                kind: text(&t, "kind"),
                amount: money(amount, &currency, loc),
                fee: money(fee, &currency, loc),
                net: money(amount.checked_sub(fee).unwrap_or(0), &currency, loc),
                ledger_transaction: text(&t, "ledger_transaction"),
            });
        }
    }
    Ok(rows)
}

/// The deliveries of the recent events about any of `objects`.
async fn deliveries(
    state: &AppState,
    scope: &Scope,
    objects: &[String],
) -> ApiResult<Vec<DeliveryRow>> {
    let mut rows = vec![];
    for event in list_json(state, Table::Events, scope, vec![], EVENTS_READ_MAX).await? {
        let about = text(&event["data"]["object"], "id");
        if !objects.contains(&about) {
            continue;
        }
        let id = text(&event, "id");
        let page = state
            .store
            .list_deliveries(scope, &DeliveryFilter::Event(id.clone()), 100)
            .await?;
        for d in page.deliveries {
            rows.push(DeliveryRow {
                event: id.clone(),
                event_type: d.event_type,
                endpoint: d.key.endpoint_id,
                state: d.state.as_str().to_owned(),
                attempts: d.attempts,
                last_status: d
                    .last_status_code
                    .map(|c| c.to_string())
                    .unwrap_or_default(),
            });
        }
    }
    Ok(rows)
}

// ---- reviews ---------------------------------------------------------------

pub struct ReviewRow {
    pub id: String,
    pub payment_intent: String,
    pub charge: String,
    pub rule: String,
    pub created: String,
}

#[derive(Template)]
#[template(path = "dashboard/reviews.html")]
struct ReviewsPage {
    l: Layout,
    rows: Vec<ReviewRow>,
    may_decide: bool,
}

pub async fn reviews(
    State(state): State<AppState>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let s = match start(&state, &headers, &mut request, Permission::ViewPayments).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let result = async {
        std::mem::take(&mut request.params).finish()?;
        let open = vec![("is_open", SqlValue::Bool(true))];
        let rows = list_json(&state, Table::Reviews, &s.signed.scope(), open, PAGE_ROWS)
            .await?
            .iter()
            .map(|r| ReviewRow {
                id: text(r, "id"),
                payment_intent: text(r, "payment_intent"),
                charge: text(r, "charge"),
                rule: text(r, "rule"),
                created: when(int(r, "created")),
            })
            .collect();
        Ok::<_, ApiError>(ReviewsPage {
            l: s.layout(s.t().open_reviews, "/dashboard/reviews"),
            rows,
            may_decide: s.signed.user.role.may(Permission::DecideReviews),
        })
    };
    match result.await {
        Ok(page) => s.render(&state, &page),
        Err(err) => error_page(&state, s.loc, &err),
    }
}

// ---- webhooks --------------------------------------------------------------

pub struct EndpointRow {
    pub id: String,
    pub url: String,
    pub status: String,
    pub deliveries: Vec<DeliveryRow>,
}

#[derive(Template)]
#[template(path = "dashboard/webhooks.html")]
struct WebhooksPage {
    l: Layout,
    endpoints: Vec<EndpointRow>,
    may_resend: bool,
}

pub async fn webhooks(
    State(state): State<AppState>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let s = match start(&state, &headers, &mut request, Permission::ViewWebhooks).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let result = async {
        std::mem::take(&mut request.params).finish()?;
        let scope = s.signed.scope();
        let mut endpoints = vec![];
        for e in list_json(&state, Table::WebhookEndpoints, &scope, vec![], PAGE_ROWS).await? {
            let id = text(&e, "id");
            let filter = DeliveryFilter::Endpoint {
                endpoint_id: id.clone(),
                starting_after: None,
            };
            let page = state.store.list_deliveries(&scope, &filter, 20).await?;
            endpoints.push(EndpointRow {
                url: text(&e, "url"),
                status: if e["enabled"].as_bool() == Some(false) {
                    "disabled"
                } else {
                    "enabled"
                }
                .to_owned(),
                deliveries: page
                    .deliveries
                    .into_iter()
                    .map(|d| DeliveryRow {
                        event: d.key.event_id,
                        event_type: d.event_type,
                        endpoint: id.clone(),
                        state: d.state.as_str().to_owned(),
                        attempts: d.attempts,
                        last_status: d
                            .last_status_code
                            .map(|c| c.to_string())
                            .unwrap_or_default(),
                    })
                    .collect(),
                id,
            });
        }
        Ok::<_, ApiError>(WebhooksPage {
            l: s.layout(s.t().webhooks, "/dashboard/webhooks"),
            endpoints,
            may_resend: s.signed.user.role.may(Permission::ResendWebhooks),
        })
    };
    match result.await {
        Ok(page) => s.render(&state, &page),
        Err(err) => error_page(&state, s.loc, &err),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn days_and_times_are_written_in_utc() {
        assert_eq!(super::when(0), "1970-01-01 00:00");
        assert_eq!(super::when(951_825_600), "2000-02-29 12:00");
        use serde_json::json;
        assert_eq!(super::signal_text(&json!(10_000_000)), "10");
        assert_eq!(super::signal_text(&json!(-2_500_000)), "-2.5");
        assert_eq!(super::signal_text(&json!("visa")), "visa");
    }
}
