//! Passkey hygiene and the holder's own withdrawals, on both backends:
//! failed passkey sign-ins count toward the per-IP throttle and (for a
//! known credential) the account's lockout, each one recorded; expired
//! passkey challenges are deleted; the signed-in holder withdraws stored
//! value as a payout, after a fresh step-up once the account has a passkey.

use super::passkeys::{Device, ORIGIN};
use super::{code, query_texts, world, PASSWORD};
use crate::support::{Backend, TestServer};
use serde_json::Value;

/// Signs in with `device`'s passkey, its signature changed in transit.
async fn forged_login(w: &super::World, device: &mut Device) -> super::Answer {
    let started = w
        .app
        .post("/v1/accounts/passkeys/login/challenge", &[])
        .await
        .json();
    let mut asserted: Value = serde_json::from_str(&device.get(&started["options"]).await).unwrap();
    let signature = asserted["response"]["signature"].as_array_mut().unwrap();
    let last = signature.last_mut().unwrap();
    *last = Value::from(last.as_u64().unwrap() ^ 1);
    w.app
        .post(
            "/v1/accounts/passkeys/login",
            &[
                ("challenge", started["id"].as_str().unwrap()),
                ("credential", &asserted.to_string()),
            ],
        )
        .await
}

async fn honest_login(w: &super::World, device: &mut Device) -> super::Answer {
    let started = w
        .app
        .post("/v1/accounts/passkeys/login/challenge", &[])
        .await
        .json();
    let credential = device.get(&started["options"]).await;
    w.app
        .post(
            "/v1/accounts/passkeys/login",
            &[
                ("challenge", started["id"].as_str().unwrap()),
                ("credential", &credential),
            ],
        )
        .await
}

async fn failed_passkey_sign_ins_lock_the_account_and_are_throttled(backend: Backend) {
    let w = world(
        backend,
        &[
            ("PORTCULLIS_ACCOUNTS_LOCKOUT_FAILURES_MAX", "2"),
            ("PORTCULLIS_ACCOUNTS_IP_FAILURES_PER_HOUR_MAX", "4"),
        ],
    )
    .await;
    let email = "lin@example.com";
    let account = w.registered(email, 1).await;
    let customer = account["customer"].as_str().unwrap().to_owned();
    let session = w.session_of(email, PASSWORD).await;
    let mut phone = Device::new(ORIGIN);
    let registered = w.register_passkey(&session, &mut phone).await;
    assert_eq!(registered.status, 200, "{}", registered.text);

    // Two assertions that do not verify lock the account: then even an
    // honest passkey is refused, as the right password would be.
    for _ in 0..2 {
        let forged = forged_login(&w, &mut phone).await;
        assert_eq!(
            code(&forged),
            "passkey_verification_failed",
            "{}",
            forged.text
        );
    }
    let locked = honest_login(&w, &mut phone).await;
    assert_eq!(code(&locked), "account_locked", "{}", locked.text);
    assert_eq!(code(&w.login(email, PASSWORD).await), "account_locked");
    let events = w.events(&customer).await;
    let count = |outcome: &str| {
        events
            .iter()
            .filter(|(a, o)| a == "passkey_login" && o == outcome)
            .count()
    };
    assert_eq!((count("failure"), count("refused")), (2, 1), "{events:?}");

    // The address has failed twice by passkey; two failed passwords make
    // four, and from then on sign-ins from it, by passkey too, answer 429.
    for n in 0..2 {
        let failed = w
            .login(&format!("x{n}@example.com"), "wrong password here")
            .await;
        assert_eq!(
            code(&failed),
            "account_credentials_invalid",
            "{}",
            failed.text
        );
    }
    let throttled = honest_login(&w, &mut phone).await;
    assert_eq!(throttled.status, 429, "{}", throttled.text);
    assert!(throttled.headers.get("retry-after").is_some());
}

async fn challenges(db: &crate::support::TestDatabase) -> i64 {
    let sql = "SELECT CAST(COUNT(*) AS TEXT) FROM account_passkey_challenges";
    query_texts(db, sql).await[0].parse().unwrap()
}

async fn expired_passkey_challenges_are_deleted(backend: Backend) {
    let w = world(backend, &[]).await;
    for _ in 0..2 {
        let started = w
            .app
            .post("/v1/accounts/passkeys/login/challenge", &[])
            .await;
        assert_eq!(started.status, 200, "{}", started.text);
    }
    assert_eq!(challenges(&w.db).await, 2);
    drop(w.server);
    // One challenge started over an hour ago (expired), one just now.
    let backdate = "UPDATE account_passkey_challenges SET created = created - 3600 \
                    WHERE seq = (SELECT MIN(seq) FROM account_passkey_challenges)";
    super::execute_sql(&w.db, backdate).await;
    let _restarted = TestServer::start_with_env(
        &w.db,
        &[],
        &[("PORTCULLIS_PUBLIC_URL", "https://pay.shop.example")],
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while challenges(&w.db).await != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the expired challenge was never deleted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(challenges(&w.db).await, 1, "the live challenge stays");
}

async fn the_holder_withdraws_as_a_payout_after_a_step_up(backend: Backend) {
    let w = world(backend, &[]).await;
    let email = "ana@example.com";
    let (customer, session) = w.funded_holder(email, 1, "1000").await;
    let path = "/v1/accounts/balance/payouts";
    let form = [("amount", "300"), ("currency", "usd")];

    // Signed in, no passkey: the session is enough.
    let anonymous = w.app.post(path, &form).await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.text);
    let paid = w.post_as(path, &session, &form).await;
    assert_eq!(paid.status, 200, "{}", paid.text);
    assert_eq!(paid.json()["object"], "payout");
    assert_eq!(paid.json()["customer"], customer.as_str());
    let too_much = w
        .post_as(path, &session, &[("amount", "701"), ("currency", "usd")])
        .await;
    assert_eq!(code(&too_much), "balance_insufficient", "{}", too_much.text);

    // With a passkey, money leaves only after a fresh step-up.
    let mut phone = Device::new(ORIGIN);
    let registered = w.register_passkey(&session, &mut phone).await;
    assert_eq!(registered.status, 200, "{}", registered.text);
    let asked = w.post_as(path, &session, &form).await;
    assert_eq!(asked.status, 403, "{}", asked.text);
    assert_eq!(code(&asked), "account_step_up_required");
    let stepped = w.step_up(&session, &mut phone).await;
    assert_eq!(stepped.status, 200, "{}", stepped.text);
    let paid = w.post_as(path, &session, &form).await;
    assert_eq!(paid.status, 200, "{}", paid.text);
    let customer_object = w.merchant.get(&format!("/v1/customers/{customer}")).await;
    assert_eq!(customer_object.json()["balance"], -400);
    let payouts = w.merchant.get("/v1/payouts").await.json();
    assert_eq!(payouts["data"].as_array().unwrap().len(), 2);
}

crate::on_both_backends!(
    failed_passkey_sign_ins_lock_the_account_and_are_throttled,
    expired_passkey_challenges_are_deleted,
    the_holder_withdraws_as_a_payout_after_a_step_up,
);
