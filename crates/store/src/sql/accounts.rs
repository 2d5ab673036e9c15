//! SQL for merchants, API keys and idempotency keys, plus the one decision
//! both backends share when a key is claimed twice.

use super::{fixed, Dialect, Sql};
use crate::model::{IdempotencyClaim, SqlValue};
use portcullis_domain::api_keys::ApiKeyRecord;
use portcullis_domain::ids::{ApiKeyId, MerchantId};
use portcullis_domain::merchants::Merchant;

fn text(value: &str) -> SqlValue {
    SqlValue::Text(value.to_owned())
}

pub(crate) fn insert_merchant(d: Dialect, m: &Merchant) -> Sql {
    fixed(
        d,
        "INSERT INTO merchants (id, name, created) VALUES (?1, ?2, ?3)",
        vec![
            text(m.id.as_str()),
            text(&m.name),
            SqlValue::Integer(m.created),
        ],
    )
}

pub(crate) fn list_merchants(d: Dialect) -> Sql {
    fixed(
        d,
        "SELECT id, name, created FROM merchants ORDER BY created, id",
        vec![],
    )
}

pub(crate) fn insert_api_key(d: Dialect, k: &ApiKeyRecord) -> Sql {
    fixed(
        d,
        "INSERT INTO api_keys \
         (id, merchant_id, kind, mode, key_hash, display_prefix, created, revoked_at, permissions) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        vec![
            text(k.id.as_str()),
            text(k.merchant_id.as_str()),
            text(k.kind.as_str()),
            text(k.mode.as_str()),
            text(&k.key_hash),
            text(&k.display_prefix),
            SqlValue::Integer(k.created),
            k.revoked_at.map_or(SqlValue::Null, SqlValue::Integer),
            k.permissions
                .as_ref()
                .map_or(SqlValue::Null, |p| SqlValue::Text(p.to_text())),
        ],
    )
}

pub(crate) fn find_api_key_by_hash(d: Dialect, key_hash: &str) -> Sql {
    fixed(
        d,
        "SELECT id, merchant_id, kind, mode, key_hash, display_prefix, created, revoked_at, permissions \
         FROM api_keys WHERE key_hash = ?1",
        vec![text(key_hash)],
    )
}

pub(crate) fn list_api_keys(d: Dialect, merchant_id: &MerchantId) -> Sql {
    fixed(
        d,
        "SELECT id, merchant_id, kind, mode, key_hash, display_prefix, created, revoked_at, permissions \
         FROM api_keys WHERE merchant_id = ?1 ORDER BY created DESC, id",
        vec![text(merchant_id.as_str())],
    )
}

pub(crate) fn revoke_api_key(d: Dialect, key_id: &ApiKeyId, now: i64) -> Sql {
    fixed(
        d,
        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
        vec![text(key_id.as_str()), SqlValue::Integer(now)],
    )
}

pub(crate) fn claim_insert(
    d: Dialect,
    m: &MerchantId,
    key: &str,
    fingerprint: &str,
    now: i64,
) -> Sql {
    fixed(
        d,
        "INSERT INTO idempotency_keys \
         (merchant_id, idempotency_key, request_fingerprint, state, created, locked_at) \
         VALUES (?1, ?2, ?3, 'in_flight', ?4, ?4) ON CONFLICT DO NOTHING",
        vec![
            text(m.as_str()),
            text(key),
            text(fingerprint),
            SqlValue::Integer(now),
        ],
    )
}

/// Reads a claimed key; PostgreSQL locks the row for the takeover decision.
pub(crate) fn claim_select(d: Dialect, m: &MerchantId, key: &str) -> Sql {
    let text_sql = match d {
        Dialect::Sqlite => {
            "SELECT request_fingerprint, state, status_code, response_body, locked_at \
             FROM idempotency_keys WHERE merchant_id = ?1 AND idempotency_key = ?2"
        }
        Dialect::Postgres => {
            "SELECT request_fingerprint, state, status_code, response_body, locked_at \
             FROM idempotency_keys WHERE merchant_id = ?1 AND idempotency_key = ?2 FOR UPDATE"
        }
    };
    fixed(d, text_sql, vec![text(m.as_str()), text(key)])
}

pub(crate) fn claim_take_over(d: Dialect, m: &MerchantId, key: &str, now: i64) -> Sql {
    fixed(
        d,
        "UPDATE idempotency_keys SET locked_at = ?3 \
         WHERE merchant_id = ?1 AND idempotency_key = ?2 AND state = 'in_flight'",
        vec![text(m.as_str()), text(key), SqlValue::Integer(now)],
    )
}

pub(crate) fn complete_idempotency(
    d: Dialect,
    m: &MerchantId,
    key: &str,
    status: u16,
    body: &str,
) -> Sql {
    fixed(
        d,
        "UPDATE idempotency_keys SET state = 'done', status_code = ?3, response_body = ?4 \
         WHERE merchant_id = ?1 AND idempotency_key = ?2 AND state = 'in_flight'",
        vec![
            text(m.as_str()),
            text(key),
            SqlValue::Integer(i64::from(status)),
            text(body),
        ],
    )
}

/// Deletes a claim still held by the request that made it at `claimed_at`
/// (a request whose claim was taken over after its lease cannot release
/// the new holder's).
pub(crate) fn release_idempotency(d: Dialect, m: &MerchantId, key: &str, claimed_at: i64) -> Sql {
    fixed(
        d,
        "DELETE FROM idempotency_keys \
         WHERE merchant_id = ?1 AND idempotency_key = ?2 AND state = 'in_flight' AND locked_at = ?3",
        vec![text(m.as_str()), text(key), SqlValue::Integer(claimed_at)],
    )
}

pub(crate) fn prune_idempotency(d: Dialect, created_before: i64) -> Sql {
    fixed(
        d,
        "DELETE FROM idempotency_keys WHERE created < ?1",
        vec![SqlValue::Integer(created_before)],
    )
}

/// Passkey ceremonies started before `created_before` (each expires a
/// fixed time after its start, so these are all expired once the cutoff
/// is that time ago).
pub(crate) fn prune_passkey_challenges(d: Dialect, created_before: i64) -> Sql {
    fixed(
        d,
        "DELETE FROM account_passkey_challenges WHERE created < ?1",
        vec![SqlValue::Integer(created_before)],
    )
}

/// An idempotency row found when a claim's insert met an existing key.
pub(crate) struct ClaimRow {
    pub fingerprint: String,
    pub done: bool,
    pub status_code: Option<i64>,
    pub response_body: Option<String>,
    pub locked_at: i64,
}

/// What to do about an existing claim.
pub(crate) enum ClaimDecision {
    Answer(IdempotencyClaim),
    /// The holder outlived its lease with the same request: take it over.
    TakeOver,
}

pub(crate) fn decide_claim(
    row: ClaimRow,
    fingerprint: &str,
    now: i64,
    lease_s: i64,
) -> ClaimDecision {
    if row.done {
        let status_code = row
            .status_code
            .and_then(|code| u16::try_from(code).ok())
            .unwrap_or(500);
        return ClaimDecision::Answer(IdempotencyClaim::Completed {
            fingerprint: row.fingerprint,
            status_code,
            response_body: row.response_body.unwrap_or_default(),
        });
    }
    if row.fingerprint == fingerprint && now - row.locked_at > lease_s {
        return ClaimDecision::TakeOver;
    }
    ClaimDecision::Answer(IdempotencyClaim::InFlight {
        fingerprint: row.fingerprint,
    })
}
