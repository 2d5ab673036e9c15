//! API8: client mistakes answer 4xx in Stripe's error format, never 500 or
//! 503. Before the fix a search comparing a field with a value of the
//! wrong type was 500 on both backends, and a NUL character in a string
//! parameter was 503 on PostgreSQL (which clients retry).

use crate::fixtures::{create_customer, ok, refused, Env};
use crate::support::Backend;

async fn mistyped_search_clauses_answer_400(backend: Backend) {
    let env = Env::new(backend).await;
    create_customer(&env.api, "jenny@example.com").await;
    for (path, query) in [
        ("/v1/customers/search", "created>'abc'"),
        ("/v1/customers/search", "email>'a'"),
        ("/v1/customers/search", "email:5"),
        ("/v1/customers/search", "created~'abc'"),
        ("/v1/customers/search", "metadata['tier']>'a'"),
        ("/v1/customers/search", "created>null"),
        ("/v1/payment_intents/search", "status>5"),
        ("/v1/payment_intents/search", "created:'yesterday'"),
    ] {
        let answer = env
            .api
            .send(
                env.api
                    .http
                    .get(env.server.url(path))
                    .query(&[("query", query)]),
            )
            .await;
        let error = refused(&answer, 400);
        assert_eq!(error["type"], "invalid_request_error", "{query}");
        assert_eq!(error["param"], "query", "{query}");
    }
    // Well-typed clauses still work.
    let found = ok(&env
        .api
        .send(
            env.api
                .http
                .get(env.server.url("/v1/customers/search"))
                .query(&[("query", "created>0 AND email:'jenny@example.com'")]),
        )
        .await);
    assert_eq!(found["data"].as_array().unwrap().len(), 1);
}

async fn nul_characters_answer_400(backend: Backend) {
    let env = Env::new(backend).await;
    let form_answer = env
        .api
        .post("/v1/customers", &[("name", "Jenny\0Rosen")])
        .await;
    assert_eq!(refused(&form_answer, 400)["param"], "name");
    let nested = env
        .api
        .post("/v1/customers", &[("metadata[k]", "a\0b")])
        .await;
    assert_eq!(refused(&nested, 400)["param"], "metadata[k]");
    let json_answer = env
        .api
        .send(
            env.api
                .http
                .post(env.server.url("/v1/customers"))
                .header("Content-Type", "application/json")
                .body(r#"{"email":"a\u0000@example.com"}"#),
        )
        .await;
    refused(&json_answer, 400);
    let search = env
        .api
        .send(
            env.api
                .http
                .get(env.server.url("/v1/customers/search"))
                .query(&[("query", "email:'a\0b'")]),
        )
        .await;
    refused(&search, 400);
    let path = env.api.get("/v1/customers/cus_%00abc").await;
    refused(&path, 400);
    // Nothing was written.
    let listed = ok(&env.api.get("/v1/customers").await);
    assert_eq!(listed["data"].as_array().unwrap().len(), 0);
}

/// Errors repeat at most a bounded part of what the client sent.
async fn errors_echo_bounded_text(backend: Backend) {
    let env = Env::new(backend).await;
    let long_name = format!("a[{}", "x".repeat(5000));
    let answer = env.api.post("/v1/customers", &[(&long_name, "1")]).await;
    refused(&answer, 400);
    assert!(
        answer.text.len() < 1000,
        "{} bytes echoed",
        answer.text.len()
    );
    let unknown = format!("z{}", "y".repeat(5000));
    let answer = env.api.post("/v1/customers", &[(&unknown, "1")]).await;
    assert_eq!(refused(&answer, 400)["code"], "parameter_unknown");
    assert!(
        answer.text.len() < 1000,
        "{} bytes echoed",
        answer.text.len()
    );
}

crate::on_both_backends!(
    mistyped_search_clauses_answer_400,
    nul_characters_answer_400,
    errors_echo_bounded_text,
);
