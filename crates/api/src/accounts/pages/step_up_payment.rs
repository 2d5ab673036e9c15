//! The step-up page of a payment from the balance
//! (`/account/step_up?payment_intent=pi_…`, where the intent's
//! `next_action.redirect_to_url` sends the holder). It shows what is paid
//! (merchant, amount in the page's language, description) and, while the
//! intent waits, three ways to confirm — the passkey (its script, when the
//! account has one), the password, a code sent by email — and "Cancel
//! payment". A confirmation completes the payment at once; a cancel, or
//! [`FAILURES_MAX`] wrong passwords or codes given for this payment, fails
//! it. Either way the browser goes to the intent's `return_url` with
//! Stripe's `payment_intent`, `payment_intent_client_secret` and
//! `redirect_status`, or back to this page, which then shows the outcome.
//! Only the intent's customer's account may act; a signed-out browser is
//! offered sign-in, which comes back here.
//!
//! Like every page it calls the JSON API's handlers as the holder:
//! `/v1/accounts/step_up` (password), `…/step_up/email_code[/confirm]`,
//! then `/v1/accounts/payment_intents/{id}/authorize` or `…/decline`.

use super::context::{encode, PageCtx, Realm, Refusal};
use super::flows::{html, message};
use super::relay;
use super::signed_in::{query_of, signed_in, SignedIn};
use super::views::{Link, PaymentStepUpPage};
use crate::accounts::{passkeys, signin, step_up, wallet};
use crate::customer_balance::step_up::{count_failure, waits_for_step_up};
use crate::payments::authenticate::return_location;
use crate::state::AppState;
use crate::wire::ApiRequest;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use portcullis_domain::payment_intents::{PaymentIntent, PaymentIntentStatus};
use portcullis_store::{ScanOp, ScanQuery, SqlValue, Table};

/// Longest `payment_intent` looked at.
pub const INTENT_CHARS_MAX: usize = 64;
/// Wrong passwords or codes given for one payment that fail it.
pub const FAILURES_MAX: i64 = 3;
const PATH: &str = "/account/step_up";

/// What a form of the page asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Password,
    SendCode,
    ConfirmCode,
    Cancel,
}

/// The request being answered: what a call of the API as the holder needs.
#[derive(Clone, Copy)]
struct Here<'a> {
    state: &'a AppState,
    headers: &'a HeaderMap,
    request: &'a ApiRequest,
}

/// A request of the page that may act: the holder and their intent.
struct Paying {
    who: SignedIn,
    intent: PaymentIntent,
    merchant: Option<String>,
    has_passkey: bool,
}

/// Why the page cannot act.
enum Lost {
    /// No such intent, or not the signed-in customer's.
    Missing,
    /// Nobody of the intent's merchant is signed in.
    SignedOut(Realm),
}

/// The posted or asked `payment_intent`, if it looks like one.
pub fn intent_id(request: &mut ApiRequest) -> Option<String> {
    request
        .params
        .string("payment_intent", INTENT_CHARS_MAX)
        .ok()
        .flatten()
        .filter(|id| id.starts_with("pi_"))
}

/// The page itself, for `id`.
fn page_path(id: &str, ctx: &PageCtx) -> String {
    format!("{PATH}?payment_intent={id}&locale={}", ctx.locale.tag())
}

/// The merchant and mode the intent `id` belongs to (ids are unique).
async fn realm_of(state: &AppState, id: &str) -> Option<Realm> {
    let query = ScanQuery {
        filters: vec![("id", ScanOp::Equal, SqlValue::Text(id.to_owned()))],
        created_before: None,
        limit: 1,
    };
    let found = state.store.scan(Table::PaymentIntents, &query).await.ok()?;
    found.into_iter().next().map(|doc| Realm(doc.scope))
}

async fn locate(here: Here<'_>, id: &str) -> Result<Paying, Lost> {
    let Here {
        state,
        headers,
        request,
    } = here;
    let realm = realm_of(state, id).await.ok_or(Lost::Missing)?;
    let who = match signed_in(state, headers).await {
        Some(who) if who.realm.0 == realm.0 => who,
        _ => return Err(Lost::SignedOut(realm)),
    };
    let me = who.call(signin::me, state, headers, request).await;
    let customer = me.map_err(|_| Lost::SignedOut(Realm(realm.0.clone())))?["customer"]
        .as_str()
        .map(str::to_owned);
    let (_, intent) =
        crate::payments::records::load::<PaymentIntent>(state, &realm.0, id, "payment_intent")
            .await
            .map_err(|_| Lost::Missing)?;
    if customer.is_none() || intent.customer != customer {
        return Err(Lost::Missing);
    }
    let keys = who.call(passkeys::list, state, headers, request).await;
    let has_passkey = keys.is_ok_and(|list| list["data"].as_array().is_some_and(|d| !d.is_empty()));
    let merchant = state
        .store
        .list_merchants()
        .await
        .ok()
        .and_then(|all| all.into_iter().find(|m| m.id == realm.0.merchant_id))
        .map(|m| m.name);
    Ok(Paying {
        who,
        intent,
        merchant,
        has_passkey,
    })
}

