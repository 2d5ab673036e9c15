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
            &[
                ("type", "iso8583"),
                ("endpoint", "127.0.0.1:9583"),
                ("credentials[acquirer_id]", "12345"),
                ("credentials[card_acceptor_id]", "MERCHANT0000001"),
                ("credentials[terminal_id]", "TERM0001"),
                ("credentials[framing]", "ascii4"),
            ],
        )
        .await;
    assert_eq!(iso.status, 200, "{}", iso.text);
    assert_eq!(iso.json()["endpoint"], "127.0.0.1:9583");
    assert_eq!(
        iso.json()["credentials"],
        json!({"acquirer_id": "12345", "card_acceptor_id": "MERCHANT0000001",
               "framing": "ascii4", "terminal_id": "TERM0001",
               "merchant_category_code": null, "profile": null})
    );

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

/// A complete `iso8583` account: type, ids, endpoint (index 4).
const ISO: [(&str, &str); 5] = [
    ("type", "iso8583"),
    ("credentials[acquirer_id]", "12345"),
    ("credentials[card_acceptor_id]", "MERCHANT0000001"),
    ("credentials[terminal_id]", "TERM0001"),
    ("endpoint", "127.0.0.1:9583"),
];

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
        (&ISO[..4], "endpoint"),
        (
            &[
                ISO[0],
                ISO[1],
                ISO[2],
                ISO[3],
                ("endpoint", "http://127.0.0.1:9"),
            ],
            "endpoint",
        ),
        (
            &[ISO[0], ISO[2], ISO[3], ISO[4]],
            "credentials[acquirer_id]",
        ),
        (
            &[
                ISO[0],
                ISO[1],
                ISO[2],
                ISO[4],
                ("credentials[terminal_id]", "T1"),
            ],
            "credentials[terminal_id]",
        ),
        (
            &[
                ISO[0],
                ISO[1],
                ISO[2],
                ISO[3],
                ISO[4],
                ("credentials[framing]", "ascii2"),
            ],
            "credentials[framing]",
        ),
        (
            &[
                ("type", "processor"),
                ("endpoint", "127.0.0.1:9"),
                ("credentials[secret]", "s"),
            ],
            "endpoint",
        ),
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

on_both_backends!(an_iso8583_account_on_a_private_address_needs_the_flag);

/// OWASP API 7: an acquirer's address is checked as webhook targets are.
async fn an_iso8583_account_on_a_private_address_needs_the_flag(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    let server = TestServer::start_with_env(&db, &[], &[]);
    let api = Api::new(&server, &merchant.secret_key);
    for address in [
        "127.0.0.1:9583",
        "localhost:9583",
        "[::1]:9583",
        "10.1.2.3:9583",
    ] {
        let mut form = ISO.to_vec();
        form[4] = ("endpoint", address);
        let refused = api.post("/v1/connector_accounts", &form).await;
        assert_eq!(refused.status, 400, "{address}: {}", refused.text);
        assert_eq!(refused.json()["error"]["param"], "endpoint", "{address}");
    }
}
