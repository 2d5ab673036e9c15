//! What dashboard users do: refund, capture, approve a review, resend a
//! webhook event. Each runs the API's own code (the same atomic phases,
//! locks, ledger postings and events) and adds the record of the user's
//! action to the same commit; the answer redirects back to the page
//! (post/redirect/get). Forms without this session's CSRF token are refused.

use super::audit::{self, Entry};
use super::layout::{error_page, guard_form, locale, see_other};
use super::pages::field;
use super::session::SignedIn;
use super::users::Permission;
use crate::error::{ApiError, ApiResult};
use crate::events::Origin;
use crate::hosted::Locale;
use crate::idempotency::{execute_unkeyed, Executed};
use crate::payments::capture::capture_intent;
use crate::payments::refunds::{refund as api_refund, CreateRequest};
use crate::payments::reviews::approve_review;
use crate::payments::Ctx;
use crate::state::AppState;
use crate::webhooks::deliveries::redelivery_of_event;
use crate::wire::ApiRequest;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use portcullis_domain::refunds::RefundReason;
use portcullis_store::Scope;

/// The signed-in user allowed `permission`, after the form's CSRF check.
pub(super) async fn authorised(
    state: &AppState,
    headers: &HeaderMap,
    request: &mut ApiRequest,
    permission: Permission,
) -> Result<(Locale, SignedIn), Response> {
    let loc = locale(None, headers);
    let signed = guard_form(state, headers, loc).await?;
    let csrf = request.params.string("csrf_token", 128).ok().flatten();
    let allowed = signed
        .check_csrf(csrf.as_deref())
        .and_then(|()| signed.require(permission));
    if let Err(err) = allowed {
        return Err(error_page(state, loc, &err));
    }
    Ok((loc, signed))
}

/// [`authorised`], for a form that carries nothing but its CSRF token.
pub(super) async fn authorised_bare(
    state: &AppState,
    headers: &HeaderMap,
    request: &mut ApiRequest,
    permission: Permission,
) -> Result<(Locale, SignedIn), Response> {
    let (loc, signed) = authorised(state, headers, request, permission).await?;
    match std::mem::take(&mut request.params).finish() {
        Ok(()) => Ok((loc, signed)),
        Err(err) => Err(error_page(state, loc, &err)),
    }
}

pub(super) fn record(
    state: &AppState,
    signed: &SignedIn,
    request: &ApiRequest,
    action: &'static str,
    object: &str,
    result: Option<String>,
) -> ApiResult<portcullis_store::WriteOp> {
    audit::record(
        &signed.scope(),
        Entry {
            user: Some(&signed.user.id),
            email: Some(&signed.user.email),
            action,
            object: Some(object),
            result,
            ip: request.client_ip.map(|ip| ip.to_string()),
        },
        state.now(),
    )
}

/// Runs `execute` as the API would, then redirects to `back` on success
/// or shows the API's error.
pub(super) async fn run<F, Fut>(state: &AppState, loc: Locale, back: String, execute: F) -> Response
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ApiResult<Executed>>,
{
    let response = execute_unkeyed(state, execute).await;
    if response.status().is_success() {
        return see_other(&back);
    }
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let message = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| status.to_string());
    let mut err = ApiError::invalid("dashboard_action_failed", message, "");
    err.status = status;
    error_page(state, loc, &err)
}

fn parse_refund(request: &mut ApiRequest, id: &str) -> ApiResult<CreateRequest> {
    let amount = match field(request, "amount", 20)? {
        Some(text) => Some(text.trim().parse::<i64>().map_err(|_| {
            ApiError::invalid(
                "parameter_invalid",
                "The amount must be a whole number of minor units.",
                "amount",
            )
        })?),
        None => None,
    };
    let reason = field(request, "reason", 30)?
        .map(|r| {
            RefundReason::parse(&r)
                .ok_or_else(|| ApiError::invalid("parameter_invalid", "Unknown reason.", "reason"))
        })
        .transpose()?;
    std::mem::take(&mut request.params).finish()?;
    Ok(CreateRequest {
        payment_intent: Some(id.to_owned()),
        charge: None,
        amount,
        reason,
        metadata: None,
    })
}

