use super::*;
use portcullis_domain::cards::CardBrand;
use portcullis_domain::money::Currency;

fn payment(amount_minor: i64, currency: &str, brand: CardBrand) -> Payment {
    Payment {
        amount_minor,
        currency: Currency::parse(currency).unwrap(),
        amount_in_usd_cents: Some(amount_minor),
        card_brand: brand,
        card_funding: Some("credit".into()),
        card_country: Some("US".into()),
        payment_method_type: "card".into(),
        customer: None,
        metadata: [("tier".to_owned(), "gold".to_owned())].into(),
    }
}

fn accounts(ids: &[(&str, u16)]) -> Vec<Candidate> {
    ids.iter()
        .enumerate()
        .map(|(i, (id, priority))| Candidate {
            id: (*id).into(),
            priority: *priority,
            created: i as i64,
            serves: true,
        })
        .collect()
}

fn rules(texts: &[&str]) -> Vec<StoredRule> {
    texts
        .iter()
        .enumerate()
        .map(|(i, text)| StoredRule {
            id: format!("rr_{i}"),
            rule: RoutingRule::parse(text).unwrap(),
        })
        .collect()
}

#[test]
fn the_first_matching_route_decides_and_the_rest_follow_by_priority() {
    let accounts = accounts(&[("ca_a", 5), ("ca_b", 1), ("ca_c", 3)]);
    let rules = rules(&[
        "route to ca_a if :card_brand: = 'visa' and :amount_in_usd: > 1000",
        "route to ca_c if :currency: = 'EUR'",
    ]);
    let big_visa = decide(
        &rules,
        &accounts,
        &payment(200_000, "usd", CardBrand::Visa),
        0,
    );
    assert_eq!(big_visa.connector_account.as_deref(), Some("ca_a"));
    assert_eq!(big_visa.decided_by, DecidedBy::Rule);
    assert_eq!(big_visa.rule.as_deref(), Some("rr_0"));
    assert_eq!(big_visa.candidates, ["ca_a", "ca_b", "ca_c"]);
    let small_eur = decide(&rules, &accounts, &payment(500, "eur", CardBrand::Visa), 0);
    assert_eq!(small_eur.connector_account.as_deref(), Some("ca_c"));
    let other = decide(&rules, &accounts, &payment(500, "usd", CardBrand::Amex), 0);
    assert_eq!(other.decided_by, DecidedBy::Default);
    assert_eq!(
        other.connector_account.as_deref(),
        Some("ca_b"),
        "smallest priority"
    );
    assert_eq!(other.rule, None);
}

#[test]
fn a_split_draws_by_weight_and_skips_accounts_that_cannot_serve() {
    let mut accounts = accounts(&[("ca_a", 0), ("ca_b", 0)]);
    let rules = rules(&["split ca_a 70, ca_b 30"]);
    let p = payment(100, "usd", CardBrand::Visa);
    let landed_a = (0..100u8)
        .filter(|roll| {
            decide(&rules, &accounts, &p, *roll)
                .connector_account
                .as_deref()
                == Some("ca_a")
        })
        .count();
    assert_eq!(landed_a, 70);
    assert_eq!(
        decide(&rules, &accounts, &p, 99).decided_by,
        DecidedBy::Split
    );
    accounts[0].serves = false;
    let only_b = decide(&rules, &accounts, &p, 0);
    assert_eq!(only_b.connector_account.as_deref(), Some("ca_b"));
    assert_eq!(only_b.candidates, ["ca_b"]);
}

#[test]
fn prefer_orders_the_failover_without_deciding() {
    let accounts = accounts(&[("ca_a", 0), ("ca_b", 1), ("ca_c", 2)]);
    let rules = rules(&["prefer ca_c, ca_b if :metadata.tier: = 'gold'"]);
    let decision = decide(&rules, &accounts, &payment(100, "usd", CardBrand::Visa), 0);
    assert_eq!(decision.decided_by, DecidedBy::Default);
    assert_eq!(decision.rule.as_deref(), Some("rr_0"));
    assert_eq!(decision.candidates, ["ca_c", "ca_b", "ca_a"]);
}

#[test]
fn unknown_attributes_never_match_and_no_candidates_decide_nothing() {
    let accounts = accounts(&[("ca_a", 0), ("ca_b", 1)]);
    let rules = rules(&["route to ca_b if not :customer: = 'cus_1'"]);
    let decision = decide(&rules, &accounts, &payment(100, "usd", CardBrand::Visa), 0);
    assert_eq!(
        decision.connector_account.as_deref(),
        Some("ca_a"),
        "no customer: unknown"
    );
    let none = decide(&rules, &[], &payment(100, "usd", CardBrand::Visa), 0);
    assert_eq!(none.connector_account, None);
    assert!(none.candidates.is_empty());
}

#[test]
fn errors_name_line_column_and_what_was_expected() {
    let cases = [
        ("route ca_a", 1, 7, "'to'"),
        (
            "split ca_a 70, ca_b 20",
            1,
            21,
            "percentages that add up to 100",
        ),
        ("split ca_a 70.5, ca_b 30", 1, 12, "a whole percentage"),
        ("prefer ca_a, ca_a", 1, 14, "an account not named before"),
        (
            "route to ca_a if\n  :card_brand: > 'visa'",
            2,
            16,
            "'=' or '!='",
        ),
        ("route to ca_a if :amount: = 'ten'", 1, 29, "a number"),
        (
            "route to ca_a if :colour: = 'red'",
            1,
            18,
            "a known attribute",
        ),
        (
            "route to bank if :amount: > 1",
            1,
            10,
            "a connector account id",
        ),
        ("send to ca_a", 1, 1, "'route', 'split' or 'prefer'"),
        ("route to ca_a if (:amount: > 1", 1, 31, "')'"),
    ];
    for (text, line, column, expected) in cases {
        let err = RoutingRule::parse(text).unwrap_err();
        assert_eq!((err.line, err.column), (line, column), "{text}: {err}");
        assert!(err.expected.contains(expected), "{text}: {err}");
    }
}
