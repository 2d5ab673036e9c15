//! The sandbox acquirer through the `Connector` trait: the test-card table of
//! api-contract.md, idempotency, captures, voids, refunds and latency.

mod support;

use portcullis_connectors::{
    AttemptState, AuthorizeOutcome, Connector, ConnectorError, DeclineCode, DisputeNotice,
    RefundOutcome, SandboxAcquirer, SandboxOptions,
};
use portcullis_domain::cards::{CardError, CardNumber};
use std::sync::Arc;
use std::time::Duration;
use support::{approved_reference, authorize, sandbox, Ask, AMOUNT_MINOR, AUTOMATIC, MANUAL};

/// What a row of the table answers.
#[derive(Debug)]
enum Expect {
    Approved,
    Declined(DeclineCode, &'static str, &'static str),
    AuthenticationRequired,
}

const DECLINED: &str = "Your card was declined.";

fn table() -> Vec<(&'static str, Expect)> {
    use DeclineCode::{CardDeclined, ExpiredCard, IncorrectCvc, ProcessingError};
    use Expect::{Approved, AuthenticationRequired, Declined};
    vec![
        ("4242424242424242", Approved),
        ("4000056655665556", Approved),
        ("5555555555554444", Approved),
        ("5200828282828210", Approved),
        ("378282246310005", Approved),
        ("6011111111111117", Approved),
        ("4000000000000002", Declined(CardDeclined, "generic_decline", DECLINED)),
        (
            "4000000000009995",
            Declined(CardDeclined, "insufficient_funds", "Your card has insufficient funds."),
        ),
        ("4000000000009987", Declined(CardDeclined, "lost_card", DECLINED)),
        ("4000000000009979", Declined(CardDeclined, "stolen_card", DECLINED)),
        (
            "4000000000000069",
            Declined(ExpiredCard, "expired_card", "Your card has expired."),
        ),
        (
            "4000000000000127",
            Declined(IncorrectCvc, "incorrect_cvc", "Your card's security code is incorrect."),
        ),
        (
            "4000000000000119",
            Declined(
                ProcessingError,
                "processing_error",
                "An error occurred while processing your card. Try again in a little bit.",
            ),
        ),
        (
            "4000000000006975",
            Declined(
                CardDeclined,
                "card_velocity_exceeded",
                "Your card was declined for making repeated attempts too frequently or exceeding its amount limit.",
            ),
        ),
        // Risk-test cards: the gateway's risk engine blocks or flags them,
        // the acquirer approves.
        ("4100000000000019", Approved),
        ("4000000000004954", Approved),
        ("4000000000009235", Approved),
        ("4000002500003155", AuthenticationRequired),
        ("4000002760003184", AuthenticationRequired),
        ("4000008260003178", AuthenticationRequired),
        ("4000000000000259", Approved),
        ("4000000000007726", Approved),
        ("4000000000005126", Approved),
        // Not in the table: approved.
        ("4111111111111111", Approved),
        ("3530111333300000", Approved),
    ]
}

