//! [`Stripe`]: Stripe itself (or another gateway speaking its API, such as
//! a second Portcullis) as an upstream institution.
//!
//! - authorize: the card from our vault becomes a PaymentMethod
//!   (`POST /v1/payment_methods` with `card[…]`: raw card data, as Stripe
//!   allows PCI-compliant platforms), then `POST /v1/payment_intents` with
//!   `confirm=true`, `capture_method` mirroring ours and
//!   `metadata[portcullis_attempt]=pa_…`. Both carry an `Idempotency-Key`
//!   derived from our attempt id (`pm:pa_…`, `pa_…`), so a repeat of the
//!   attempt is the same PaymentIntent, never a second authorization.
//! - capture (`/capture` with `amount_to_capture`), void (`/cancel`) and
//!   refunds (`POST /v1/refunds` with `metadata[portcullis_refund]=re_…`,
//!   keyed by our refund id) take the PaymentIntent id as reference.
//! - query: the PaymentIntent whose metadata names our attempt, found by
//!   listing (`GET /v1/payment_intents?created[gte]=…&created[lte]=…`,
//!   paged): our ids carry their creation time, so the window is narrow.
//!   Refunds are found the same way. What this process has seen is
//!   remembered ([`Known`]) and asked directly first.
//!
//! Errors: a 402 `card_error` is a decline; 400/404 `resource_missing` is
//! `UnknownReference`; other 4xx are `Refused` (nothing happened); 429,
//! 5xx, unreachable and cut-short answers are `Unavailable`, no answer in
//! time `Timeout` (outcome unknown: recovery asks again by listing). No
//! request or answer body is logged; card data travels only in the
//! PaymentMethod request.

pub mod wire;

use crate::connector::{
    AttemptRecord, AuthorizeOutcome, AuthorizeRequest, CaptureOutcome, Connector, ConnectorError,
    RefundOutcome,
};
use crate::http_client::{client, read_bounded, unix_now};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use wire::{ErrorAnswer, Intent, Page, PaymentMethodObject, RefundObject, ATTEMPT_KEY, REFUND_KEY};
use zeroize::Zeroizing;

/// Longest answer body accepted.
const ANSWER_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Objects per page when listing.
const PAGE_LIMIT: &str = "100";
/// Most pages read when looking for one object.
const PAGES_MAX: usize = 50;
/// How far around an id's creation time its object is looked for: clocks
/// of two machines differ, and a call may take a while.
const WINDOW_S: i64 = 900;
/// Without a time in the id: how far back to look (longer than an
/// uncaptured authorization lives).
const LOOKBACK_S: i64 = 8 * 24 * 3600;
/// Most ids remembered with the object they became.
const KNOWN_MAX: usize = 10_000;

/// An upstream reached at `endpoint` with a secret key. `Debug` shows the
/// endpoint, never the key.
pub struct Stripe {
    http: reqwest::Client,
    endpoint: String,
    secret_key: Zeroizing<String>,
    known: Known,
}

impl std::fmt::Debug for Stripe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stripe")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// Our ids (`pa_…`, `re_…`) → the upstream's (`pi_…`, `re_…`), as seen by
/// this process (bounded; a miss lists).
#[derive(Default)]
struct Known(Mutex<HashMap<String, String>>);

impl Known {
    fn get(&self, ours: &str) -> Option<String> {
        self.0.lock().ok()?.get(ours).cloned()
    }

    fn put(&self, ours: &str, theirs: &str) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= KNOWN_MAX {
                map.clear();
            }
            map.insert(ours.to_owned(), theirs.to_owned());
        }
    }
}

/// A form body, `key=value&…` (Stripe's bracket notation in the keys).
type Form<'a> = Vec<(&'a str, String)>;

/// The `created` window to list for an object made for our id `ours`.
fn window_of(ours: &str, now_s: i64) -> (i64, Option<i64>) {
    match portcullis_domain::ids::created_ms_of(ours) {
        Some(ms) => {
            let made = i64::try_from(ms / 1000).unwrap_or(now_s);
            (made - WINDOW_S, Some(made + WINDOW_S))
        }
        None => (now_s - LOOKBACK_S, None),
    }
}

