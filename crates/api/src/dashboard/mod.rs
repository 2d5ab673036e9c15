//! The merchant dashboard at `/dashboard` (issue 17): server-rendered
//! pages (askama templates under `templates/dashboard/`, English and
//! Simplified Chinese), one stylesheet and one small script served from
//! `/dashboard/assets/…` (the CSP allows no inline script), charts drawn on
//! the server as SVG ([`charts`]).
//!
//! Users ([`users`]) sign in with email and password ([`signin`]); the
//! session cookie and the CSRF token of every form are in [`session`].
//! What a user may see and do follows its role ([`users::Role::may`]).
//! Actions ([`actions`]) run the API's own code (the same atomic phases,
//! the same events) and are recorded with the user ([`audit`]) in the same
//! commit.

mod actions;
mod assets;
mod audit;
pub mod charts;
mod keys;
mod layout;
mod listings;
mod mode;
mod pages;
mod payment_filters;
mod risk;
mod risk_actions;
mod session;
mod signin;
mod texts;
mod totp;
pub mod users;

use crate::routes::params::{self as p, Param};
use crate::routes::{doc, Routes};

const LOCALES: &[&str] = &["en", "zh-CN"];
const DONE: &[&str] = &[
    "refund",
    "capture",
    "approve",
    "resend",
    "key_created",
    "key_revoked",
    "key_rolled",
    "rule_created",
    "rule_disabled",
    "rule_enabled",
    "rule_deleted",
    "item_added",
    "item_removed",
];
/// Any page: its language (`locale`, as on the other hosted pages; `lang`
/// is its older alias) and what the last action did.
const PAGE: &[Param] = &[
    p::one_of("locale", LOCALES),
    p::one_of("lang", LOCALES),
    p::one_of("done", DONE),
];
const PAYMENTS: &[Param] = &[
    p::one_of("locale", LOCALES),
    p::one_of("lang", LOCALES),
    p::one_of("done", DONE),
    p::string("q", 255),
    p::string("status", 40),
    p::string("created_from", 10),
    p::string("created_to", 10),
    p::string("amount_min", 20),
    p::string("amount_max", 20),
    p::string("method", 40),
    p::string("starting_after", 255),
];
const LOGIN: &[Param] = &[
    p::string("email", 512).required(),
    p::string("password", 1024).required(),
    p::string("code", 12),
    p::string("csrf_token", 128).required(),
];
const ACTIVATE_PAGE: &[Param] = &[
    p::one_of("locale", LOCALES),
    p::one_of("lang", LOCALES),
    p::string("token", users::TOKEN_CHARS_MAX).required(),
];
const ACTIVATE: &[Param] = &[
    p::string("token", users::TOKEN_CHARS_MAX).required(),
    p::string("password", 1024).required(),
    p::string("csrf_token", 128).required(),
];
/// A form that only needs its CSRF token.
const FORM: &[Param] = &[p::string("csrf_token", 128).required()];
const MODE: &[Param] = &[
    p::string("csrf_token", 128).required(),
    p::one_of("mode", mode::MODES).required(),
];
const CREATE_KEY: &[Param] = &[
    p::string("csrf_token", 128).required(),
    p::one_of("kind", &["secret", "publishable"]),
    p::one_of("mode", &["test", "live"]),
];
const ENABLE_TOTP: &[Param] = &[
    p::string("csrf_token", 128).required(),
    p::string("secret", 64).required(),
    p::string("code", 12).required(),
];
const CREATE_RULE: &[Param] = &[
    p::string("csrf_token", 128).required(),
    p::string("rule", portcullis_risk::rules::RULE_BYTES_MAX),
    p::string("description", 500),
];
const ADD_ITEM: &[Param] = &[
    p::string("csrf_token", 128).required(),
    p::string("value", 512).required(),
];
const REFUND: &[Param] = &[
    p::string("csrf_token", 128).required(),
    p::string("amount", 20),
    p::one_of(
        "reason",
        &["", "duplicate", "fraudulent", "requested_by_customer"],
    ),
];

