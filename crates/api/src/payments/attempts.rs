//! Payment attempts: the durable record that a connector call is in flight.
//!
//! Atomic phases (design.md): before calling a connector, the attempt is
//! committed with the intent (phase one); after the connector answers, the
//! outcome, charge and events are committed together (phase two). An
//! attempt left pending by a crash is resolved by asking the connector what
//! it did ([`crate::payments::recovery`]).

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::stored_json;
use portcullis_domain::ids::new_id;
use portcullis_store::{Doc, ListQuery, PageCursor, Scope, SqlValue, Table, WriteOp};
use serde::{Deserialize, Serialize};

/// What a pending attempt asked the connector to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptKind {
    Authorize,
    Capture,
    Void,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub id: String,
    pub kind: AttemptKind,
    pub payment_intent: String,
    /// For capture and void: the authorization attempt the acquirer knows.
    pub authorization: Option<String>,
    pub amount_minor: i64,
    pub authenticated: bool,
    pub created: i64,
    pub resolved: bool,
    /// The `Idempotency-Key` of the request that made the attempt, so that
    /// a retry of that request knows the attempt for its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// For an authorization: the connector account (`ca_…`) it was sent
    /// to, so recovery asks that one; `None` for the server's connector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_account: Option<String>,
    /// For an authorization: the routing decision its charge shows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<serde_json::Value>,
}

pub const PENDING: &str = "pending";
pub const RESOLVED: &str = "resolved";

impl Attempt {
    pub fn new(
        kind: AttemptKind,
        payment_intent: &str,
        authorization: Option<String>,
        amount_minor: i64,
        created: i64,
    ) -> Self {
        Self {
            id: new_id("pa"),
            kind,
            payment_intent: payment_intent.to_owned(),
            authorization,
            amount_minor,
            authenticated: false,
            created,
            resolved: false,
            idempotency_key: None,
            connector_account: None,
            routing: None,
        }
    }

    /// The attempt, made by a request sent with `idempotency_key`.
    pub fn under_key(self, idempotency_key: Option<&str>) -> Self {
        Self {
            idempotency_key: idempotency_key.map(str::to_owned),
            ..self
        }
    }

    /// Whether a request sent with `idempotency_key` made this attempt: a
    /// retry of it finds its own first send's work, not another request's.
    pub fn made_under(&self, idempotency_key: Option<&str>) -> bool {
        idempotency_key.is_some() && self.idempotency_key.as_deref() == idempotency_key
    }

    /// The id the acquirer knows the authorization by.
    pub fn authorization_id(&self) -> &str {
        self.authorization.as_deref().unwrap_or(&self.id)
    }

    pub fn insert(&self, scope: &Scope) -> ApiResult<WriteOp> {
        Ok(WriteOp::Insert {
            table: Table::PaymentAttempts,
            scope: scope.clone(),
            id: self.id.clone(),
            created: self.created,
            columns: self.columns(),
            body: stored_json::to_string_sized(self, stored_json::RECORD_BYTES_INITIAL)
                .map_err(|e| ApiError::internal(&e))?,
        })
    }

    /// Marks the attempt resolved (phase two).
    pub fn resolve(&self, scope: &Scope, doc_version: i64) -> ApiResult<WriteOp> {
        let resolved = Attempt {
            resolved: true,
            ..self.clone()
        };
        Ok(WriteOp::Update {
            table: Table::PaymentAttempts,
            scope: scope.clone(),
            id: self.id.clone(),
            expected_version: doc_version,
            columns: resolved.update_columns(),
            body: stored_json::to_string_sized(&resolved, stored_json::RECORD_BYTES_INITIAL)
                .map_err(|e| ApiError::internal(&e))?,
        })
    }

    /// The attempt unchanged at a new version: recovery writes it before
    /// asking the acquirer, so the request that made the attempt can no
    /// longer commit an answer recovery may be about to undo (its phase two
    /// names the version it wrote).
    pub fn fence(&self, scope: &Scope, doc_version: i64) -> ApiResult<WriteOp> {
        Ok(WriteOp::Update {
            table: Table::PaymentAttempts,
            scope: scope.clone(),
            id: self.id.clone(),
            expected_version: doc_version,
            columns: self.update_columns(),
            body: stored_json::to_string_sized(self, stored_json::RECORD_BYTES_INITIAL)
                .map_err(|e| ApiError::internal(&e))?,
        })
    }

    /// The indexed columns of a new attempt.
    fn columns(&self) -> Vec<(&'static str, SqlValue)> {
        vec![
            (
                "payment_intent",
                SqlValue::Text(self.payment_intent.clone()),
            ),
            self.state_column(),
        ]
    }

    /// The indexed columns an update writes: the state alone. An attempt's
    /// intent is fixed when it is made, and a column named in an UPDATE has
    /// its index entries rewritten even when its value is unchanged (on
    /// SQLite, a WAL page of `payment_attempts_by_payment_intent` for every
    /// attempt resolved).
    fn update_columns(&self) -> Vec<(&'static str, SqlValue)> {
        vec![self.state_column()]
    }

