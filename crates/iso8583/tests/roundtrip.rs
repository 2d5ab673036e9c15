//! Property: every message the codec can hold encodes and decodes back to
//! itself, under both profiles; and the MAC of a signed message verifies.

use portcullis_iso8583::spec::{Content, FieldSpec, Length, FIELDS};
use portcullis_iso8583::{decode, encode, mac, MacKey, Message, Mti, Profile};
use proptest::prelude::*;

fn content_of(spec: &FieldSpec) -> BoxedStrategy<Vec<u8>> {
    let length: BoxedStrategy<usize> = match spec.length {
        Length::Fixed(n) => Just(n).boxed(),
        Length::LlVar(max) | Length::LllVar(max) => (0..=max).boxed(),
    };
    let unit: BoxedStrategy<u8> = match spec.content {
        Content::Numeric => (b'0'..=b'9').boxed(),
        Content::Track2 => prop_oneof![b'0'..=b'9', Just(b'='), Just(b'D')].boxed(),
        Content::Text => (0x20u8..=0x7e).boxed(),
        Content::Binary => any::<u8>().boxed(),
    };
    length
        .prop_flat_map(move |n| proptest::collection::vec(unit.clone(), n))
        .boxed()
}

fn message() -> impl Strategy<Value = Message> {
    let fields: Vec<_> = FIELDS
        .iter()
        .map(|spec| proptest::option::of(content_of(spec)).prop_map(move |v| (spec.number, v)))
        .collect();
    ("[0-9]{4}", fields).prop_map(|(mti, fields)| {
        let mut message = Message::new(Mti::parse(&mti).unwrap());
        for (number, value) in fields {
            if let Some(value) = value {
                message.set(number, value).unwrap();
            }
        }
        message
    })
}

fn profile() -> impl Strategy<Value = Profile> {
    prop_oneof![Just(Profile::Default), Just(Profile::DefaultAscii)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encode_then_decode_is_identity(message in message(), profile in profile()) {
        let bytes = encode(&message, profile);
        prop_assert_eq!(decode(&bytes, profile).unwrap(), message);
    }

    #[test]
    fn signed_messages_verify(mut message in message(), profile in profile(), key in any::<[u8; 16]>()) {
        let key = MacKey::new(key);
        let bytes = mac::sign(&mut message, profile, &key);
        let decoded = decode(&bytes, profile).unwrap();
        prop_assert_eq!(mac::verify(&bytes, &decoded, profile, &key), Ok(()));
    }

    #[test]
    fn a_truncated_message_is_an_error_never_a_panic(message in message(), profile in profile(), cut in any::<prop::sample::Index>()) {
        let bytes = encode(&message, profile);
        let cut = cut.index(bytes.len());
        prop_assert!(decode(&bytes[..cut], profile).is_err());
    }
}