pub fn routes() -> Routes {
    Routes::new()
        .get(html("/dashboard", "The dashboard: its first page").params(PAGE), pages::home)
        .get(html("/dashboard/login", "Dashboard sign-in page").params(PAGE), signin::page)
        .post(html("/dashboard/login", "Sign in to the dashboard").params(LOGIN), signin::login)
        .get(html("/dashboard/activate", "Activate a dashboard user (one-time link)").params(ACTIVATE_PAGE), signin::activate_page)
        .post(html("/dashboard/activate", "Choose a password; the user is active").params(ACTIVATE), signin::activate)
        .post(html("/dashboard/logout", "Sign out of the dashboard").params(FORM), signin::logout)
        .post(html("/dashboard/mode", "Show live or test objects (the test/live switch)").params(MODE), mode::switch)
        .get(html("/dashboard/payments", "Payments: list, search and filters").params(PAYMENTS), pages::payments)
        .get(html("/dashboard/payments/{id}", "A payment and its timeline").params(PAGE), pages::payment)
        .post(html("/dashboard/payments/{id}/refund", "Refund a payment").params(REFUND), actions::refund)
        .post(html("/dashboard/payments/{id}/capture", "Capture a payment").params(FORM), actions::capture)
        .get(html("/dashboard/reviews", "The review queue").params(PAGE), pages::reviews)
        .post(html("/dashboard/reviews/{id}/approve", "Approve a review").params(FORM), actions::approve)
        .get(html("/dashboard/customers", "Customers").params(PAGE), listings::customers)
        .get(html("/dashboard/balances", "Balances and payouts").params(PAGE), listings::balances)
        .get(html("/dashboard/risk", "Risk rules and lists (editable by owners and developers)").params(PAGE), risk::page)
        .post(html("/dashboard/risk/rules", "Add a risk rule").params(CREATE_RULE), risk_actions::create)
        .post(html("/dashboard/risk/rules/{id}/disable", "Disable a risk rule").params(FORM), risk_actions::rule_step)
        .post(html("/dashboard/risk/rules/{id}/enable", "Enable a risk rule").params(FORM), risk_actions::rule_step)
        .post(html("/dashboard/risk/rules/{id}/delete", "Delete a risk rule of the merchant's own").params(FORM), risk_actions::rule_step)
        .post(html("/dashboard/risk/lists/{id}/items", "Add a value to a risk list").params(ADD_ITEM), risk_actions::add_item)
        .post(html("/dashboard/risk/lists/{id}/items/{item}/remove", "Remove a value from a risk list").params(FORM), risk_actions::remove_item)
        .get(html("/dashboard/api_keys", "API keys").params(PAGE), keys::page)
        .post(html("/dashboard/api_keys", "Create an API key (shown once)").params(CREATE_KEY), keys::create)
        .post(html("/dashboard/api_keys/{id}/roll", "Roll an API key: a new one, the old one revoked").params(FORM), keys::roll)
        .post(html("/dashboard/api_keys/{id}/revoke", "Revoke an API key").params(FORM), keys::revoke)
        .get(html("/dashboard/security", "Two-step sign-in (TOTP)").params(PAGE), totp::page)
        .post(html("/dashboard/security/totp", "Turn two-step sign-in on with a code").params(ENABLE_TOTP), totp::enable)
        .get(html("/dashboard/webhooks", "Webhook endpoints and their deliveries").params(PAGE), pages::webhooks)
        .post(html("/dashboard/events/{id}/resend", "Resend an event to its endpoints").params(FORM), actions::resend)
        .get(html("/dashboard/charts", "Charts: volume with forecast, authorization, declines, fraud, latency, webhook backlog").params(PAGE), charts::page)
        .get(html("/dashboard/assets/{file}", "The dashboard's stylesheet and script").params(p::NONE), assets::serve)
}

fn html(path: &'static str, summary: &'static str) -> crate::routes::Doc {
    doc(path, summary, "").public().not_json()
}
