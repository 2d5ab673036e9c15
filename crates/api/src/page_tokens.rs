//! Search page tokens (`next_page`, `page`): opaque. A token is the row
//! position where the next page starts, sealed with AES-256-GCM under a key
//! derived from the server's key-hash secret, with the merchant, the mode
//! and the searched table as associated data. So a token reveals nothing
//! (not the platform's row count, which a bare position leaked), cannot be
//! forged or edited, and is refused by any other merchant or search.

use portcullis_store::{Scope, Table};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};

const PREFIX: &str = "page_";
/// Longest token accepted before it is even decoded.
pub const TOKEN_CHARS_MAX: usize = 128;

fn key(state: &crate::state::AppState) -> LessSafeKey {
    let derived = hex::decode(state.key_hasher.keyed_digest("search-page-token", ""))
        .expect("keyed_digest answers hex");
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &derived).expect("a 32-byte key"))
}

fn associated(scope: &Scope, table: Table) -> String {
    format!("{}|{}|{}", scope.merchant_id, scope.livemode, table.name())
}

/// The token for the page after the row at `seq`.
pub fn seal(state: &crate::state::AppState, scope: &Scope, table: Table, seq: i64) -> String {
    let nonce_bytes: [u8; NONCE_LEN] = rand::random();
    let mut sealed = seq.to_be_bytes().to_vec();
    key(state)
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce_bytes),
            Aad::from(associated(scope, table).as_bytes()),
            &mut sealed,
        )
        .expect("sealing eight bytes cannot fail");
    let mut token = nonce_bytes.to_vec();
    token.extend_from_slice(&sealed);
    use base64::Engine;
    format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token)
    )
}

/// The row position a token of this merchant's `table` search names;
/// `None` for anything else.
pub fn open(
    state: &crate::state::AppState,
    scope: &Scope,
    table: Table,
    token: &str,
) -> Option<i64> {
    use base64::Engine;
    let encoded = token.strip_prefix(PREFIX)?;
    let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .ok()?;
    if bytes.len() <= NONCE_LEN {
        return None;
    }
    let mut sealed = bytes.split_off(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(&bytes).ok()?;
    let opened = key(state)
        .open_in_place(
            nonce,
            Aad::from(associated(scope, table).as_bytes()),
            &mut sealed,
        )
        .ok()?;
    Some(i64::from_be_bytes(opened.try_into().ok()?))
}