/// `form` encoded as `application/x-www-form-urlencoded`, wiped when dropped.
fn encode(form: &Form<'_>) -> Zeroizing<String> {
    let mut encoded = form_urlencoded::Serializer::new(String::new());
    for (key, value) in form {
        encoded.append_pair(key, value);
    }
    Zeroizing::new(encoded.finish())
}

/// The call's error from a non-2xx answer.
fn error_of(status: u16, bytes: &[u8]) -> ConnectorError {
    let error = serde_json::from_slice::<ErrorAnswer>(bytes)
        .map(|a| a.error)
        .unwrap_or_default();
    let message = error.message.unwrap_or_default();
    match status {
        400 | 404 if error.code.as_deref() == Some("resource_missing") => {
            ConnectorError::UnknownReference(message)
        }
        401 | 403 => ConnectorError::Refused("upstream refused our secret key".into()),
        429 | 500..=599 => ConnectorError::Unavailable(format!("upstream answered {status}")),
        400..=499 => ConnectorError::Refused(format!("upstream answered {status}: {message}")),
        _ => ConnectorError::InvalidResponse(format!("upstream answered {status}")),
    }
}

fn parsed<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ConnectorError> {
    serde_json::from_slice(bytes)
        .map_err(|_| ConnectorError::InvalidResponse("answer is not the expected object".into()))
}

impl Stripe {
    /// `endpoint` like `https://api.stripe.com`; each call gives up after
    /// `call_timeout`.
    pub fn new(
        endpoint: &str,
        secret_key: &str,
        call_timeout: Duration,
    ) -> Result<Self, ConnectorError> {
        let http = client(call_timeout)?;
        Ok(Self {
            http,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            secret_key: Zeroizing::new(secret_key.to_owned()),
            known: Known::default(),
        })
    }

