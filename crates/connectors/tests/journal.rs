//! The sandbox's journal: what it authorized survives a restart (drop and
//! recreate the acquirer), a torn last line is ignored, and the file never
//! holds card data.

mod support;

use portcullis_connectors::{
    AttemptState, AuthorizeOutcome, Connector, JournalError, RefundOutcome, SandboxAcquirer,
    SandboxOptions,
};
use std::io::Write;
use std::path::Path;
use std::time::Duration;
use support::{approved_reference, authorize, journaled, Ask, AMOUNT_MINOR, AUTOMATIC, MANUAL};

fn journal_path(dir: &tempfile::TempDir) -> std::path::PathBuf {
    dir.path().join("sandbox.jsonl")
}

#[tokio::test]
async fn an_authorization_made_before_a_restart_is_found_and_captured_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal_path(&dir);
    let acquirer = journaled(&path);
    let reference = approved_reference(&acquirer, "pa_survivor", "4242424242424242", MANUAL).await;
    let before = acquirer.query("pa_survivor").await.unwrap().unwrap();
    drop(acquirer);

    let acquirer = journaled(&path);
    let after = acquirer.query("pa_survivor").await.unwrap().unwrap();
    assert_eq!(after, before);
    assert_eq!(after.reference, reference);
    assert_eq!(after.state, AttemptState::Authorized);
    // A repeat of the attempt is still the same authorization.
    let repeat = approved_reference(&acquirer, "pa_survivor", "4242424242424242", MANUAL).await;
    assert_eq!(repeat, reference);
    let capture = acquirer.capture(&reference, 1500).await.unwrap();
    assert_eq!(capture.captured_minor, 1500);
    assert_eq!(
        acquirer
            .refund(&reference, "re_survivor", 500)
            .await
            .unwrap(),
        RefundOutcome::Succeeded
    );
    drop(acquirer);

    let acquirer = journaled(&path);
    let record = acquirer.query("pa_survivor").await.unwrap().unwrap();
    assert_eq!(record.state, AttemptState::Captured);
    assert_eq!(record.captured_minor, 1500);
    assert!(
        acquirer.capture(&reference, 1).await.is_err(),
        "captured once"
    );
    assert_eq!(
        acquirer
            .refund(&reference, "re_survivor", 500)
            .await
            .unwrap(),
        RefundOutcome::Succeeded,
        "the refund id is remembered"
    );
    assert!(
        acquirer.refund(&reference, "re_rest", 1001).await.is_err(),
        "the earlier refund still counts"
    );
    acquirer.refund(&reference, "re_rest", 1000).await.unwrap();
}

#[tokio::test]
async fn every_kind_of_change_is_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal_path(&dir);
    let acquirer = journaled(&path);
    let voided = approved_reference(&acquirer, "pa_voided", "4242424242424242", MANUAL).await;
    acquirer.void(&voided).await.unwrap();
    let declined = authorize(&acquirer, "pa_declined", "4000000000009995", MANUAL)
        .await
        .unwrap();
    authorize(&acquirer, "pa_waiting", "4000002500003155", MANUAL)
        .await
        .unwrap();
    approved_reference(&acquirer, "pa_disputed", "4000000000000259", AUTOMATIC).await;
    let names = ["pa_voided", "pa_declined", "pa_waiting", "pa_disputed"];
    let mut before = Vec::new();
    for name in names {
        before.push(acquirer.query(name).await.unwrap());
    }
    drop(acquirer);

    let acquirer = journaled(&path);
    for (name, record) in names.iter().zip(&before) {
        assert_eq!(&acquirer.query(name).await.unwrap(), record, "{name}");
    }
    assert_eq!(
        authorize(&acquirer, "pa_declined", "4000000000009995", MANUAL)
            .await
            .unwrap(),
        declined
    );
    // The attempt waiting for authentication continues after the restart.
    let authenticated = Ask {
        authenticated: true,
        ..MANUAL
    };
    let reference =
        approved_reference(&acquirer, "pa_waiting", "4000002500003155", authenticated).await;
    assert_eq!(
        Some(reference),
        before[2].as_ref().map(|r| r.reference.clone())
    );
}

