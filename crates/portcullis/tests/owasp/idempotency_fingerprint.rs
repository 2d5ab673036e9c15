//! Data protection: the stored idempotency fingerprint is keyed and holds
//! no card data. Before the fix it was an unkeyed SHA-256 over every
//! parameter, card number and CVC included, kept for days beside the
//! response: a PAN's SHA-256 is reversible by enumerating card numbers.

use crate::fixtures::{future_year, ok, refused, Env};
use crate::support::{Backend, TestDatabase};
use serde_json::json;
use sha2::{Digest, Sha256};

const NUMBER: &str = "4000056655665556";

/// What the server stored for `key`: the fingerprint and the response.
async fn stored(db: &TestDatabase, backend: Backend, key: &str) -> (String, String) {
    let sql = "SELECT request_fingerprint, COALESCE(response_body, '') FROM idempotency_keys WHERE idempotency_key = ";
    match backend {
        Backend::Sqlite => {
            let path = db.url.trim_start_matches("sqlite://");
            let conn = rusqlite::Connection::open(path).unwrap();
            conn.query_row(&format!("{sql}?1"), [key], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .unwrap()
        }
        Backend::Postgres => {
            let (client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(connection);
            let row = client
                .query_one(&format!("{sql}$1"), &[&key])
                .await
                .unwrap();
            (row.get(0), row.get(1))
        }
    }
}

async fn fingerprint_is_keyed_and_leaves_card_data_out(backend: Backend) {
    let env = Env::new(backend).await;
    let year = future_year();
    let form = |number: &'static str, cvc: &'static str| {
        vec![
            ("amount", "2000".to_owned()),
            ("currency", "usd".to_owned()),
            ("confirm", "true".to_owned()),
            ("payment_method_data[type]", "card".to_owned()),
            ("payment_method_data[card][number]", number.to_owned()),
            ("payment_method_data[card][exp_month]", "12".to_owned()),
            ("payment_method_data[card][exp_year]", year.clone()),
            ("payment_method_data[card][cvc]", cvc.to_owned()),
        ]
    };
    let send = |fields: Vec<(&'static str, String)>| {
        let request = env
            .api
            .http
            .post(env.server.url("/v1/payment_intents"))
            .header("Idempotency-Key", "order-1")
            .form(&fields);
        env.api.send(request)
    };
    let first = ok(&send(form(NUMBER, "987")).await);
    let (fingerprint, response) = stored(&env.db, backend, "order-1").await;

    // The old, unkeyed fingerprint of this very request.
    let canonical = json!({
        "amount": "2000",
        "confirm": "true",
        "currency": "usd",
        "payment_method_data": {
            "card": {
                "cvc": "987",
                "exp_month": "12",
                "exp_year": year,
                "number": NUMBER,
            },
            "type": "card",
        },
    });
    let mut unkeyed = Sha256::new();
    unkeyed.update(format!("POST /v1/payment_intents\n{canonical}"));
    let unkeyed = hex::encode(unkeyed.finalize());
    assert_eq!(fingerprint.len(), 64, "{fingerprint}");
    assert_ne!(
        fingerprint, unkeyed,
        "the fingerprint is an unkeyed hash of the card data"
    );
    assert!(
        !response.contains(NUMBER),
        "the stored response holds the card number"
    );

    // Replays still work, and a different card under the same key is
    // still told apart from the original request.
    let replay = ok(&send(form(NUMBER, "987")).await);
    assert_eq!(replay["id"], first["id"]);
    let other_card = send(form("4242424242424242", "987")).await;
    assert_eq!(refused(&other_card, 400)["type"], "idempotency_error");
}

crate::on_both_backends!(fingerprint_is_keyed_and_leaves_card_data_out);
