//! What every dashboard page shares: the language, the navigation (only the
//! sections the user's role may see), the flash line after an action, and
//! how errors and redirects answer.

use super::session::{self, SignedIn};
use super::texts::{self, Texts};
use super::users::Permission;
use crate::error::ApiError;
use crate::hosted::Locale;
use crate::state::AppState;
use askama::Template;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

pub struct Layout {
    pub t: &'static Texts,
    pub title: String,
    /// The signed-in user's email and role, and the sections; `None` on
    /// the sign-in pages.
    pub user: Option<(String, &'static str)>,
    pub nav: Vec<NavItem>,
    pub flash: Option<&'static str>,
    pub csrf: String,
    /// This page's path, for the language links.
    pub path: String,
    /// Whether the page shows live objects.
    pub livemode: bool,
    /// Whether the user may switch to live mode (the switch is shown).
    pub may_switch: bool,
}

const SECTIONS: &[(&str, Permission)] = &[
    ("/dashboard/payments", Permission::ViewPayments),
    ("/dashboard/reviews", Permission::ViewPayments),
    ("/dashboard/customers", Permission::ViewPayments),
    ("/dashboard/webhooks", Permission::ViewWebhooks),
    ("/dashboard/api_keys", Permission::ManageKeys),
    ("/dashboard/balances", Permission::ViewPayments),
    ("/dashboard/risk", Permission::ViewRisk),
    ("/dashboard/charts", Permission::ViewPayments),
    ("/dashboard/security", Permission::ViewPayments),
];

fn section_label(t: &'static Texts, href: &str) -> &'static str {
    match href {
        "/dashboard/payments" => t.payments,
        "/dashboard/reviews" => t.reviews,
        "/dashboard/webhooks" => t.webhooks,
        "/dashboard/customers" => t.customers,
        "/dashboard/balances" => t.balances,
        "/dashboard/api_keys" => t.api_keys,
        "/dashboard/security" => t.security,
        "/dashboard/risk" => t.risk,
        _ => t.charts,
    }
}

/// The language the query names: `?locale=` as on the other hosted pages,
/// else `?lang=` (its older alias, kept for links already given out). Both
/// are read, so neither is left over as an unknown parameter.
pub fn named_locale(request: &mut crate::wire::ApiRequest) -> Option<String> {
    let locale = super::pages::field(request, "locale", 8).ok().flatten();
    let lang = super::pages::field(request, "lang", 8).ok().flatten();
    locale.or(lang)
}

/// The page's language: the one the query names ([`named_locale`]), else
/// the cookie, else the browser's.
pub fn locale(lang: Option<&str>, headers: &HeaderMap) -> Locale {
    crate::hosted::locale::negotiate(lang, headers)
}

impl Layout {
    pub fn signed(signed: &SignedIn, locale: Locale, title: &str, path: &str) -> Layout {
        let t = texts::of(locale);
        let nav = SECTIONS
            .iter()
            .filter(|(_, permission)| signed.user.role.may(*permission))
            .map(|(href, _)| NavItem {
                href,
                label: section_label(t, href),
                current: path.starts_with(href),
            })
            .collect();
        Layout {
            t,
            title: title.to_owned(),
            user: Some((signed.user.email.clone(), signed.user.role.as_str())),
            nav,
            flash: None,
            csrf: signed.csrf.clone(),
            path: path.to_owned(),
            livemode: signed.livemode,
            may_switch: signed.user.role.may(Permission::ViewLive),
        }
    }

    pub fn public(locale: Locale, title: &str, path: &str, csrf: String) -> Layout {
        Layout {
            t: texts::of(locale),
            title: title.to_owned(),
            user: None,
            nav: vec![],
            flash: None,
            csrf,
            path: path.to_owned(),
            livemode: false,
            may_switch: false,
        }
    }

    /// The line shown after an action redirected here (`?done=`).
    pub fn with_done(mut self, done: Option<&str>) -> Layout {
        let t = self.t;
        self.flash = match done {
            Some("refund") => Some(t.done_refund),
            Some("capture") => Some(t.done_capture),
            Some("approve") => Some(t.done_approve),
            Some("resend") => Some(t.done_resend),
            _ => None,
        };
        self
    }
}

/// A rendered page; `lang` (when the query named one) is remembered in
/// the language cookie.
pub fn page(state: &AppState, template: &impl Template, lang: Option<Locale>) -> Response {
    match template.render() {
        Ok(rendered) => html(state, rendered, lang),
        Err(err) => ApiError::internal(&err).into_response(),
    }
}

/// A page already rendered; `lang` as in [`page`].
pub fn html(state: &AppState, rendered: String, lang: Option<Locale>) -> Response {
    let mut response = Html(rendered).into_response();
    if let Some(locale) = lang {
        if let Ok(value) = HeaderValue::from_str(&crate::hosted::locale::remember_cookie(
            locale,
            "/dashboard",
            state.settings.tls,
        )) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

#[derive(Template)]
#[template(path = "dashboard/error.html")]
struct ErrorPage {
    l: Layout,
    message: String,
}

/// An error as a page of the dashboard, with the error's status.
pub fn error_page(state: &AppState, locale: Locale, err: &ApiError) -> Response {
    let t = texts::of(locale);
    let template = ErrorPage {
        l: Layout::public(locale, t.error_title, "/dashboard", String::new()),
        message: err.message.clone(),
    };
    let mut response = page(state, &template, None);
    *response.status_mut() = err.status;
    response
}

/// 303 to `location` (after a form, or to the sign-in page).
pub fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// The signed-in user, or the answer that sends the browser to sign in.
pub async fn guard(
    state: &AppState,
    headers: &HeaderMap,
    locale: Locale,
) -> Result<SignedIn, Response> {
    match session::signed_in(state, headers).await {
        Ok(Some(signed)) => Ok(signed),
        Ok(None) => Err(see_other("/dashboard/login")),
        Err(err) => Err(error_page(state, locale, &err)),
    }
}

/// For a form post: the signed-in user, or 401 with a page that links to
/// sign-in (a post without a session is refused, never redirected as if
/// it had been accepted).
pub async fn guard_form(
    state: &AppState,
    headers: &HeaderMap,
    locale: Locale,
) -> Result<SignedIn, Response> {
    match session::signed_in(state, headers).await {
        Ok(Some(signed)) => Ok(signed),
        Ok(None) => Err(error_page(
            state,
            locale,
            &ApiError::unauthenticated("Your dashboard session has ended: sign in again."),
        )),
        Err(err) => Err(error_page(state, locale, &err)),
    }
}
