//! `portcullis processor-sim` and the `processor` connector: signed
//! requests and answers (checked by Python's own `hmac` too), idempotency
//! keys, the test-card table, the approval rate and faults changed live, and
//! a journal that survives a restart. No database is involved.

mod support;

use portcullis_connectors::{
    AttemptState, AuthorizeOutcome, AuthorizeRequest, CardData, Connector, ConnectorError,
    Processor,
};
use portcullis_domain::cards::{CardExpiry, CardNumber};
use portcullis_domain::money::Currency;
use serde_json::json;
use std::time::Duration;
use support::processor_sim::ProcessorSim;

const SECRET: &str = "whsec_processor_test_secret";
const TIMEOUT: Duration = Duration::from_secs(3);

fn journal() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("processor.journal");
    (dir, path)
}

async fn authorize(
    processor: &Processor,
    attempt_id: &str,
    number: &str,
    capture: bool,
) -> Result<AuthorizeOutcome, ConnectorError> {
    let number = CardNumber::parse(number).unwrap();
    let request = AuthorizeRequest {
        attempt_id,
        merchant_id: "acct_test",
        amount_minor: 2_500,
        currency: Currency::parse("usd").unwrap(),
        card: CardData {
            number: &number,
            expiry: CardExpiry::from_stored(12, 2034).unwrap(),
            cvc: None,
        },
        capture,
        authenticated: false,
        off_session: false,
    };
    processor.authorize(&request).await
}

fn reference_of(outcome: &AuthorizeOutcome) -> String {
    match outcome {
        AuthorizeOutcome::Approved { reference, .. } => reference.clone(),
        other => panic!("not approved: {other:?}"),
    }
}

fn decline_code(outcome: &AuthorizeOutcome) -> Option<String> {
    match outcome {
        AuthorizeOutcome::Declined(decline) => decline.decline_code.clone(),
        other => panic!("not declined: {other:?}"),
    }
}

#[tokio::test]
async fn authorize_capture_refund_and_query_through_the_signed_protocol() {
    let (_dir, path) = journal();
    let sim = ProcessorSim::start(SECRET, &path, &[]);
    let processor = sim.connector(TIMEOUT);

    let first = authorize(&processor, "pa_one", "4242424242424242", false)
        .await
        .unwrap();
    let again = authorize(&processor, "pa_one", "4242424242424242", false)
        .await
        .unwrap();
    assert_eq!(first, again, "a repeated attempt is the same authorization");
    let reference = reference_of(&first);
    let captured = processor.capture(&reference, 2_000).await.unwrap();
    assert_eq!(captured.captured_minor, 2_000);
    let repeated = processor.capture(&reference, 2_000).await.unwrap();
    assert_eq!(
        repeated, captured,
        "a repeated capture answers as the first"
    );
    assert!(
        processor.capture(&reference, 2_500).await.is_err(),
        "a second, other capture is refused"
    );
    let refund = processor.refund(&reference, "re_one", 500).await.unwrap();
    assert_eq!(refund, portcullis_connectors::RefundOutcome::Succeeded);
    let record = processor.query("pa_one").await.unwrap().unwrap();
    assert_eq!(record.state, AttemptState::Captured);
    assert_eq!(record.captured_minor, 2_000);
    assert_eq!(processor.query("pa_never").await.unwrap(), None);

    let declined = authorize(&processor, "pa_poor", "4000000000009995", true)
        .await
        .unwrap();
    assert_eq!(
        decline_code(&declined).as_deref(),
        Some("insufficient_funds")
    );
    let listed = processor.attempts().await.unwrap();
    assert_eq!(listed.len(), 2);
}

#[tokio::test]
async fn a_wrong_secret_is_refused_and_its_answer_does_not_verify() {
    let (_dir, path) = journal();
    let sim = ProcessorSim::start(SECRET, &path, &[]);
    let forger = Processor::new(&sim.url, b"not the secret", TIMEOUT).unwrap();
    let answer = authorize(&forger, "pa_forged", "4242424242424242", true).await;
    assert!(
        matches!(answer, Err(ConnectorError::InvalidResponse(_))),
        "the answer is signed with the real secret, which the forger cannot check: {answer:?}"
    );
    let processor = sim.connector(TIMEOUT);
    assert_eq!(
        processor.query("pa_forged").await.unwrap(),
        None,
        "nothing happened"
    );
}

