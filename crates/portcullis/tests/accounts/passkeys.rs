//! Passkeys and step-up through the real binary, on both backends, with
//! 1Password's software authenticator (`passkey` crate) as the device: an
//! independent WebAuthn client and CTAP2 authenticator, so our verifier
//! (webauthn-rs) is never checked only against itself. The authenticator
//! verifies its user (as a fingerprint reader would) on every ceremony.

use super::{code, world, World, NEW_PASSWORD, PASSWORD};
use crate::support::Backend;
use passkey::authenticator::{Authenticator, UiHint, UserCheck, UserValidationMethod};
use passkey::client::{Client, DefaultClientData};
use passkey::types::ctap2::{Aaguid, Ctap2Error};
use passkey::types::webauthn::{CredentialCreationOptions, CredentialRequestOptions};
use passkey::types::Passkey;
use serde_json::Value;

/// The device's owner: present and verified every time asked.
struct Fingerprint;

#[async_trait::async_trait]
impl UserValidationMethod for Fingerprint {
    type PasskeyItem = Passkey;

    async fn check_user<'a>(
        &self,
        _hint: UiHint<'a, Passkey>,
        presence: bool,
        verification: bool,
    ) -> Result<UserCheck, Ctap2Error> {
        Ok(UserCheck {
            presence,
            verification,
        })
    }

    fn is_verification_enabled(&self) -> Option<bool> {
        Some(true)
    }

    fn is_presence_enabled(&self) -> bool {
        true
    }
}

/// A phone holding at most one passkey, used from `origin`.
pub(super) struct Device {
    store: Option<Passkey>,
    origin: url::Url,
}

impl Device {
    pub(super) fn new(origin: &str) -> Self {
        Self {
            store: None,
            origin: url::Url::parse(origin).unwrap(),
        }
    }

    /// `navigator.credentials.create(options)`, as the JSON posted back.
    pub(super) async fn create(&mut self, options: &Value) -> String {
        let request: CredentialCreationOptions = serde_json::from_value(options.clone()).unwrap();
        let authenticator =
            Authenticator::new(Aaguid::new_empty(), self.store.clone(), Fingerprint);
        let mut client = Client::new(authenticator);
        let created = client
            .register(self.origin.clone(), request, DefaultClientData)
            .await
            .unwrap();
        self.store = client.authenticator().store().clone();
        serde_json::to_string(&created).unwrap()
    }

    /// `navigator.credentials.get(options)`, as the JSON posted back.
    pub(super) async fn get(&mut self, options: &Value) -> String {
        let request: CredentialRequestOptions = serde_json::from_value(options.clone()).unwrap();
        let authenticator =
            Authenticator::new(Aaguid::new_empty(), self.store.clone(), Fingerprint);
        let mut client = Client::new(authenticator);
        let asserted = client
            .authenticate(self.origin.clone(), request, DefaultClientData)
            .await
            .unwrap();
        self.store = client.authenticator().store().clone();
        serde_json::to_string(&asserted).unwrap()
    }
}

pub(super) const ORIGIN: &str = "https://pay.shop.example";

impl World {
    pub(super) async fn post_as(
        &self,
        path: &str,
        session: &str,
        form: &[(&str, &str)],
    ) -> super::Answer {
        self.as_session(reqwest::Method::POST, path, session, form)
            .await
    }

    /// Registers `device`'s passkey on the account signed in as `session`.
    pub(super) async fn register_passkey(
        &self,
        session: &str,
        device: &mut Device,
    ) -> super::Answer {
        let started = self
            .post_as("/v1/accounts/passkeys/challenge", session, &[])
            .await;
        assert_eq!(started.status, 200, "{}", started.text);
        let started = started.json();
        assert_eq!(started["purpose"], "registration");
        let credential = device.create(&started["options"]).await;
        let challenge = started["id"].as_str().unwrap();
        self.post_as(
            "/v1/accounts/passkeys",
            session,
            &[
                ("challenge", challenge),
                ("credential", &credential),
                ("name", "Phone"),
            ],
        )
        .await
    }

    /// Signs in with `device`; the answer and the challenge used.
    async fn passkey_login(&self, device: &mut Device) -> (super::Answer, String, String) {
        let started = self
            .app
            .post("/v1/accounts/passkeys/login/challenge", &[])
            .await;
        assert_eq!(started.status, 200, "{}", started.text);
        let started = started.json();
        let credential = device.get(&started["options"]).await;
        let challenge = started["id"].as_str().unwrap().to_owned();
        let answer = self
            .app
            .post(
                "/v1/accounts/passkeys/login",
                &[("challenge", &challenge), ("credential", &credential)],
            )
            .await;
        (answer, challenge, credential)
    }

