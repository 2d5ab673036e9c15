//! Connector accounts for cards (`sandbox`, `iso8583`, `processor`,
//! `stripe`) through the real binary on SQLite and PostgreSQL: routing
//! settings (`enabled`, `card_brands[]`, `currencies[]`, `priority`), the
//! endpoint rule of each type, the processor's secret sealed like a
//! wallet's keys, and no sandbox in live mode.

mod support;

use serde_json::{json, Value};
use support::{cli, create_merchant, Api, Backend, TestDatabase, TestServer};

const ALLOW_PRIVATE: (&str, &str) = ("PORTCULLIS_CONNECTORS_ALLOW_PRIVATE_ENDPOINTS", "true");
const PROCESSOR_SECRET: &str = "processor-shared-secret-0123456789";

fn live_key(db: &TestDatabase, merchant_id: &str) -> String {
    let out = cli(
        db,
        &[
            "key",
            "create",
            "--merchant",
            merchant_id,
            "--kind",
            "secret",
            "--mode",
            "live",
            "--json",
        ],
    );
    let key: Value = serde_json::from_str(out.trim()).unwrap();
    key["key"].as_str().unwrap().to_owned()
}

on_both_backends!(
    card_accounts_take_routing_settings_and_seal_the_processor_secret,
    card_account_mistakes_are_refused_naming_the_parameter,
);

async fn card_accounts_take_routing_settings_and_seal_the_processor_secret(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    let server = TestServer::start_with_env(&db, &[], &[ALLOW_PRIVATE]);
    let api = Api::new(&server, &merchant.secret_key);

    let sandbox = api
        .post(
            "/v1/connector_accounts",
            &[
                ("type", "sandbox"),
                ("card_brands[]", "visa"),
                ("card_brands[]", "mastercard"),
                ("currencies[]", "eur"),
                ("priority", "5"),
            ],
        )
        .await;
    assert_eq!(sandbox.status, 200, "{}", sandbox.text);
    let sandbox = sandbox.json();
    assert_eq!(sandbox["type"], "sandbox");
    assert_eq!(sandbox["endpoint"], Value::Null);
    assert_eq!(sandbox["enabled"], true);
    assert_eq!(sandbox["card_brands"], json!(["visa", "mastercard"]));
    assert_eq!(sandbox["currencies"], json!(["eur"]));
    assert_eq!(sandbox["priority"], 5);

    let processor = api
        .post(
            "/v1/connector_accounts",
            &[
                ("type", "processor"),
                ("endpoint", "http://127.0.0.1:9/"),
                ("credentials[secret]", PROCESSOR_SECRET),
            ],
        )
        .await;
    assert_eq!(processor.status, 200, "{}", processor.text);
    let processor = processor.json();
    assert_eq!(processor["endpoint"], "http://127.0.0.1:9");
    assert_eq!(processor["credentials"], json!({"secret": "set"}));
    assert_eq!(processor["card_brands"], json!([]), "empty: every brand");
    assert_eq!(processor["priority"], 0);
    assert!(!processor.to_string().contains(PROCESSOR_SECRET));

    let id = processor["id"].as_str().unwrap();
    let updated = api
        .post(
            &format!("/v1/connector_accounts/{id}"),
            &[("enabled", "false"), ("priority", "9")],
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(updated.json()["enabled"], false);
    assert_eq!(updated.json()["priority"], 9);
    assert_eq!(
        updated.json()["credentials"],
        json!({"secret": "set"}),
        "kept sealed"
    );
    let listed = api
        .get("/v1/connector_accounts?type=processor")
        .await
        .json();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);

    let stripe = api
        .post(
            "/v1/connector_accounts",
            &[
                ("type", "stripe"),
                ("credentials[secret_key]", "sk_test_upstream"),
            ],
        )
        .await;
    assert_eq!(stripe.status, 200, "{}", stripe.text);
    assert_eq!(stripe.json()["endpoint"], "https://api.stripe.com");
    let iso = api
        .post(
            "/v1/connector_accounts",
            &[("type", "iso8583"), ("credentials[acquirer]", "north")],
        )
        .await;
    assert_eq!(iso.status, 200, "{}", iso.text);
    assert_eq!(iso.json()["credentials"], json!({"acquirer": "north"}));

    let live = Api::new(&server, &live_key(&db, &merchant.id));
    let refused = live
        .post("/v1/connector_accounts", &[("type", "sandbox")])
        .await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert_eq!(refused.json()["error"]["param"], "type");
    let live_processor = live
        .post(
            "/v1/connector_accounts",
            &[
                ("type", "processor"),
                ("endpoint", "http://127.0.0.1:9"),
                ("credentials[secret]", PROCESSOR_SECRET),
            ],
        )
        .await;
    assert_eq!(live_processor.status, 200, "{}", live_processor.text);
    assert_eq!(live_processor.json()["livemode"], true);
}

async fn card_account_mistakes_are_refused_naming_the_parameter(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    let server = TestServer::start_with_env(&db, &[], &[ALLOW_PRIVATE]);
    let api = Api::new(&server, &merchant.secret_key);
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("type", "processor"), ("credentials[secret]", "s")],
            "endpoint",
        ),
        (
            &[("type", "processor"), ("endpoint", "http://127.0.0.1:9")],
            "credentials[secret]",
        ),
        (
            &[("type", "sandbox"), ("endpoint", "http://127.0.0.1:9")],
            "endpoint",
        ),
        (
            &[
                ("type", "sandbox"),
                ("card_brands[]", "visa"),
                ("card_brands[]", "dinersclub"),
            ],
            "card_brands[1]",
        ),
        (
            &[("type", "sandbox"), ("currencies[]", "euro")],
            "currencies[0]",
        ),
        (&[("type", "sandbox"), ("priority", "1001")], "priority"),
        (&[("type", "sandbox"), ("enabled", "maybe")], "enabled"),
        (
            &[("type", "sandbox"), ("credentials[secret]", "s")],
            "credentials[secret]",
        ),
        (&[("type", "alipay"), ("priority", "1")], "priority"),
        (&[("type", "bank")], "type"),
    ];
    for (form, param) in cases {
        let answer = api.post("/v1/connector_accounts", form).await;
        assert_eq!(answer.status, 400, "{form:?}: {}", answer.text);
        assert_eq!(answer.json()["error"]["type"], "invalid_request_error");
        assert_eq!(answer.json()["error"]["param"], *param, "{form:?}");
    }
    let listed = api.get("/v1/connector_accounts").await.json();
    assert_eq!(listed["data"], json!([]), "nothing half-written");
}
