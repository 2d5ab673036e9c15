//! Helpers shared by the connector tests: building requests from test-card
//! numbers and a few common shapes of request.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use portcullis_connectors::{
    AuthorizeOutcome, AuthorizeRequest, CardData, Connector, ConnectorError, SandboxAcquirer,
    SandboxOptions,
};
use portcullis_domain::cards::{CardBrand, CardExpiry, CardNumber, Cvc};
use portcullis_domain::money::Currency;
use std::path::Path;

pub const MERCHANT_ID: &str = "acct_test";
pub const AMOUNT_MINOR: i64 = 2000;

/// How to ask: amount and flags of an authorization.
#[derive(Clone, Copy, Debug)]
pub struct Ask {
    pub amount_minor: i64,
    pub capture: bool,
    pub authenticated: bool,
    pub off_session: bool,
}

/// Manual capture, on session, not authenticated, 20.00.
pub const MANUAL: Ask = Ask {
    amount_minor: AMOUNT_MINOR,
    capture: false,
    authenticated: false,
    off_session: false,
};
/// Automatic capture, on session, not authenticated, 20.00.
pub const AUTOMATIC: Ask = Ask {
    capture: true,
    ..MANUAL
};

pub fn usd() -> Currency {
    Currency::parse("usd").unwrap()
}

pub fn card(number: &str) -> CardNumber {
    CardNumber::parse(number).unwrap_or_else(|err| panic!("{number}: {err}"))
}

/// The CVC every test uses: 4 digits for amex, 3 otherwise.
pub fn cvc_text(brand: CardBrand) -> &'static str {
    if brand == CardBrand::Amex {
        "7391"
    } else {
        "739"
    }
}

pub async fn authorize(
    connector: &dyn Connector,
    attempt_id: &str,
    number: &str,
    ask: Ask,
) -> Result<AuthorizeOutcome, ConnectorError> {
    let number = card(number);
    let cvc = Cvc::parse(cvc_text(number.brand()), number.brand()).unwrap();
    let request = AuthorizeRequest {
        attempt_id,
        merchant_id: MERCHANT_ID,
        amount_minor: ask.amount_minor,
        currency: usd(),
        card: CardData {
            number: &number,
            expiry: CardExpiry::parse(12, 2045, 2026, 1).unwrap(),
            cvc: Some(&cvc),
        },
        capture: ask.capture,
        authenticated: ask.authenticated,
        off_session: ask.off_session,
    };
    connector.authorize(&request).await
}

/// Authorizes and returns the reference of the approval (panics otherwise).
pub async fn approved_reference(
    connector: &dyn Connector,
    attempt_id: &str,
    number: &str,
    ask: Ask,
) -> String {
    match authorize(connector, attempt_id, number, ask).await {
        Ok(AuthorizeOutcome::Approved { reference, .. }) => reference,
        other => panic!("{number}: expected an approval, got {other:?}"),
    }
}

pub fn sandbox() -> SandboxAcquirer {
    SandboxAcquirer::new(SandboxOptions::default()).unwrap()
}

pub fn journaled(path: &Path) -> SandboxAcquirer {
    SandboxAcquirer::new(SandboxOptions {
        journal_path: Some(path.to_owned()),
        ..SandboxOptions::default()
    })
    .unwrap()
}
