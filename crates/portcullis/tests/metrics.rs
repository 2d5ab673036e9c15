//! `GET /metrics`: Prometheus text whose counters move while payments run,
//! served to direct loopback clients on the API listener, or on a listener
//! of its own with `--metrics-listen`.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{create_merchant, Api, Backend, TestDatabase, TestServer};

/// Concurrent clients paying while the test scrapes.
const PAYERS: usize = 6;
/// Longest wait for a counter to move under load.
const MOVE_TIMEOUT: Duration = Duration::from_secs(60);

/// The sum of every sample of `name` whose labels include each of `labels`
/// (`key="value"` pairs); `None` when no such series exists.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    let mut found = None;
    for line in text.lines().filter(|line| !line.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (series_name, series_labels) = match series.split_once('{') {
            Some((series_name, rest)) => (series_name, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let wanted = labels
            .iter()
            .all(|label| series_labels.split(',').any(|l| l == *label));
        if series_name == name && wanted {
            *found.get_or_insert(0.0) += value.parse::<f64>().expect("a sample value");
        }
    }
    found
}

async fn scrape(http: &reqwest::Client, url: &str) -> String {
    let answer = http.get(url).send().await.expect("scrape sent");
    assert_eq!(answer.status(), 200, "scrape of {url}");
    let content_type = answer.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    answer.text().await.unwrap()
}

/// Payments from `PAYERS` clients until `stop`; the first payer's first
/// payment, and every tenth after it, is declined.
fn start_paying(api: &Api, stop: &Arc<AtomicBool>) -> Vec<tokio::task::JoinHandle<()>> {
    (0..PAYERS)
        .map(|payer| {
            let (api, stop) = (api.clone(), stop.clone());
            tokio::spawn(async move {
                let mut sent = 0;
                while !stop.load(Ordering::Relaxed) {
                    let method = if payer == 0 && sent % 10 == 0 {
                        "pm_card_visa_chargeDeclined"
                    } else {
                        "pm_card_visa"
                    };
                    sent += 1;
                    let form = [
                        ("amount", "1500"),
                        ("currency", "usd"),
                        ("confirm", "true"),
                        ("payment_method", method),
                    ];
                    let answer = api.post("/v1/payment_intents", &form).await;
                    assert!(matches!(answer.status, 200 | 402), "{}", answer.text);
                }
            })
        })
        .collect()
}

/// The counters a payment moves, as one scrape shows them.
#[derive(Clone, Copy, Debug)]
struct Moved {
    succeeded: f64,
    requests: f64,
    ledger_appends: f64,
    authorizations: f64,
}

impl Moved {
    fn of(text: &str) -> Self {
        let count = |name: &str, labels: &[&str]| sample(text, name, labels).unwrap_or(0.0);
        Self {
            succeeded: count("portcullis_payments_total", &["outcome=\"succeeded\""]),
            requests: count(
                "portcullis_http_request_duration_seconds_count",
                &[
                    "method=\"POST\"",
                    "route=\"/v1/payment_intents\"",
                    "status=\"200\"",
                ],
            ),
            ledger_appends: count("portcullis_ledger_appends_total", &[]),
            authorizations: count(
                "portcullis_connector_call_duration_seconds_count",
                &["operation=\"authorize\"", "result=\"answered\""],
            ),
        }
    }

    fn all_above(&self, earlier: &Moved) -> bool {
        self.succeeded > earlier.succeeded
            && self.requests > earlier.requests
            && self.ledger_appends > earlier.ledger_appends
            && self.authorizations > earlier.authorizations
    }
}

/// Scrapes until `reached` holds of the scraped text, and returns that
/// text; fails, saying it never did `what`, after [`MOVE_TIMEOUT`].
async fn scrape_until(
    http: &reqwest::Client,
    url: &str,
    what: &str,
    reached: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + MOVE_TIMEOUT;
    loop {
        let text = scrape(http, url).await;
        if reached(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "{what}:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Scrapes until every counter of [`Moved`] is above `earlier`.
async fn scrape_until_all_above(http: &reqwest::Client, url: &str, earlier: Moved) -> Moved {
    let what = format!("counters stopped below {earlier:?}");
    let text = scrape_until(http, url, &what, |text| Moved::of(text).all_above(&earlier)).await;
    Moved::of(&text)
}

/// Scrapes until the SQLite writer has caught up with the checkpointer
/// (it does after the checkpointer's run, every 250 ms, under writes).
async fn scrape_until_caught_up(http: &reqwest::Client, url: &str) {
    scrape_until(http, url, "the writer never caught up", |text| {
        sample(text, "portcullis_sqlite_catch_up_seconds_count", &[]).is_some_and(|n| n > 0.0)
    })
    .await;
}

on_both_backends!(counters_move_while_payments_run);

async fn counters_move_while_payments_run(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    let server = TestServer::start(&db);
    let api = Api::new(&server, &merchant.secret_key);
    let url = server.url("/metrics");
    let http = reqwest::Client::new();
    let before = Moved::of(&scrape(&http, &url).await);

    let stop = Arc::new(AtomicBool::new(false));
    let payers = start_paying(&api, &stop);
    let during = scrape_until_all_above(&http, &url, before).await;
    // Still under load: a later scrape sees every counter move again.
    scrape_until_all_above(&http, &url, during).await;
    if backend == Backend::Sqlite {
        scrape_until_caught_up(&http, &url).await;
    }
    stop.store(true, Ordering::Relaxed);
    for payer in payers {
        payer.await.expect("payer finished");
    }

    let after = scrape(&http, &url).await;
    let declined = sample(
        &after,
        "portcullis_payments_total",
        &["outcome=\"declined\""],
    );
    assert!(declined.unwrap() >= 1.0, "{after}");
    assert!(sample(&after, "portcullis_process_resident_memory_bytes", &[]).unwrap() > 1e6);
    assert!(sample(&after, "portcullis_webhook_deliveries_pending", &[]).is_some());
    assert!(sample(&after, "portcullis_webhook_oldest_pending_age_seconds", &[]).is_some());
    match backend {
        Backend::Sqlite => {
            let batches = sample(&after, "portcullis_sqlite_write_batch_size_count", &[]);
            assert!(batches.unwrap() > 0.0);
            assert!(sample(&after, "portcullis_sqlite_commit_seconds_count", &[]).unwrap() > 0.0);
            assert!(sample(&after, "portcullis_sqlite_catch_up_seconds_count", &[]).unwrap() > 0.0);
        }
        Backend::Postgres => {
            let waits = sample(&after, "portcullis_postgres_pool_wait_seconds_count", &[]);
            assert!(waits.unwrap() > 0.0);
            let in_use = ["state=\"in_use\""];
            assert!(sample(&after, "portcullis_postgres_pool_connections", &in_use).is_some());
        }
    }
}

on_both_backends!(metrics_refuse_proxied_requests_and_can_move_to_a_listener_of_their_own);

async fn metrics_refuse_proxied_requests_and_can_move_to_a_listener_of_their_own(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let http = reqwest::Client::new();
    {
        let server = TestServer::start(&db);
        let proxied = http
            .get(server.url("/metrics"))
            .header("X-Forwarded-For", "203.0.113.9")
            .send()
            .await
            .unwrap();
        assert_eq!(proxied.status(), 404);
        let body: serde_json::Value = proxied.json().await.unwrap();
        assert_eq!(body["error"]["type"], "invalid_request_error");
    }
    let server = TestServer::start_with(&db, &["--metrics-listen", "127.0.0.1:0"]);
    let on_api = http.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(on_api.status(), 404);
    let own = server
        .metrics_url
        .clone()
        .expect("the metrics listener's address");
    assert_ne!(own, server.base_url);
    let text = scrape(&http, &format!("{own}/metrics")).await;
    assert!(sample(&text, "portcullis_process_resident_memory_bytes", &[]).unwrap() > 1e6);
}
