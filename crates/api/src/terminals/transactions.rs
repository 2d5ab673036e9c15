//! What each terminal sent and was answered, in the database: a 0100/0200
//! is keyed by (terminal, STAN, DE 7), so its repeat answers the first
//! answer again on any instance and after any restart, and a 0400 finds
//! the original by DE 90 (the same key) or by terminal, STAN and date.

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use portcullis_store::{
    Doc, ScanOp, ScanQuery, Scope, SqlValue, StoreError, Table, WriteOp, WriteSet,
};
use serde::{Deserialize, Serialize};

/// The key of a terminal's financial message: terminal id, STAN (DE 11),
/// transmission date and time (DE 7, MMDDhhmmss).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageKey {
    pub terminal_id: String,
    pub stan: String,
    pub transmission: String,
}

impl MessageKey {
    /// The stored record's id: a keyed digest, so ids say nothing of the
    /// terminal's traffic and cannot be guessed.
    pub fn record_id(&self, state: &AppState) -> String {
        let data = format!(
            "{}\u{0}{}\u{0}{}",
            self.terminal_id, self.stan, self.transmission
        );
        format!(
            "ttx_{}",
            &state.key_hasher.keyed_digest("terminal_transaction", &data)[..32]
        )
    }

    /// The payment intent the message creates: derived from the key, so a
    /// repeat after a crash between the two commits finds the same intent
    /// instead of charging the card again.
    pub fn intent_id(&self, state: &AppState) -> String {
        let data = format!(
            "{}\u{0}{}\u{0}{}",
            self.terminal_id, self.stan, self.transmission
        );
        format!(
            "pi_{}",
            &state
                .key_hasher
                .keyed_digest("terminal_payment_intent", &data)[..24]
        )
    }

    /// Terminal, STAN and the date (MMDD of DE 7): how a 0400 without DE 90
    /// names its original.
    pub fn original_key(&self) -> String {
        let date = self.transmission.get(..4).unwrap_or_default();
        format!("{}:{}:{date}", self.terminal_id, self.stan)
    }
}

/// How the gateway answered a financial message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answered {
    /// DE 39.
    pub response_code: String,
    /// DE 38, on an approval.
    pub authorization_code: Option<String>,
}

impl Answered {
    /// A refusal: DE 39 `code`, no DE 38.
    pub fn refused(code: &str) -> Answered {
        Answered {
            response_code: code.to_owned(),
            authorization_code: None,
        }
    }
}

/// A reversal (0400) the gateway carried out for a terminal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reversed {
    /// `canceled` (the authorization was voided), `refunded` (the purchase
    /// was refunded) or `nothing` (the original was not approved).
    pub action: String,
    pub at: i64,
}

/// A terminal's 0100/0200, its answer, and its reversal if any.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalTransaction {
    pub id: String,
    pub terminal_id: String,
    pub stan: String,
    pub transmission: String,
    /// The MTI the terminal sent (`0100` or `0200`).
    pub mti: String,
    pub payment_intent: String,
    pub answered: Answered,
    pub reversed: Option<Reversed>,
    /// DE 3 of a refund (`200000`); `None` for a purchase or authorization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processing_code: Option<String>,
}

fn parse(doc: &Doc) -> ApiResult<TerminalTransaction> {
    serde_json::from_str(&doc.body).map_err(|e| ApiError::internal(&e))
}

fn body_of(record: &TerminalTransaction) -> ApiResult<String> {
    serde_json::to_string(record).map_err(|e| ApiError::internal(&e))
}

/// The insert that records `record`, committed with the payment's phase
/// two; a second insert for the same key fails `Duplicate`.
pub fn insert(scope: &Scope, record: &TerminalTransaction, now: i64) -> ApiResult<WriteOp> {
    let key = MessageKey {
        terminal_id: record.terminal_id.clone(),
        stan: record.stan.clone(),
        transmission: record.transmission.clone(),
    };
    Ok(WriteOp::Insert {
        table: Table::TerminalTransactions,
        scope: scope.clone(),
        id: record.id.clone(),
        created: now,
        columns: columns_of(record, &key),
        body: body_of(record)?,
    })
}

