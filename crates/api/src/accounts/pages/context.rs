//! What a page request carries besides its form: the language, the form
//! token (CSRF), the session cookie, and which merchant's customers the page
//! serves (its realm), and the call of the JSON API's handler behind it.
//!
//! Pages act exactly as the merchant's app would: each one calls the same
//! handler as `/v1/accounts/…`, as the merchant's publishable key, with the
//! session cookie as the `Account-Session` header; so every rule (lockout,
//! throttle, token spending, audit) is the API's.

use super::texts::Texts;
use super::views::{Chrome, SwitchLink};
use crate::accounts::tokens;
use crate::auth::Caller;
use crate::hosted::locale::{cookie_value, Locale};
use crate::state::AppState;
use crate::wire::{ApiRequest, Params};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use portcullis_domain::api_keys::{KeyKind, KeyMode};
use portcullis_domain::ids::MerchantId;
use portcullis_store::{ScanOp, ScanQuery, Scope, SqlValue, Table};
use serde_json::{Map, Value};
use std::future::Future;

/// The session cookie: the bearer token of `/v1/accounts/login`.
pub const SESSION_COOKIE: &str = "portcullis_account_session";
/// A random value per browser; forms carry its keyed digest.
pub const CSRF_COOKIE: &str = "portcullis_account_csrf";
/// A random value per browser, kept a long time: the device the pages'
/// sessions are bound to (`accounts::devices`).
pub const DEVICE_COOKIE: &str = "portcullis_account_device";
/// How long the device cookie lives: 400 days, browsers' longest.
const DEVICE_COOKIE_MAX_AGE_S: i64 = 400 * 24 * 3600;
/// The pages' cookies are sent to `/account/…` only.
const COOKIE_PATH: &str = "/account";
/// Longest cookie value looked at.
const COOKIE_CHARS_MAX: usize = 128;

/// One page request's language, form token and cookies to set.
pub struct PageCtx {
    pub locale: Locale,
    pub t: &'static Texts,
    csrf_cookie: String,
    csrf_is_new: bool,
    device_cookie: String,
    device_is_new: bool,
    locale_switched: bool,
    secure: bool,
    pub set_cookies: Vec<String>,
    /// The path and query (less `locale`) the switcher links keep.
    here: String,
}

/// The device cookie this browser holds, if a well-formed one.
pub fn device_cookie(headers: &HeaderMap) -> Option<String> {
    cookie_value(headers, DEVICE_COOKIE).filter(|v| (16..=COOKIE_CHARS_MAX).contains(&v.len()))
}

impl PageCtx {
    pub fn new(
        state: &AppState,
        headers: &HeaderMap,
        path: &str,
        query: &[(&str, String)],
    ) -> Self {
        let explicit = query
            .iter()
            .find(|(k, _)| *k == "locale")
            .map(|(_, v)| v.as_str());
        let locale = crate::hosted::locale::negotiate(explicit, headers);
        let existing = cookie_value(headers, CSRF_COOKIE)
            .filter(|v| (16..=COOKIE_CHARS_MAX).contains(&v.len()));
        let csrf_is_new = existing.is_none();
        let device = device_cookie(headers);
        let device_is_new = device.is_none();
        let keep: Vec<String> = query
            .iter()
            .filter(|(k, v)| *k != "locale" && !v.is_empty())
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        let here = if keep.is_empty() {
            format!("{path}?")
        } else {
            format!("{path}?{}&", keep.join("&"))
        };
        Self {
            locale,
            t: Texts::of(locale),
            csrf_cookie: existing.unwrap_or_else(|| tokens::generate("")),
            csrf_is_new,
            device_cookie: device.unwrap_or_else(|| tokens::generate("")),
            device_is_new,
            locale_switched: explicit.and_then(Locale::parse).is_some(),
            secure: state.settings.tls,
            set_cookies: Vec::new(),
            here,
        }
    }

    /// This browser's device id, sent to sign-ins as `device_id`.
    pub fn device_id(&self) -> &str {
        &self.device_cookie
    }

    /// The form token: a keyed digest of this browser's CSRF cookie, which
    /// another site can neither read nor compute.
    pub fn csrf_token(&self, state: &AppState) -> String {
        state
            .key_hasher
            .keyed_digest("customer_account_page_form", &self.csrf_cookie)
    }

