//! The hosted customer account pages (`/account/…`), in English and
//! Simplified Chinese: register, activate (the emailed link), accept an
//! invitation, sign in and out, the account and its sessions (revoke one),
//! password change, password reset (request, and the emailed link), email
//! change (request, and the link sent to the new address) and closing the
//! account.
//!
//! Server-rendered from askama templates (`crates/api/templates/account/`),
//! one stylesheet and one script served from `/account/assets/…` (the CSP
//! allows no inline script). The session lives in an HttpOnly, SameSite=Lax
//! cookie (`Secure` under TLS) scoped to `/account`; every form carries a
//! token bound to a SameSite=Strict cookie of the browser ([`context`]).
//!
//! Pages that start a flow (register, sign in, reset) name their merchant
//! in the query: `?merchant=acct_…&mode=test|live` (the merchant links to
//! them from its site); pages reached by an emailed link or a session find
//! it from the token. Each page calls the very handler of the JSON API.

mod assets;
mod checkout;
mod context;
mod flows;
mod passkeys;
mod relay;
mod signed_in;
mod step_up;
mod step_up_payment;
mod texts;
mod top_up;
mod views;

use crate::accounts::tokens::TOKEN_CHARS_MAX;
use crate::routes::params::{self as p, Param};
use crate::routes::{doc, Routes};
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::extract::State;
use axum::http::HeaderMap;
use portcullis_domain::accounts::PASSWORD_CHARS_MAX;

const MERCHANT: Param = p::string("merchant", 64);
const MODE: Param = p::one_of("mode", &["test", "live"]);
const LOCALE: Param = p::string("locale", 16);
const CSRF: Param = p::string("csrf_token", 128);
const TOKEN: Param = p::string("token", TOKEN_CHARS_MAX);
const EMAIL: Param = p::string("email", 512);
const PASSWORD: Param = p::string("password", PASSWORD_CHARS_MAX);
const CURRENT_PASSWORD: Param = p::string("current_password", PASSWORD_CHARS_MAX);
const NEW_PASSWORD: Param = p::string("new_password", PASSWORD_CHARS_MAX);

/// Where sign-in goes on to (a path of ours; the step-up page's).
const RETURN_TO: Param = p::string("return_to", step_up::RETURN_TO_CHARS_MAX);
const REALM_PAGE: &[Param] = &[MERCHANT, MODE, LOCALE, RETURN_TO];
const REGISTER_FORM: &[Param] = &[
    MERCHANT,
    MODE,
    LOCALE,
    RETURN_TO,
    CSRF,
    EMAIL,
    PASSWORD,
    p::string("name", 256),
];
const LOGIN_FORM: &[Param] = &[MERCHANT, MODE, LOCALE, RETURN_TO, CSRF, EMAIL, PASSWORD];
const CHECKOUT_BALANCE: &[Param] = &[LOCALE];
const TOP_UP_PAGE: &[Param] = &[LOCALE];
const TOP_UP_FORM: &[Param] = &[
    LOCALE,
    CSRF,
    p::string("amount", 32),
    p::string("currency", 3),
];
const CHECKOUT_BALANCE_PAY: &[Param] = &[LOCALE, CSRF];
const RESET_REQUEST_FORM: &[Param] = &[MERCHANT, MODE, LOCALE, RETURN_TO, CSRF, EMAIL];
const TOKEN_PAGE: &[Param] = &[TOKEN, LOCALE];
const TOKEN_FORM: &[Param] = &[TOKEN, LOCALE, CSRF];
const INVITATION_FORM: &[Param] = &[TOKEN, LOCALE, CSRF, PASSWORD];
const RESET_FORM: &[Param] = &[TOKEN, LOCALE, CSRF, NEW_PASSWORD];
const SIGNED_IN_PAGE: &[Param] = &[LOCALE, p::one_of("done", signed_in::DONE)];
const SIGNED_IN_FORM: &[Param] = &[LOCALE, CSRF];
const PASSWORD_FORM: &[Param] = &[LOCALE, CSRF, CURRENT_PASSWORD, NEW_PASSWORD];
const EMAIL_FORM: &[Param] = &[LOCALE, CSRF, p::string("new_email", 512), CURRENT_PASSWORD];
const PAYMENT_INTENT: Param = p::string("payment_intent", step_up_payment::INTENT_CHARS_MAX);
const STEP_UP_PAGE: &[Param] = &[LOCALE, RETURN_TO, PAYMENT_INTENT];
const STEP_UP_FORM: &[Param] = &[
    LOCALE,
    CSRF,
    RETURN_TO,
    PAYMENT_INTENT,
    CHALLENGE,
    CREDENTIAL,
];
const PAY_FORM: &[Param] = &[LOCALE, CSRF, PAYMENT_INTENT];
const PAY_PASSWORD_FORM: &[Param] = &[LOCALE, CSRF, PAYMENT_INTENT, PASSWORD];
const PAY_CODE_FORM: &[Param] = &[LOCALE, CSRF, PAYMENT_INTENT, p::string("code", 16)];
const DEACTIVATE_FORM: &[Param] = &[LOCALE, CSRF, CURRENT_PASSWORD];
const CHALLENGE: Param = p::string("challenge", crate::accounts::passkeys::CHALLENGE_CHARS_MAX);
const CREDENTIAL: Param = p::string(
    "credential",
    crate::accounts::passkeys::CREDENTIAL_CHARS_MAX,
);
const PASSKEY_ADD_FORM: &[Param] = &[
    LOCALE,
    CSRF,
    CHALLENGE,
    CREDENTIAL,
    p::string("name", crate::accounts::passkeys::NAME_CHARS_MAX),
];
const PASSKEY_LOGIN_START: &[Param] = &[MERCHANT, MODE, LOCALE, CSRF];
const PASSKEY_LOGIN_FORM: &[Param] = &[
    MERCHANT, MODE, LOCALE, RETURN_TO, CSRF, CHALLENGE, CREDENTIAL,
];

