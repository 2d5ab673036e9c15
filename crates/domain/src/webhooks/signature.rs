//! Stripe's webhook signature: `Stripe-Signature: t=<unix s>,v1=<hex>`,
//! where `v1 = hex(HMAC-SHA256(key = the whole secret, "whsec_…" included,
//! message = "<t>.<raw body>"))`. While a rolled secret has not expired,
//! one `v1=` per live secret is sent, and receivers accept any of them.

use super::WebhookSecret;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Most comma-separated parts of a header [`verified_timestamp`] reads.
const HEADER_PARTS_MAX: usize = 16;

/// The `v1` signature of `body` sent at `timestamp_s` under `secret`.
pub fn sign_v1(secret: &WebhookSecret, timestamp_s: i64, body: &[u8]) -> String {
    hex::encode(
        mac(secret, &timestamp_s.to_string(), body)
            .finalize()
            .into_bytes(),
    )
}

/// The HMAC of `"<timestamp>.<body>"` under `secret`, not yet finalized.
fn mac(secret: &WebhookSecret, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `Stripe-Signature` header value: `t=…` then one `v1=…` per secret.
pub fn signature_header(secrets: &[&WebhookSecret], timestamp_s: i64, body: &[u8]) -> String {
    assert!(
        !secrets.is_empty(),
        "a delivery is signed by at least one secret"
    );
    let mut header = format!("t={timestamp_s}");
    for secret in secrets {
        header.push_str(",v1=");
        header.push_str(&sign_v1(secret, timestamp_s, body));
    }
    header
}

/// The receiving side, as Stripe's libraries check a delivery: the
/// header's timestamp, if one of its `v1` signatures is `secret`'s over
/// `body` (compared in constant time). Whether the timestamp is recent
/// enough is the receiver's decision.
pub fn verified_timestamp(header: &str, secret: &WebhookSecret, body: &[u8]) -> Option<i64> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',').take(HEADER_PARTS_MAX) {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = Some(value),
            Some(("v1", value)) => signatures.push(value),
            _ => {}
        }
    }
    let timestamp = timestamp?;
    let signed = signatures.iter().any(|v1| {
        hex::decode(v1).is_ok_and(|v1| mac(secret, timestamp, body).verify_slice(&v1).is_ok())
    });
    signed.then(|| timestamp.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// api-contract.md's test vector.
    #[test]
    fn the_contract_test_vector_signs_as_stripe_does() {
        let secret = WebhookSecret::from_stored("whsec_x".to_owned());
        let body = br#"{"id":"evt_1","object":"event"}"#;
        assert_eq!(
            sign_v1(&secret, 1_700_000_000, body),
            "c9bcc97a8a4ff4bae104ef32dcacf8b24b4c3cf0512aef639b8502673db15436"
        );
        assert_eq!(
            signature_header(&[&secret], 1_700_000_000, body),
            "t=1700000000,v1=c9bcc97a8a4ff4bae104ef32dcacf8b24b4c3cf0512aef639b8502673db15436"
        );
    }

    #[test]
    fn a_rolling_secret_adds_a_second_signature() {
        let new = WebhookSecret::from_stored("whsec_new".to_owned());
        let old = WebhookSecret::from_stored("whsec_old".to_owned());
        let header = signature_header(&[&new, &old], 5, b"{}");
        let parts: Vec<&str> = header.split(',').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[1], format!("v1={}", sign_v1(&new, 5, b"{}")));
        assert_eq!(parts[2], format!("v1={}", sign_v1(&old, 5, b"{}")));
    }

    #[test]
    fn a_receiver_verifies_each_live_secrets_signature_and_nothing_else() {
        let new = WebhookSecret::from_stored("whsec_new".to_owned());
        let old = WebhookSecret::from_stored("whsec_old".to_owned());
        let body = br#"{"id":"evt_1"}"#;
        let header = signature_header(&[&new, &old], 1_700_000_000, body);
        assert_eq!(verified_timestamp(&header, &new, body), Some(1_700_000_000));
        assert_eq!(verified_timestamp(&header, &old, body), Some(1_700_000_000));
        let other = WebhookSecret::from_stored("whsec_other".to_owned());
        assert_eq!(verified_timestamp(&header, &other, body), None);
        assert_eq!(
            verified_timestamp(&header, &new, br#"{"id":"evt_2"}"#),
            None
        );
    }

    #[test]
    fn a_header_without_its_timestamp_or_signature_does_not_verify() {
        let secret = WebhookSecret::from_stored("whsec_x".to_owned());
        let v1 = sign_v1(&secret, 5, b"{}");
        assert_eq!(
            verified_timestamp(&format!("v1={v1}"), &secret, b"{}"),
            None
        );
        assert_eq!(verified_timestamp("t=5", &secret, b"{}"), None);
        assert_eq!(verified_timestamp("t=6,v1=zz", &secret, b"{}"), None);
        let moved = format!("t=6,v1={v1}");
        assert_eq!(verified_timestamp(&moved, &secret, b"{}"), None);
    }
}
