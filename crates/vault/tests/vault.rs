//! The vault through its public API only: sealing, opening, tampering,
//! rotation, fingerprints, and what its `Debug` and errors may show.

use portcullis_domain::cards::CardNumber;
use portcullis_vault::{Kek, Keyring, SealedCard, Vault, VaultError, FINGERPRINT_HEX_DIGITS};
use proptest::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

const TEST_CARDS: [&str; 8] = [
    "4242424242424242",
    "4000056655665556",
    "5555555555554444",
    "5200828282828210",
    "378282246310005",
    "6011111111111117",
    "3056930009020004",
    "6200000000000005",
];

fn card(number: &str) -> CardNumber {
    CardNumber::parse(number).unwrap_or_else(|_| panic!("a valid test card"))
}

/// The hex of every key in the keyring, read back from its text.
fn key_hexes(keyring: &Keyring) -> Vec<String> {
    keyring
        .to_text()
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            line.split_whitespace()
                .last()
                .filter(|word| word.len() == 64)
                .map(str::to_owned)
        })
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[test]
fn seal_then_open_gives_back_every_test_card() {
    let vault = Vault::new(Keyring::generate());
    for number in TEST_CARDS {
        let record_id = format!("card_{number}_record");
        let sealed = vault.seal(&record_id, &card(number)).unwrap();
        assert_eq!(sealed.kek_id, vault.active_kek_id());
        assert_eq!(sealed.wrapped_dek.len(), 12 + 32 + 16);
        assert_eq!(sealed.ciphertext.len(), 12 + number.len() + 16);
        let opened = vault.open(&record_id, &sealed).unwrap();
        assert_eq!(opened.expose_digits(), number);
        assert_eq!(opened.brand(), card(number).brand());
    }
}

#[test]
fn the_ciphertext_hides_the_digits_and_differs_between_two_seals() {
    let vault = Vault::new(Keyring::generate());
    let number = card("4242424242424242");
    let first = vault.seal("card_1", &number).unwrap();
    let second = vault.seal("card_1", &number).unwrap();
    for sealed in [&first, &second] {
        for bytes in [&sealed.ciphertext, &sealed.wrapped_dek] {
            assert!(!contains(bytes, b"4242424242424242"));
            assert!(!contains(bytes, b"42424242"));
        }
        let debug = format!("{sealed:?}");
        assert!(!debug.contains("4242424242424242"), "{debug}");
    }
    assert_ne!(first.ciphertext, second.ciphertext);
    assert_ne!(first.wrapped_dek, second.wrapped_dek);
    assert_ne!(
        first.ciphertext[..12],
        second.ciphertext[..12],
        "fresh nonces"
    );
}

#[test]
fn opening_under_another_record_id_is_tampered() {
    let vault = Vault::new(Keyring::generate());
    let sealed = vault.seal("card_1", &card("4242424242424242")).unwrap();
    for other in ["card_2", "card_1 ", "", "CARD_1", "card_"] {
        assert_eq!(
            vault.open(other, &sealed).unwrap_err(),
            VaultError::Tampered,
            "{other:?}"
        );
    }
}

#[test]
fn a_ciphertext_or_a_wrapped_dek_moved_to_another_record_does_not_open() {
    let vault = Vault::new(Keyring::generate());
    let first = vault.seal("card_1", &card("4242424242424242")).unwrap();
    let second = vault.seal("card_2", &card("5555555555554444")).unwrap();
    let mixed_ciphertext = SealedCard {
        ciphertext: second.ciphertext.clone(),
        ..first.clone()
    };
    let mixed_dek = SealedCard {
        wrapped_dek: second.wrapped_dek.clone(),
        ..first.clone()
    };
    for (record_id, sealed) in [
        ("card_1", &mixed_ciphertext),
        ("card_2", &mixed_ciphertext),
        ("card_1", &mixed_dek),
        ("card_2", &mixed_dek),
    ] {
        assert_eq!(
            vault.open(record_id, sealed).unwrap_err(),
            VaultError::Tampered
        );
    }
}