fn lost_page(state: &AppState, ctx: PageCtx, lost: Lost, id: &str) -> Response {
    let t = ctx.t;
    let home = Link {
        id: "to-home",
        href: "/account".to_owned(),
        label: t.to_home,
    };
    match lost {
        Lost::Missing => {
            let error = Some(t.pay_missing.to_owned());
            message(
                state,
                ctx,
                StatusCode::NOT_FOUND,
                t.pay_title,
                error,
                None,
                vec![home],
            )
        }
        Lost::SignedOut(realm) => {
            let back = encode(&format!("{PATH}?payment_intent={id}"));
            let login = Link {
                id: "to-login",
                href: format!(
                    "/account/login?{}&locale={}&return_to={back}",
                    realm.query(),
                    ctx.locale.tag()
                ),
                label: t.to_login,
            };
            let notice = Some(t.pay_sign_in.to_owned());
            message(
                state,
                ctx,
                StatusCode::UNAUTHORIZED,
                t.pay_title,
                None,
                notice,
                vec![login],
            )
        }
    }
}

/// What the page shows besides the payment.
#[derive(Default)]
struct Shown {
    error: Option<String>,
    notice: Option<String>,
    invalid: &'static str,
}

fn render(
    state: &AppState,
    ctx: PageCtx,
    status: StatusCode,
    paying: &Paying,
    shown: Shown,
) -> Response {
    let t = ctx.t;
    let intent = &paying.intent;
    let waiting = waits_for_step_up(intent);
    let paid = intent.status == PaymentIntentStatus::Succeeded;
    let outcome = (!waiting).then_some(if paid { t.pay_succeeded } else { t.pay_failed });
    let mut links = Vec::new();
    if let (false, Some(href)) = (waiting, return_location(intent)) {
        links.push(Link {
            id: "to-return",
            href,
            label: t.pay_back,
        });
    }
    links.push(Link {
        id: "to-home",
        href: "/account".to_owned(),
        label: t.to_home,
    });
    let page = PaymentStepUpPage {
        chrome: ctx.chrome(state, shown.error, shown.notice),
        intent: intent.id.clone(),
        merchant: paying.merchant.clone(),
        amount: crate::hosted::money::format_amount(
            intent.amount.minor(),
            intent.currency,
            ctx.locale,
        ),
        description: intent.description.clone(),
        has_passkey: paying.has_passkey,
        outcome,
        invalid: shown.invalid,
        links,
    };
    html(ctx, status, page.render())
}

/// `GET /account/step_up?payment_intent=pi_…`.
pub async fn show(
    state: &AppState,
    headers: &HeaderMap,
    request: &ApiRequest,
    ctx: PageCtx,
    id: &str,
) -> Response {
    let here = Here {
        state,
        headers,
        request,
    };
    match locate(here, id).await {
        Ok(paying) => render(state, ctx, StatusCode::OK, &paying, Shown::default()),
        Err(lost) => lost_page(state, ctx, lost, id),
    }
}

/// The forms' posts: password, send a code, the code, cancel.
pub async fn act(
    action: Action,
    State(state): State<AppState>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let query = query_of(&mut request);
    let id = intent_id(&mut request);
    let csrf = request.params.string("csrf_token", 128).ok().flatten();
    let secret = match action {
        Action::Password => request.params.string("password", 1024).ok().flatten(),
        Action::ConfirmCode => request.params.string("code", 16).ok().flatten(),
        Action::SendCode | Action::Cancel => None,
    };
    let ctx = PageCtx::new(&state, &headers, PATH, &query);
    let Some(id) = id else {
        return lost_page(&state, ctx, Lost::Missing, "");
    };
    let here = Here {
        state: &state,
        headers: &headers,
        request: &request,
    };
    let paying = match locate(here, &id).await {
        Ok(paying) => paying,
        Err(lost) => return lost_page(&state, ctx, lost, &id),
    };
    if !ctx.csrf_ok(&state, csrf.as_deref()) {
        let shown = Shown {
            error: Some(ctx.t.form_expired.to_owned()),
            ..Shown::default()
        };
        return render(&state, ctx, StatusCode::FORBIDDEN, &paying, shown);
    }
    if !waits_for_step_up(&paying.intent) {
        return render(&state, ctx, StatusCode::OK, &paying, Shown::default());
    }
    let (who, secret) = (&paying.who, secret.unwrap_or_default());
    let proved = match action {
        Action::Cancel => return finish(here, ctx, &paying, false).await,
        Action::SendCode => {
            let locale = [("locale", ctx.locale.tag().to_owned())];
            let sent = who.call_with(step_up::send_code, &state, &headers, &request, &locale);
            return code_sent(&state, ctx, &paying, sent.await);
        }
        Action::Password => {
            let password = [("password", secret)];
            who.call_with(step_up::confirm, &state, &headers, &request, &password)
                .await
        }
        Action::ConfirmCode => {
            let code = [("code", secret)];
            who.call_with(step_up::confirm_code, &state, &headers, &request, &code)
                .await
        }
    };
    match proved {
        Ok(_) => finish(here, ctx, &paying, true).await,
        Err(refusal) => failed(here, ctx, &paying, refusal).await,
    }
}