    fn state_column(&self) -> (&'static str, SqlValue) {
        (
            "state",
            SqlValue::Text(if self.resolved { RESOLVED } else { PENDING }.to_owned()),
        )
    }
}

/// The pending attempt `id` of `scope`, with its stored version.
pub async fn load(state: &AppState, scope: &Scope, id: &str) -> ApiResult<(Doc, Attempt)> {
    let doc = state
        .store
        .get(Table::PaymentAttempts, scope, id)
        .await?
        .ok_or_else(|| ApiError::internal(&"a pending attempt's record is missing"))?;
    let attempt = decode(&doc)?;
    Ok((doc, attempt))
}

fn decode(doc: &Doc) -> ApiResult<Attempt> {
    serde_json::from_str(&doc.body).map_err(|e| ApiError::internal(&e))
}

/// The newest attempt on intent `intent_id`, pending or resolved.
pub async fn newest(
    state: &AppState,
    scope: &Scope,
    intent_id: &str,
) -> ApiResult<Option<Attempt>> {
    let query = ListQuery {
        scope: scope.clone(),
        filters: vec![("payment_intent", SqlValue::Text(intent_id.to_owned()))],
        one_of: vec![],
        created: Default::default(),
        cursor: PageCursor::Newest,
        limit: 1,
    };
    let page = state.store.list(Table::PaymentAttempts, &query).await?;
    page.docs.first().map(decode).transpose()
}

/// Whether the newest attempt on intent `intent_id` is a resolved `kind`
/// attempt made under `idempotency_key`. Asked of an intent already where
/// a `kind` call brings it (succeeded, canceled): then that call is the
/// one that brought it there (nothing after a capture or a void makes
/// attempts), and the request now retried with the key made it — its first
/// send died after the acquirer acted, and recovery committed the rest.
pub async fn finished_under_key(
    state: &AppState,
    scope: &Scope,
    intent_id: &str,
    kind: AttemptKind,
    idempotency_key: Option<&str>,
) -> ApiResult<bool> {
    if idempotency_key.is_none() {
        return Ok(false);
    }
    let newest = newest(state, scope, intent_id).await?;
    Ok(newest.is_some_and(|attempt| {
        attempt.kind == kind && attempt.resolved && attempt.made_under(idempotency_key)
    }))
}

/// Phase one: commits `intent`, now naming `attempt` as pending, with the
/// attempt record and `extra` writes. Another request that changed the
/// intent since it was read makes this a retryable conflict.
pub async fn begin(
    state: &AppState,
    scope: &Scope,
    intent_doc: &Doc,
    intent: &mut portcullis_domain::payment_intents::PaymentIntent,
    attempt: &Attempt,
    mut extra: portcullis_store::WriteSet,
) -> ApiResult<()> {
    intent.pending_attempt = Some(attempt.id.clone());
    extra.push(super::records::update(scope, intent_doc, intent)?);
    extra.push(attempt.insert(scope)?);
    state.store.commit(extra).await?;
    Ok(())
}

/// After the connector call: the intent and the attempt as phase one left
/// them, with their versions, for phase two's writes.
pub async fn reload(
    state: &AppState,
    scope: &Scope,
    intent_id: &str,
    attempt_id: &str,
) -> ApiResult<(
    Doc,
    portcullis_domain::payment_intents::PaymentIntent,
    Doc,
    Attempt,
)> {
    let (intent_doc, intent) = super::records::load(state, scope, intent_id, "intent").await?;
    let (attempt_doc, attempt) = load(state, scope, attempt_id).await?;
    Ok((intent_doc, intent, attempt_doc, attempt))
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_domain::ids::MerchantId;

    fn scope() -> Scope {
        Scope {
            merchant_id: MerchantId::parse("acct_attempts").unwrap(),
            livemode: false,
        }
    }

    fn updated_columns(op: WriteOp) -> Vec<(&'static str, SqlValue)> {
        match op {
            WriteOp::Update { columns, .. } => columns,
            _ => panic!("an update was expected"),
        }
    }

    #[test]
    fn resolving_or_fencing_an_attempt_writes_its_state_and_not_its_fixed_intent() {
        let attempt = Attempt::new(AttemptKind::Authorize, "pi_1", None, 1_000, 1);
        let resolved = updated_columns(attempt.resolve(&scope(), 1).unwrap());
        assert_eq!(
            resolved,
            vec![("state", SqlValue::Text(RESOLVED.to_owned()))]
        );
        let fenced = updated_columns(attempt.fence(&scope(), 1).unwrap());
        assert_eq!(fenced, vec![("state", SqlValue::Text(PENDING.to_owned()))]);
    }

    #[test]
    fn a_new_attempt_writes_its_intent_and_state() {
        let attempt = Attempt::new(AttemptKind::Authorize, "pi_1", None, 1_000, 1);
        let WriteOp::Insert { columns, .. } = attempt.insert(&scope()).unwrap() else {
            panic!("an insert was expected");
        };
        assert_eq!(
            columns,
            vec![
                ("payment_intent", SqlValue::Text("pi_1".to_owned())),
                ("state", SqlValue::Text(PENDING.to_owned())),
            ]
        );
    }
}