    /// A posted form's token matches this browser's (constant time).
    pub fn csrf_ok(&self, state: &AppState, posted: Option<&str>) -> bool {
        use subtle::ConstantTimeEq;
        let Some(posted) = posted else { return false };
        !self.csrf_is_new && bool::from(posted.as_bytes().ct_eq(self.csrf_token(state).as_bytes()))
    }

    pub fn chrome(
        &self,
        state: &AppState,
        error: Option<String>,
        notice: Option<String>,
    ) -> Chrome {
        let switcher = Locale::ALL
            .iter()
            .map(|l| SwitchLink {
                href: format!("{}locale={}", self.here, l.tag()),
                lang: l.tag(),
                label: l.native_name(),
                current: *l == self.locale,
            })
            .collect();
        Chrome {
            lang: self.locale.tag(),
            t: self.t,
            switcher,
            error,
            notice,
            csrf: self.csrf_token(state),
        }
    }

    fn cookie(&self, name: &str, value: &str, same_site: &str, max_age: Option<i64>) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        let age = max_age.map_or(String::new(), |s| format!("; Max-Age={s}"));
        format!("{name}={value}; Path={COOKIE_PATH}; HttpOnly; SameSite={same_site}{age}{secure}")
    }

    pub fn set_session(&mut self, token: &str, ttl_s: i64) {
        let cookie = self.cookie(SESSION_COOKIE, token, "Lax", Some(ttl_s));
        self.set_cookies.push(cookie);
    }

    pub fn clear_session(&mut self) {
        let cookie = self.cookie(SESSION_COOKIE, "", "Lax", Some(0));
        self.set_cookies.push(cookie);
    }

    /// Adds the cookies this request sets to `response`.
    pub fn finish(mut self, mut response: Response) -> Response {
        if self.csrf_is_new {
            let cookie = self.cookie(CSRF_COOKIE, &self.csrf_cookie, "Strict", None);
            self.set_cookies.push(cookie);
        }
        if self.device_is_new {
            let max_age = Some(DEVICE_COOKIE_MAX_AGE_S);
            let cookie = self.cookie(DEVICE_COOKIE, &self.device_cookie, "Lax", max_age);
            self.set_cookies.push(cookie);
        }
        if self.locale_switched {
            let cookie =
                crate::hosted::locale::remember_cookie(self.locale, COOKIE_PATH, self.secure);
            self.set_cookies.push(cookie);
        }
        for cookie in self.set_cookies {
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
        }
        response
    }
}

/// Percent-encodes a query value.
pub fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The merchant and mode whose customers a page serves: `merchant` and
/// `mode` (`test` or `live`) in its query, or the scope of the emailed
/// token or session it holds.
pub struct Realm(pub Scope);

impl Realm {
    pub fn parse(merchant: Option<&str>, mode: Option<&str>) -> Option<Realm> {
        let merchant_id = MerchantId::parse(merchant?)?;
        let livemode = match mode.unwrap_or("test") {
            "test" => false,
            "live" => true,
            _ => return None,
        };
        Some(Realm(Scope {
            merchant_id,
            livemode,
        }))
    }

    /// `merchant=…&mode=…`, for links between pages.
    pub fn query(&self) -> String {
        format!(
            "merchant={}&mode={}",
            self.0.merchant_id.as_str(),
            self.mode()
        )
    }