/// The page after asking for a code: sent, or why not.
fn code_sent(
    state: &AppState,
    ctx: PageCtx,
    paying: &Paying,
    sent: Result<serde_json::Value, Refusal>,
) -> Response {
    let t = ctx.t;
    let (status, shown) = match sent {
        Ok(_) => (
            StatusCode::OK,
            Shown {
                notice: Some(t.pay_code_sent.to_owned()),
                invalid: "",
                error: None,
            },
        ),
        Err(refusal) => (
            refusal.status,
            Shown {
                error: Some(t.error(&refusal.code, &refusal.message, ctx.locale)),
                ..Shown::default()
            },
        ),
    };
    render(state, ctx, status, paying, shown)
}

/// A refused password or code: shown again, unless it was one failure
/// too many, which fails the payment.
async fn failed(here: Here<'_>, ctx: PageCtx, paying: &Paying, refusal: Refusal) -> Response {
    let state = here.state;
    let invalid = match refusal.param.as_deref() {
        Some("password") => "password",
        Some("code") => "code",
        _ => "",
    };
    // Only a wrong password or code counts, on this intent alone.
    if !invalid.is_empty() {
        let customer = paying.intent.customer.as_deref().unwrap_or_default();
        let (scope, id) = (&paying.who.realm.0, &paying.intent.id);
        let counted = count_failure(state, scope, id, customer).await;
        if matches!(counted, Ok(Some(failures)) if failures >= FAILURES_MAX) {
            return finish(here, ctx, paying, false).await;
        }
    }
    let shown = Shown {
        error: Some(ctx.t.error(&refusal.code, &refusal.message, ctx.locale)),
        invalid,
        notice: None,
    };
    render(state, ctx, refusal.status, paying, shown)
}

/// Completes the payment (`authorize`: paid with the session's fresh
/// step-up) or fails it, then sends the browser on: [`after`].
async fn finish(here: Here<'_>, ctx: PageCtx, paying: &Paying, authorize: bool) -> Response {
    let id = &paying.intent.id;
    let location = complete(here, &paying.who, id, authorize).await;
    let location = location.unwrap_or_else(|| page_path(id, &ctx));
    ctx.finish(Redirect::to(&location).into_response())
}

/// Authorizes (or declines) the intent `id` as `who`, then where the
/// browser goes: the intent's return location, or `None` for this page.
async fn complete(here: Here<'_>, who: &SignedIn, id: &str, authorize: bool) -> Option<String> {
    let Here {
        state,
        headers,
        request,
    } = here;
    let path = Path(id.to_owned());
    // Refused (completed meanwhile by another request): the outcome as it is.
    let _ = if authorize {
        let handler = |s, c, h, r| wallet::authorize(s, c, path, h, r);
        who.call(handler, state, headers, request).await
    } else {
        let handler = |s, c, h, r| wallet::decline(s, c, path, h, r);
        who.call(handler, state, headers, request).await
    };
    let (_, intent) =
        crate::payments::records::load::<PaymentIntent>(state, &who.realm.0, id, "payment_intent")
            .await
            .ok()?;
    return_location(&intent)
}

/// `POST /account/step_up` with `payment_intent`: the passkey assertion
/// (the page's script), then the payment completed; answers JSON
/// `{"return_to": …}`, where the script sends the browser.
pub async fn passkey_confirmed(
    state: &AppState,
    headers: &HeaderMap,
    mut request: ApiRequest,
    id: &str,
) -> Response {
    let params = relay::ceremony_fields(&mut request);
    let confirm = step_up::confirm;
    let relayed = relay::as_holder(state, headers, &mut request, PATH, confirm, &params).await;
    let ctx = match relayed {
        Ok((ctx, _)) => ctx,
        Err(response) => return response,
    };
    let here = Here {
        state,
        headers,
        request: &request,
    };
    let Ok(paying) = locate(here, id).await else {
        let message = ctx.t.pay_missing;
        return relay::refused(ctx, StatusCode::NOT_FOUND, "resource_missing", message);
    };
    let location = complete(here, &paying.who, id, true).await;
    let location = location.unwrap_or_else(|| page_path(id, &ctx));
    relay::answered(ctx, serde_json::json!({ "return_to": location }))
}
