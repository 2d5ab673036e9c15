//! HMAC-SHA256 signatures of the processor protocol, both ways.
//!
//! A request carries `Processor-Signature: t=<unix seconds>,v1=<hex>` over
//! `"{t}.{METHOD}.{path}.{Idempotency-Key}.{Processor-Request-Id}.{body}"`;
//! the answer carries the same header over
//! `"{t}.{status}.{Processor-Request-Id}.{body}"`, so an answer is bound to
//! the request it answers (a replayed old answer does not verify). Both sides
//! refuse a timestamp more than [`TOLERANCE_S`] away from their clock, and
//! compare MACs in constant time (`hmac`'s `verify_slice`).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The signature header, on requests and answers.
pub const SIGNATURE_HEADER: &str = "processor-signature";
/// The idempotency key header of mutating requests.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
/// A random id per request, echoed into the answer's signature.
pub const REQUEST_ID_HEADER: &str = "processor-request-id";
/// How far a signature's timestamp may be from the verifier's clock.
pub const TOLERANCE_S: i64 = 300;

type HmacSha256 = Hmac<Sha256>;

/// What a request's signature covers.
#[derive(Clone, Copy, Debug)]
pub struct RequestParts<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// Empty for reads.
    pub idempotency_key: &'a str,
    pub request_id: &'a str,
    pub body: &'a [u8],
}

/// Why a signature was refused. Never says what the right MAC would be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signature header missing or malformed")]
    Malformed,
    #[error("signature timestamp outside the tolerance")]
    Stale,
    #[error("signature does not match")]
    Mismatch,
}

fn mac_over(secret: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = HmacSha256::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    for (index, part) in parts.iter().enumerate() {
        if index > 0 {
            mac.update(b".");
        }
        mac.update(part);
    }
    mac
}

fn request_mac(secret: &[u8], timestamp: i64, request: &RequestParts<'_>) -> HmacSha256 {
    let t = timestamp.to_string();
    mac_over(
        secret,
        &[
            t.as_bytes(),
            request.method.as_bytes(),
            request.path.as_bytes(),
            request.idempotency_key.as_bytes(),
            request.request_id.as_bytes(),
            request.body,
        ],
    )
}

fn answer_mac(
    secret: &[u8],
    timestamp: i64,
    status: u16,
    request_id: &str,
    body: &[u8],
) -> HmacSha256 {
    let t = timestamp.to_string();
    let status = status.to_string();
    mac_over(
        secret,
        &[t.as_bytes(), status.as_bytes(), request_id.as_bytes(), body],
    )
}

fn header(timestamp: i64, mac: HmacSha256) -> String {
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// The `Processor-Signature` value of a request.
pub fn sign_request(secret: &[u8], timestamp: i64, request: &RequestParts<'_>) -> String {
    header(timestamp, request_mac(secret, timestamp, request))
}

/// The `Processor-Signature` value of an answer.
pub fn sign_answer(
    secret: &[u8],
    timestamp: i64,
    status: u16,
    request_id: &str,
    body: &[u8],
) -> String {
    header(
        timestamp,
        answer_mac(secret, timestamp, status, request_id, body),
    )
}

/// Checks a request's signature header at time `now`.
pub fn verify_request(
    secret: &[u8],
    header_value: &str,
    now: i64,
    request: &RequestParts<'_>,
) -> Result<(), SignatureError> {
    let (timestamp, tag) = parse_header(header_value)?;
    check_fresh(timestamp, now)?;
    request_mac(secret, timestamp, request)
        .verify_slice(&tag)
        .map_err(|_| SignatureError::Mismatch)
}

/// Checks an answer's signature header at time `now`.
pub fn verify_answer(
    secret: &[u8],
    header_value: &str,
    now: i64,
    status: u16,
    request_id: &str,
    body: &[u8],
) -> Result<(), SignatureError> {
    let (timestamp, tag) = parse_header(header_value)?;
    check_fresh(timestamp, now)?;
    answer_mac(secret, timestamp, status, request_id, body)
        .verify_slice(&tag)
        .map_err(|_| SignatureError::Mismatch)
}

fn check_fresh(timestamp: i64, now: i64) -> Result<(), SignatureError> {
    if timestamp.abs_diff(now) > TOLERANCE_S.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

fn parse_header(value: &str) -> Result<(i64, Vec<u8>), SignatureError> {
    let mut timestamp = None;
    let mut tag = None;
    for item in value.split(',') {
        match item.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => tag = hex::decode(v).ok(),
            _ => return Err(SignatureError::Malformed),
        }
    }
    match (timestamp, tag) {
        (Some(t), Some(tag)) if tag.len() == 32 => Ok((t, tag)),
        _ => Err(SignatureError::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"shared secret";

    fn parts(body: &[u8]) -> RequestParts<'_> {
        RequestParts {
            method: "POST",
            path: "/v1/authorize",
            idempotency_key: "pa_1",
            request_id: "req_1",
            body,
        }
    }

    #[test]
    fn a_signed_request_verifies_and_any_change_breaks_it() {
        let header = sign_request(SECRET, 1_000, &parts(b"{}"));
        assert_eq!(
            verify_request(SECRET, &header, 1_010, &parts(b"{}")),
            Ok(())
        );
        assert_eq!(
            verify_request(SECRET, &header, 1_010, &parts(b"{ }")),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_request(b"other", &header, 1_010, &parts(b"{}")),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_request(SECRET, &header, 1_000 + TOLERANCE_S + 1, &parts(b"{}")),
            Err(SignatureError::Stale)
        );
        let mut other = parts(b"{}");
        other.idempotency_key = "pa_2";
        assert_eq!(
            verify_request(SECRET, &header, 1_000, &other),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn an_answer_is_bound_to_its_request_id_and_status() {
        let header = sign_answer(SECRET, 5, 200, "req_1", b"{\"ok\":null}");
        assert_eq!(
            verify_answer(SECRET, &header, 5, 200, "req_1", b"{\"ok\":null}"),
            Ok(())
        );
        assert!(verify_answer(SECRET, &header, 5, 200, "req_2", b"{\"ok\":null}").is_err());
        assert!(verify_answer(SECRET, &header, 5, 503, "req_1", b"{\"ok\":null}").is_err());
    }

    #[test]
    fn malformed_headers_are_refused() {
        for bad in [
            "",
            "t=1",
            "v1=00",
            "t=x,v1=00",
            "t=1,v1=zz",
            "t=1,v1=00,x=1",
        ] {
            assert_eq!(
                verify_request(SECRET, bad, 1, &parts(b"")),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
    }
}
