//! `GET /openapi.json`: generated from the route registry, so every
//! documented operation is routed (checked here by calling each one) and
//! real responses carry exactly the fields their schema names.

mod support;

use serde_json::Value;
use support::{create_merchant, Api, Backend, TestDatabase, TestServer};

#[tokio::test]
async fn every_documented_operation_is_routed_and_answers_in_its_format() {
    let db = TestDatabase::new(Backend::Sqlite).await;
    let merchant = create_merchant(&db, "Acme");
    let server = TestServer::start(&db);
    let api = Api::new(&server, &merchant.secret_key);
    let document: Value = reqwest::get(server.url("/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().unwrap();
    assert!(paths.len() >= 20, "{} paths", paths.len());
    let mut checked = 0;
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().unwrap() {
            let url = server.url(
                &path
                    .replace("{id}", "x_nonexistent")
                    .replace("{item}", "x_nonexistent"),
            );
            let request = match method.as_str() {
                "get" => api.http.get(url),
                "post" => api.http.post(url).form(&[("nothing", "")]),
                "delete" => api.http.delete(url),
                other => panic!("unexpected method {other}"),
            };
            let answer = api.send(request).await;
            assert!(
                !answer.text.contains("Unrecognized request URL"),
                "{method} {path} is documented but not routed: {}",
                answer.text
            );
            assert!(
                answer.status < 500,
                "{method} {path}: {} {}",
                answer.status,
                answer.text
            );
            assert!(operation["operationId"].is_string() && operation["summary"].is_string());
            checked += 1;
        }
    }
    assert!(checked >= 30, "{checked} operations");
    // An undocumented path is not routed either.
    assert!(api
        .get("/v1/undocumented")
        .await
        .text
        .contains("Unrecognized request URL"));
}

#[tokio::test]
async fn responses_carry_exactly_the_fields_of_their_schemas() {
    let db = TestDatabase::new(Backend::Sqlite).await;
    let merchant = create_merchant(&db, "Acme");
    let server = TestServer::start(&db);
    let api = Api::new(&server, &merchant.secret_key);
    let document: Value = reqwest::get(server.url("/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schemas = &document["components"]["schemas"];

    let customer = api
        .post("/v1/customers", &[("email", "a@b.co")])
        .await
        .json();
    let intent = api
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "1000"),
                ("currency", "usd"),
                ("payment_method", "pm_card_visa"),
                ("confirm", "true"),
                ("customer", customer["id"].as_str().unwrap()),
            ],
        )
        .await
        .json();
    let charge = api
        .get(&format!(
            "/v1/charges/{}",
            intent["latest_charge"].as_str().unwrap()
        ))
        .await
        .json();
    let method = api
        .get(&format!(
            "/v1/payment_methods/{}",
            intent["payment_method"].as_str().unwrap()
        ))
        .await
        .json();
    let refund = api
        .post(
            "/v1/refunds",
            &[
                ("payment_intent", intent["id"].as_str().unwrap()),
                ("amount", "100"),
            ],
        )
        .await
        .json();
    let event = api.get("/v1/events?limit=1").await.json()["data"][0].clone();
    let list = api.get("/v1/customers").await.json();
    let error = api.post("/v1/customers", &[("bogus", "1")]).await.json();
    for (name, object) in [
        ("customer", &customer),
        ("payment_intent", &intent),
        ("charge", &charge),
        ("payment_method", &method),
        ("refund", &refund),
        ("event", &event),
        ("list", &list),
        ("error", &error),
    ] {
        conforms(name, &schemas[name], object);
    }
}