/// The update that records `record`'s reversal.
pub fn update(scope: &Scope, doc: &Doc, record: &TerminalTransaction) -> ApiResult<WriteOp> {
    let key = MessageKey {
        terminal_id: record.terminal_id.clone(),
        stan: record.stan.clone(),
        transmission: record.transmission.clone(),
    };
    Ok(WriteOp::Update {
        table: Table::TerminalTransactions,
        scope: scope.clone(),
        id: doc.id.clone(),
        expected_version: doc.version,
        columns: columns_of(record, &key),
        body: body_of(record)?,
    })
}

fn columns_of(record: &TerminalTransaction, key: &MessageKey) -> Vec<(&'static str, SqlValue)> {
    vec![
        ("terminal_id", SqlValue::Text(record.terminal_id.clone())),
        ("original_key", SqlValue::Text(key.original_key())),
        (
            "payment_intent",
            SqlValue::Text(record.payment_intent.clone()),
        ),
    ]
}

/// The record of the message `key`, if it was answered.
pub async fn find(
    state: &AppState,
    scope: &Scope,
    key: &MessageKey,
) -> ApiResult<Option<(Doc, TerminalTransaction)>> {
    match state
        .store
        .get(Table::TerminalTransactions, scope, &key.record_id(state))
        .await?
    {
        Some(doc) => {
            let record = parse(&doc)?;
            Ok(Some((doc, record)))
        }
        None => Ok(None),
    }
}

/// For a message that names an original by DE 90 (a refund, a
/// completion): `Err` with the answer to give at once (the message's own
/// recorded answer when it is a repeat, else 25 when `original` is not an
/// approved purchase or authorization of `terminal` among `mtis`), or the
/// original's record.
pub async fn answered_or_original(
    state: &AppState,
    scope: &Scope,
    terminal: &super::registry::Terminal,
    key: &MessageKey,
    original: &MessageKey,
    mtis: &[&str],
) -> ApiResult<Result<TerminalTransaction, Answered>> {
    if let Some((_, record)) = find(state, scope, key).await? {
        return Ok(Err(record.answered));
    }
    let found = find(state, scope, original)
        .await?
        .map(|(_, record)| record)
        .filter(|r| {
            r.terminal_id == terminal.terminal_id
                && r.processing_code.is_none()
                && mtis.contains(&r.mti.as_str())
                && r.answered.response_code == portcullis_iso8583::fields::response::APPROVED
        });
    Ok(found.ok_or_else(|| Answered::refused(portcullis_iso8583::fields::response::NO_ORIGINAL)))
}

/// Commits `record` (a refund's or a completion's answer) with `writes`,
/// the phase two of what it answers; the answer, the first one when a
/// repeat got there first, or `None` when nothing committed (the terminal
/// repeats the message).
pub async fn record(
    state: &AppState,
    scope: &Scope,
    record: TerminalTransaction,
    mut writes: WriteSet,
) -> ApiResult<Option<Answered>> {
    writes.push(insert(scope, &record, state.now())?);
    match state.store.commit(writes).await {
        Ok(()) => Ok(Some(record.answered)),
        Err(StoreError::Duplicate) => Ok(state
            .store
            .get(Table::TerminalTransactions, scope, &record.id)
            .await?
            .map(|doc| parse(&doc))
            .transpose()?
            .map(|found| found.answered)),
        Err(err) => {
            tracing::warn!(error = %err, record = %record.id, mti = %record.mti, "a terminal's answer did not commit; the terminal repeats its message");
            Ok(None)
        }
    }
}

/// Records at most this many candidates for a 0400 named by terminal,
/// STAN and date (the same STAN on the same day is a terminal's mistake).
const ORIGINALS_MAX: usize = 2;

/// The record a 0400 without DE 90 names by terminal, STAN and date;
/// `None` when there is none or the name is ambiguous.
pub async fn find_by_original_key(
    state: &AppState,
    original_key: &str,
) -> ApiResult<Option<(Doc, TerminalTransaction)>> {
    let query = ScanQuery {
        filters: vec![(
            "original_key",
            ScanOp::Equal,
            SqlValue::Text(original_key.to_owned()),
        )],
        created_before: None,
        limit: ORIGINALS_MAX,
    };
    let mut found = state
        .store
        .scan(Table::TerminalTransactions, &query)
        .await?;
    if found.len() != 1 {
        return Ok(None);
    }
    let found = found.remove(0);
    let record = parse(&found.doc)?;
    Ok(Some((found.doc, record)))
}