    /// `test` or `live`.
    fn mode(&self) -> &'static str {
        if self.0.livemode {
            "live"
        } else {
            "test"
        }
    }

    /// The sign-in page's passkey form's realm fields, and where a
    /// passkey sign-in goes on to (the page's own `return_to`).
    pub fn passkey_login(&self, return_to: Option<String>) -> super::views::PasskeyLogin {
        super::views::PasskeyLogin {
            merchant: self.0.merchant_id.as_str().to_owned(),
            mode: self.mode(),
            return_to,
        }
    }

    /// The page's caller: as if the merchant's publishable key of this mode
    /// called the API. `None` when the merchant has no such key (unknown
    /// merchant, or its keys revoked): the pages are closed.
    pub async fn caller(&self, state: &AppState) -> Result<Option<Caller>, crate::error::ApiError> {
        let mode = if self.0.livemode {
            KeyMode::Live
        } else {
            KeyMode::Test
        };
        let keys = state.store.list_api_keys(&self.0.merchant_id).await?;
        Ok(keys
            .into_iter()
            .find(|k| k.kind == KeyKind::Publishable && k.mode == mode && k.revoked_at.is_none())
            .map(|key| Caller {
                merchant_id: key.merchant_id,
                key_id: key.id,
                kind: KeyKind::Publishable,
                mode,
                permissions: None,
            }))
    }

    /// The realm of a bearer `token` (emailed, or a session's) by its
    /// digest, in any merchant's scope (the digests are unique).
    pub async fn of_token(
        state: &AppState,
        table: Table,
        token: &str,
    ) -> Result<Option<Realm>, crate::error::ApiError> {
        if token.is_empty() || token.len() > tokens::TOKEN_CHARS_MAX {
            return Ok(None);
        }
        let query = ScanQuery {
            filters: vec![(
                "token_hash",
                ScanOp::Equal,
                SqlValue::Text(tokens::digest(state, token)),
            )],
            created_before: None,
            limit: 1,
        };
        Ok(state
            .store
            .scan(table, &query)
            .await?
            .pop()
            .map(|found| Realm(found.scope)))
    }
}

/// The session token of the page's cookie, if any.
pub fn session_token(headers: &HeaderMap) -> Option<String> {
    cookie_value(headers, SESSION_COOKIE)
        .filter(|t| t.starts_with(tokens::SESSION_PREFIX) && t.len() <= tokens::TOKEN_CHARS_MAX)
}

/// An API handler's refusal, as a page shows it.
pub struct Refusal {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub param: Option<String>,
}

/// Calls the JSON API's `handler` with `params`, as `caller`, with the
/// page's headers (less any `Authorization`) and, when given, the session
/// token as `Account-Session`.
pub async fn call<F, Fut>(
    handler: F,
    state: &AppState,
    caller: Caller,
    page_headers: &HeaderMap,
    session: Option<&str>,
    page_request: &ApiRequest,
    params: &[(&str, String)],
) -> Result<Value, Refusal>
where
    F: FnOnce(State<AppState>, Caller, HeaderMap, ApiRequest) -> Fut,
    Fut: Future<Output = Response>,
{
    let mut headers = page_headers.clone();
    headers.remove(header::AUTHORIZATION);
    headers.remove(crate::accounts::session::SESSION_HEADER);
    if let Some(token) = session.and_then(|t| HeaderValue::from_str(t).ok()) {
        headers.insert(crate::accounts::session::SESSION_HEADER, token);
    }
    let map: Map<String, Value> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::String(v.clone())))
        .collect();
    let request = ApiRequest {
        params: Params::new(map),
        idempotency_key: None,
        fingerprint: String::new(),
        request_id: page_request.request_id.clone(),
        client_ip: page_request.client_ip,
    };
    let response = handler(State(state.clone()), caller, headers, request).await;
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(body);
    }
    let error = &body["error"];
    Err(Refusal {
        status,
        code: error["code"].as_str().unwrap_or_default().to_owned(),
        message: error["message"]
            .as_str()
            .unwrap_or("The request failed.")
            .to_owned(),
        param: error["param"].as_str().map(str::to_owned),
    })
}

/// `2026-12-05 21:40 UTC` for Unix seconds.
pub fn utc_text(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let in_day = seconds.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        in_day / 3600,
        in_day % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_text_names_the_civil_date() {
        assert_eq!(utc_text(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_text(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc_text(1_796_506_800), "2026-12-05 21:40 UTC");
    }

    #[test]
    fn a_realm_names_a_merchant_and_a_mode() {
        let merchant = MerchantId::generate();
        let live = Realm::parse(Some(merchant.as_str()), Some("live")).unwrap();
        assert!(live.0.livemode);
        assert_eq!(
            live.query(),
            format!("merchant={}&mode=live", merchant.as_str())
        );
        let test = Realm::parse(Some(merchant.as_str()), None).unwrap();
        assert!(!test.0.livemode);
        assert!(Realm::parse(Some(merchant.as_str()), Some("prod")).is_none());
        assert!(Realm::parse(None, Some("test")).is_none());
        assert!(Realm::parse(Some("cus_x"), None).is_none());
    }
}