#[tokio::test]
async fn every_row_of_the_test_card_table_authorizes_as_documented() {
    let acquirer = sandbox();
    let connector: &dyn Connector = &acquirer;
    assert_eq!(connector.name(), "sandbox");
    for (index, (number, expect)) in table().into_iter().enumerate() {
        for (ask, mode) in [(MANUAL, "manual"), (AUTOMATIC, "automatic")] {
            let attempt_id = format!("pa_table_{index}_{mode}");
            let outcome = authorize(connector, &attempt_id, number, ask)
                .await
                .unwrap();
            match (&expect, &outcome) {
                (
                    Expect::Approved,
                    AuthorizeOutcome::Approved {
                        reference,
                        captured,
                        authorization_code,
                        dispute,
                        cvc_check,
                    },
                ) => {
                    assert_eq!(*captured, ask.capture, "{number}");
                    // Every call here gives a CVC, which the sandbox checks.
                    assert_eq!(
                        *cvc_check,
                        portcullis_connectors::CvcCheck::Pass,
                        "{number}"
                    );
                    assert!(!reference.is_empty() && !authorization_code.is_empty());
                    let disputed = ask.capture && number == "4000000000000259";
                    assert_eq!(dispute.is_some(), disputed, "{number}");
                    let record = connector.query(&attempt_id).await.unwrap().unwrap();
                    assert_eq!(&record.reference, reference);
                    let (state, captured_minor) = if ask.capture {
                        (AttemptState::Captured, AMOUNT_MINOR)
                    } else {
                        (AttemptState::Authorized, 0)
                    };
                    assert_eq!(
                        (record.state, record.captured_minor),
                        (state, captured_minor)
                    );
                    assert_eq!(record.authorization_code.as_ref(), Some(authorization_code));
                }
                (
                    Expect::Declined(code, decline_code, message),
                    AuthorizeOutcome::Declined(decline),
                ) => {
                    assert_eq!(decline.code, *code, "{number}");
                    assert_eq!(
                        decline.decline_code.as_deref(),
                        Some(*decline_code),
                        "{number}"
                    );
                    assert_eq!(decline.message, *message, "{number}");
                    let record = connector.query(&attempt_id).await.unwrap().unwrap();
                    assert_eq!(record.state, AttemptState::Declined);
                    assert_eq!(record.decline.as_ref(), Some(decline));
                    assert_eq!(record.captured_minor, 0);
                }
                (Expect::AuthenticationRequired, AuthorizeOutcome::AuthenticationRequired) => {
                    let record = connector.query(&attempt_id).await.unwrap().unwrap();
                    assert_eq!(record.state, AttemptState::AuthenticationRequired);
                }
                _ => panic!("{number} ({mode}): expected {expect:?}, got {outcome:?}"),
            }
        }
    }
}

#[test]
fn the_incorrect_number_card_never_reaches_the_acquirer() {
    // 4242424242424241 fails the Luhn check: no `CardNumber` exists for it.
    let error = CardNumber::parse("4242424242424241").unwrap_err();
    assert_eq!(error, CardError::IncorrectNumber);
    assert_eq!(error.code(), DeclineCode::IncorrectNumber.as_str());
}

#[test]
fn decline_codes_have_stripes_wire_names() {
    for (code, text, param) in [
        (DeclineCode::CardDeclined, "card_declined", None),
        (DeclineCode::ExpiredCard, "expired_card", Some("exp_month")),
        (DeclineCode::IncorrectCvc, "incorrect_cvc", Some("cvc")),
        (
            DeclineCode::IncorrectNumber,
            "incorrect_number",
            Some("number"),
        ),
        (DeclineCode::ProcessingError, "processing_error", None),
        (
            DeclineCode::AuthenticationRequired,
            "authentication_required",
            None,
        ),
    ] {
        assert_eq!(code.as_str(), text);
        assert_eq!(code.param(), param);
        assert_eq!(serde_json::to_string(&code).unwrap(), format!("\"{text}\""));
    }
}

#[tokio::test]
async fn challenge_cards_continue_on_the_same_attempt_once_authenticated() {
    let acquirer = sandbox();
    let authenticated = Ask {
        authenticated: true,
        ..MANUAL
    };
    for number in ["4000002500003155", "4000002760003184"] {
        let attempt_id = format!("pa_challenge_{number}");
        let first = authorize(&acquirer, &attempt_id, number, MANUAL)
            .await
            .unwrap();
        assert_eq!(first, AuthorizeOutcome::AuthenticationRequired, "{number}");
        let waiting = acquirer.query(&attempt_id).await.unwrap().unwrap();
        // A repeat without authentication still waits.
        let again = authorize(&acquirer, &attempt_id, number, MANUAL)
            .await
            .unwrap();
        assert_eq!(again, AuthorizeOutcome::AuthenticationRequired);
        let reference = approved_reference(&acquirer, &attempt_id, number, authenticated).await;
        assert_eq!(reference, waiting.reference, "continued, not a new attempt");
        let record = acquirer.query(&attempt_id).await.unwrap().unwrap();
        assert_eq!(record.state, AttemptState::Authorized);
        // A new attempt that arrives authenticated is approved at once.
        approved_reference(&acquirer, &format!("{attempt_id}_b"), number, authenticated).await;
    }

    let attempt_id = "pa_challenge_then_decline";
    let number = "4000008260003178";
    let first = authorize(&acquirer, attempt_id, number, MANUAL)
        .await
        .unwrap();
    assert_eq!(first, AuthorizeOutcome::AuthenticationRequired);
    match authorize(&acquirer, attempt_id, number, authenticated)
        .await
        .unwrap()
    {
        AuthorizeOutcome::Declined(decline) => {
            assert_eq!(decline.code, DeclineCode::CardDeclined);
            assert_eq!(decline.decline_code.as_deref(), Some("insufficient_funds"));
        }
        other => panic!("expected insufficient funds, got {other:?}"),
    }
    let record = acquirer.query(attempt_id).await.unwrap().unwrap();
    assert_eq!(record.state, AttemptState::Declined);
}

