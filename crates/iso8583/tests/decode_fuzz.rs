//! The stable-toolchain fuzz run of the decoder (the same property as
//! `fuzz/fuzz_targets/decode.rs`, for CI where cargo-fuzz is not
//! installed): random bytes, and random mutations of valid messages, through
//! `decode` under both profiles, `Framing::split` and `mac::verify`. It must
//! never panic. Runs for `ISO8583_FUZZ_SECONDS` (default 2); `.ci/run` gives
//! it 60. A failure prints the seed; rerun with `ISO8583_FUZZ_SEED=…`.

use portcullis_iso8583::{decode, encode, mac, Framing, MacKey, Message, Mti, Profile};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::{Duration, Instant};

fn seeds() -> Vec<Vec<u8>> {
    let mut authorization = Message::new(Mti::parse("0100").unwrap());
    for (number, value) in [
        (2, "4242424242424242"),
        (3, "000000"),
        (4, "000000001000"),
        (7, "1205101500"),
        (11, "000001"),
        (35, "4242424242424242=3012"),
        (41, "TERM0001"),
        (42, "MERCHANT0000001"),
        (49, "978"),
        (54, "1002978C000000001000"),
        (90, "010000000100120510150000000000000000000000"),
    ] {
        authorization.set_text(number, value).unwrap();
    }
    authorization
        .set(55, vec![0x9f, 0x26, 0x08, 1, 2, 3, 4, 5, 6, 7, 8])
        .unwrap();
    let key = MacKey::new([7; 16]);
    let mut seeds = Vec::new();
    for profile in [Profile::Default, Profile::DefaultAscii] {
        seeds.push(encode(&authorization, profile));
        seeds.push(mac::sign(&mut authorization.clone(), profile, &key));
    }
    seeds
}

fn mutate(rng: &mut StdRng, seed: &[u8]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for _ in 0..rng.gen_range(1..8) {
        match rng.gen_range(0..4) {
            0 if !bytes.is_empty() => {
                let at = rng.gen_range(0..bytes.len());
                bytes[at] = rng.gen();
            }
            1 if !bytes.is_empty() => {
                bytes.truncate(rng.gen_range(0..bytes.len()));
            }
            2 => {
                let at = rng.gen_range(0..=bytes.len());
                bytes.insert(at, rng.gen());
            }
            _ => {
                let at = rng.gen_range(0..=bytes.len());
                let digit = rng.gen_range(b'0'..=b'9');
                bytes.insert(at, digit);
            }
        }
    }
    bytes
}

fn exercise(bytes: &[u8], key: &MacKey) {
    for profile in [Profile::Default, Profile::DefaultAscii] {
        if let Ok(message) = decode(bytes, profile) {
            let _ = mac::verify(bytes, &message, profile, key);
            assert_eq!(
                decode(&encode(&message, profile), profile).as_ref(),
                Ok(&message)
            );
        }
    }
    for framing in [Framing::Binary2, Framing::Ascii4] {
        let _ = framing.split(bytes, 4096);
    }
}

#[test]
fn the_decoder_never_panics_on_any_input() {
    let seconds = std::env::var("ISO8583_FUZZ_SECONDS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(2);
    let seed = std::env::var("ISO8583_FUZZ_SEED")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    eprintln!("decoder fuzz: seed {seed}, {seconds} s");
    let mut rng = StdRng::seed_from_u64(seed);
    let key = MacKey::new([7; 16]);
    let corpus = seeds();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut runs = 0u64;
    while Instant::now() < deadline {
        for _ in 0..1000 {
            let input = if rng.gen_bool(0.2) {
                let length = rng.gen_range(0..300);
                (0..length).map(|_| rng.gen()).collect()
            } else {
                let seed = &corpus[rng.gen_range(0..corpus.len())];
                mutate(&mut rng, seed)
            };
            exercise(&input, &key);
            runs += 1;
        }
    }
    eprintln!("decoder fuzz: {runs} inputs, no panic");
}