/// A hosted page: no API key, HTML.
fn page(path: &'static str, summary: &'static str, params: &'static [Param]) -> crate::routes::Doc {
    doc(path, summary, "").params(params).public().not_json()
}

pub fn routes() -> Routes {
    use flows::Flow;
    let mut routes = Routes::new()
        .get(
            page(
                "/account",
                "The signed-in customer's account and sessions (hosted page)",
                SIGNED_IN_PAGE,
            ),
            signed_in::home,
        )
        .post(
            page("/account/logout", "Sign out (hosted page)", SIGNED_IN_FORM),
            signed_in::logout,
        )
        .post(
            page(
                "/account/sessions/{id}/revoke",
                "Sign out one session (hosted page)",
                SIGNED_IN_FORM,
            ),
            signed_in::revoke,
        )
        .get(
            page(
                "/account/top_up",
                "Top up the signed-in customer's balance: amount and currency, then the checkout page (hosted page)",
                TOP_UP_PAGE,
            ),
            top_up::show,
        )
        .post(
            page(
                "/account/top_up",
                "Start a top-up: its limits checked, then on to pay on the checkout page (hosted page)",
                TOP_UP_FORM,
            ),
            top_up::submit,
        )
        .get(
            page(
                "/account/checkout/{id}/balance",
                "Who is signed in and what their balance holds, for a Checkout Session's \"Pay from balance\" (JSON)",
                CHECKOUT_BALANCE,
            ).page_json(),
            checkout::show,
        )
        .post(
            page(
                "/account/checkout/{id}/balance",
                "Pay a Checkout Session from the signed-in customer's balance (JSON)",
                CHECKOUT_BALANCE_PAY,
            ).page_json(),
            checkout::pay,
        )
        .get(
            page(
                "/account/step_up",
                "Confirm with a passkey, then go back; with payment_intent: confirm or cancel a payment from the balance by passkey, password or emailed code (hosted page)",
                STEP_UP_PAGE,
            ),
            step_up::show,
        )
        .post(
            page(
                "/account/step_up/challenge",
                "Start the step-up page's passkey check (JSON)",
                SIGNED_IN_FORM,
            ).page_json(),
            step_up::challenge,
        )
        .post(
            page(
                "/account/step_up",
                "Finish the step-up page's passkey check (JSON)",
                STEP_UP_FORM,
            ).page_json(),
            step_up::confirm,
        )
        .post(
            page(
                "/account/step_up/password",
                "Confirm a payment from the balance with the password (hosted page)",
                PAY_PASSWORD_FORM,
            ),
            |s: State<AppState>, h: HeaderMap, r: ApiRequest| {
                step_up_payment::act(step_up_payment::Action::Password, s, h, r)
            },
        )
        .post(
            page(
                "/account/step_up/email_code",
                "Email a code to confirm a payment from the balance (hosted page)",
                PAY_FORM,
            ),
            |s: State<AppState>, h: HeaderMap, r: ApiRequest| {
                step_up_payment::act(step_up_payment::Action::SendCode, s, h, r)
            },
        )
        .post(
            page(
                "/account/step_up/email_code/confirm",
                "Confirm a payment from the balance with the emailed code (hosted page)",
                PAY_CODE_FORM,
            ),
            |s: State<AppState>, h: HeaderMap, r: ApiRequest| {
                step_up_payment::act(step_up_payment::Action::ConfirmCode, s, h, r)
            },
        )
        .post(
            page(
                "/account/step_up/cancel",
                "Cancel a payment from the balance that waits for step-up (hosted page)",
                PAY_FORM,
            ),
            |s: State<AppState>, h: HeaderMap, r: ApiRequest| {
                step_up_payment::act(step_up_payment::Action::Cancel, s, h, r)
            },
        )
        .post(
            page(
                "/account/passkeys/challenge",
                "Start adding a passkey from the account page (JSON)",
                SIGNED_IN_FORM,
            ).page_json(),
            passkeys::registration_challenge,
        )
        .post(
            page(
                "/account/passkeys",
                "Finish adding a passkey from the account page (JSON)",
                PASSKEY_ADD_FORM,
            ).page_json(),
            passkeys::register,
        )
        .post(
            page(
                "/account/passkeys/{id}/delete",
                "Delete a passkey (hosted page; needs a fresh step-up)",
                SIGNED_IN_FORM,
            ),
            passkeys::delete,
        )
        .post(
            page(
                "/account/passkeys/login/challenge",
                "Start signing in with a passkey from the sign-in page (JSON)",
                PASSKEY_LOGIN_START,
            ).page_json(),
            passkeys::login_challenge,
        )
        .post(
            page(
                "/account/passkeys/login",
                "Finish signing in with a passkey; sets the session cookie (JSON)",
                PASSKEY_LOGIN_FORM,
            ).page_json(),
            passkeys::login,
        )
        .get(
            page(
                "/account/assets/account.js",
                "The account pages' script",
                p::NONE,
            ),
            assets::script,
        )
        .get(
            page(
                "/account/assets/account.css",
                "The account pages' stylesheet",
                p::NONE,
            ),
            assets::stylesheet,
        );
    for (flow, get_params, post_params) in [
        (Flow::Register, REALM_PAGE, REGISTER_FORM),
        (Flow::Login, REALM_PAGE, LOGIN_FORM),
        (Flow::PasswordReset, REALM_PAGE, RESET_REQUEST_FORM),
        (Flow::Activate, TOKEN_PAGE, TOKEN_FORM),
        (Flow::Invitation, TOKEN_PAGE, INVITATION_FORM),
        (Flow::Reset, TOKEN_PAGE, RESET_FORM),
        (Flow::EmailConfirm, TOKEN_PAGE, TOKEN_FORM),
        (Flow::Password, SIGNED_IN_PAGE, PASSWORD_FORM),
        (Flow::Email, SIGNED_IN_PAGE, EMAIL_FORM),
        (Flow::Deactivate, SIGNED_IN_PAGE, DEACTIVATE_FORM),
    ] {
        let spec = flow.spec();
        routes = routes
            .get(
                page(spec.path, spec.summary, get_params),
                move |state: State<AppState>, headers: HeaderMap, request: ApiRequest| {
                    flows::show(flow, state, headers, request)
                },
            )
            .post(
                page(spec.path, spec.summary, post_params),
                move |state: State<AppState>, headers: HeaderMap, request: ApiRequest| {
                    flows::submit(flow, state, headers, request)
                },
            );
    }
    routes
}
