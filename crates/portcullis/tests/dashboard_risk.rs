//! Risk rules and lists edited in the dashboard (`/dashboard/risk`),
//! through the real binary on SQLite and PostgreSQL: owners and developers
//! add, disable, enable and delete rules and add and remove list values;
//! a rule that does not parse comes back with its line and column; the
//! API's payments follow what was edited; analysts and support only look;
//! CSRF is required; every change is recorded with the user.

mod support;

use support::dashboard::{activate, count, create_user, csrf, Browser};
use support::risk::{pay, start};
use support::{create_merchant, Api, Backend, TestDatabase};

on_both_backends!(
    developers_edit_rules_and_lists_that_payments_follow,
    other_roles_and_forged_forms_change_nothing,
    the_api_deletes_own_rules_not_default_ones,
);

const CARD: &str = "4242424242424242";
const MALLORY: [(&str, &str); 1] = [("receipt_email", "mallory@example.com")];

async fn blocked_emails_list(api: &Api) -> String {
    let list = api
        .post(
            "/v1/risk/lists",
            &[("alias", "blocked_emails"), ("item_type", "email")],
        )
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    list.json()["id"].as_str().unwrap().to_owned()
}

async fn recorded(db: &TestDatabase, action: &str, object: &str) -> i64 {
    let sql = format!(
        "SELECT COUNT(*) FROM dashboard_events WHERE action = '{action}' \
         AND object = '{object}' AND dashboard_user IS NOT NULL"
    );
    count(db, &sql).await
}

async fn rule_status(api: &Api, id: &str) -> String {
    let rule = api.get(&format!("/v1/risk/rules/{id}")).await;
    assert_eq!(rule.status, 200, "{}", rule.text);
    rule.json()["status"].as_str().unwrap().to_owned()
}

/// Posts the form at `path` with the page's CSRF token; expects the
/// redirect back to the risk page with `done`.
async fn submit(browser: &mut Browser, path: &str, fields: &[(&str, &str)], done: &str) {
    let page = browser.get("/dashboard/risk").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let token = csrf(&page);
    let mut form = vec![("csrf_token", token.as_str())];
    form.extend_from_slice(fields);
    let answer = browser.post(path, &form).await;
    assert_eq!(answer.status, 303, "{path}: {}", answer.body);
    assert_eq!(
        answer.location.as_deref(),
        Some(format!("/dashboard/risk?done={done}").as_str())
    );
}

async fn developers_edit_rules_and_lists_that_payments_follow(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Risky");
    // The longest rule cache: each dashboard change must still reach the
    // very next payment (the change forgets the cached rules at once).
    let server = start(&db, "risk_rules_cache_ttl_ms = 5000\n");
    let api = Api::new(&server, &merchant.secret_key);
    let list = blocked_emails_list(&api).await;
    let mut dev = activate(
        &server,
        &create_user(&db, &merchant.id, "dev@example.com", "developer"),
    )
    .await;
    let page = dev.get("/dashboard/risk").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("id=\"new-rule\""), "the form is offered");
    assert!(page.body.contains("rule_default_card_testing_ip"));

    // A rule that does not parse: 400, the form keeps the text, and the
    // error names the line and column (as the API's `rule_error` does).
    let token = csrf(&page);
    let bad = dev
        .post(
            "/dashboard/risk/rules",
            &[
                ("csrf_token", &token),
                ("rule", "block if\n:amount_in_usd: 500"),
                ("description", "Too big"),
            ],
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("Line 2, column 17"), "{}", bad.body);
    assert!(bad.body.contains("role=\"alert\""));
    assert!(bad.body.contains("aria-invalid=\"true\""));
    assert!(bad.body.contains(":amount_in_usd: 500</textarea>"));
    assert!(bad.body.contains("value=\"Too big\""));
    let zh = dev.get("/dashboard/risk?locale=zh-CN").await;
    let bad_zh = dev
        .post(
            "/dashboard/risk/rules",
            &[
                ("csrf_token", &csrf(&zh)),
                ("rule", "block if\n:amount_in_usd: 500"),
            ],
        )
        .await;
    assert!(bad_zh.body.contains("第 2 行第 17 列"), "{}", bad_zh.body);
    dev.get("/dashboard/risk?locale=en").await; // remembered: back to English
    let none = "SELECT COUNT(*) FROM risk_rules";
    assert_eq!(count(&db, none).await, 0, "nothing stored");

    submit(
        &mut dev,
        "/dashboard/risk/rules",
        &[
            ("rule", "block if :email: in @blocked_emails"),
            ("description", "Blocked addresses"),
        ],
        "rule_created",
    )
    .await;
    let rules = api.get("/v1/risk/rules").await.json();
    let rule = rules["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["description"] == "Blocked addresses")
        .expect("the rule the dashboard added")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(recorded(&db, "risk_rule_create", &rule).await, 1);

    // A value added in the dashboard blocks the API's payment.
    submit(
        &mut dev,
        &format!("/dashboard/risk/lists/{list}/items"),
        &[("value", "Mallory@Example.com")],
        "item_added",
    )
    .await;
    assert_eq!(recorded(&db, "risk_list_item_add", &list).await, 1);
    let page = dev.get("/dashboard/risk?done=item_added").await;
    assert!(page.body.contains("<span>mallory@example.com</span>"));
    assert!(page.body.contains("The value was added to the list."));
    let blocked = pay(&api, "500", CARD, &MALLORY).await;
    assert_eq!(blocked.status, 402, "{}", blocked.text);

    // Disabled, the rule lets the payment through; enabled again, it blocks.
    submit(
        &mut dev,
        &format!("/dashboard/risk/rules/{rule}/disable"),
        &[],
        "rule_disabled",
    )
    .await;
    assert_eq!(rule_status(&api, &rule).await, "disabled");
    assert_eq!(pay(&api, "500", CARD, &MALLORY).await.status, 200);
    submit(
        &mut dev,
        &format!("/dashboard/risk/rules/{rule}/enable"),
        &[],
        "rule_enabled",
    )
    .await;
    assert_eq!(rule_status(&api, &rule).await, "enabled");
    assert_eq!(pay(&api, "500", CARD, &MALLORY).await.status, 402);

    // The value removed: paid.
    let items = api
        .get(&format!("/v1/risk/lists/{list}/items"))
        .await
        .json();
    let item = items["data"][0]["id"].as_str().unwrap().to_owned();
    let remove = format!("/dashboard/risk/lists/{list}/items/{item}/remove");
    submit(&mut dev, &remove, &[], "item_removed").await;
    assert_eq!(recorded(&db, "risk_list_item_remove", &list).await, 1);
    assert_eq!(pay(&api, "500", CARD, &MALLORY).await.status, 200);

    // Deleted: gone from the API and the page; a default rule is not deletable.
    submit(
        &mut dev,
        &format!("/dashboard/risk/rules/{rule}/delete"),
        &[],
        "rule_deleted",
    )
    .await;
    assert_eq!(api.get(&format!("/v1/risk/rules/{rule}")).await.status, 404);
    let page = dev.get("/dashboard/risk").await;
    assert!(!page.body.contains(&rule), "the deleted rule is not shown");
    let default = dev
        .post(
            "/dashboard/risk/rules/rule_default_card_testing_ip/delete",
            &[("csrf_token", &csrf(&page))],
        )
        .await;
    assert_eq!(default.status, 400, "{}", default.body);
    for action in ["risk_rule_disable", "risk_rule_enable", "risk_rule_delete"] {
        assert_eq!(recorded(&db, action, &rule).await, 1, "{action}");
    }
    let refused = "SELECT COUNT(*) FROM dashboard_events WHERE action = 'risk_rule_delete'";
    assert_eq!(
        count(&db, refused).await,
        1,
        "the refused delete is not recorded"
    );
}

