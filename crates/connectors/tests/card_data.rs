//! Card numbers and CVCs never leave the connector in text: not through
//! `Debug`, not in error messages, not in log lines.

mod support;

use portcullis_connectors::{AuthorizeRequest, CardData, Connector};
use portcullis_domain::cards::{CardExpiry, Cvc};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use support::{approved_reference, authorize, card, cvc_text, sandbox, usd, AUTOMATIC, MANUAL};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

const NUMBERS: [&str; 6] = [
    "4242424242424242",
    "378282246310005",
    "4000000000000002",
    "4000000000000127",
    "4000002500003155",
    "4000000000000259",
];

#[test]
fn debug_of_a_request_shows_neither_the_number_nor_the_cvc() {
    for number in NUMBERS {
        let card_number = card(number);
        let cvc = Cvc::parse(cvc_text(card_number.brand()), card_number.brand()).unwrap();
        let request = AuthorizeRequest {
            attempt_id: "pa_debug",
            merchant_id: "acct_debug",
            amount_minor: 100,
            currency: usd(),
            card: CardData {
                number: &card_number,
                expiry: CardExpiry::parse(1, 2040, 2026, 1).unwrap(),
                cvc: Some(&cvc),
            },
            capture: false,
            authenticated: false,
            off_session: false,
        };
        let text = format!("{request:?} {request:#?}");
        assert!(!text.contains(number), "{text}");
        assert!(!text.contains(cvc_text(card_number.brand())), "{text}");
        assert!(text.contains(&number[number.len() - 4..]), "{text}");
    }
}

/// Every field of every event and span, as text.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<String>>);

struct Writer<'a>(&'a mut String);

impl Visit for Writer<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
}

impl Subscriber for Captured {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        span.record(&mut Writer(&mut self.0.lock().unwrap()));
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, values: &Record<'_>) {
        values.record(&mut Writer(&mut self.0.lock().unwrap()));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut text = self.0.lock().unwrap();
        event.record(&mut Writer(&mut text));
        text.push('\n');
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[tokio::test]
async fn no_log_line_holds_a_card_number_or_cvc() {
    let captured = Captured::default();
    let _guard = tracing::subscriber::set_default(captured.clone());
    let acquirer = sandbox();
    let connector: &dyn Connector = &acquirer;
    for (index, number) in NUMBERS.iter().enumerate() {
        let _ = authorize(connector, &format!("pa_log_{index}"), number, MANUAL).await;
        let _ = authorize(
            connector,
            &format!("pa_log_auto_{index}"),
            number,
            AUTOMATIC,
        )
        .await;
    }
    let reference = approved_reference(connector, "pa_log_x", "4242424242424242", MANUAL).await;
    let error = connector.capture(&reference, 1_000_000).await.unwrap_err();
    connector.capture(&reference, 100).await.unwrap();
    connector.refund(&reference, "re_log", 50).await.unwrap();

    let logs = captured.0.lock().unwrap().clone();
    assert!(
        logs.contains("sandbox authorize"),
        "logs were captured: {logs}"
    );
    assert!(logs.contains("card_last4=4242"), "{logs}");
    let texts = [logs, error.to_string(), format!("{error:?}")];
    for text in &texts {
        for number in NUMBERS {
            assert!(!text.contains(number), "{number} in {text}");
        }
        let mut tokens = text.split(|c: char| !c.is_ascii_alphanumeric());
        assert!(
            tokens.all(|token| token != "739" && token != "7391"),
            "CVC in {text}"
        );
    }
}