#[test]
fn flipping_any_byte_of_the_wrapped_dek_or_the_ciphertext_is_tampered() {
    let vault = Vault::new(Keyring::generate());
    let sealed = vault.seal("card_1", &card("378282246310005")).unwrap();
    for index in 0..sealed.wrapped_dek.len() {
        for flip in [0x01, 0x80, 0xff] {
            let mut changed = sealed.clone();
            changed.wrapped_dek[index] ^= flip;
            assert_eq!(
                vault.open("card_1", &changed).unwrap_err(),
                VaultError::Tampered,
                "wrapped_dek[{index}] ^ {flip:#x}"
            );
        }
    }
    for index in 0..sealed.ciphertext.len() {
        for flip in [0x01, 0x80, 0xff] {
            let mut changed = sealed.clone();
            changed.ciphertext[index] ^= flip;
            assert_eq!(
                vault.open("card_1", &changed).unwrap_err(),
                VaultError::Tampered,
                "ciphertext[{index}] ^ {flip:#x}"
            );
        }
    }
    // Truncated, extended or emptied.
    for change in [
        |s: &mut SealedCard| s.ciphertext.truncate(s.ciphertext.len() - 1),
        |s: &mut SealedCard| s.ciphertext.push(0),
        |s: &mut SealedCard| s.ciphertext.clear(),
        |s: &mut SealedCard| s.wrapped_dek.truncate(s.wrapped_dek.len() - 1),
        |s: &mut SealedCard| s.wrapped_dek.push(0),
        |s: &mut SealedCard| s.wrapped_dek.clear(),
    ] {
        let mut changed = sealed.clone();
        change(&mut changed);
        assert_eq!(
            vault.open("card_1", &changed).unwrap_err(),
            VaultError::Tampered
        );
    }
    assert!(vault.open("card_1", &sealed).is_ok(), "the original opens");
}

#[test]
fn an_unknown_kek_id_is_unknown_kek() {
    let vault = Vault::new(Keyring::generate());
    let sealed = vault.seal("card_1", &card("4242424242424242")).unwrap();
    let other_vault = Vault::new(Keyring::generate());
    let err = other_vault.open("card_1", &sealed).unwrap_err();
    assert_eq!(err, VaultError::UnknownKek(sealed.kek_id.clone()));
    assert!(err.to_string().contains(&sealed.kek_id));
    assert_eq!(
        other_vault.rewrap("card_1", &sealed).unwrap_err(),
        VaultError::UnknownKek(sealed.kek_id.clone())
    );
    let renamed = SealedCard {
        kek_id: "kek_ffffffffffffffff".into(),
        ..sealed
    };
    assert_eq!(
        vault.open("card_1", &renamed).unwrap_err(),
        VaultError::UnknownKek("kek_ffffffffffffffff".into())
    );
}

#[test]
fn a_kek_id_changed_to_another_known_kek_is_tampered() {
    let keyring = Keyring::generate();
    let vault = Vault::new(keyring.clone());
    let sealed = vault.seal("card_1", &card("4242424242424242")).unwrap();
    vault.replace_keyring(keyring.rotated());
    let relabelled = SealedCard {
        kek_id: vault.active_kek_id(),
        ..sealed.clone()
    };
    assert_eq!(
        vault.open("card_1", &relabelled).unwrap_err(),
        VaultError::Tampered
    );
    assert!(vault.open("card_1", &sealed).is_ok());
}

#[test]
fn rotation_keeps_old_records_open_and_rewrap_moves_them_to_the_new_kek() {
    let keyring_a = Keyring::generate();
    let old_kek_id = keyring_a.active_kek_id().to_owned();
    let vault = Vault::new(keyring_a.clone());
    let number = card("4242424242424242");
    let kept = vault.seal("card_kept", &number).unwrap();
    let moved = vault.seal("card_moved", &number).unwrap();
    assert_eq!(kept.kek_id, old_kek_id);

    let rotated = keyring_a.rotated();
    let new_kek_id = rotated.active_kek_id().to_owned();
    assert_ne!(new_kek_id, old_kek_id);
    vault.replace_keyring(rotated.clone());
    assert_eq!(vault.active_kek_id(), new_kek_id);
    assert!(vault.knows_kek(&old_kek_id) && vault.knows_kek(&new_kek_id));

    // Old records still open; new ones are sealed under the new KEK.
    assert_eq!(
        vault.open("card_kept", &kept).unwrap().expose_digits(),
        "4242424242424242"
    );
    assert_eq!(vault.seal("card_new", &number).unwrap().kek_id, new_kek_id);

    // Re-wrapping changes the KEK and the wrapped DEK, not the ciphertext.
    let rewrapped = vault.rewrap("card_moved", &moved).unwrap().unwrap();
    assert_eq!(rewrapped.kek_id, new_kek_id);
    assert_eq!(rewrapped.ciphertext, moved.ciphertext);
    assert_ne!(rewrapped.wrapped_dek, moved.wrapped_dek);
    assert_eq!(
        vault
            .open("card_moved", &rewrapped)
            .unwrap()
            .expose_digits(),
        "4242424242424242"
    );
    assert_eq!(
        vault.rewrap("card_other", &moved).unwrap_err(),
        VaultError::Tampered,
        "rewrap checks the record id too"
    );

    // Once the old KEK is retired, only re-wrapped records open.
    vault.replace_keyring(rotated.retire(&old_kek_id).unwrap());
    assert!(!vault.knows_kek(&old_kek_id));
    assert_eq!(
        vault
            .open("card_moved", &rewrapped)
            .unwrap()
            .expose_digits(),
        "4242424242424242"
    );
    assert_eq!(
        vault.open("card_kept", &kept).unwrap_err(),
        VaultError::UnknownKek(old_kek_id.clone())
    );
}