#[tokio::test]
async fn the_approval_rate_and_faults_change_while_it_runs() {
    let (_dir, path) = journal();
    let sim = ProcessorSim::start(SECRET, &path, &["--approval-rate", "0"]);
    let processor = sim.connector(TIMEOUT);
    let declined = authorize(&processor, "pa_rate0", "4242424242424242", true)
        .await
        .unwrap();
    assert_eq!(decline_code(&declined).as_deref(), Some("generic_decline"));
    let listed = authorize(&processor, "pa_listed", "4000000000000259", true)
        .await
        .unwrap();
    reference_of(&listed); // listed cards keep the table's answer

    let now = sim
        .set(json!({"approval_rate": 100, "faults": ["5xx:100"]}))
        .await;
    assert_eq!(now["approval_rate"], 100);
    assert_eq!(now["faults"], json!(["5xx:100"]));
    let busy = authorize(&processor, "pa_busy", "4242424242424242", true).await;
    assert!(
        matches!(busy, Err(ConnectorError::Unavailable(_))),
        "{busy:?}"
    );
    assert_eq!(
        processor.query("pa_busy").await.unwrap(),
        None,
        "a 5xx acted on nothing"
    );

    sim.set(json!({"faults": ["close:100"]})).await;
    let closed = authorize(&processor, "pa_closed", "4242424242424242", true).await;
    assert!(
        closed
            .as_ref()
            .is_err_and(ConnectorError::outcome_is_unknown),
        "{closed:?}"
    );
    let record = processor
        .query("pa_closed")
        .await
        .unwrap()
        .expect("it was acted on");
    assert_eq!(
        record.state,
        AttemptState::Captured,
        "the caller never heard of it"
    );

    sim.set(json!({"faults": ["garbage:100"]})).await;
    let garbage = authorize(&processor, "pa_garbage", "4242424242424242", true).await;
    assert!(
        matches!(garbage, Err(ConnectorError::InvalidResponse(_))),
        "{garbage:?}"
    );

    sim.set(json!({"faults": ["drop:100"]})).await;
    let short = sim.connector(Duration::from_millis(300));
    let dropped = authorize(&short, "pa_dropped", "4242424242424242", true).await;
    assert_eq!(dropped, Err(ConnectorError::Timeout));

    sim.set(json!({"faults": []})).await;
    let healthy = authorize(&processor, "pa_healthy", "4242424242424242", true)
        .await
        .unwrap();
    reference_of(&healthy);
    let refused = processor
        .change_sim_settings(&json!({"approval_rate": 101}))
        .await;
    assert!(
        matches!(
            refused,
            Err(ConnectorError::Unavailable(_)) | Err(ConnectorError::InvalidResponse(_))
        ),
        "{refused:?}"
    );
}

#[tokio::test]
async fn an_idempotency_key_reused_with_another_body_is_refused() {
    let (_dir, path) = journal();
    let sim = ProcessorSim::start(SECRET, &path, &[]);
    let processor = sim.connector(TIMEOUT);
    let reference = reference_of(
        &authorize(&processor, "pa_key", "4242424242424242", true)
            .await
            .unwrap(),
    );
    processor.refund(&reference, "re_key", 100).await.unwrap();
    let other = processor.refund(&reference, "re_key", 200).await;
    assert!(
        matches!(other, Err(ConnectorError::Refused(_))),
        "{other:?}"
    );
}

#[tokio::test]
async fn the_journal_survives_a_restart() {
    let (_dir, path) = journal();
    let sim = ProcessorSim::start(SECRET, &path, &[]);
    let processor = sim.connector(TIMEOUT);
    let first = authorize(&processor, "pa_durable", "4242424242424242", false)
        .await
        .unwrap();
    let address = sim.address();
    drop(sim);
    let sim = ProcessorSim::start_on(&address, SECRET, &path, &[]);
    let processor = sim.connector(TIMEOUT);
    let record = processor
        .query("pa_durable")
        .await
        .unwrap()
        .expect("replayed");
    assert_eq!(record.state, AttemptState::Authorized);
    assert_eq!(record.reference, reference_of(&first));
    let again = authorize(&processor, "pa_durable", "4242424242424242", false)
        .await
        .unwrap();
    assert_eq!(
        again, first,
        "the repeat after a restart is the same authorization"
    );
}

/// `--attempts-max N`: the simulator lists the last N attempts, the oldest
/// forgotten (the routing soak sizes it to hold a whole run).
#[tokio::test]
async fn it_remembers_as_many_attempts_as_attempts_max_says() {
    let (_dir, path) = journal();
    let sim = ProcessorSim::start(SECRET, &path, &["--attempts-max", "2"]);
    let processor = sim.connector(TIMEOUT);
    for attempt_id in ["pa_first", "pa_second", "pa_third"] {
        authorize(&processor, attempt_id, "4242424242424242", false)
            .await
            .unwrap();
    }
    let mut listed: Vec<String> = processor
        .attempts()
        .await
        .unwrap()
        .into_iter()
        .map(|listing| listing.attempt_id)
        .collect();
    listed.sort();
    assert_eq!(listed, ["pa_second", "pa_third"]);
}

/// Python's standard `hmac` signs a request the simulator accepts and checks
/// the simulator's signed answer: the published scheme, not only our code.
#[tokio::test]
async fn python_signs_a_query_and_verifies_the_answer() {
    let (_dir, path) = journal();
    let sim = ProcessorSim::start(SECRET, &path, &[]);
    let processor = sim.connector(TIMEOUT);
    authorize(&processor, "pa_python", "4242424242424242", true)
        .await
        .unwrap();
    let script = r#"
import hashlib, hmac, json, sys, time, urllib.request
url, secret = sys.argv[1], sys.argv[2].encode()
body = json.dumps({"attempt_id": "pa_python"}).encode()
t, rid, path = str(int(time.time())), "preq_python", "/v1/query"
mac = hmac.new(secret, b".".join([t.encode(), b"POST", path.encode(), b"", rid.encode(), body]), hashlib.sha256).hexdigest()
req = urllib.request.Request(url + path, data=body, method="POST", headers={
    "Processor-Signature": f"t={t},v1={mac}", "Processor-Request-Id": rid, "Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=10) as answer:
    raw, status = answer.read(), answer.status
    fields = dict(p.split("=", 1) for p in answer.headers["Processor-Signature"].split(","))
expected = hmac.new(secret, b".".join([fields["t"].encode(), str(status).encode(), rid.encode(), raw]), hashlib.sha256).hexdigest()
assert hmac.compare_digest(expected, fields["v1"]), "answer signature"
print(json.loads(raw)["ok"]["state"])
"#;
    let output = std::process::Command::new("python3")
        .args(["-c", script, &sim.url, SECRET])
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "captured");
}