pub async fn refund(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Response {
    let (loc, signed) =
        match authorised(&state, &headers, &mut request, Permission::MovePayments).await {
            Ok(found) => found,
            Err(response) => return response,
        };
    let create = match parse_refund(&mut request, &id) {
        Ok(create) => create,
        Err(err) => return error_page(&state, loc, &err),
    };
    let on = PaymentAction {
        state: &state,
        signed: &signed,
        request: &request,
        id: &id,
    };
    let (state, create) = (&state, &create);
    on.run(loc, "refund", move |scope, origin| async move {
        api_refund(&ctx(state, &scope, &origin), create).await
    })
    .await
}

pub async fn capture(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Response {
    let (loc, signed) =
        match authorised_bare(&state, &headers, &mut request, Permission::MovePayments).await {
            Ok(found) => found,
            Err(response) => return response,
        };
    let on = PaymentAction {
        state: &state,
        signed: &signed,
        request: &request,
        id: &id,
    };
    let (state, id) = (&state, id.as_str());
    on.run(loc, "capture", move |scope, origin| async move {
        capture_intent(&ctx(state, &scope, &origin), id, None, None).await
    })
    .await
}

fn ctx<'a>(state: &'a AppState, scope: &'a Scope, origin: &'a Origin) -> Ctx<'a> {
    Ctx {
        state,
        scope,
        origin,
    }
}

/// A refund or capture of payment `id` by the signed-in user.
struct PaymentAction<'a> {
    state: &'a AppState,
    signed: &'a SignedIn,
    request: &'a ApiRequest,
    id: &'a str,
}

impl PaymentAction<'_> {
    /// Runs `execute` with the user's scope and the request's origin,
    /// records `action` (with what it made, a refund's id) in the same
    /// commit, and goes back to the payment's page saying it was done.
    async fn run<F, Fut>(&self, loc: Locale, action: &'static str, execute: F) -> Response
    where
        F: Fn(Scope, Origin) -> Fut,
        Fut: std::future::Future<Output = ApiResult<Executed>>,
    {
        let back = format!("/dashboard/payments/{}?done={action}", self.id);
        run(self.state, loc, back, || async {
            let origin = Origin::of(self.request);
            let mut done = execute(self.signed.scope(), origin).await?;
            let body = done.body.tree()?;
            let made = body["id"].as_str().filter(|made| *made != self.id);
            let made = made.map(str::to_owned);
            let op = record(self.state, self.signed, self.request, action, self.id, made)?;
            done.writes.push(op);
            Ok(done)
        })
        .await
    }
}

pub async fn approve(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Response {
    let (loc, signed) =
        match authorised_bare(&state, &headers, &mut request, Permission::DecideReviews).await {
            Ok(found) => found,
            Err(response) => return response,
        };
    let scope = signed.scope();
    run(
        &state,
        loc,
        "/dashboard/reviews?done=approve".to_owned(),
        || async {
            let origin = Origin::of(&request);
            let ctx = Ctx {
                state: &state,
                scope: &scope,
                origin: &origin,
            };
            let mut done = approve_review(&ctx, &id).await?;
            let intent = done.body.tree()?["payment_intent"]
                .as_str()
                .unwrap_or(&id)
                .to_owned();
            done.writes.push(record(
                &state,
                &signed,
                &request,
                "review_approve",
                &intent,
                Some(id.clone()),
            )?);
            Ok(done)
        },
    )
    .await
}

pub async fn resend(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Response {
    let (loc, signed) =
        match authorised(&state, &headers, &mut request, Permission::ResendWebhooks).await {
            Ok(found) => found,
            Err(response) => return response,
        };
    let result = async {
        std::mem::take(&mut request.params).finish()?;
        // The resend and its record commit together: neither without the other.
        let redelivery = redelivery_of_event(&state, &signed.scope(), &id).await?;
        let op = record(&state, &signed, &request, "webhook_resend", &id, None)?;
        state
            .store
            .commit(portcullis_store::WriteSet {
                ops: vec![redelivery, op],
            })
            .await?;
        Ok::<_, ApiError>(())
    };
    match result.await {
        Ok(()) => {
            let back = headers
                .get(axum::http::header::REFERER)
                .and_then(|v| v.to_str().ok())
                .and_then(|r| r.find("/dashboard/").map(|at| r[at..].to_owned()))
                .map(|path| {
                    path.split('?')
                        .next()
                        .unwrap_or("/dashboard/webhooks")
                        .to_owned()
                })
                .unwrap_or_else(|| "/dashboard/webhooks".to_owned());
            see_other(&format!("{back}?done=resend"))
        }
        Err(err) => error_page(&state, loc, &err),
    }
}
