//! `portcullis vault rotate-key` while the server runs: cards stored before
//! the rotation still pay afterwards, every card ends up wrapped by the new
//! key, and the old key can then be retired without losing any card.

mod support;

use support::{cli, create_merchant, Api, Backend, TestDatabase, TestServer};

on_both_backends!(rotating_the_vault_key_while_serving_keeps_every_card_usable);

async fn rotating_the_vault_key_while_serving_keeps_every_card_usable(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    let server = TestServer::start(&db);
    let api = Api::new(&server, &merchant.secret_key);
    let mut methods = vec![];
    for number in ["4242424242424242", "5555555555554444", "378282246310005"] {
        let method = api
            .post(
                "/v1/payment_methods",
                &[
                    ("type", "card"),
                    ("card[number]", number),
                    ("card[exp_month]", "12"),
                    ("card[exp_year]", "2035"),
                ],
            )
            .await;
        assert_eq!(method.status, 200, "{}", method.text);
        methods.push(method.json()["id"].as_str().unwrap().to_owned());
    }
    let before = cli(&db, &["vault", "status"]);
    let old_kek = before
        .lines()
        .find(|l| l.contains("(active)"))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    assert!(before.contains("3 cards"), "{before}");

    let rotate_db = db.url.clone();
    let data_dir = db.data_dir.clone();
    let rotation = std::thread::spawn(move || {
        std::process::Command::new(support::binary())
            .args([
                "vault",
                "rotate-key",
                "--database-url",
                &rotate_db,
                "--data-dir",
                data_dir.to_str().unwrap(),
            ])
            .output()
            .unwrap()
    });
    // Payments keep working during the rotation.
    while !rotation.is_finished() {
        let paid = api
            .post(
                "/v1/payment_intents",
                &[
                    ("amount", "999"),
                    ("currency", "usd"),
                    ("payment_method", &methods[0]),
                    ("confirm", "true"),
                ],
            )
            .await;
        assert_eq!(paid.status, 200, "{}", paid.text);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let output = rotation.join().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("re-wrapped 3 cards"),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );

    let after = cli(&db, &["vault", "status"]);
    assert!(after.contains(&format!("{old_kek}\t0 cards")), "{after}");
    cli(&db, &["vault", "retire-key", &old_kek]);
    assert!(!cli(&db, &["vault", "status"]).contains(&old_kek));
    // The server reloads the keyring; every stored card still pays.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    for method in &methods {
        let paid = api
            .post(
                "/v1/payment_intents",
                &[
                    ("amount", "1500"),
                    ("currency", "usd"),
                    ("payment_method", method),
                    ("confirm", "true"),
                ],
            )
            .await;
        assert_eq!(paid.status, 200, "{}", paid.text);
        assert_eq!(paid.json()["status"], "succeeded");
    }
    assert!(server.log().contains("reloaded the vault keyring"));
}

on_both_backends!(test_card_payments_seal_nothing_and_their_methods_pay_again);

/// A `pm_card_*` test id's number is public: paying with one writes a
/// payment method but no vault record, and that payment method pays
/// again later with the same card (the decline card still declines).
async fn test_card_payments_seal_nothing_and_their_methods_pay_again(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    let server = TestServer::start(&db);
    let api = Api::new(&server, &merchant.secret_key);
    let pay = |method: String| {
        let api = &api;
        async move {
            api.post(
                "/v1/payment_intents",
                &[
                    ("amount", "1999"),
                    ("currency", "usd"),
                    ("payment_method", &method),
                    ("confirm", "true"),
                ],
            )
            .await
        }
    };
    let first = pay("pm_card_mastercard".to_owned()).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let method = first.json()["payment_method"].as_str().unwrap().to_owned();
    assert!(method.starts_with("pm_") && method != "pm_card_mastercard");
    let declined = pay("pm_card_chargeDeclined".to_owned()).await;
    assert_eq!(declined.status, 402, "{}", declined.text);
    let declined_method = declined.json()["error"]["payment_intent"]["payment_method"]
        .as_str()
        .unwrap()
        .to_owned();

    let status = cli(&db, &["vault", "status"]);
    assert!(status.contains("0 cards"), "{status}");

    let again = pay(method.clone()).await;
    assert_eq!(again.status, 200, "{}", again.text);
    let charge = api
        .get(&format!(
            "/v1/charges/{}",
            again.json()["latest_charge"].as_str().unwrap()
        ))
        .await
        .json();
    assert_eq!(charge["payment_method"], method.as_str());
    assert_eq!(charge["payment_method_details"]["card"]["last4"], "4444");
    assert_eq!(
        charge["payment_method_details"]["card"]["brand"],
        "mastercard"
    );
    let retrieved = api
        .get(&format!("/v1/payment_methods/{method}"))
        .await
        .json();
    assert!(retrieved.get("test_card").is_none(), "{retrieved}");
    let declined_again = pay(declined_method).await;
    assert_eq!(declined_again.status, 402, "{}", declined_again.text);
    assert_eq!(
        declined_again.json()["error"]["decline_code"],
        "generic_decline"
    );
}
