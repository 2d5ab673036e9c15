//! Registered terminals: create (the MAC key shown once, stored sealed by
//! the vault's key-encrypting key), list, revoke, and find by terminal id.
//! A terminal belongs to one merchant and pays in its test mode (live
//! payments are refused before any connector is chosen).

use crate::error::{ApiError, ApiResult};
use crate::payments::cards::{sealed_body, sealed_of};
use portcullis_domain::ids::MerchantId;
use portcullis_iso8583::MacKey;
use portcullis_store::{
    CreatedRange, Doc, ListQuery, PageCursor, ScanOp, ScanQuery, Scope, SqlValue, Store,
    StoreError, Table, WriteOp, WriteSet,
};
use portcullis_vault::Vault;
use rand::Rng;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Characters of a terminal id (DE 41).
pub const TERMINAL_ID_LEN: usize = 8;
/// Characters of a card acceptor id (DE 42).
pub const CARD_ACCEPTOR_ID_LEN: usize = 15;
/// Bytes of a terminal's AES-128 MAC key.
const MAC_KEY_BYTES: usize = 16;
/// New ids drawn before giving up on a collision (36^8 ids: never in practice).
const ID_DRAWS_MAX: usize = 8;
/// Terminals listed per page read from the store.
const LIST_PAGE: usize = 100;

/// A registered terminal as stored; the MAC key only sealed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Terminal {
    pub terminal_id: String,
    pub card_acceptor_id: String,
    pub merchant: String,
    pub created: i64,
    pub revoked_at: Option<i64>,
    /// The MAC key sealed by the vault (`kek_id`, `wrapped_dek`,
    /// `ciphertext`), the record id its associated data.
    pub sealed: serde_json::Value,
}

impl Terminal {
    pub fn scope(&self) -> ApiResult<Scope> {
        let merchant_id = MerchantId::parse(&self.merchant)
            .ok_or_else(|| ApiError::internal(&"a stored terminal names a malformed merchant"))?;
        Ok(Scope {
            merchant_id,
            livemode: false,
        })
    }

    /// The terminal's MAC key, opened from the vault.
    pub fn mac_key(&self, vault: &Vault) -> ApiResult<MacKey> {
        let sealed = sealed_of(&self.sealed.to_string())?;
        let opened = vault
            .open_secret(&self.terminal_id, &sealed)
            .map_err(|e| ApiError::internal(&e))?;
        let bytes: [u8; MAC_KEY_BYTES] = opened
            .as_slice()
            .try_into()
            .map_err(|_| ApiError::internal(&"a sealed MAC key is not 16 bytes"))?;
        Ok(MacKey::new(bytes))
    }

    /// What `terminal list` shows (never the key).
    pub fn listing(&self) -> serde_json::Value {
        serde_json::json!({
            "terminal_id": self.terminal_id,
            "card_acceptor_id": self.card_acceptor_id,
            "merchant": self.merchant,
            "created": self.created,
            "revoked": self.revoked_at.is_some(),
        })
    }
}

/// A terminal just created and its MAC key in clear, shown once.
pub struct NewTerminal {
    pub terminal: Terminal,
    pub mac_key_hex: Zeroizing<String>,
}