    /// Steps `session` up with `device`.
    pub(super) async fn step_up(&self, session: &str, device: &mut Device) -> super::Answer {
        let started = self
            .post_as("/v1/accounts/step_up/challenge", session, &[])
            .await;
        assert_eq!(started.status, 200, "{}", started.text);
        let started = started.json();
        let credential = device.get(&started["options"]).await;
        self.post_as(
            "/v1/accounts/step_up",
            session,
            &[
                ("challenge", started["id"].as_str().unwrap()),
                ("credential", &credential),
            ],
        )
        .await
    }

    pub(super) async fn events(&self, customer: &str) -> Vec<(String, String)> {
        let events = self
            .merchant
            .get(&format!("/v1/customers/{customer}/account_events"))
            .await;
        assert_eq!(events.status, 200, "{}", events.text);
        events.json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["action"].as_str().unwrap().to_owned(),
                    e["outcome"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
}

async fn register_sign_in_and_step_up_with_a_passkey(backend: Backend) {
    let w = world(backend, &[]).await;
    let email = "pia@example.com";
    let account = w.registered(email, 1).await;
    let customer = account["customer"].as_str().unwrap().to_owned();
    let session = w.session_of(email, PASSWORD).await;
    let mut phone = Device::new(ORIGIN);

    // Without a passkey there is nothing to step up with.
    let no_passkey = w
        .post_as("/v1/accounts/step_up/challenge", &session, &[])
        .await;
    assert_eq!(
        code(&no_passkey),
        "account_no_passkey",
        "{}",
        no_passkey.text
    );

    let registered = w.register_passkey(&session, &mut phone).await;
    assert_eq!(registered.status, 200, "{}", registered.text);
    let passkey = registered.json();
    assert_eq!(passkey["object"], "account_passkey");
    assert_eq!(passkey["name"], "Phone");
    let passkey_id = passkey["id"].as_str().unwrap().to_owned();
    let listed = w
        .as_session(reqwest::Method::GET, "/v1/accounts/passkeys", &session, &[])
        .await;
    assert_eq!(listed.json()["data"][0]["id"], passkey_id.as_str());

    // Sign in with it: a new session, already stepped up.
    let (signed_in, challenge, credential) = w.passkey_login(&mut phone).await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.text);
    let by_passkey = signed_in.json();
    assert!(by_passkey["step_up_until"].as_i64().is_some());
    let passkey_session = by_passkey["token"].as_str().unwrap().to_owned();
    assert_eq!(w.me(&passkey_session).await.json()["email"], email);
    // A challenge is spent once, even with a valid answer.
    let replayed = w
        .app
        .post(
            "/v1/accounts/passkeys/login",
            &[("challenge", &challenge), ("credential", &credential)],
        )
        .await;
    assert_eq!(
        code(&replayed),
        "passkey_challenge_invalid",
        "{}",
        replayed.text
    );

    // The password session has no step-up: a password change is refused
    // with where to step up, before the password is even looked at.
    let refused = w
        .post_as(
            "/v1/accounts/password",
            &session,
            &[
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    let error = &refused.json()["error"];
    assert_eq!(error["code"], "account_step_up_required");
    assert_eq!(error["next_action"]["type"], "redirect_to_url");
    assert_eq!(
        error["next_action"]["redirect_to_url"]["url"],
        format!("{ORIGIN}/account/step_up")
    );

    let stepped = w.step_up(&session, &mut phone).await;
    assert_eq!(stepped.status, 200, "{}", stepped.text);
    assert!(stepped.json()["step_up_until"].as_i64().is_some());
    let changed = w
        .post_as(
            "/v1/accounts/password",
            &session,
            &[
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text);

    // Deleting the passkey needs a step-up too; then it signs in no more.
    let w_session = w.session_of(email, NEW_PASSWORD).await;
    let path = format!("/v1/accounts/passkeys/{passkey_id}");
    let not_yet = w
        .as_session(reqwest::Method::DELETE, &path, &w_session, &[])
        .await;
    assert_eq!(
        code(&not_yet),
        "account_step_up_required",
        "{}",
        not_yet.text
    );
    let deleted = w
        .as_session(reqwest::Method::DELETE, &path, &session, &[])
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert_eq!(deleted.json()["deleted"], true);
    let (after, _, _) = w.passkey_login(&mut phone).await;
    assert_eq!(
        code(&after),
        "passkey_verification_failed",
        "{}",
        after.text
    );

    let events = w.events(&customer).await;
    for expected in [
        ("passkey_register", "success"),
        ("passkey_login", "success"),
        ("step_up", "success"),
        ("passkey_delete", "success"),
    ] {
        assert!(
            events
                .iter()
                .any(|(a, o)| (a.as_str(), o.as_str()) == expected),
            "{expected:?} not in {events:?}"
        );
    }
}

async fn forged_or_misplaced_passkey_answers_are_refused(backend: Backend) {
    let w = world(backend, &[]).await;
    let email = "raj@example.com";
    w.registered(email, 1).await;
    let session = w.session_of(email, PASSWORD).await;
    let other_session = w.session_of(email, PASSWORD).await;
    let mut phone = Device::new(ORIGIN);

    // A registration started by one session cannot be finished by another.
    let started = w
        .post_as("/v1/accounts/passkeys/challenge", &session, &[])
        .await
        .json();
    let credential = phone.create(&started["options"]).await;
    let elsewhere = w
        .post_as(
            "/v1/accounts/passkeys",
            &other_session,
            &[
                ("challenge", started["id"].as_str().unwrap()),
                ("credential", &credential),
            ],
        )
        .await;
    assert_eq!(
        code(&elsewhere),
        "passkey_challenge_invalid",
        "{}",
        elsewhere.text
    );
    let garbage = w
        .post_as(
            "/v1/accounts/passkeys",
            &session,
            &[
                ("challenge", started["id"].as_str().unwrap()),
                ("credential", "{}"),
            ],
        )
        .await;
    assert_eq!(
        code(&garbage),
        "passkey_credential_invalid",
        "{}",
        garbage.text
    );

    // A device that signed for another site is refused.
    let registered = w.register_passkey(&session, &mut phone).await;
    assert_eq!(registered.status, 200, "{}", registered.text);
    let mut phishing = Device {
        store: phone.store.clone(),
        origin: url::Url::parse("https://login.pay.shop.example").unwrap(),
    };
    let (phished, _, _) = w.passkey_login(&mut phishing).await;
    assert_eq!(
        code(&phished),
        "passkey_verification_failed",
        "{}",
        phished.text
    );

    // A signature changed in transit is refused, and the challenge is spent.
    let started = w
        .app
        .post("/v1/accounts/passkeys/login/challenge", &[])
        .await
        .json();
    let mut asserted: Value = serde_json::from_str(&phone.get(&started["options"]).await).unwrap();
    // The software authenticator writes bytes as arrays (webauthn-rs reads
    // them as it reads base64url); the last one ends the DER signature's `s`.
    let signature = asserted["response"]["signature"].as_array_mut().unwrap();
    let last = signature.last_mut().unwrap();
    *last = Value::from(last.as_u64().unwrap() ^ 1);
    let forged = w
        .app
        .post(
            "/v1/accounts/passkeys/login",
            &[
                ("challenge", started["id"].as_str().unwrap()),
                ("credential", &asserted.to_string()),
            ],
        )
        .await;
    assert_eq!(
        code(&forged),
        "passkey_verification_failed",
        "{}",
        forged.text
    );
    let (honest, _, _) = w.passkey_login(&mut phone).await;
    assert_eq!(honest.status, 200, "{}", honest.text);
}

/// WebAuthn takes a domain name, never an IP address, as the relying
/// party: a gateway whose public URL is an address answers a clear 400
/// (the schemathesis run found a 500 here).
async fn passkeys_need_a_domain_name_as_public_url(backend: Backend) {
    let w = world(
        backend,
        &[("PORTCULLIS_PUBLIC_URL", "http://127.0.0.1:8080")],
    )
    .await;
    let answer = w
        .app
        .post("/v1/accounts/passkeys/login/challenge", &[])
        .await;
    assert_eq!(answer.status, 400, "{}", answer.text);
    assert_eq!(
        answer.json()["error"]["code"],
        "passkeys_unavailable",
        "{}",
        answer.text
    );
}

crate::on_both_backends!(
    register_sign_in_and_step_up_with_a_passkey,
    forged_or_misplaced_passkey_answers_are_refused,
    passkeys_need_a_domain_name_as_public_url,
);
