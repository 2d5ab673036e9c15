//! The accounts' objects on the wire, and their samples for the OpenAPI
//! document. No hash, digest or token is ever rendered, except the
//! session's bearer token in the answer to sign-in.

use portcullis_domain::accounts::{AccountSession, CustomerAccount, Locale};
use portcullis_domain::customers::Email;
use portcullis_domain::ids::CustomerId;
use serde_json::{json, Value};

pub fn account(account: &CustomerAccount, now: i64) -> Value {
    json!({
        "id": account.id,
        "object": "customer_account",
        "customer": account.customer,
        "email": account.email,
        "status": account.status().as_str(),
        "locale": account.locale.tag(),
        "locked": account.locked_until(now).is_some(),
        "activated_at": account.activated_at,
        "created": account.created,
        "livemode": account.livemode,
    })
}

pub fn session(session: &AccountSession, current: bool, now: i64) -> Value {
    json!({
        "id": session.id,
        "object": "account_session",
        "account": session.account,
        "customer": session.customer,
        "created": session.created,
        "expires_at": session.expires_at,
        "revoked_at": session.revoked_at,
        "active": session.is_live(now),
        "current": current,
        "ip": session.ip,
        "user_agent": session.user_agent,
        "step_up_until": session.step_up_until,
        "payment_step_up_until": session.payment_step_up_until,
        "token": null,
    })
}

/// The answer to sign-in: the session and, this once, its bearer token.
pub fn new_session(session: &AccountSession, token: &str, now: i64) -> Value {
    let mut object = self::session(session, true, now);
    object["token"] = json!(token);
    object
}

/// The answer to register, whatever happened: nothing in it tells
/// whether the address had an account.
pub fn registration(email: &Email, livemode: bool) -> Value {
    json!({
        "object": "account_registration",
        "email": email,
        "status": "activation_email_sent",
        "livemode": livemode,
    })
}

pub fn password_reset(email: &Email, livemode: bool) -> Value {
    json!({
        "object": "account_password_reset",
        "email": email,
        "status": "email_sent_if_registered",
        "livemode": livemode,
    })
}

pub fn email_change(account: &CustomerAccount, new_email: &Email, expires_at: i64) -> Value {
    json!({
        "object": "account_email_change",
        "account": account.id,
        "new_email": new_email,
        "status": "verification_email_sent",
        "expires_at": expires_at,
        "livemode": account.livemode,
    })
}

/// The answer to asking for a step-up code: sent, until when it works.
pub fn step_up_code(expires_at: i64, livemode: bool) -> Value {
    json!({
        "object": "account_step_up_code",
        "status": "sent",
        "expires_at": expires_at,
        "livemode": livemode,
    })
}

pub fn invitation(token_id: &str, account: &CustomerAccount, expires_at: i64) -> Value {
    json!({
        "id": token_id,
        "object": "account_invitation",
        "account": account.id,
        "customer": account.customer,
        "email": account.email,
        "status": "sent",
        "expires_at": expires_at,
        "created": account.created,
        "livemode": account.livemode,
    })
}

pub fn samples() -> Vec<(&'static str, Value)> {
    let email = Email::parse("jenny@example.com").expect("a valid address");
    let account_sample =
        CustomerAccount::invited(CustomerId::generate(), email.clone(), Locale::En, 0, false);
    let session_sample = AccountSession {
        id: "casess_sample".into(),
        account: account_sample.id.clone(),
        customer: account_sample.customer.clone(),
        created: 0,
        expires_at: 1,
        revoked_at: None,
        ip: Some("127.0.0.1".into()),
        user_agent: Some("app".into()),
        step_up_until: None,
        payment_step_up_until: None,
        device_hash: None,
    };
    vec![
        ("customer_account", account(&account_sample, 0)),
        (
            "account_session",
            new_session(&session_sample, "cas_sample", 0),
        ),
        ("account_registration", registration(&email, false)),
        ("account_password_reset", password_reset(&email, false)),
        (
            "account_email_change",
            email_change(&account_sample, &email, 1),
        ),
        (
            "account_invitation",
            invitation("catok_sample", &account_sample, 1),
        ),
        ("account_event", super::audit::sample()),
        ("account_step_up_code", step_up_code(1, false)),
    ]
    .into_iter()
    .chain(super::passkeys::samples())
    .collect()
}