    /// Sends one call; the status and body of the answer.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        idempotency_key: Option<&str>,
        form: &Form<'_>,
    ) -> Result<(u16, Vec<u8>), ConnectorError> {
        let encoded = encode(form);
        let url = format!("{}{path}", self.endpoint);
        let mut request = self
            .http
            .request(method.clone(), url)
            .bearer_auth(self.secret_key.as_str());
        request = if method == reqwest::Method::GET {
            request.query(form)
        } else {
            request
                .header("content-type", "application/x-www-form-urlencoded")
                .body(encoded.as_bytes().to_vec())
        };
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(err) if err.is_connect() => {
                return Err(ConnectorError::Unavailable("upstream unreachable".into()))
            }
            Err(err) if err.is_timeout() => return Err(ConnectorError::Timeout),
            Err(_) => return Err(ConnectorError::Unavailable("upstream call failed".into())),
        };
        let status = response.status().as_u16();
        Ok((
            status,
            read_bounded(response, ANSWER_BYTES_MAX, "upstream").await?,
        ))
    }

    /// A call whose 2xx answer is a `T`; other answers are errors.
    async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        idempotency_key: Option<&str>,
        form: &Form<'_>,
    ) -> Result<T, ConnectorError> {
        let (status, bytes) = self.send(method, path, idempotency_key, form).await?;
        match status {
            200..=299 => parsed(&bytes),
            _ => Err(error_of(status, &bytes)),
        }
    }

    /// A confirming call: a 402 card error is the card's answer, returned
    /// as `Err(Ok(error))`.
    async fn confirming<T: DeserializeOwned>(
        &self,
        path: &str,
        idempotency_key: &str,
        form: &Form<'_>,
    ) -> Result<Result<T, wire::ErrorBody>, ConnectorError> {
        let (status, bytes) = self
            .send(reqwest::Method::POST, path, Some(idempotency_key), form)
            .await?;
        match status {
            200..=299 => parsed(&bytes).map(Ok),
            402 => Ok(Err(parsed::<ErrorAnswer>(&bytes)?.error)),
            _ => Err(error_of(status, &bytes)),
        }
    }

    /// The object of `list_path` whose `metadata[key]` is `ours`, looked
    /// for in the window of `ours`'s creation time.
    async fn find<T: DeserializeOwned + Identified>(
        &self,
        list_path: &str,
        key: &str,
        ours: &str,
    ) -> Result<Option<T>, ConnectorError> {
        let (gte, lte) = window_of(ours, unix_now());
        let mut form: Form = vec![("limit", PAGE_LIMIT.to_owned())];
        form.push(("created[gte]", gte.to_string()));
        if let Some(lte) = lte {
            form.push(("created[lte]", lte.to_string()));
        }
        let mut after: Option<String> = None;
        for _ in 0..PAGES_MAX {
            let mut page_form = form.clone();
            if let Some(after) = &after {
                page_form.push(("starting_after", after.clone()));
            }
            let page: Page<T> = self
                .call(reqwest::Method::GET, list_path, None, &page_form)
                .await?;
            after = page.data.last().map(|o| o.id().to_owned());
            let more = page.has_more && after.is_some();
            if let Some(found) = page
                .data
                .into_iter()
                .find(|o| o.metadata(key) == Some(ours))
            {
                return Ok(Some(found));
            }
            if !more {
                return Ok(None);
            }
        }
        Err(ConnectorError::Unavailable(
            "too many objects to search for ours".into(),
        ))
    }

    /// The PaymentIntent of our attempt: the one remembered, else listed.
    async fn intent_of(&self, attempt_id: &str) -> Result<Option<Intent>, ConnectorError> {
        if let Some(id) = self.known.get(attempt_id) {
            let path = format!("/v1/payment_intents/{id}");
            return self
                .call(reqwest::Method::GET, &path, None, &Vec::new())
                .await
                .map(Some);
        }
        let found: Option<Intent> = self
            .find("/v1/payment_intents", ATTEMPT_KEY, attempt_id)
            .await?;
        if let Some(intent) = &found {
            self.known.put(attempt_id, &intent.id);
        }
        Ok(found)
    }

    /// The upstream refund of our refund: the one remembered, else listed.
    async fn refund_of(&self, refund_id: &str) -> Result<RefundObject, ConnectorError> {
        if let Some(id) = self.known.get(refund_id) {
            let path = format!("/v1/refunds/{id}");
            return self
                .call(reqwest::Method::GET, &path, None, &Vec::new())
                .await;
        }
        let found: RefundObject = self
            .find("/v1/refunds", REFUND_KEY, refund_id)
            .await?
            .ok_or_else(|| ConnectorError::UnknownReference(refund_id.to_owned()))?;
        self.known.put(refund_id, &found.id);
        Ok(found)
    }

    /// `POST /v1/payment_methods` from the card; a card error is a decline.
    async fn payment_method(
        &self,
        request: &AuthorizeRequest<'_>,
    ) -> Result<Result<PaymentMethodObject, wire::ErrorBody>, ConnectorError> {
        let card = &request.card;
        let mut form: Form = vec![
            ("type", "card".to_owned()),
            ("card[number]", card.number.expose_digits().to_owned()),
            ("card[exp_month]", card.expiry.month().to_string()),
            ("card[exp_year]", card.expiry.year().to_string()),
        ];
        if let Some(cvc) = card.cvc {
            form.push(("card[cvc]", cvc.expose_digits().to_owned()));
        }
        let key = format!("pm:{}", request.attempt_id);
        let answer = self.confirming("/v1/payment_methods", &key, &form).await;
        for (_, value) in &mut form {
            zeroize::Zeroize::zeroize(value);
        }
        answer
    }

    /// Cancels an intent that waits for authentication nobody can give.
    async fn release(&self, intent_id: &str) {
        let path = format!("/v1/payment_intents/{intent_id}/cancel");
        let key = format!("cancel:{intent_id}");
        if let Err(err) = self
            .call::<serde_json::Value>(reqwest::Method::POST, &path, Some(&key), &Vec::new())
            .await
        {
            tracing::warn!(error = %err, "could not cancel an upstream intent awaiting authentication");
        }
    }
}

/// An object with an id and metadata, for [`Stripe::find`].
trait Identified {
    fn id(&self) -> &str;
    fn metadata(&self, key: &str) -> Option<&str>;
}

impl Identified for Intent {
    fn id(&self) -> &str {
        &self.id
    }
    fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).map(String::as_str)
    }
}

impl Identified for RefundObject {
    fn id(&self) -> &str {
        &self.id
    }
    fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).map(String::as_str)
    }
}

