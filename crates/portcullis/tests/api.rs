//! The foundation's HTTP contract, through the real binary, on SQLite and
//! on PostgreSQL: authentication, object ownership, the wire format,
//! lists, expand, metadata, idempotency and body limits.

mod support;

use serde_json::{json, Value};
use support::{create_merchant, Api, Backend, TestDatabase, TestServer};

async fn setup(backend: Backend) -> (TestDatabase, TestServer, Api) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    let server = TestServer::start(&db);
    let api = Api::new(&server, &merchant.secret_key);
    (db, server, api)
}

async fn create_customer(api: &Api, form: &[(&str, &str)]) -> Value {
    let answer = api.post("/v1/customers", form).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()
}

on_both_backends!(
    missing_wrong_and_malformed_keys_get_401,
    revoked_keys_stop_working_within_5_seconds,
    publishable_and_restricted_keys_are_limited_to_their_grants,
    another_merchants_objects_answer_404,
    live_keys_do_not_see_test_objects,
    form_and_json_bodies_are_equivalent,
    unknown_parameters_are_refused_by_name,
    metadata_can_be_set_unset_and_cleared,
    pagination_walks_both_directions_over_many_objects,
    expand_accepts_only_expandable_fields,
    idempotent_requests_replay_byte_for_byte,
    idempotency_key_reuse_with_other_parameters_is_refused,
    concurrent_requests_with_one_key_create_one_object,
    oversized_bodies_get_413_in_the_error_format,
    paths_that_are_not_utf8_get_400_in_the_error_format,
    every_response_carries_a_request_id,
    customers_update_delete_list_filter_and_search,
    bad_limits_and_cursors_are_client_errors,
    health_and_readiness_answer,
);