#[tokio::test]
async fn challenge_cards_off_session_decline_with_authentication_required() {
    let acquirer = sandbox();
    let off_session = Ask {
        off_session: true,
        ..AUTOMATIC
    };
    for number in ["4000002500003155", "4000002760003184", "4000008260003178"] {
        let attempt_id = format!("pa_off_{number}");
        match authorize(&acquirer, &attempt_id, number, off_session)
            .await
            .unwrap()
        {
            AuthorizeOutcome::Declined(decline) => {
                assert_eq!(
                    decline.code,
                    DeclineCode::AuthenticationRequired,
                    "{number}"
                );
                assert_eq!(
                    decline.decline_code.as_deref(),
                    Some("authentication_required")
                );
            }
            other => panic!("{number}: expected a decline, got {other:?}"),
        }
    }
    // Authenticated beforehand (e.g. when the card was saved), off session
    // goes through.
    let authenticated_off_session = Ask {
        authenticated: true,
        ..off_session
    };
    approved_reference(
        &acquirer,
        "pa_off_ok",
        "4000002500003155",
        authenticated_off_session,
    )
    .await;
}

#[tokio::test]
async fn the_disputed_card_reports_a_fraudulent_dispute_on_its_capture() {
    let acquirer = sandbox();
    let number = "4000000000000259";
    let reference = approved_reference(&acquirer, "pa_dispute_manual", number, MANUAL).await;
    let capture = acquirer.capture(&reference, 1500).await.unwrap();
    let fraudulent = |amount_minor| DisputeNotice {
        reason: "fraudulent".into(),
        amount_minor,
    };
    assert_eq!(capture.captured_minor, 1500);
    assert_eq!(capture.dispute, Some(fraudulent(1500)));
    let record = acquirer.query("pa_dispute_manual").await.unwrap().unwrap();
    assert_eq!(record.dispute, Some(fraudulent(1500)));

    match authorize(&acquirer, "pa_dispute_auto", number, AUTOMATIC)
        .await
        .unwrap()
    {
        AuthorizeOutcome::Approved {
            captured: true,
            dispute,
            ..
        } => assert_eq!(dispute, Some(fraudulent(AMOUNT_MINOR))),
        other => panic!("expected a captured approval, got {other:?}"),
    }

    // Other cards are never disputed.
    let reference = approved_reference(&acquirer, "pa_plain", "4242424242424242", MANUAL).await;
    assert_eq!(
        acquirer
            .capture(&reference, AMOUNT_MINOR)
            .await
            .unwrap()
            .dispute,
        None
    );
}

