//! The JSON text of the documents a payment stores (its events, records,
//! attempts and payment methods), written into a buffer sized for them.
//!
//! `serde_json::to_string` starts from 128 bytes and doubles its buffer as
//! the text grows, copying the text at each step: four reallocations and
//! copies for an event of 1.5–2 KB. These bytes are serde_json's own (its
//! compact writer, into a buffer of our size); only the first capacity
//! differs.

use serde::Serialize;

/// First capacity for an event's text (`payment_intent.succeeded`,
/// `charge.succeeded` are about 1.5–2.1 KB).
pub const EVENT_BYTES_INITIAL: usize = 4096;
/// First capacity for a stored record (an intent, a charge, an attempt, a
/// payment method: under 2 KB each).
pub const RECORD_BYTES_INITIAL: usize = 2048;

/// `value` as compact JSON, byte for byte `serde_json::to_string`'s, in a
/// buffer of `capacity_bytes` to begin with.
pub fn to_string_sized<T: Serialize + ?Sized>(
    value: &T,
    capacity_bytes: usize,
) -> serde_json::Result<String> {
    let mut text = Vec::with_capacity(capacity_bytes);
    serde_json::to_writer(&mut text, value)?;
    Ok(String::from_utf8(text).expect("serde_json writes UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_text_is_serde_jsons_whatever_the_first_capacity() {
        let value = json!({
            "id": "evt_1",
            "text": "quote \" backslash \\ newline \n control \u{1} é ✓",
            "data": {"object": {"amount": 1000, "list": [1, 2.5, null, true]}},
            "long": "x".repeat(5000),
        });
        for capacity in [0, 1, 128, RECORD_BYTES_INITIAL, EVENT_BYTES_INITIAL] {
            assert_eq!(
                to_string_sized(&value, capacity).unwrap(),
                serde_json::to_string(&value).unwrap()
            );
        }
    }

    #[test]
    fn a_text_under_the_capacity_is_written_without_growing() {
        let value = json!({"id": "evt_1", "object": "event"});
        let text = to_string_sized(&value, RECORD_BYTES_INITIAL).unwrap();
        assert_eq!(text.capacity(), RECORD_BYTES_INITIAL);
    }
}