async fn missing_wrong_and_malformed_keys_get_401(backend: Backend) {
    let (_db, server, api) = setup(backend).await;
    let anonymous = api
        .http
        .get(server.url("/v1/customers"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let body: Value = anonymous.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    for bad in ["sk_test_doesnotexist123", "not-a-key", "sk_test_", "Bearer"] {
        let answer = Api {
            key: bad.to_owned(),
            ..api.clone()
        }
        .get("/v1/customers")
        .await;
        assert_eq!(answer.status, 401, "{bad}: {}", answer.text);
        assert!(
            !answer.text.contains(bad) || bad.len() <= 8,
            "the whole key is echoed: {}",
            answer.text
        );
    }
    // HTTP Basic with the key as the user name, as `curl -u sk_…:` sends it.
    let basic = api
        .http
        .get(server.url("/v1/customers"))
        .basic_auth(&api.key, Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 200);
}

async fn revoked_keys_stop_working_within_5_seconds(backend: Backend) {
    let (db, _server, api) = setup(backend).await;
    let merchant_id = support::cli(&db, &["merchant", "list"])
        .split('\t')
        .next()
        .unwrap()
        .to_owned();
    let created: Value = serde_json::from_str(
        support::cli(
            &db,
            &[
                "key",
                "create",
                "--merchant",
                &merchant_id,
                "--kind",
                "secret",
                "--json",
            ],
        )
        .trim(),
    )
    .unwrap();
    let doomed = Api {
        key: created["key"].as_str().unwrap().to_owned(),
        ..api.clone()
    };
    assert_eq!(doomed.get("/v1/customers").await.status, 200);
    let listing = support::cli(&db, &["key", "list", "--merchant", &merchant_id]);
    assert!(listing.contains(created["id"].as_str().unwrap()));
    assert!(
        !listing.contains(created["key"].as_str().unwrap()),
        "key list shows a whole key"
    );

    let revoked_at = std::time::Instant::now();
    support::cli(&db, &["key", "revoke", created["id"].as_str().unwrap()]);
    loop {
        let status = doomed.get("/v1/customers").await.status;
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            revoked_at.elapsed().as_secs_f64() < 5.0,
            "revoked key still works after 5 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(support::cli(&db, &["key", "list", "--merchant", &merchant_id]).contains("revoked"));
    assert_eq!(
        api.get("/v1/customers").await.status,
        200,
        "other keys keep working"
    );
}

async fn publishable_and_restricted_keys_are_limited_to_their_grants(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    let server = TestServer::start(&db);
    let publishable = Api::new(&server, &merchant.publishable_key);
    let answer = publishable.get("/v1/customers").await;
    assert_eq!(answer.status, 403, "{}", answer.text);

    let key_of = |permissions: Option<&str>| -> String {
        let mut args = vec![
            "key",
            "create",
            "--merchant",
            &merchant.id,
            "--kind",
            "restricted",
            "--json",
        ];
        if let Some(p) = permissions {
            args.extend(["--permissions", p]);
        }
        let out: Value = serde_json::from_str(support::cli(&db, &args).trim()).unwrap();
        assert!(out["key"].as_str().unwrap().starts_with("rk_test_"));
        out["key"].as_str().unwrap().to_owned()
    };
    let read_only = Api::new(&server, &key_of(None));
    assert_eq!(read_only.get("/v1/customers").await.status, 200);
    assert_eq!(
        read_only
            .post("/v1/customers", &[("name", "x")])
            .await
            .status,
        403
    );
    let writer = Api::new(&server, &key_of(Some("customers:write")));
    assert_eq!(
        writer.post("/v1/customers", &[("name", "x")]).await.status,
        200
    );
}

async fn another_merchants_objects_answer_404(backend: Backend) {
    let (db, server, api) = setup(backend).await;
    let customer = create_customer(&api, &[("name", "Mine")]).await;
    let id = customer["id"].as_str().unwrap();
    let other = Api::new(&server, &create_merchant(&db, "Other").secret_key);
    let path = format!("/v1/customers/{id}");
    for answer in [
        other.get(&path).await,
        other.post(&path, &[("name", "Stolen")]).await,
        other.delete(&path).await,
    ] {
        assert_eq!(answer.status, 404, "{}", answer.text);
        assert_eq!(answer.json()["error"]["code"], "resource_missing");
    }
    assert_eq!(other.get("/v1/customers").await.json()["data"], json!([]));
    let search = other
        .get(&format!("/v1/customers/search?query=name:'Mine'"))
        .await;
    assert_eq!(search.json()["data"], json!([]));
    assert_eq!(
        api.get(&path).await.json()["name"],
        "Mine",
        "the owner's object is untouched"
    );
}

async fn live_keys_do_not_see_test_objects(backend: Backend) {
    let (db, server, api) = setup(backend).await;
    let customer = create_customer(&api, &[("name", "Test mode")]).await;
    assert_eq!(customer["livemode"], false);
    let merchant_id = support::cli(&db, &["merchant", "list"])
        .split('\t')
        .next()
        .unwrap()
        .to_owned();
    let out: Value = serde_json::from_str(
        support::cli(
            &db,
            &[
                "key",
                "create",
                "--merchant",
                &merchant_id,
                "--kind",
                "secret",
                "--mode",
                "live",
                "--json",
            ],
        )
        .trim(),
    )
    .unwrap();
    let live = Api::new(&server, out["key"].as_str().unwrap());
    assert_eq!(
        live.get(&format!(
            "/v1/customers/{}",
            customer["id"].as_str().unwrap()
        ))
        .await
        .status,
        404
    );
    let live_customer = live.post("/v1/customers", &[("name", "Live")]).await.json();
    assert_eq!(live_customer["livemode"], true);
    assert_eq!(
        live.get("/v1/customers").await.json()["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn form_and_json_bodies_are_equivalent(backend: Backend) {
    let (_db, server, api) = setup(backend).await;
    let from_form = api
        .send(
            api.http
                .post(server.url("/v1/customers"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("name=Jenny+Rosen&metadata%5Border%5D=6735&address[city]=Berlin&preferred_locales[]=de&preferred_locales[]=en"),
        )
        .await
        .json();
    let from_json = api
        .send(api.http.post(server.url("/v1/customers")).json(&json!({
            "name": "Jenny Rosen",
            "metadata": {"order": "6735"},
            "address": {"city": "Berlin"},
            "preferred_locales": ["de", "en"]
        })))
        .await
        .json();
    for field in ["name", "metadata", "address", "preferred_locales"] {
        assert_eq!(from_form[field], from_json[field], "{field}");
    }
    assert_eq!(from_form["metadata"]["order"], "6735");
    assert_eq!(from_form["preferred_locales"], json!(["de", "en"]));
    let malformed = api
        .send(
            api.http
                .post(server.url("/v1/customers"))
                .header("content-type", "application/json")
                .body("{not json"),
        )
        .await;
    assert_eq!(malformed.status, 400);
    assert_eq!(malformed.json()["error"]["type"], "invalid_request_error");
}

async fn unknown_parameters_are_refused_by_name(backend: Backend) {
    let (_db, _server, api) = setup(backend).await;
    for (form, param) in [
        (vec![("nmae", "typo")], "nmae"),
        (vec![("address[planet]", "Mars")], "address[planet]"),
        (vec![("status", "active")], "status"),
        (vec![("livemode", "true")], "livemode"),
    ] {
        let answer = api.post("/v1/customers", &form).await;
        assert_eq!(answer.status, 400, "{}", answer.text);
        let error = &answer.json()["error"];
        assert_eq!(error["code"], "parameter_unknown");
        assert_eq!(error["param"], param);
    }
    assert_eq!(
        api.get("/v1/customers").await.json()["data"],
        json!([]),
        "nothing half-written"
    );
    let answer = api.get("/v1/customers?colour=red").await;
    assert_eq!(answer.json()["error"]["param"], "colour");
}

async fn metadata_can_be_set_unset_and_cleared(backend: Backend) {
    let (_db, _server, api) = setup(backend).await;
    let customer = create_customer(&api, &[("metadata[a]", "1"), ("metadata[b]", "2")]).await;
    let path = format!("/v1/customers/{}", customer["id"].as_str().unwrap());
    let updated = api
        .post(&path, &[("metadata[a]", ""), ("metadata[c]", "3")])
        .await
        .json();
    assert_eq!(updated["metadata"], json!({"b": "2", "c": "3"}));
    let cleared = api.post(&path, &[("metadata", "")]).await.json();
    assert_eq!(cleared["metadata"], json!({}));
    let too_long_key = "k".repeat(41);
    let answer = api
        .post(
            &path,
            &[(&format!("metadata[{too_long_key}]") as &str, "v")],
        )
        .await;
    assert_eq!(answer.status, 400);
    let many: Vec<(String, String)> = (0..51)
        .map(|i| (format!("metadata[k{i}]"), "v".to_owned()))
        .collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let answer = api.post(&path, &many).await;
    assert_eq!(answer.status, 400, "{}", answer.text);
    let long_value = "v".repeat(501);
    assert_eq!(
        api.post(&path, &[("metadata[k]", long_value.as_str())])
            .await
            .status,
        400
    );
    assert_eq!(
        api.get(&path).await.json()["metadata"],
        json!({}),
        "refused updates change nothing"
    );
}

async fn pagination_walks_both_directions_over_many_objects(backend: Backend) {
    let (_db, _server, api) = setup(backend).await;
    let mut created = vec![];
    for i in 0..27 {
        created.push(
            create_customer(&api, &[("name", &format!("c{i}"))]).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();

    let mut seen = vec![];
    let mut path = "/v1/customers?limit=5".to_owned();
    loop {
        let page = api.get(&path).await.json();
        assert_eq!(page["object"], "list");
        assert_eq!(page["url"], "/v1/customers");
        let ids: Vec<String> = page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect();
        seen.extend(ids.clone());
        if !page["has_more"].as_bool().unwrap() {
            break;
        }
        path = format!(
            "/v1/customers?limit=5&starting_after={}",
            ids.last().unwrap()
        );
    }
    assert_eq!(seen, newest_first);

    let mut back = vec![];
    let mut path = format!("/v1/customers?limit=5&ending_before={}", created[0]);
    loop {
        let page = api.get(&path).await.json();
        let ids: Vec<String> = page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect();
        assert!(
            ids.windows(2)
                .all(|w| created.iter().position(|c| *c == w[0])
                    > created.iter().position(|c| *c == w[1])),
            "pages are newest first"
        );
        back.splice(0..0, ids.clone());
        if !page["has_more"].as_bool().unwrap() {
            break;
        }
        path = format!(
            "/v1/customers?limit=5&ending_before={}",
            ids.first().unwrap()
        );
    }
    assert_eq!(back, newest_first[..26].to_vec());
}

async fn expand_accepts_only_expandable_fields(backend: Backend) {
    let (_db, _server, api) = setup(backend).await;
    let customer = create_customer(&api, &[("name", "E"), ("expand[]", "default_source")]).await;
    assert_eq!(customer["default_source"], Value::Null);
    let path = format!("/v1/customers/{}", customer["id"].as_str().unwrap());
    let answer = api
        .get(&format!(
            "{path}?expand[]=invoice_settings.default_payment_method"
        ))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let answer = api.get(&format!("{path}?expand[0]=email")).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json()["error"]["param"], "expand[0]");
    assert_eq!(
        api.get("/v1/customers?expand[]=data.default_source")
            .await
            .status,
        200
    );
    assert_eq!(
        api.get("/v1/customers?expand[]=default_source")
            .await
            .status,
        400,
        "list expansions start with data."
    );
}

async fn idempotent_requests_replay_byte_for_byte(backend: Backend) {
    let (_db, _server, api) = setup(backend).await;
    let form = [("email", "jenny@example.com"), ("metadata[order]", "1")];
    let first = api.post_idempotent("/v1/customers", "key-1", &form).await;
    let again = api.post_idempotent("/v1/customers", "key-1", &form).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.text, again.text);
    assert!(first.headers.get("idempotent-replayed").is_none());
    assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(
        api.get("/v1/customers").await.json()["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // A request refused by validation stores nothing: the key stays free.
    let refused = api
        .post_idempotent("/v1/customers", "key-2", &[("email", "not-an-email")])
        .await;
    assert_eq!(refused.status, 400);
    let fine = api
        .post_idempotent("/v1/customers", "key-2", &[("email", "ok@example.com")])
        .await;
    assert_eq!(fine.status, 200, "{}", fine.text);
    // An error found while executing is the result, and is replayed.
    let missing = api
        .post_idempotent(
            "/v1/customers/cus_doesnotexist000",
            "key-3",
            &[("name", "x")],
        )
        .await;
    let missing_again = api
        .post_idempotent(
            "/v1/customers/cus_doesnotexist000",
            "key-3",
            &[("name", "x")],
        )
        .await;
    assert_eq!((missing.status, missing_again.status), (404, 404));
    assert_eq!(
        missing_again.headers.get("idempotent-replayed").unwrap(),
        "true"
    );
}

async fn idempotency_key_reuse_with_other_parameters_is_refused(backend: Backend) {
    let (_db, _server, api) = setup(backend).await;
    assert_eq!(
        api.post_idempotent("/v1/customers", "k", &[("name", "A")])
            .await
            .status,
        200
    );
    let other = api
        .post_idempotent("/v1/customers", "k", &[("name", "B")])
        .await;
    assert_eq!(other.status, 400);
    assert_eq!(other.json()["error"]["type"], "idempotency_error");
    let other_path = api
        .post_idempotent("/v1/customers/cus_abc", "k", &[("name", "A")])
        .await;
    assert_eq!(other_path.json()["error"]["type"], "idempotency_error");
    let too_long = "k".repeat(256);
    assert_eq!(
        api.post_idempotent("/v1/customers", &too_long, &[("name", "A")])
            .await
            .status,
        400
    );
}

async fn concurrent_requests_with_one_key_create_one_object(backend: Backend) {
    let (_db, _server, api) = setup(backend).await;
    let mut tasks = vec![];
    for _ in 0..20 {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            api.post_idempotent("/v1/customers", "same-key", &[("name", "Once")])
                .await
        }));
    }
    let mut ids = std::collections::HashSet::new();
    let mut conflicts = 0;
    for task in tasks {
        let answer = task.await.unwrap();
        match answer.status {
            200 => {
                ids.insert(answer.json()["id"].as_str().unwrap().to_owned());
            }
            409 => {
                assert_eq!(answer.json()["error"]["code"], "idempotency_key_in_use");
                conflicts += 1;
            }
            other => panic!("unexpected {other}: {}", answer.text),
        }
    }
    assert_eq!(ids.len(), 1, "one customer, answered identically");
    assert!(conflicts < 20);
    assert_eq!(
        api.get("/v1/customers").await.json()["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn oversized_bodies_get_413_in_the_error_format(backend: Backend) {
    let (_db, server, api) = setup(backend).await;
    let huge = format!("description={}", "x".repeat(300 * 1024));
    let answer = api
        .send(
            api.http
                .post(server.url("/v1/customers"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(huge),
        )
        .await;
    assert_eq!(answer.status, 413);
    assert_eq!(answer.json()["error"]["type"], "invalid_request_error");
}

/// Found by the fuzz suite's probing: `%ff` in an id made axum's path
/// extractor answer a plain-text 400 ("Invalid URL: Invalid UTF-8 in `id`").
async fn paths_that_are_not_utf8_get_400_in_the_error_format(backend: Backend) {
    let (_db, server, api) = setup(backend).await;
    for (method, path) in [
        (reqwest::Method::GET, "/v1/customers/%ff"),
        (reqwest::Method::POST, "/v1/customers/cus_%C3"),
        (reqwest::Method::DELETE, "/v1/customers/%ff"),
        (reqwest::Method::POST, "/v1/payment_intents/pi_%e9/confirm"),
        (reqwest::Method::GET, "/v1/nothing-here/%ff"),
    ] {
        let answer = api
            .send(api.http.request(method.clone(), server.url(path)))
            .await;
        assert_eq!(answer.status, 400, "{method} {path}: {}", answer.text);
        let error = &answer.json()["error"];
        assert_eq!(error["type"], "invalid_request_error", "{method} {path}");
        assert_eq!(error["code"], "url_invalid", "{method} {path}");
        assert!(answer.headers.get("request-id").is_some());
    }
    // Escapes that decode to UTF-8 still reach the handler: a plain 404.
    let accented = api.get("/v1/customers/cus_%C3%A9").await;
    assert_eq!(accented.status, 404, "{}", accented.text);
    assert_eq!(accented.json()["error"]["code"], "resource_missing");
}

async fn every_response_carries_a_request_id(backend: Backend) {
    let (_db, server, api) = setup(backend).await;
    for answer in [
        api.get("/v1/customers").await,
        api.get("/v1/nothing-here").await,
        Api {
            key: "sk_test_wrong".into(),
            ..api.clone()
        }
        .get("/v1/customers")
        .await,
        api.post("/v1/customers", &[("bogus", "1")]).await,
    ] {
        let id = answer
            .headers
            .get("request-id")
            .expect("Request-Id header")
            .to_str()
            .unwrap();
        assert!(id.starts_with("req_"), "{id}");
    }
    let unknown = api.get("/v1/nothing-here").await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"]["type"], "invalid_request_error");
    let wrong_method = api.send(api.http.put(server.url("/v1/customers"))).await;
    assert!(wrong_method.json()["error"].is_object());
}

async fn customers_update_delete_list_filter_and_search(backend: Backend) {
    let (_db, _server, api) = setup(backend).await;
    let jenny = create_customer(
        &api,
        &[
            ("email", "Jenny@Example.com"),
            ("name", "Jenny Rosen"),
            ("description", "vip"),
            ("metadata[tier]", "gold"),
        ],
    )
    .await;
    create_customer(&api, &[("email", "bob@example.com"), ("name", "Bob Stone")]).await;
    let path = format!("/v1/customers/{}", jenny["id"].as_str().unwrap());
    let updated = api
        .post(&path, &[("description", ""), ("phone", "+4930123")])
        .await
        .json();
    assert_eq!(updated["description"], Value::Null);
    assert_eq!(updated["phone"], "+4930123");
    assert_eq!(updated["name"], "Jenny Rosen");

    let by_email = api.get("/v1/customers?email=bob@example.com").await.json();
    assert_eq!(by_email["data"].as_array().unwrap().len(), 1);
    for (query, expected) in [
        ("email:'jenny@example.com'", 1),
        ("name~'ston'", 1),
        ("name~'xyz'", 0),
        ("metadata['tier']:'gold'", 1),
        ("email:'bob@example.com' OR name~'rosen'", 2),
        ("-name:'Bob Stone'", 1),
    ] {
        let found = api
            .get(&format!("/v1/customers/search?query={}", urlencode(query)))
            .await;
        assert_eq!(found.status, 200, "{query}: {}", found.text);
        assert_eq!(
            found.json()["data"].as_array().unwrap().len(),
            expected,
            "{query}"
        );
        assert_eq!(found.json()["object"], "search_result");
    }
    let bad = api
        .get(&format!(
            "/v1/customers/search?query={}",
            urlencode("email='x'")
        ))
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("character 6"));

    let deleted = api.delete(&path).await.json();
    assert_eq!(
        deleted,
        json!({"id": jenny["id"], "object": "customer", "deleted": true})
    );
    assert_eq!(api.get(&path).await.json()["deleted"], true);
    assert_eq!(api.post(&path, &[("name", "x")]).await.status, 404);
    assert_eq!(
        api.get("/v1/customers").await.json()["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        api.post("/v1/customers", &[("email", "nope")]).await.json()["error"]["param"],
        "email"
    );
}

async fn bad_limits_and_cursors_are_client_errors(backend: Backend) {
    let (_db, _server, api) = setup(backend).await;
    for (path, status) in [
        ("/v1/customers?limit=1000000", 400),
        ("/v1/customers?limit=0", 400),
        ("/v1/customers?limit=abc", 400),
        ("/v1/customers?starting_after=cus_nosuch", 404),
        ("/v1/customers?starting_after=a&ending_before=b", 400),
        ("/v1/customers?created[gt]=x", 400),
        ("/v1/customers/search", 400),
    ] {
        let answer = api.get(path).await;
        assert_eq!(answer.status, status, "{path}: {}", answer.text);
        assert!(answer.json()["error"]["message"].is_string());
    }
    assert_eq!(
        api.get("/v1/customers?created[gte]=0&limit=100")
            .await
            .status,
        200
    );
}

async fn health_and_readiness_answer(backend: Backend) {
    let (_db, server, api) = setup(backend).await;
    let health: Value = api
        .http
        .get(server.url("/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health, json!({"status": "ok"}));
    let ready = api.http.get(server.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
}

fn urlencode(text: &str) -> String {
    url_escape(text)
}

fn url_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