#[test]
fn rewrap_of_a_record_under_the_active_kek_is_none() {
    let vault = Vault::new(Keyring::generate().rotated());
    let sealed = vault.seal("card_1", &card("6011111111111117")).unwrap();
    assert_eq!(vault.rewrap("card_1", &sealed), Ok(None));
    vault.replace_keyring(
        Keyring::parse(&Keyring::generate().to_text())
            .unwrap()
            .rotated(),
    );
    // Under a keyring that lacks its KEK it is no longer "already active".
    assert!(matches!(
        vault.rewrap("card_1", &sealed),
        Err(VaultError::UnknownKek(_))
    ));
}

#[test]
fn a_two_step_rotation_lets_every_instance_open_before_any_seals_with_the_new_kek() {
    let keyring = Keyring::generate();
    let (instance_a, instance_b) = (Vault::new(keyring.clone()), Vault::new(keyring.clone()));
    let added = keyring.with_new_kek();
    let new_kek_id = added.kek_ids().last().unwrap().to_owned();
    instance_a.replace_keyring(added.clone());
    instance_b.replace_keyring(added.clone());
    let activated = added.activate(&new_kek_id).unwrap();
    instance_a.replace_keyring(activated);
    // B has not got the activated keyring yet, yet opens A's new records.
    let sealed = instance_a
        .seal("card_1", &card("4242424242424242"))
        .unwrap();
    assert_eq!(sealed.kek_id, new_kek_id);
    assert_ne!(instance_b.active_kek_id(), new_kek_id);
    assert!(instance_b.open("card_1", &sealed).is_ok());
}

#[test]
fn keyring_text_round_trip_keeps_records_open() {
    let keyring = Keyring::generate().rotated();
    let vault = Vault::new(keyring.clone());
    let sealed = vault.seal("card_1", &card("5555555555554444")).unwrap();
    let fingerprint = vault.fingerprint("acct_1", &card("5555555555554444"));
    let reloaded = Vault::new(Keyring::parse(&keyring.to_text()).unwrap());
    assert_eq!(
        reloaded.open("card_1", &sealed).unwrap().expose_digits(),
        "5555555555554444"
    );
    assert_eq!(
        reloaded.fingerprint("acct_1", &card("5555555555554444")),
        fingerprint
    );
}

