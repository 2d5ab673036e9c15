//! What the suite's modules share: a fresh server with one merchant, extra
//! keys, and the few objects the findings are about.
#![allow(dead_code)]

use crate::support::{
    cli, create_merchant, Answer, Api, Backend, Merchant, TestDatabase, TestServer,
};
use serde_json::Value;

/// One merchant's view of a fresh server.
pub struct Env {
    pub db: TestDatabase,
    pub server: TestServer,
    pub merchant: Merchant,
    /// Speaks with the merchant's secret key.
    pub api: Api,
}

impl Env {
    pub async fn new(backend: Backend) -> Self {
        Self::with_args(backend, &[], &[]).await
    }

    /// A fresh server started with extra flags and environment variables.
    pub async fn with_args(backend: Backend, args: &[&str], env: &[(&str, &str)]) -> Self {
        let db = TestDatabase::new(backend).await;
        let merchant = create_merchant(&db, "Acme");
        let server = TestServer::start_with_env(&db, args, env);
        let api = Api::new(&server, &merchant.secret_key);
        Self {
            db,
            server,
            merchant,
            api,
        }
    }

    /// A client speaking with the merchant's publishable key.
    pub fn publishable(&self) -> Api {
        Api::new(&self.server, &self.merchant.publishable_key)
    }

    /// A new key of the merchant (`kind`, `mode`, restricted `permissions`).
    pub fn key(&self, kind: &str, mode: &str, permissions: Option<&str>) -> Api {
        let mut args = vec![
            "key",
            "create",
            "--merchant",
            &self.merchant.id,
            "--kind",
            kind,
            "--mode",
            mode,
            "--json",
        ];
        if let Some(permissions) = permissions {
            args.extend(["--permissions", permissions]);
        }
        let created: Value = serde_json::from_str(cli(&self.db, &args).trim()).expect("key JSON");
        Api::new(&self.server, created["key"].as_str().expect("a key"))
    }
}

/// A year a few years ahead, for card expiries.
pub fn future_year() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    (1970 + now / 31_556_952 + 3).to_string()
}

/// The body of a 200 answer.
pub fn ok(answer: &Answer) -> Value {
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()
}

pub fn id_of(object: &Value) -> String {
    object["id"].as_str().expect("an id").to_owned()
}

pub async fn create_customer(api: &Api, email: &str) -> String {
    id_of(&ok(&api
        .post(
            "/v1/customers",
            &[
                ("email", email),
                ("name", "Jenny Rosen"),
                ("metadata[tier]", "gold"),
            ],
        )
        .await))
}

/// A card payment method created with `api`'s key.
pub async fn create_card_method(api: &Api, number: &str) -> String {
    let year = future_year();
    id_of(&ok(&api
        .post(
            "/v1/payment_methods",
            &[
                ("type", "card"),
                ("card[number]", number),
                ("card[exp_month]", "12"),
                ("card[exp_year]", &year),
                ("card[cvc]", "123"),
            ],
        )
        .await))
}

/// A saved card: a payment method attached to `customer`.
pub async fn saved_card(api: &Api, customer: &str) -> String {
    let method = create_card_method(api, "4242424242424242").await;
    ok(&api
        .post(
            &format!("/v1/payment_methods/{method}/attach"),
            &[("customer", customer)],
        )
        .await);
    method
}

/// A succeeded payment of `customer` with `payment_method`.
pub async fn paid_intent(api: &Api, customer: &str, payment_method: &str) -> Value {
    let intent = ok(&api
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "2000"),
                ("currency", "usd"),
                ("customer", customer),
                ("payment_method", payment_method),
                ("confirm", "true"),
                ("metadata[order]", "A-1"),
            ],
        )
        .await);
    assert_eq!(intent["status"], "succeeded", "{intent}");
    intent
}

/// The `error` object of a refusal with `status`.
pub fn refused(answer: &Answer, status: u16) -> Value {
    assert_eq!(answer.status, status, "{}", answer.text);
    answer.json()["error"].clone()
}
