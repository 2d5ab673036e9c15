//! PCI DSS 3.3.1 and 3.5.1, checked: after a variety of payments, no card
//! number and no CVC used appears in clear in any table of either database,
//! in the raw SQLite files, in the sandbox acquirer's journal, or in the
//! server's log.

mod support;

use std::process::Command;
use support::{create_merchant, Api, Backend, TestDatabase, TestServer};

/// Cards and the CVCs sent with them (CVCs chosen to match no amount used).
const CARDS: &[(&str, &str)] = &[
    ("4242424242424242", "847"),
    ("5555555555554444", "319"),
    ("378282246310005", "6251"),
    ("4000000000000002", "952"),
    ("4000056655665556", "708"),
];

on_both_backends!(no_card_number_or_cvc_is_stored_or_logged_in_clear);

async fn no_card_number_or_cvc_is_stored_or_logged_in_clear(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    let mut server = TestServer::start(&db);
    let api = Api::new(&server, &merchant.secret_key);
    for (i, (number, cvc)) in CARDS.iter().enumerate() {
        let card = [
            ("payment_method_data[type]", "card"),
            ("payment_method_data[card][number]", number),
            ("payment_method_data[card][exp_month]", "11"),
            ("payment_method_data[card][exp_year]", "2034"),
            ("payment_method_data[card][cvc]", cvc),
            ("amount", "1234"),
            ("currency", "usd"),
            ("confirm", "true"),
        ];
        let paid = api
            .post_idempotent("/v1/payment_intents", &format!("order-{i}"), &card)
            .await;
        assert!(paid.status == 200 || paid.status == 402, "{}", paid.text);
        let method = api
            .post(
                "/v1/payment_methods",
                &[
                    ("type", "card"),
                    ("card[number]", number),
                    ("card[exp_month]", "10"),
                    ("card[exp_year]", "2033"),
                    ("card[cvc]", cvc),
                ],
            )
            .await;
        assert_eq!(method.status, 200, "{}", method.text);
        assert!(!method.text.contains(number) && !method.text.contains(&format!("\"{cvc}\"")));
        let pm = method.json()["id"].as_str().unwrap().to_owned();
        let manual = api
            .post(
                "/v1/payment_intents",
                &[
                    ("amount", "2468"),
                    ("currency", "usd"),
                    ("payment_method", &pm),
                    ("capture_method", "manual"),
                    ("confirm", "true"),
                ],
            )
            .await;
        if manual.status == 200 {
            let id = manual.json()["id"].as_str().unwrap().to_owned();
            assert_eq!(
                api.post(
                    &format!("/v1/payment_intents/{id}/capture"),
                    &[("amount_to_capture", "2000")]
                )
                .await
                .status,
                200
            );
            assert_eq!(
                api.post("/v1/refunds", &[("payment_intent", &id), ("amount", "500")])
                    .await
                    .status,
                200
            );
        }
    }
    // A malformed number is refused; the error must not echo it either.
    let refused = api
        .post(
            "/v1/payment_methods",
            &[
                ("type", "card"),
                ("card[number]", "4242424242424241"),
                ("card[exp_month]", "1"),
                ("card[exp_year]", "2034"),
            ],
        )
        .await;
    assert_eq!(refused.status, 402);
    assert!(!refused.text.contains("4242424242424241"));
    assert!(server.terminate().success());

    let mut places = database_rows(&db, backend);
    for file in std::fs::read_dir(&db.data_dir).unwrap() {
        let path = file.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        places.push((
            path.display().to_string(),
            String::from_utf8_lossy(&bytes).into_owned(),
        ));
    }
    assert!(
        places
            .iter()
            .any(|(place, _)| place.contains("payment_intents")),
        "the scan reached the payment tables"
    );
    for (number, cvc) in CARDS.iter().copied().chain([("4242424242424241", "")]) {
        for (place, text) in &places {
            assert!(
                !text.contains(number),
                "card number {number} in clear in {place}"
            );
            if !cvc.is_empty() {
                // A bare `={cvc}` also matches any log field that happens
                // to hold the same three digits (a duration, a count, a
                // pid), which made this test fail by chance; a CVC leaked
                // in a form body or a `key=value` field is named as one.
                for pattern in [
                    format!("\"{cvc}\""),
                    format!("cvc={cvc}"),
                    format!("cvc%5D={cvc}"),
                    format!("cvc]={cvc}"),
                    format!(":{cvc},"),
                    format!(":{cvc}}}"),
                ] {
                    assert!(!text.contains(&pattern), "CVC {cvc} ({pattern}) in {place}");
                }
            }
        }
    }
}

/// Every row of every table, as text, labelled `table`.
fn database_rows(db: &TestDatabase, backend: Backend) -> Vec<(String, String)> {
    let run = |program: &str, args: &[&str]| -> String {
        let out = Command::new(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    match backend {
        Backend::Sqlite => {
            let file = db.url.trim_start_matches("sqlite://").to_owned();
            let tables = run(
                "sqlite3",
                &[&file, "SELECT name FROM sqlite_master WHERE type = 'table'"],
            );
            tables
                .lines()
                .map(|table| {
                    (
                        table.to_owned(),
                        run("sqlite3", &[&file, &format!("SELECT * FROM \"{table}\"")]),
                    )
                })
                .collect()
        }
        Backend::Postgres => {
            let tables = run(
                "psql",
                &[
                    &db.url,
                    "-At",
                    "-c",
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
                ],
            );
            tables
                .lines()
                .map(|table| {
                    (
                        table.to_owned(),
                        run(
                            "psql",
                            &[
                                &db.url,
                                "-At",
                                "-c",
                                &format!("SELECT t::text FROM \"{table}\" t"),
                            ],
                        ),
                    )
                })
                .collect()
        }
    }
}