#[test]
fn fingerprints_are_stable_per_merchant_and_differ_across_merchants_and_cards() {
    let keyring = Keyring::generate();
    let vault = Vault::new(keyring.clone());
    let visa = vault.fingerprint("acct_1", &card("4242424242424242"));
    assert_eq!(visa.len(), FINGERPRINT_HEX_DIGITS);
    assert_eq!(visa.len(), 32);
    assert!(visa.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
    assert_eq!(
        vault.fingerprint("acct_1", &card("4242 4242 4242 4242")),
        visa,
        "separators do not matter"
    );
    assert_ne!(vault.fingerprint("acct_2", &card("4242424242424242")), visa);
    assert_ne!(vault.fingerprint("acct_1", &card("4000056655665556")), visa);
    // Without the zero byte between them, ("acct_1", "0378…") and
    // ("acct_10", "378…") would be the same HMAC input.
    assert_ne!(
        vault.fingerprint("acct_1", &card("0378282246310005")),
        vault.fingerprint("acct_10", &card("378282246310005")),
    );

    // Rotation keeps the fingerprint key; another keyring has another one.
    vault.replace_keyring(keyring.rotated());
    assert_eq!(vault.fingerprint("acct_1", &card("4242424242424242")), visa);
    let other = Vault::new(Keyring::generate());
    assert_ne!(other.fingerprint("acct_1", &card("4242424242424242")), visa);
    assert!(!visa.contains("4242"));
}

#[test]
fn a_remembered_test_card_fingerprint_follows_a_replaced_fingerprint_key() {
    let first = Keyring::generate();
    let second = Keyring::generate();
    let vault = Vault::new(first.clone());
    let visa = vault.fingerprint("acct_1", &card("4242424242424242"));
    // Asked again: the remembered value is the computed one.
    assert_eq!(vault.fingerprint("acct_1", &card("4242424242424242")), visa);
    assert_eq!(
        Vault::new(first).fingerprint("acct_1", &card("4242424242424242")),
        visa
    );
    // Another fingerprint key: nothing remembered under the old one is used.
    vault.replace_keyring(second.clone());
    let after = vault.fingerprint("acct_1", &card("4242424242424242"));
    assert_ne!(after, visa);
    assert_eq!(
        Vault::new(second).fingerprint("acct_1", &card("4242424242424242")),
        after
    );
}

#[test]
fn wallet_fingerprints_are_keyed_per_merchant_and_provider() {
    let vault = Vault::new(Keyring::generate());
    let buyer = vault.wallet_fingerprint("acct_1", "alipay", "2088000000000001");
    assert_eq!(buyer.len(), FINGERPRINT_HEX_DIGITS);
    assert_eq!(
        vault.wallet_fingerprint("acct_1", "alipay", "2088000000000001"),
        buyer
    );
    assert_ne!(
        vault.wallet_fingerprint("acct_2", "alipay", "2088000000000001"),
        buyer
    );
    assert_ne!(
        vault.wallet_fingerprint("acct_1", "wechat_pay", "2088000000000001"),
        buyer
    );
    assert_ne!(
        vault.wallet_fingerprint("acct_1", "alipay", "2088000000000002"),
        buyer
    );
    assert!(!buyer.contains("2088"));
    let other = Vault::new(Keyring::generate());
    assert_ne!(
        other.wallet_fingerprint("acct_1", "alipay", "2088000000000001"),
        buyer
    );
}

#[test]
fn debug_of_kek_keyring_and_vault_shows_no_key_bytes() {
    let keyring = Keyring::generate().rotated();
    let hexes = key_hexes(&keyring);
    assert_eq!(hexes.len(), 3, "the fingerprint key and two KEKs");
    let vault = Vault::new(keyring.clone());
    let kek = Kek::generate();
    let shown = format!("{keyring:?} {keyring:#?} {vault:?} {vault:#?} {kek:?}");
    for hex in &hexes {
        assert!(!shown.contains(hex.as_str()), "{shown}");
        assert!(!shown.contains(&hex[..16]), "{shown}");
        assert!(!shown.contains(&hex.to_uppercase()), "{shown}");
    }
    for kek_id in keyring.kek_ids() {
        assert!(shown.contains(kek_id), "{shown}");
    }
    assert!(shown.contains(kek.id()));
    assert_eq!(
        format!("{kek:?}"),
        format!("Kek {{ id: {:?}, .. }}", kek.id())
    );
}

#[test]
fn errors_show_no_digits_and_no_key_bytes() {
    let keyring = Keyring::generate();
    let hexes = key_hexes(&keyring);
    let vault = Vault::new(keyring.clone());
    let sealed = vault.seal("card_1", &card("4242424242424242")).unwrap();
    let errors = [
        vault.open("card_2", &sealed).unwrap_err(),
        keyring.retire(keyring.active_kek_id()).unwrap_err(),
        Keyring::parse("fingerprint_key 4242424242424242").unwrap_err(),
        Keyring::parse(&keyring.to_text().replace("active", "actve")).unwrap_err(),
        Keyring::parse(&format!("{}\n", hexes[0])).unwrap_err(),
        VaultError::Randomness,
    ];
    for err in errors {
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("4242"), "{shown}");
        for hex in &hexes {
            assert!(!shown.contains(&hex[..16]), "{shown}");
        }
    }
}