#[tokio::test(start_paused = true)]
async fn refund_settlements_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal_path(&dir);
    let acquirer = journaled(&path);
    let settles = approved_reference(&acquirer, "pa_settles", "4000000000007726", AUTOMATIC).await;
    let fails = approved_reference(&acquirer, "pa_fails", "4000000000005126", AUTOMATIC).await;
    acquirer.refund(&settles, "re_settled", 100).await.unwrap();
    acquirer
        .refund(&fails, "re_failed", AMOUNT_MINOR)
        .await
        .unwrap();
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(
        acquirer.refund_status("re_settled").await.unwrap(),
        RefundOutcome::Succeeded
    );
    let failed = RefundOutcome::Failed {
        reason: "expired_or_canceled_card".into(),
    };
    assert_eq!(acquirer.refund_status("re_failed").await.unwrap(), failed);
    acquirer
        .refund(&settles, "re_unsettled", 100)
        .await
        .unwrap();
    drop(acquirer);

    let acquirer = journaled(&path);
    assert_eq!(
        acquirer.refund_status("re_settled").await.unwrap(),
        RefundOutcome::Succeeded,
        "an observed settlement is durable"
    );
    assert_eq!(acquirer.refund_status("re_failed").await.unwrap(), failed);
    // The failed refund freed its amount, also after the restart.
    acquirer
        .refund(&fails, "re_again", AMOUNT_MINOR)
        .await
        .unwrap();
    // A refund not yet settled counts its delay again from the replay.
    assert_eq!(
        acquirer.refund_status("re_unsettled").await.unwrap(),
        RefundOutcome::Pending
    );
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(
        acquirer.refund_status("re_unsettled").await.unwrap(),
        RefundOutcome::Succeeded
    );
}

fn append(path: &Path, bytes: &[u8]) {
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(bytes).unwrap();
}

#[tokio::test]
async fn a_torn_last_journal_line_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal_path(&dir);
    let acquirer = journaled(&path);
    let reference = approved_reference(&acquirer, "pa_before", "4242424242424242", MANUAL).await;
    drop(acquirer);
    // A crash in the middle of writing the capture of `pa_before`.
    let torn = format!("{{\"event\":\"captured\",\"reference\":\"{reference}\",\"amount_mi");
    append(&path, torn.as_bytes());

    let acquirer = journaled(&path);
    let record = acquirer.query("pa_before").await.unwrap().unwrap();
    assert_eq!(
        record.state,
        AttemptState::Authorized,
        "the torn capture never happened"
    );
    // Later changes land on clean lines and replay.
    acquirer.capture(&reference, 700).await.unwrap();
    approved_reference(&acquirer, "pa_after", "5555555555554444", MANUAL).await;
    drop(acquirer);

    let acquirer = journaled(&path);
    let record = acquirer.query("pa_before").await.unwrap().unwrap();
    assert_eq!(
        (record.state, record.captured_minor),
        (AttemptState::Captured, 700)
    );
    assert!(acquirer.query("pa_after").await.unwrap().is_some());
}

#[test]
fn a_damaged_line_in_the_middle_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal_path(&dir);
    std::fs::write(
        &path,
        "{\"event\":\"voided\",\"reference\":\"sbx_a\"}\ngarbage\n{\"event\":\"voided\",\"reference\":\"sbx_b\"}\n",
    )
    .unwrap();
    let error = SandboxAcquirer::new(SandboxOptions {
        journal_path: Some(path),
        ..SandboxOptions::default()
    })
    .unwrap_err();
    assert!(
        matches!(error, JournalError::Corrupt { line_number: 2, .. }),
        "{error}"
    );
}

/// True when `text` holds `digits_min` or more digits in a row.
fn has_digit_run(text: &str, digits_min: usize) -> bool {
    let mut run = 0;
    for byte in text.bytes() {
        run = if byte.is_ascii_digit() { run + 1 } else { 0 };
        if run >= digits_min {
            return true;
        }
    }
    false
}

