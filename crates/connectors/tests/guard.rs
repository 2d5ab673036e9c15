//! `Guarded`: an acquirer answering garbage, a wrong amount or nothing at all
//! never yields an approval; its answers become errors whose outcome is
//! unknown, to be resolved with `query`.

mod support;

use portcullis_connectors::{
    AttemptRecord, AttemptState, AuthorizeOutcome, AuthorizeRequest, CaptureOutcome, Connector,
    ConnectorError, Decline, DeclineCode, DisputeNotice, Guarded, RefundOutcome, SandboxAcquirer,
    SandboxOptions,
};
use std::time::Duration;
use support::{approved_reference, authorize, sandbox, usd, AMOUNT_MINOR, AUTOMATIC, MANUAL};

/// A connector that answers whatever it is told to.
#[derive(Clone, Debug)]
struct Scripted {
    authorize: AuthorizeOutcome,
    capture: CaptureOutcome,
    refund: RefundOutcome,
    record: Option<AttemptRecord>,
}

impl Default for Scripted {
    fn default() -> Self {
        Scripted {
            authorize: AuthorizeOutcome::Approved {
                reference: "ref_1".into(),
                captured: false,
                authorization_code: "A1B2C3".into(),
                dispute: None,
                cvc_check: Default::default(),
            },
            capture: CaptureOutcome {
                captured_minor: AMOUNT_MINOR,
                dispute: None,
            },
            refund: RefundOutcome::Succeeded,
            record: None,
        }
    }
}

#[async_trait::async_trait]
impl Connector for Scripted {
    fn name(&self) -> &'static str {
        "scripted"
    }
    async fn authorize(
        &self,
        _: &AuthorizeRequest<'_>,
    ) -> Result<AuthorizeOutcome, ConnectorError> {
        Ok(self.authorize.clone())
    }
    async fn capture(&self, _: &str, _: i64) -> Result<CaptureOutcome, ConnectorError> {
        Ok(self.capture.clone())
    }
    async fn void(&self, _: &str) -> Result<(), ConnectorError> {
        Ok(())
    }
    async fn refund(&self, _: &str, _: &str, _: i64) -> Result<RefundOutcome, ConnectorError> {
        Ok(self.refund.clone())
    }
    async fn refund_status(&self, _: &str) -> Result<RefundOutcome, ConnectorError> {
        Ok(self.refund.clone())
    }
    async fn cancel_refund(&self, _: &str) -> Result<bool, ConnectorError> {
        Ok(false)
    }
    async fn query(&self, _: &str) -> Result<Option<AttemptRecord>, ConnectorError> {
        Ok(self.record.clone())
    }
}

fn guarded(scripted: Scripted) -> Guarded<Scripted> {
    Guarded::new(scripted, Duration::from_secs(5))
}

fn assert_unknown(result: Result<impl std::fmt::Debug, ConnectorError>) {
    match result {
        Err(error @ ConnectorError::InvalidResponse(_)) => assert!(error.outcome_is_unknown()),
        other => panic!("expected an invalid response, got {other:?}"),
    }
}

fn approved(
    reference: &str,
    captured: bool,
    code: &str,
    dispute: Option<DisputeNotice>,
) -> AuthorizeOutcome {
    AuthorizeOutcome::Approved {
        reference: reference.into(),
        captured,
        authorization_code: code.into(),
        dispute,
        cvc_check: Default::default(),
    }
}

#[tokio::test]
async fn a_well_formed_approval_passes_through() {
    let connector = guarded(Scripted::default());
    assert_eq!(connector.name(), "scripted");
    let outcome = authorize(&connector, "pa_ok", "4242424242424242", MANUAL)
        .await
        .unwrap();
    assert_eq!(outcome, Scripted::default().authorize);
}

#[tokio::test]
async fn malformed_or_contradictory_approvals_are_never_approvals() {
    let fraud = |amount_minor| {
        Some(DisputeNotice {
            reason: "fraudulent".into(),
            amount_minor,
        })
    };
    let long = "x".repeat(256);
    for outcome in [
        approved("", false, "A1B2C3", None),
        approved("ref with spaces", false, "A1B2C3", None),
        approved(&long, false, "A1B2C3", None),
        approved("ref_1", false, "", None),
        approved("ref_1", false, "A1-B2", None),
        approved("ref_1", true, "A1B2C3", None), // captured, though not asked
        approved("ref_1", false, "A1B2C3", fraud(100)), // dispute without capture
    ] {
        let connector = guarded(Scripted {
            authorize: outcome,
            ..Scripted::default()
        });
        assert_unknown(authorize(&connector, "pa_bad", "4242424242424242", MANUAL).await);
    }
    // Asked to capture, answered "not captured"; or a dispute above the amount.
    for outcome in [
        approved("ref_1", false, "A1B2C3", None),
        approved("ref_1", true, "A1B2C3", fraud(AMOUNT_MINOR + 1)),
    ] {
        let connector = guarded(Scripted {
            authorize: outcome,
            ..Scripted::default()
        });
        assert_unknown(authorize(&connector, "pa_bad", "4242424242424242", AUTOMATIC).await);
    }
}