#[test]
fn the_keyring_is_replaced_while_other_threads_seal_and_open() {
    const ROTATIONS_MAX: usize = 20;
    const THREADS: usize = 3;
    let first = Keyring::generate();
    let vault = Arc::new(Vault::new(first.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..THREADS)
        .map(|worker| {
            let (vault, stop) = (Arc::clone(&vault), Arc::clone(&stop));
            thread::spawn(move || {
                let number = card(TEST_CARDS[worker]);
                let mut rounds = 0usize;
                while !stop.load(Ordering::Relaxed) || rounds == 0 {
                    let record_id = format!("card_{worker}_{rounds}");
                    let sealed = vault.seal(&record_id, &number).unwrap();
                    let opened = vault.open(&record_id, &sealed).unwrap();
                    assert_eq!(opened.expose_digits(), number.expose_digits());
                    rounds += 1;
                }
                rounds
            })
        })
        .collect();
    let mut keyring = first;
    for _ in 0..ROTATIONS_MAX {
        // Old KEKs stay, so a record sealed just before a swap still opens.
        keyring = keyring.rotated();
        vault.replace_keyring(keyring.clone());
        thread::yield_now();
    }
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        assert!(worker.join().unwrap() > 0);
    }
    assert_eq!(vault.active_kek_id(), keyring.active_kek_id());
}

/// The check digit that makes `payload` followed by it pass Luhn.
fn luhn_check_digit(payload: &[u8]) -> u8 {
    let sum: u32 = payload
        .iter()
        .rev()
        .enumerate()
        .map(|(position, &digit)| {
            let digit = u32::from(digit);
            if position % 2 == 0 {
                let doubled = digit * 2;
                doubled / 10 + doubled % 10
            } else {
                digit
            }
        })
        .sum();
    u8::try_from((10 - sum % 10) % 10).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_valid_card_number_round_trips_and_rewraps(
        mut payload in proptest::collection::vec(0u8..10, 11..=18),
        record_id in "[a-z_0-9]{1,40}",
        other_record_id in "[a-z_0-9]{1,40}",
    ) {
        payload.push(luhn_check_digit(&payload));
        let digits: String = payload.iter().map(|d| char::from(b'0' + d)).collect();
        let number = CardNumber::parse(&digits).unwrap();
        let keyring = Keyring::generate();
        let vault = Vault::new(keyring.clone());

        let sealed = vault.seal(&record_id, &number).unwrap();
        prop_assert!(!contains(&sealed.ciphertext, digits.as_bytes()));
        let opened = vault.open(&record_id, &sealed).unwrap();
        prop_assert_eq!(opened.expose_digits(), digits.as_str());
        if other_record_id != record_id {
            prop_assert_eq!(vault.open(&other_record_id, &sealed).unwrap_err(), VaultError::Tampered);
        }

        vault.replace_keyring(keyring.rotated());
        let rewrapped = vault.rewrap(&record_id, &sealed).unwrap().unwrap();
        prop_assert_eq!(&rewrapped.ciphertext, &sealed.ciphertext);
        let reopened = vault.open(&record_id, &rewrapped).unwrap();
        prop_assert_eq!(reopened.expose_digits(), digits.as_str());
        prop_assert_eq!(vault.rewrap(&record_id, &rewrapped).unwrap(), None);
    }
}

#[test]
fn secrets_seal_open_rewrap_and_are_bound_to_their_record() {
    let keyring = Keyring::generate();
    let rotated = keyring.rotated();
    let vault = Vault::new(keyring);
    let sealed = vault
        .seal_secret("ca_1", b"{\"private_key\":\"k\"}")
        .unwrap();
    assert!(!String::from_utf8_lossy(&sealed.ciphertext).contains("private_key"));
    assert_eq!(
        &vault.open_secret("ca_1", &sealed).unwrap()[..],
        b"{\"private_key\":\"k\"}"
    );
    assert_eq!(
        vault.open_secret("ca_2", &sealed).map(|_| ()),
        Err(VaultError::Tampered)
    );
    vault.replace_keyring(rotated);
    let rewrapped = vault
        .rewrap("ca_1", &sealed)
        .unwrap()
        .expect("under the old KEK");
    assert_ne!(rewrapped.kek_id, sealed.kek_id);
    assert_eq!(
        &vault.open_secret("ca_1", &rewrapped).unwrap()[..],
        b"{\"private_key\":\"k\"}"
    );
}
