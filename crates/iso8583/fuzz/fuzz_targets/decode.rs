//! `cargo +nightly fuzz run decode`: any bytes through the decoder (both
//! profiles), the MAC check and the framing split. Must never panic; whatever
//! decodes must re-encode to a message that decodes to the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_iso8583::{decode, encode, mac, Framing, MacKey, Profile};

fuzz_target!(|bytes: &[u8]| {
    let key = MacKey::new([7; 16]);
    for profile in [Profile::Default, Profile::DefaultAscii] {
        if let Ok(message) = decode(bytes, profile) {
            let _ = mac::verify(bytes, &message, profile, &key);
            assert_eq!(decode(&encode(&message, profile), profile).as_ref(), Ok(&message));
        }
    }
    for framing in [Framing::Binary2, Framing::Ascii4] {
        let _ = framing.split(bytes, 4096);
    }
});