/// Found by the fuzz suite: the document said a deleted customer was
/// `"object": "deleted_customer"`, but it is `"customer"` with
/// `deleted: true` (as in Stripe), so every DELETE and every GET of a
/// deleted customer violated its own schema.
#[tokio::test]
async fn deleted_objects_match_their_schemas() {
    let db = TestDatabase::new(Backend::Sqlite).await;
    let merchant = create_merchant(&db, "Acme");
    let server = TestServer::start(&db);
    let api = Api::new(&server, &merchant.secret_key);
    let document: Value = reqwest::get(server.url("/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schemas = &document["components"]["schemas"];
    let customer = api.post("/v1/customers", &[("name", "Gone")]).await.json();
    let path = format!("/v1/customers/{}", customer["id"].as_str().unwrap());
    let deleted = api.delete(&path).await.json();
    let retrieved = api.get(&path).await.json();
    assert_eq!(deleted, retrieved);
    assert_eq!(deleted["object"], "customer");
    assert_eq!(
        schemas["deleted_customer"]["properties"]["object"]["const"],
        "customer"
    );
    conforms("deleted_customer", &schemas["deleted_customer"], &deleted);
    // The retrieve operation answers either kind, and both say "customer".
    for branch in schemas["customer_or_deleted"]["anyOf"].as_array().unwrap() {
        let name = branch["$ref"].as_str().unwrap().rsplit('/').next().unwrap();
        assert_eq!(
            schemas[name]["properties"]["object"]["const"], "customer",
            "{name}"
        );
    }
}

/// Found by the fuzz suite: risk objects had no sample, and the document
/// pinned their `object` to the schema's name (`risk_rule`), while the code
/// renders Stripe's dotted form (`risk.rule`).
#[tokio::test]
async fn risk_objects_match_their_schemas() {
    let db = TestDatabase::new(Backend::Sqlite).await;
    let merchant = create_merchant(&db, "Acme");
    let server = TestServer::start(&db);
    let api = Api::new(&server, &merchant.secret_key);
    let document: Value = reqwest::get(server.url("/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schemas = &document["components"]["schemas"];
    let list = api
        .post(
            "/v1/risk/lists",
            &[("alias", "blocked"), ("item_type", "email")],
        )
        .await
        .json();
    let list_id = list["id"].as_str().unwrap();
    let item = api
        .post(
            &format!("/v1/risk/lists/{list_id}/items"),
            &[("value", "a@example.com")],
        )
        .await
        .json();
    let removed = api
        .delete(&format!(
            "/v1/risk/lists/{list_id}/items/{}",
            item["id"].as_str().unwrap()
        ))
        .await
        .json();
    let rule = api
        .post("/v1/risk/rules", &[("rule", "review if :amount: > 100")])
        .await
        .json();
    for (name, object) in [
        ("risk_list", &list),
        ("risk_list_item", &item),
        ("deleted_risk_list_item", &removed),
        ("risk_rule", &rule),
    ] {
        assert_eq!(
            schemas[name]["properties"]["object"]["const"], object["object"],
            "{name}: {object}"
        );
        conforms(name, &schemas[name], object);
    }
}

/// Every required field present, no field the schema does not name, and
/// typed values of the named type.
fn conforms(context: &str, schema: &Value, value: &Value) {
    if let Some(required) = schema["required"].as_array() {
        for field in required {
            let field = field.as_str().unwrap();
            assert!(
                value.get(field).is_some(),
                "{context}: missing {field} in {value}"
            );
        }
    }
    if let (Some(properties), Some(fields)) = (schema["properties"].as_object(), value.as_object())
    {
        for (field, inner) in fields {
            let declared = properties
                .get(field)
                .unwrap_or_else(|| panic!("{context}: undocumented field {field}"));
            if !inner.is_null() && declared["type"].is_array() {
                let kind = match inner {
                    Value::String(_) => "string",
                    Value::Number(_) => "integer",
                    Value::Bool(_) => "boolean",
                    Value::Object(_) => "object",
                    Value::Array(_) => "array",
                    Value::Null => "null",
                };
                let allowed: Vec<&str> = declared["type"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                assert!(
                    allowed.contains(&kind),
                    "{context}.{field}: {kind} is not {allowed:?}"
                );
            }
            conforms(&format!("{context}.{field}"), declared, inner);
        }
    }
}