#[tokio::test]
async fn the_journal_never_holds_a_card_number_or_cvc() {
    let numbers = [
        "4242424242424242",
        "378282246310005",
        "4000000000000002",
        "4000000000000127",
        "4000002500003155",
        "4000000000000259",
        "4000000000007726",
        "4000000000005126",
        "4100000000000019",
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = journal_path(&dir);
    let acquirer = journaled(&path);
    for (index, number) in numbers.iter().enumerate() {
        let attempt_id = format!("pa_secret_{index}");
        if let AuthorizeOutcome::Approved { reference, .. } =
            authorize(&acquirer, &attempt_id, number, AUTOMATIC)
                .await
                .unwrap()
        {
            acquirer
                .refund(&reference, &format!("re_secret_{index}"), 100)
                .await
                .unwrap();
        }
    }
    drop(acquirer);

    let journal = std::fs::read_to_string(&path).unwrap();
    assert!(journal.lines().count() >= numbers.len());
    for number in numbers {
        assert!(!journal.contains(number), "{number} in the journal");
        assert!(journal.contains(&number[number.len() - 4..]), "last4 kept");
    }
    assert!(!has_digit_run(&journal, 12), "no card-number-like digits");
    for line in journal.lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_no_cvc(&value);
    }
}

fn assert_no_cvc(value: &serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(text) => assert!(text != "739" && text != "7391", "CVC in the journal"),
        Value::Array(items) => items.iter().for_each(assert_no_cvc),
        Value::Object(fields) => {
            for (key, field) in fields {
                if key == "cvc_check" {
                    // The issuer's verdict on the CVC, never the CVC.
                    let verdict = field.as_str().unwrap_or_default();
                    assert!(
                        ["pass", "fail", "unchecked", "unavailable"].contains(&verdict),
                        "{key}: {field}"
                    );
                    continue;
                }
                assert!(!key.contains("cvc") && !key.contains("number"), "{key}");
                assert_no_cvc(field);
            }
        }
        _ => {}
    }
}

/// Concurrent calls share the journal's writes (on its own thread, no
/// blocking-pool thread per call), and each change is on disk once
/// answered: an acquirer replaying the file while the first one still runs
/// finds them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journaled_acquirer_serves_concurrent_calls() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal_path(&dir);
    let acquirer = std::sync::Arc::new(journaled(&path));
    let tasks: Vec<_> = (0..64)
        .map(|index| {
            let acquirer = std::sync::Arc::clone(&acquirer);
            tokio::spawn(async move {
                let attempt_id = format!("pa_many_{index}");
                let connector: &dyn Connector = acquirer.as_ref();
                let reference =
                    approved_reference(connector, &attempt_id, "4242424242424242", MANUAL).await;
                connector.capture(&reference, 100).await.unwrap();
                (attempt_id, reference)
            })
        })
        .collect();
    let mut made = Vec::new();
    for task in tasks {
        made.push(task.await.unwrap());
    }
    let replayed = journaled(&path);
    drop(acquirer);
    for (attempt_id, reference) in made {
        let record = replayed.query(&attempt_id).await.unwrap().unwrap();
        assert_eq!(record.reference, reference);
        assert_eq!(record.captured_minor, 100);
    }
}

/// A journaled call takes no blocking-pool thread: with the runtime's only
/// one held by another task, authorizations are still answered.
#[test]
fn journaled_calls_need_no_blocking_thread() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let acquirer = journaled(&journal_path(&dir));
    let (release, released) = std::sync::mpsc::channel::<()>();
    let holder = runtime.spawn_blocking(move || released.recv_timeout(Duration::from_secs(30)));
    let answered = runtime.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(10),
            approved_reference(&acquirer, "pa_no_blocking", "4242424242424242", MANUAL),
        )
        .await
    });
    release.send(()).unwrap();
    runtime.block_on(holder).unwrap().unwrap();
    assert!(
        answered.is_ok(),
        "answered while the blocking pool was full"
    );
}
