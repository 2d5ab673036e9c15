use super::*;
use crate::signals::SignalValue as V;

fn signals(pairs: &[(Signal, V)]) -> Signals {
    let mut signals = Signals::default();
    for (signal, value) in pairs {
        signals.set(*signal, value.clone());
    }
    signals
}

fn set(rules: &[(&str, &str)]) -> RuleSet {
    RuleSet::new(
        rules
            .iter()
            .map(|(id, text)| (id.to_string(), Arc::new(Rule::parse(text).unwrap())))
            .collect(),
    )
}

#[test]
fn the_examples_of_the_issue_parse() {
    for text in [
        "block if :card_country: != :ip_country: and :amount_in_usd: > 500",
        "review if :authorized_charges_per_card_number_hourly: > 3",
        "request_3ds if :risk_score: >= 65",
        "allow if :card_fingerprint: in @trusted_cards",
        "block if not (:ip_country: = 'US' or :ip_country: = \"CA\") and :impossible_travel:",
        "review if :email: not in @watched and :amount: >= 0.5",
    ] {
        Rule::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    }
}

#[test]
fn errors_name_line_column_and_expected_token() {
    let err = Rule::parse("block if :amount_in_usd: 500").unwrap_err();
    assert_eq!((err.line, err.column), (1, 26));
    assert!(err.expected.contains("comparison operator"), "{err}");
    assert_eq!(err.found, "a number");

    let err = Rule::parse("block if\n  :amount_in_usd: > 5 and\n  :nonsense: = 1").unwrap_err();
    assert_eq!((err.line, err.column), (3, 3));
    assert!(err.expected.contains("known signal"), "{err}");

    let err = Rule::parse("deny if :amount: > 1").unwrap_err();
    assert_eq!((err.line, err.column), (1, 1));
    assert!(err.expected.contains("'block'"), "{err}");

    let err = Rule::parse("block when :amount: > 1").unwrap_err();
    assert_eq!(
        (err.line, err.column, err.expected.as_str()),
        (1, 7, "'if'")
    );

    let err = Rule::parse("block if (:amount: > 1").unwrap_err();
    assert_eq!(
        (err.line, err.column, err.expected.as_str()),
        (1, 23, "')'")
    );

    let err = Rule::parse("block if :ip_country: > 'US'").unwrap_err();
    assert_eq!((err.line, err.column), (1, 23));
    assert!(err.expected.contains("only numbers are ordered"), "{err}");

    let err = Rule::parse("block if :amount: = 'ten'").unwrap_err();
    assert_eq!((err.line, err.column), (1, 21));

    let err = Rule::parse("block if :amount: > 5 5").unwrap_err();
    assert!(err.expected.contains("'and', 'or'"), "{err}");
    assert_eq!(
        err.to_string(),
        "line 1, column 23: expected 'and', 'or' or the end of the rule, found a number"
    );
}

#[test]
fn unknown_signals_never_fire_a_rule() {
    let rules = set(&[("r1", "block if :ip_country: != 'US'")]);
    let decision = rules.evaluate(&signals(&[]), &Memberships::default());
    assert_eq!(decision.action, Action::Allow);
    let rules = set(&[("r1", "block if not (:ip_country: = 'US')")]);
    let decision = rules.evaluate(&signals(&[]), &Memberships::default());
    assert_eq!(decision.action, Action::Allow);
    // A known false term decides an `and` even beside an unknown one.
    let rules = set(&[(
        "r1",
        "block if not (:ip_country: = 'US' and :amount: > 100)",
    )]);
    let s = signals(&[(Signal::Amount, V::count(5))]);
    assert_eq!(
        rules.evaluate(&s, &Memberships::default()).action,
        Action::Block
    );
}

#[test]
fn actions_run_in_the_fixed_order() {
    let rules = set(&[
        ("review_big", "review if :amount: > 10"),
        ("block_big", "block if :amount: > 10"),
        (
            "allow_trusted",
            "allow if :card_fingerprint: in @trusted_cards",
        ),
        ("challenge_big", "request_3ds if :amount: > 10"),
    ]);
    let mut s = signals(&[
        (Signal::Amount, V::count(50)),
        (Signal::CardFingerprint, V::text("fp1")),
    ]);
    let mut lists = Memberships::default();
    let first = rules.evaluate(&s, &lists);
    assert_eq!(
        (first.action, first.rule_id.as_deref()),
        (Action::RequestThreeDs, Some("challenge_big"))
    );
    s.set(Signal::IsAuthenticated, V::Bool(true));
    assert_eq!(rules.evaluate(&s, &lists).action, Action::Block);
    lists.insert("trusted_cards", "fp1");
    let allowed = rules.evaluate(&s, &lists);
    assert_eq!(
        (allowed.action, allowed.rule_id.as_deref()),
        (Action::Allow, Some("allow_trusted"))
    );
    assert_eq!(allowed.signals, vec![Signal::CardFingerprint]);
}

#[test]
fn comparisons_follow_their_types() {
    let s = signals(&[
        (Signal::AmountInUsd, V::Number(500_010_000)),
        (Signal::CardCountry, V::text("US")),
        (Signal::IpCountry, V::text("jp")),
        (Signal::ImpossibleTravel, V::Bool(true)),
        (Signal::IsOffSession, V::Bool(false)),
    ]);
    let lists = Memberships::default();
    let fires = |text: &str| matches(&Rule::parse(text).unwrap(), &s, &lists) == Some(true);
    assert!(fires(
        "block if :card_country: != :ip_country: and :amount_in_usd: > 500"
    ));
    assert!(!fires("block if :amount_in_usd: > 500.01"));
    assert!(fires("block if :amount_in_usd: >= 500.01"));
    assert!(fires("block if :ip_country: = 'JP'"));
    assert!(fires("block if :impossible_travel:"));
    assert!(fires(
        "block if :impossible_travel: = true and not :is_off_session: = true or :amount: < 1"
    ));
}