#[async_trait::async_trait]
impl Connector for Stripe {
    fn name(&self) -> &'static str {
        "stripe"
    }

    async fn authorize(
        &self,
        request: &AuthorizeRequest<'_>,
    ) -> Result<AuthorizeOutcome, ConnectorError> {
        let method = match self.payment_method(request).await? {
            Ok(method) => method,
            Err(card_error) => {
                return Ok(AuthorizeOutcome::Declined(wire::decline_of(&card_error)))
            }
        };
        let capture_method = if request.capture {
            "automatic"
        } else {
            "manual"
        };
        let mut form: Form = vec![
            ("amount", request.amount_minor.to_string()),
            ("currency", request.currency.as_str().to_ascii_lowercase()),
            ("payment_method", method.id.clone()),
            ("confirm", "true".to_owned()),
            ("capture_method", capture_method.to_owned()),
        ];
        form.push((
            "metadata[portcullis_attempt]",
            request.attempt_id.to_owned(),
        ));
        if request.off_session {
            form.push(("off_session", "true".to_owned()));
        }
        let intent = match self
            .confirming::<Intent>("/v1/payment_intents", request.attempt_id, &form)
            .await?
        {
            Ok(intent) => intent,
            Err(card_error) => {
                return Ok(AuthorizeOutcome::Declined(wire::decline_of(&card_error)))
            }
        };
        self.known.put(request.attempt_id, &intent.id);
        intent.check(request.amount_minor, request.currency)?;
        match intent.outcome(method.cvc_check())? {
            Some(outcome) => Ok(outcome),
            None => {
                self.release(&intent.id).await;
                Ok(AuthorizeOutcome::Declined(wire::authentication_decline()))
            }
        }
    }

    async fn capture(
        &self,
        reference: &str,
        amount_minor: i64,
    ) -> Result<CaptureOutcome, ConnectorError> {
        let path = format!("/v1/payment_intents/{reference}/capture");
        let form: Form = vec![("amount_to_capture", amount_minor.to_string())];
        let key = format!("capture:{reference}");
        let intent: Intent = self
            .call(reqwest::Method::POST, &path, Some(&key), &form)
            .await?;
        if intent.status != "succeeded" {
            return Err(ConnectorError::InvalidResponse(
                "captured intent not succeeded".into(),
            ));
        }
        Ok(CaptureOutcome {
            captured_minor: intent.amount_received,
            dispute: None,
        })
    }

    async fn void(&self, reference: &str) -> Result<(), ConnectorError> {
        let path = format!("/v1/payment_intents/{reference}/cancel");
        let key = format!("cancel:{reference}");
        let intent: Intent = self
            .call(reqwest::Method::POST, &path, Some(&key), &Vec::new())
            .await?;
        if intent.status != "canceled" {
            return Err(ConnectorError::InvalidResponse(
                "canceled intent not canceled".into(),
            ));
        }
        Ok(())
    }

    async fn refund(
        &self,
        reference: &str,
        refund_id: &str,
        amount_minor: i64,
    ) -> Result<RefundOutcome, ConnectorError> {
        let form: Form = vec![
            ("payment_intent", reference.to_owned()),
            ("amount", amount_minor.to_string()),
            ("metadata[portcullis_refund]", refund_id.to_owned()),
        ];
        let refund: RefundObject = self
            .call(reqwest::Method::POST, "/v1/refunds", Some(refund_id), &form)
            .await?;
        self.known.put(refund_id, &refund.id);
        refund.outcome()
    }

    async fn refund_status(&self, refund_id: &str) -> Result<RefundOutcome, ConnectorError> {
        self.refund_of(refund_id).await?.outcome()
    }

    async fn cancel_refund(&self, refund_id: &str) -> Result<bool, ConnectorError> {
        let refund = self.refund_of(refund_id).await?;
        match refund.outcome()? {
            RefundOutcome::Pending => {}
            RefundOutcome::Failed { reason } if reason == "canceled" => return Ok(true),
            _ => return Ok(false),
        }
        let path = format!("/v1/refunds/{}/cancel", refund.id);
        let key = format!("cancel_refund:{refund_id}");
        let canceled: RefundObject = self
            .call(reqwest::Method::POST, &path, Some(&key), &Vec::new())
            .await?;
        Ok(canceled.status == "canceled")
    }

    async fn query(&self, attempt_id: &str) -> Result<Option<AttemptRecord>, ConnectorError> {
        let Some(intent) = self.intent_of(attempt_id).await? else {
            return Ok(None);
        };
        let currency = portcullis_domain::money::Currency::parse(&intent.currency)
            .map_err(|_| ConnectorError::InvalidResponse("unknown currency".into()))?;
        intent.record(currency).map(Some)
    }
}