#[tokio::test]
async fn authorize_is_idempotent_per_attempt_id() {
    let acquirer = sandbox();
    let first = authorize(&acquirer, "pa_same", "4242424242424242", MANUAL)
        .await
        .unwrap();
    let second = authorize(&acquirer, "pa_same", "4242424242424242", MANUAL)
        .await
        .unwrap();
    assert_eq!(first, second, "same reference and authorization code");
    let declined = authorize(&acquirer, "pa_declined", "4000000000000002", MANUAL)
        .await
        .unwrap();
    let again = authorize(&acquirer, "pa_declined", "4000000000000002", MANUAL)
        .await
        .unwrap();
    assert_eq!(declined, again);

    // The repeat is the same authorization: one capture of the full amount.
    let AuthorizeOutcome::Approved { reference, .. } = first else {
        panic!("expected an approval");
    };
    acquirer.capture(&reference, AMOUNT_MINOR).await.unwrap();
    let after_capture = authorize(&acquirer, "pa_same", "4242424242424242", MANUAL)
        .await
        .unwrap();
    assert_eq!(
        after_capture, second,
        "the recorded answer, not a new authorization"
    );

    // The same attempt id with other parameters is a caller's bug.
    let other_amount = Ask {
        amount_minor: 999,
        ..MANUAL
    };
    for (number, ask) in [
        ("4242424242424242", other_amount),
        ("5555555555554444", MANUAL),
        ("4242424242424242", AUTOMATIC),
    ] {
        let error = authorize(&acquirer, "pa_same", number, ask)
            .await
            .unwrap_err();
        assert!(matches!(error, ConnectorError::Refused(_)), "{error:?}");
        assert!(!error.outcome_is_unknown());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_repeats_of_an_attempt_make_one_authorization() {
    let acquirer = Arc::new(sandbox());
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let acquirer = Arc::clone(&acquirer);
            tokio::spawn(async move {
                authorize(acquirer.as_ref(), "pa_race", "4242424242424242", MANUAL)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    assert!(outcomes.windows(2).all(|pair| pair[0] == pair[1]));
}

#[tokio::test]
async fn a_partial_capture_is_allowed_once() {
    let acquirer = sandbox();
    let reference = approved_reference(&acquirer, "pa_partial", "4242424242424242", MANUAL).await;
    let outcome = acquirer.capture(&reference, 1200).await.unwrap();
    assert_eq!((outcome.captured_minor, outcome.dispute), (1200, None));
    let record = acquirer.query("pa_partial").await.unwrap().unwrap();
    assert_eq!(record.state, AttemptState::Captured);
    assert_eq!(
        (record.amount_minor, record.captured_minor),
        (AMOUNT_MINOR, 1200)
    );
    let second = acquirer.capture(&reference, 100).await.unwrap_err();
    assert!(matches!(second, ConnectorError::Refused(_)), "{second:?}");
}

#[tokio::test]
async fn captures_outside_the_authorization_are_refused() {
    let acquirer = sandbox();
    let reference = approved_reference(&acquirer, "pa_over", "4242424242424242", MANUAL).await;
    for amount_minor in [AMOUNT_MINOR + 1, 0, -5, i64::MAX] {
        let error = acquirer
            .capture(&reference, amount_minor)
            .await
            .unwrap_err();
        assert!(
            matches!(error, ConnectorError::Refused(_)),
            "{amount_minor}: {error:?}"
        );
    }
    let record = acquirer.query("pa_over").await.unwrap().unwrap();
    assert_eq!(record.state, AttemptState::Authorized, "nothing captured");
    acquirer.capture(&reference, AMOUNT_MINOR).await.unwrap();

    let unknown = acquirer.capture("sbx_nope", 100).await.unwrap_err();
    assert_eq!(unknown, ConnectorError::UnknownReference("sbx_nope".into()));
    assert!(!unknown.outcome_is_unknown());

    let auto = approved_reference(&acquirer, "pa_auto", "4242424242424242", AUTOMATIC).await;
    let error = acquirer.capture(&auto, 100).await.unwrap_err();
    assert!(
        matches!(error, ConnectorError::Refused(_)),
        "already captured"
    );

    authorize(&acquirer, "pa_waiting", "4000002500003155", MANUAL)
        .await
        .unwrap();
    let waiting = acquirer.query("pa_waiting").await.unwrap().unwrap();
    let error = acquirer.capture(&waiting.reference, 100).await.unwrap_err();
    assert!(matches!(error, ConnectorError::Refused(_)), "not approved");
}

#[tokio::test]
async fn void_releases_an_authorization_and_nothing_else() {
    let acquirer = sandbox();
    let reference = approved_reference(&acquirer, "pa_void", "4242424242424242", MANUAL).await;
    acquirer.void(&reference).await.unwrap();
    acquirer.void(&reference).await.unwrap();
    let record = acquirer.query("pa_void").await.unwrap().unwrap();
    assert_eq!(record.state, AttemptState::Voided);
    let error = acquirer.capture(&reference, 100).await.unwrap_err();
    assert!(
        matches!(error, ConnectorError::Refused(_)),
        "capture after void"
    );
    let error = acquirer
        .refund(&reference, "re_void", 100)
        .await
        .unwrap_err();
    assert!(
        matches!(error, ConnectorError::Refused(_)),
        "refund after void"
    );

    let captured =
        approved_reference(&acquirer, "pa_void_captured", "4242424242424242", AUTOMATIC).await;
    let error = acquirer.void(&captured).await.unwrap_err();
    assert!(matches!(error, ConnectorError::Refused(_)), "{error:?}");
    let record = acquirer.query("pa_void_captured").await.unwrap().unwrap();
    assert_eq!(record.state, AttemptState::Captured);

    let unknown = acquirer.void("sbx_nope").await.unwrap_err();
    assert!(matches!(unknown, ConnectorError::UnknownReference(_)));

    // Voiding an attempt that waits for authentication ends it.
    let number = "4000002500003155";
    authorize(&acquirer, "pa_void_waiting", number, MANUAL)
        .await
        .unwrap();
    let waiting = acquirer.query("pa_void_waiting").await.unwrap().unwrap();
    acquirer.void(&waiting.reference).await.unwrap();
    let authenticated = Ask {
        authenticated: true,
        ..MANUAL
    };
    let error = authorize(&acquirer, "pa_void_waiting", number, authenticated)
        .await
        .unwrap_err();
    assert!(matches!(error, ConnectorError::Refused(_)), "{error:?}");
}

#[tokio::test]
async fn refunds_never_sum_above_the_captured_amount() {
    let acquirer = sandbox();
    let reference = approved_reference(&acquirer, "pa_refund", "4242424242424242", MANUAL).await;
    let error = acquirer
        .refund(&reference, "re_early", 100)
        .await
        .unwrap_err();
    assert!(
        matches!(error, ConnectorError::Refused(_)),
        "refund before capture"
    );
    acquirer.capture(&reference, 1500).await.unwrap();

    assert_eq!(
        acquirer.refund(&reference, "re_1", 1000).await.unwrap(),
        RefundOutcome::Succeeded
    );
    let error = acquirer.refund(&reference, "re_2", 501).await.unwrap_err();
    assert!(matches!(error, ConnectorError::Refused(_)), "{error:?}");
    for amount_minor in [0, -1] {
        let error = acquirer
            .refund(&reference, "re_bad", amount_minor)
            .await
            .unwrap_err();
        assert!(
            matches!(error, ConnectorError::Refused(_)),
            "{amount_minor}"
        );
    }
    assert_eq!(
        acquirer.refund(&reference, "re_3", 500).await.unwrap(),
        RefundOutcome::Succeeded
    );
    let error = acquirer.refund(&reference, "re_4", 1).await.unwrap_err();
    assert!(
        matches!(error, ConnectorError::Refused(_)),
        "fully refunded"
    );
    let error = acquirer
        .refund(&reference, "re_5", i64::MAX)
        .await
        .unwrap_err();
    assert!(matches!(error, ConnectorError::Refused(_)), "no overflow");

    let unknown = acquirer.refund("sbx_nope", "re_6", 1).await.unwrap_err();
    assert!(matches!(unknown, ConnectorError::UnknownReference(_)));
    let unknown = acquirer.refund_status("re_never").await.unwrap_err();
    assert!(matches!(unknown, ConnectorError::UnknownReference(_)));
}

#[tokio::test]
async fn a_repeated_refund_id_refunds_once() {
    let acquirer = sandbox();
    let reference =
        approved_reference(&acquirer, "pa_re_idem", "4242424242424242", AUTOMATIC).await;
    for _ in 0..3 {
        let outcome = acquirer
            .refund(&reference, "re_once", AMOUNT_MINOR)
            .await
            .unwrap();
        assert_eq!(outcome, RefundOutcome::Succeeded);
    }
    let error = acquirer.refund(&reference, "re_more", 1).await.unwrap_err();
    assert!(matches!(error, ConnectorError::Refused(_)), "counted once");
    let error = acquirer.refund(&reference, "re_once", 1).await.unwrap_err();
    assert!(
        matches!(error, ConnectorError::Refused(_)),
        "same id, other amount"
    );
    let other = approved_reference(&acquirer, "pa_re_other", "4242424242424242", AUTOMATIC).await;
    let error = acquirer
        .refund(&other, "re_once", AMOUNT_MINOR)
        .await
        .unwrap_err();
    assert!(
        matches!(error, ConnectorError::Refused(_)),
        "same id, other payment"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_partial_refunds_never_sum_above_the_capture() {
    let acquirer = Arc::new(sandbox());
    let reference = approved_reference(
        acquirer.as_ref(),
        "pa_race_refund",
        "4242424242424242",
        AUTOMATIC,
    )
    .await;
    let tasks: Vec<_> = (0..20)
        .map(|index| {
            let (acquirer, reference) = (Arc::clone(&acquirer), reference.clone());
            tokio::spawn(async move {
                acquirer
                    .refund(&reference, &format!("re_{index}"), 300)
                    .await
            })
        })
        .collect();
    let mut succeeded = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(RefundOutcome::Succeeded) => succeeded += 1,
            Err(ConnectorError::Refused(_)) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(succeeded, AMOUNT_MINOR / 300);
}

#[tokio::test(start_paused = true)]
async fn a_pending_refund_settles_to_succeeded_after_the_delay() {
    let acquirer = sandbox();
    let reference =
        approved_reference(&acquirer, "pa_pending", "4000000000007726", AUTOMATIC).await;
    assert_eq!(
        acquirer
            .refund(&reference, "re_pending", 700)
            .await
            .unwrap(),
        RefundOutcome::Pending
    );
    assert_eq!(
        acquirer.refund_status("re_pending").await.unwrap(),
        RefundOutcome::Pending
    );
    tokio::time::advance(Duration::from_millis(1999)).await;
    assert_eq!(
        acquirer.refund_status("re_pending").await.unwrap(),
        RefundOutcome::Pending
    );
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(
        acquirer.refund_status("re_pending").await.unwrap(),
        RefundOutcome::Succeeded
    );
    tokio::time::advance(Duration::from_secs(60)).await;
    assert_eq!(
        acquirer.refund_status("re_pending").await.unwrap(),
        RefundOutcome::Succeeded
    );
    // A repeat answers the current status and refunds nothing more.
    assert_eq!(
        acquirer
            .refund(&reference, "re_pending", 700)
            .await
            .unwrap(),
        RefundOutcome::Succeeded
    );
    // Pending refunds count against the capture.
    assert_eq!(
        acquirer.refund(&reference, "re_rest", 1300).await.unwrap(),
        RefundOutcome::Pending
    );
    assert!(acquirer.refund(&reference, "re_over", 1).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn a_succeeded_refund_of_the_failing_card_fails_later_and_frees_its_amount() {
    let acquirer = sandbox();
    let reference = approved_reference(&acquirer, "pa_fails", "4000000000005126", AUTOMATIC).await;
    let full = AMOUNT_MINOR;
    assert_eq!(
        acquirer.refund(&reference, "re_fails", full).await.unwrap(),
        RefundOutcome::Succeeded
    );
    assert_eq!(
        acquirer.refund_status("re_fails").await.unwrap(),
        RefundOutcome::Succeeded
    );
    assert!(acquirer
        .refund(&reference, "re_too_early", 1)
        .await
        .is_err());
    tokio::time::advance(Duration::from_secs(2)).await;
    let failed = RefundOutcome::Failed {
        reason: "expired_or_canceled_card".into(),
    };
    assert_eq!(acquirer.refund_status("re_fails").await.unwrap(), failed);
    // The failed refund no longer counts: the amount can be refunded again.
    assert_eq!(
        acquirer.refund(&reference, "re_retry", full).await.unwrap(),
        RefundOutcome::Succeeded
    );
    assert_eq!(acquirer.refund_status("re_fails").await.unwrap(), failed);
}

#[tokio::test(start_paused = true)]
async fn the_refund_settle_delay_is_configurable() {
    let acquirer = SandboxAcquirer::new(SandboxOptions {
        refund_settle_delay: Duration::from_secs(30),
        ..SandboxOptions::default()
    })
    .unwrap();
    let reference = approved_reference(&acquirer, "pa_slow", "4000000000007726", AUTOMATIC).await;
    acquirer.refund(&reference, "re_slow", 100).await.unwrap();
    tokio::time::advance(Duration::from_secs(29)).await;
    assert_eq!(
        acquirer.refund_status("re_slow").await.unwrap(),
        RefundOutcome::Pending
    );
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(
        acquirer.refund_status("re_slow").await.unwrap(),
        RefundOutcome::Succeeded
    );
}

#[tokio::test(start_paused = true)]
async fn other_cards_refund_at_once_and_stay_succeeded() {
    let acquirer = sandbox();
    let reference = approved_reference(&acquirer, "pa_now", "5555555555554444", AUTOMATIC).await;
    assert_eq!(
        acquirer.refund(&reference, "re_now", 100).await.unwrap(),
        RefundOutcome::Succeeded
    );
    tokio::time::advance(Duration::from_secs(3600)).await;
    assert_eq!(
        acquirer.refund_status("re_now").await.unwrap(),
        RefundOutcome::Succeeded
    );
}

#[tokio::test(start_paused = true)]
async fn each_answer_takes_the_configured_latency() {
    let latency = Duration::from_millis(250);
    let acquirer = SandboxAcquirer::new(SandboxOptions {
        call_latency: latency,
        ..SandboxOptions::default()
    })
    .unwrap();
    let started = tokio::time::Instant::now();
    let reference = approved_reference(&acquirer, "pa_latency", "4242424242424242", MANUAL).await;
    assert_eq!(started.elapsed(), latency);
    acquirer.capture(&reference, 100).await.unwrap();
    acquirer.query("pa_latency").await.unwrap();
    assert_eq!(started.elapsed(), latency * 3);

    let instant = sandbox();
    let started = tokio::time::Instant::now();
    approved_reference(&instant, "pa_instant", "4242424242424242", MANUAL).await;
    assert_eq!(started.elapsed(), Duration::ZERO, "no latency by default");
}

#[tokio::test]
async fn the_oldest_attempts_are_forgotten_beyond_the_bound() {
    let acquirer = SandboxAcquirer::new(SandboxOptions {
        attempts_max: 2,
        ..SandboxOptions::default()
    })
    .unwrap();
    let first = approved_reference(&acquirer, "pa_1", "4242424242424242", AUTOMATIC).await;
    acquirer.refund(&first, "re_1", 100).await.unwrap();
    approved_reference(&acquirer, "pa_2", "4242424242424242", MANUAL).await;
    approved_reference(&acquirer, "pa_3", "4242424242424242", MANUAL).await;
    assert_eq!(acquirer.query("pa_1").await.unwrap(), None);
    assert!(matches!(
        acquirer.refund_status("re_1").await,
        Err(ConnectorError::UnknownReference(_))
    ));
    assert!(acquirer.query("pa_2").await.unwrap().is_some());
    assert!(acquirer.query("pa_3").await.unwrap().is_some());
}

#[tokio::test]
async fn bad_requests_are_refused_without_a_trace() {
    let acquirer = sandbox();
    for amount_minor in [0, -1, 100_000_000] {
        let ask = Ask {
            amount_minor,
            ..MANUAL
        };
        let error = authorize(&acquirer, "pa_bad", "4242424242424242", ask)
            .await
            .unwrap_err();
        assert!(
            matches!(error, ConnectorError::Refused(_)),
            "{amount_minor}"
        );
    }
    let error = authorize(&acquirer, "", "4242424242424242", MANUAL)
        .await
        .unwrap_err();
    assert!(matches!(error, ConnectorError::Refused(_)));
    assert_eq!(acquirer.query("pa_bad").await.unwrap(), None);
    assert_eq!(acquirer.query("pa_never_seen").await.unwrap(), None);
}

#[tokio::test(start_paused = true)]
async fn a_pending_refund_can_be_canceled_and_then_no_longer_counts() {
    let acquirer = sandbox();
    let reference = approved_reference(&acquirer, "pa_cancel", "4000000000007726", AUTOMATIC).await;
    assert_eq!(
        acquirer.refund(&reference, "re_cancel", 700).await.unwrap(),
        RefundOutcome::Pending
    );
    assert!(acquirer.cancel_refund("re_cancel").await.unwrap());
    tokio::time::advance(Duration::from_secs(60)).await;
    assert!(matches!(
        acquirer.refund_status("re_cancel").await.unwrap(),
        RefundOutcome::Failed { .. }
    ));
    assert!(
        !acquirer.cancel_refund("re_cancel").await.unwrap(),
        "a settled refund stays as it is"
    );
    // The canceled amount may be refunded again.
    assert_eq!(
        acquirer
            .refund(&reference, "re_again", AMOUNT_MINOR)
            .await
            .unwrap(),
        RefundOutcome::Pending
    );
}

#[tokio::test(start_paused = true)]
async fn a_settled_refund_cannot_be_canceled() {
    let acquirer = sandbox();
    let reference =
        approved_reference(&acquirer, "pa_settled", "4242424242424242", AUTOMATIC).await;
    assert_eq!(
        acquirer.refund(&reference, "re_done", 700).await.unwrap(),
        RefundOutcome::Succeeded
    );
    assert!(!acquirer.cancel_refund("re_done").await.unwrap());
    assert!(matches!(
        acquirer.cancel_refund("re_nosuch").await,
        Err(ConnectorError::UnknownReference(_))
    ));
}