/// `length` random characters of `0-9A-Z`.
fn random_id(length: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut rng = rand::rngs::OsRng;
    (0..length)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

/// Registers a terminal of `merchant` with a fresh id, card acceptor id
/// and MAC key.
pub async fn create(
    store: &Store,
    vault: &Vault,
    merchant: &MerchantId,
    now: i64,
) -> ApiResult<NewTerminal> {
    let mut key = Zeroizing::new([0u8; MAC_KEY_BYTES]);
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key[..]);
    let scope = Scope {
        merchant_id: merchant.clone(),
        livemode: false,
    };
    for _ in 0..ID_DRAWS_MAX {
        let terminal_id = random_id(TERMINAL_ID_LEN);
        let sealed = vault
            .seal_secret(&terminal_id, &key[..])
            .map_err(|e| ApiError::internal(&e))?;
        let terminal = Terminal {
            terminal_id: terminal_id.clone(),
            card_acceptor_id: random_id(CARD_ACCEPTOR_ID_LEN),
            merchant: merchant.as_str().to_owned(),
            created: now,
            revoked_at: None,
            sealed: serde_json::from_str(&sealed_body(&sealed))
                .map_err(|e| ApiError::internal(&e))?,
        };
        let mut writes = WriteSet::new();
        writes.push(WriteOp::Insert {
            table: Table::Terminals,
            scope: scope.clone(),
            id: terminal_id,
            created: now,
            columns: columns_of(&terminal, &sealed.kek_id),
            body: body_of(&terminal)?,
        });
        match store.commit(writes).await {
            Ok(()) => {
                return Ok(NewTerminal {
                    terminal,
                    mac_key_hex: Zeroizing::new(hex::encode(&key[..])),
                })
            }
            Err(StoreError::Duplicate) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Err(ApiError::internal(&"no free terminal id was drawn"))
}

fn columns_of(terminal: &Terminal, kek_id: &str) -> Vec<(&'static str, SqlValue)> {
    vec![
        (
            "card_acceptor_id",
            SqlValue::Text(terminal.card_acceptor_id.clone()),
        ),
        ("kek_id", SqlValue::Text(kek_id.to_owned())),
        ("revoked", SqlValue::Bool(terminal.revoked_at.is_some())),
    ]
}

fn body_of(terminal: &Terminal) -> ApiResult<String> {
    serde_json::to_string(terminal).map_err(|e| ApiError::internal(&e))
}

fn parse(doc: &Doc) -> ApiResult<Terminal> {
    serde_json::from_str(&doc.body).map_err(|e| ApiError::internal(&e))
}

/// The terminal with id `terminal_id` (revoked or not), whoever owns it.
pub async fn find(store: &Store, terminal_id: &str) -> ApiResult<Option<(Doc, Terminal)>> {
    if terminal_id.len() != TERMINAL_ID_LEN {
        return Ok(None);
    }
    let query = ScanQuery {
        filters: vec![("id", ScanOp::Equal, SqlValue::Text(terminal_id.to_owned()))],
        created_before: None,
        limit: 1,
    };
    match store.scan(Table::Terminals, &query).await?.pop() {
        Some(found) => {
            let terminal = parse(&found.doc)?;
            Ok(Some((found.doc, terminal)))
        }
        None => Ok(None),
    }
}

/// Every terminal of `merchant`, newest first.
pub async fn list(store: &Store, merchant: &MerchantId) -> ApiResult<Vec<Terminal>> {
    let mut terminals = Vec::new();
    let mut cursor = PageCursor::Newest;
    loop {
        let query = ListQuery {
            scope: Scope {
                merchant_id: merchant.clone(),
                livemode: false,
            },
            filters: vec![],
            one_of: vec![],
            created: CreatedRange::default(),
            cursor,
            limit: LIST_PAGE,
        };
        let page = store.list(Table::Terminals, &query).await?;
        for doc in &page.docs {
            terminals.push(parse(doc)?);
        }
        match (page.has_more, page.docs.last()) {
            (true, Some(last)) => cursor = PageCursor::StartingAfter(last.id.clone()),
            _ => return Ok(terminals),
        }
    }
}

/// Revokes `terminal_id`: its messages are answered 03 from now on, on
/// every instance (each message reads the terminal afresh). Answers
/// `false` for an unknown terminal; revoking twice keeps the first time.
pub async fn revoke(store: &Store, terminal_id: &str, now: i64) -> ApiResult<bool> {
    let Some((doc, mut terminal)) = find(store, terminal_id).await? else {
        return Ok(false);
    };
    if terminal.revoked_at.is_some() {
        return Ok(true);
    }
    terminal.revoked_at = Some(now);
    let kek_id = terminal.sealed["kek_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut writes = WriteSet::new();
    writes.push(WriteOp::Update {
        table: Table::Terminals,
        scope: terminal.scope()?,
        id: doc.id.clone(),
        expected_version: doc.version,
        columns: columns_of(&terminal, &kek_id),
        body: body_of(&terminal)?,
    });
    store.commit(writes).await?;
    Ok(true)
}
