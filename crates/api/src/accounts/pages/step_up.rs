//! The hosted step-up page (`/account/step_up?return_to=…`): where
//! `next_action.redirect_to_url` sends the holder. Its script (a file of
//! ours, `account.js`) asks this page for a challenge, runs
//! `navigator.credentials.get` and posts the assertion back; both calls go
//! to the JSON API's step-up handlers with the page's session cookie, and
//! answer JSON. `return_to` must be of our own origin (no open redirect).
//! With `payment_intent` instead, it is the step-up page of a payment from
//! the balance ([`step_up_payment`]).

use super::context::PageCtx;
use super::flows::html;
use super::relay;
use super::signed_in::{ended, query_of, signed_in};
use super::step_up_payment;
use super::views::{Link, StepUpPage};
use crate::accounts::step_up;
use crate::state::AppState;
use crate::wire::ApiRequest;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;

/// Longest `return_to` looked at.
pub const RETURN_TO_CHARS_MAX: usize = 2048;
const PATH: &str = "/account/step_up";
const HOME: &str = "/account";

/// `raw` as a path of our own origin: a path (`/…`, not `//…`) or an
/// absolute URL whose origin is `base_url`'s. `None` for anything else.
pub fn own_path(base_url: &str, raw: &str) -> Option<String> {
    if raw.len() > RETURN_TO_CHARS_MAX || raw.chars().any(|c| c.is_control() || c == '\\') {
        return None;
    }
    let path = if raw.starts_with('/') {
        raw
    } else {
        let origin = origin_of(base_url)?;
        let rest = raw.get(origin.len()..)?;
        if !raw[..origin.len()].eq_ignore_ascii_case(origin) {
            return None;
        }
        if rest.is_empty() {
            "/"
        } else {
            rest
        }
    };
    let is_path = path.starts_with('/') && !path.starts_with("//");
    is_path.then(|| path.to_owned())
}

/// The step-up page in `locale`, going back to the account page.
pub fn then_account(locale: crate::hosted::Locale) -> String {
    format!("{PATH}?locale={}&return_to=%2Faccount", locale.tag())
}

/// `scheme://host[:port]` of an absolute URL.
fn origin_of(url: &str) -> Option<&str> {
    let after_scheme = url.find("://")? + 3;
    let end = url[after_scheme..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| after_scheme + i);
    (end > after_scheme).then(|| &url[..end])
}

/// The request's `return_to` when it is a path of ours, else the account
/// page: where a sign-in goes on to.
pub fn return_to_or_home(state: &AppState, request: &mut ApiRequest) -> String {
    return_to(state, request).unwrap_or_else(|()| HOME.to_owned())
}

fn return_to(state: &AppState, request: &mut ApiRequest) -> Result<String, ()> {
    match request.params.string("return_to", RETURN_TO_CHARS_MAX) {
        Ok(None) => Ok(HOME.to_owned()),
        Ok(Some(raw)) if raw.is_empty() => Ok(HOME.to_owned()),
        Ok(Some(raw)) => own_path(&state.base_url(), &raw).ok_or(()),
        Err(_) => Err(()),
    }
}

pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let mut query = query_of(&mut request);
    if let Some(id) = step_up_payment::intent_id(&mut request) {
        query.push(("payment_intent", id.clone()));
        let ctx = PageCtx::new(&state, &headers, PATH, &query);
        return step_up_payment::show(&state, &headers, &request, ctx, &id).await;
    }
    let back = return_to(&state, &mut request);
    if let Ok(path) = &back {
        // The language switcher keeps where to go back to.
        query.push(("return_to", path.clone()));
    }
    let ctx = PageCtx::new(&state, &headers, PATH, &query);
    let Ok(back) = back else {
        let t = ctx.t;
        let links = vec![Link {
            id: "to-home",
            href: HOME.to_owned(),
            label: t.to_home,
        }];
        let error = Some(t.return_to_foreign.to_owned());
        return super::flows::message(
            &state,
            ctx,
            StatusCode::BAD_REQUEST,
            t.error_title,
            error,
            None,
            links,
        );
    };
    if signed_in(&state, &headers).await.is_none() {
        return ended(&state, ctx, None);
    }
    let page = StepUpPage {
        chrome: ctx.chrome(&state, None, None),
        return_to: back,
    };
    html(ctx, StatusCode::OK, page.render())
}

/// `POST /account/step_up/challenge`: the assertion options.
pub async fn challenge(
    State(state): State<AppState>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    match relay::as_holder(&state, &headers, &mut request, PATH, step_up::start, &[]).await {
        Ok((ctx, body)) => relay::answered(ctx, body),
        Err(response) => response,
    }
}

/// `POST /account/step_up`: the assertion; answers where to go next. For
/// a payment (`payment_intent`), the payment is completed first and the
/// answer is its return location (or its page).
pub async fn confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    if let Some(id) = step_up_payment::intent_id(&mut request) {
        return step_up_payment::passkey_confirmed(&state, &headers, request, &id).await;
    }
    let Ok(back) = return_to(&state, &mut request) else {
        let ctx = PageCtx::new(&state, &headers, PATH, &[]);
        let message = ctx.t.return_to_foreign;
        return relay::refused(ctx, StatusCode::BAD_REQUEST, "return_to_invalid", message);
    };
    let params = relay::ceremony_fields(&mut request);
    let confirm = step_up::confirm;
    match relay::as_holder(&state, &headers, &mut request, PATH, confirm, &params).await {
        Ok((ctx, _)) => relay::answered(ctx, json!({ "return_to": back })),
        Err(response) => response,
    }
}

#[cfg(test)]
mod tests {
    use super::own_path;

    const BASE: &str = "https://pay.shop.example";

    #[test]
    fn only_paths_of_our_own_origin_are_kept() {
        let ok = |raw: &str| own_path(BASE, raw);
        assert_eq!(
            ok("/account/password").as_deref(),
            Some("/account/password")
        );
        assert_eq!(
            ok("https://pay.shop.example/account?x=1").as_deref(),
            Some("/account?x=1")
        );
        assert_eq!(ok("https://pay.shop.example").as_deref(), Some("/"));
        for foreign in [
            "https://evil.example/account",
            "https://pay.shop.example.evil.example/",
            "https://pay.shop.example@evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "http://pay.shop.example/account",
            "javascript:alert(1)",
            "account",
            "/a\nb",
        ] {
            assert_eq!(ok(foreign), None, "{foreign}");
        }
    }
}