async fn other_roles_and_forged_forms_change_nothing(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Risky");
    let server = start(&db, "");
    let api = Api::new(&server, &merchant.secret_key);
    let list = blocked_emails_list(&api).await;
    let add = format!("/dashboard/risk/lists/{list}/items");
    for (email, role) in [
        ("analyst@example.com", "analyst"),
        ("support@example.com", "support"),
    ] {
        let mut user = activate(&server, &create_user(&db, &merchant.id, email, role)).await;
        let page = user.get("/dashboard/risk").await;
        assert_eq!(page.status, 200, "{role} sees the page");
        assert!(page.body.contains("@blocked_emails"));
        assert!(!page.body.contains("id=\"new-rule\""), "{role}: no form");
        assert!(!page.body.contains("/remove"), "{role}: no remove buttons");
        let token = csrf(&page);
        let rule = user
            .post(
                "/dashboard/risk/rules",
                &[
                    ("csrf_token", &token),
                    ("rule", "block if :amount_in_usd: > 1"),
                ],
            )
            .await;
        assert_eq!(rule.status, 403, "{role}: {}", rule.body);
        let item = user
            .post(&add, &[("csrf_token", &token), ("value", "a@example.com")])
            .await;
        assert_eq!(item.status, 403, "{role}: {}", item.body);
        let disable = user
            .post(
                "/dashboard/risk/rules/rule_default_card_testing_ip/disable",
                &[("csrf_token", &token)],
            )
            .await;
        assert_eq!(disable.status, 403, "{role}: {}", disable.body);
    }

    // An owner may, but not without the session's CSRF token.
    let mut owner = activate(
        &server,
        &create_user(&db, &merchant.id, "owner@example.com", "owner"),
    )
    .await;
    let forged = owner
        .post(
            "/dashboard/risk/rules",
            &[
                ("csrf_token", "forged"),
                ("rule", "block if :amount_in_usd: > 1"),
            ],
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    let forged = owner
        .post(
            &add,
            &[("csrf_token", "forged"), ("value", "a@example.com")],
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM risk_rules").await, 0);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM risk_list_items").await, 0);
    let any = "SELECT COUNT(*) FROM dashboard_events WHERE action LIKE 'risk_%'";
    assert_eq!(count(&db, any).await, 0);
    submit(
        &mut owner,
        &add,
        &[("value", "a@example.com")],
        "item_added",
    )
    .await;
    assert_eq!(count(&db, "SELECT COUNT(*) FROM risk_list_items").await, 1);
}

async fn the_api_deletes_own_rules_not_default_ones(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Risky");
    let server = start(&db, "");
    let api = Api::new(&server, &merchant.secret_key);
    let made = api
        .post(
            "/v1/risk/rules",
            &[("rule", "block if :amount_in_usd: > 1000")],
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.text);
    let id = made.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(pay(&api, "200000", CARD, &[]).await.status, 402);
    let deleted = api.delete(&format!("/v1/risk/rules/{id}")).await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert_eq!(deleted.json()["deleted"], true);
    assert_eq!(api.get(&format!("/v1/risk/rules/{id}")).await.status, 404);
    assert_eq!(
        api.delete(&format!("/v1/risk/rules/{id}")).await.status,
        404
    );
    let listed = api.get("/v1/risk/rules").await.json();
    assert!(listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["id"] != id.as_str()));
    assert_eq!(pay(&api, "200000", CARD, &[]).await.status, 200);
    let default = api
        .delete("/v1/risk/rules/rule_default_card_testing_ip")
        .await;
    assert_eq!(default.status, 400, "{}", default.text);
}