#[tokio::test]
async fn malformed_declines_are_reported_as_invalid() {
    for (decline_code, message) in [
        (Some("Generic Decline"), "Your card was declined."),
        (Some("generic_decline"), ""),
        (None, "line\nbreak"),
    ] {
        let connector = guarded(Scripted {
            authorize: AuthorizeOutcome::Declined(Decline {
                code: DeclineCode::CardDeclined,
                decline_code: decline_code.map(str::to_owned),
                message: message.into(),
                network_decline_code: None,
            }),
            ..Scripted::default()
        });
        assert_unknown(authorize(&connector, "pa_decline", "4242424242424242", MANUAL).await);
    }
}

#[tokio::test]
async fn a_capture_of_a_different_amount_is_invalid() {
    let connector = guarded(Scripted::default());
    assert_eq!(
        connector
            .capture("ref_1", AMOUNT_MINOR)
            .await
            .unwrap()
            .captured_minor,
        AMOUNT_MINOR
    );
    assert_unknown(connector.capture("ref_1", 1500).await);
}

#[tokio::test]
async fn inconsistent_attempt_records_are_invalid() {
    let good = AttemptRecord {
        reference: "ref_1".into(),
        state: AttemptState::Captured,
        amount_minor: AMOUNT_MINOR,
        currency: usd(),
        captured_minor: AMOUNT_MINOR,
        authorization_code: Some("A1B2C3".into()),
        decline: None,
        dispute: None,
    };
    let connector = guarded(Scripted {
        record: Some(good.clone()),
        ..Scripted::default()
    });
    assert_eq!(connector.query("pa_1").await.unwrap(), Some(good.clone()));
    for record in [
        AttemptRecord {
            captured_minor: AMOUNT_MINOR + 1,
            ..good.clone()
        },
        AttemptRecord {
            state: AttemptState::Authorized,
            ..good.clone()
        },
        AttemptRecord {
            captured_minor: 0,
            ..good.clone()
        },
        AttemptRecord {
            reference: String::new(),
            ..good.clone()
        },
    ] {
        let connector = guarded(Scripted {
            record: Some(record),
            ..Scripted::default()
        });
        assert_unknown(connector.query("pa_1").await);
    }
}

#[tokio::test]
async fn malformed_refund_failures_are_invalid() {
    let connector = guarded(Scripted {
        refund: RefundOutcome::Failed {
            reason: "Card Gone!".into(),
        },
        ..Scripted::default()
    });
    assert_unknown(connector.refund("ref_1", "re_1", 100).await);
    assert_unknown(connector.refund_status("re_1").await);
}

#[tokio::test(start_paused = true)]
async fn an_answer_that_never_comes_is_a_timeout_and_query_finds_what_happened() {
    let acquirer = SandboxAcquirer::new(SandboxOptions {
        call_latency: Duration::from_secs(10),
        ..SandboxOptions::default()
    })
    .unwrap();
    let connector = Guarded::new(acquirer, Duration::from_secs(1));
    let error = authorize(&connector, "pa_slow", "4242424242424242", MANUAL)
        .await
        .unwrap_err();
    assert_eq!(error, ConnectorError::Timeout);
    assert!(error.outcome_is_unknown());
    // The acquirer acted; only its answer was lost. Recovery asks directly.
    let record = connector.inner().query("pa_slow").await.unwrap().unwrap();
    assert_eq!(record.state, AttemptState::Authorized);
}

#[tokio::test]
async fn the_sandbox_passes_the_guard_untouched() {
    let shared: std::sync::Arc<dyn Connector> = std::sync::Arc::new(sandbox());
    let connector = Guarded::new(shared, Duration::from_secs(5));
    assert_eq!(connector.name(), "sandbox");
    let reference = approved_reference(&connector, "pa_g", "4000000000000259", MANUAL).await;
    let capture = connector.capture(&reference, 1500).await.unwrap();
    assert!(capture.dispute.is_some());
    connector.refund(&reference, "re_g", 100).await.unwrap();
    let record = connector.query("pa_g").await.unwrap().unwrap();
    assert_eq!(record.captured_minor, 1500);
    for number in ["4000000000000002", "4000000000000127", "4000000000000119"] {
        let outcome = authorize(&connector, &format!("pa_g_{number}"), number, AUTOMATIC)
            .await
            .unwrap();
        assert!(matches!(outcome, AuthorizeOutcome::Declined(_)), "{number}");
    }
}
