//! A webhook endpoint as stored: its body holds the signing secrets only
//! sealed by the vault under the endpoint id (the `sealed` member; the
//! `kek_id` column names their key-encrypting key, as for connector
//! accounts), so the database alone never yields a secret. Rows written
//! before secrets were sealed (`secrets` in the clear, `kek_id` NULL) still
//! read; [`seal_plaintext_endpoints`] seals them when `serve` starts.

use super::endpoints::update_writes;
use crate::error::{ApiError, ApiResult};
use crate::sealed_secrets;
use crate::state::AppState;
use portcullis_domain::webhooks::WebhookEndpoint;
use portcullis_store::{Doc, ScanOp, ScanQuery, SqlValue, StoreError, Table};
use serde_json::Value;

/// Endpoints sealed per scan at start-up.
const SEAL_BATCH: usize = 100;

/// The body to store for `endpoint`, its secrets sealed, and the id of
/// the KEK that wraps them.
pub(super) fn sealed_body(
    state: &AppState,
    endpoint: &WebhookEndpoint,
) -> ApiResult<(String, String)> {
    let mut body = serde_json::to_value(endpoint).map_err(|e| ApiError::internal(&e))?;
    let secrets = body
        .as_object_mut()
        .and_then(|members| members.remove("secrets"))
        .ok_or_else(|| ApiError::internal(&"a webhook endpoint without secrets"))?;
    let sealed = sealed_secrets::seal(&state.vault, &endpoint.id, &secrets)?;
    body["sealed"] = sealed_secrets::to_member(&sealed)?;
    Ok((body.to_string(), sealed.kek_id))
}

/// The endpoint a stored row holds, its secrets opened by the vault.
pub(super) fn parse(state: &AppState, doc: &Doc) -> ApiResult<WebhookEndpoint> {
    let mut body: Value = serde_json::from_str(&doc.body).map_err(|e| ApiError::internal(&e))?;
    if let Some(member) = body.as_object_mut().and_then(|m| m.remove("sealed")) {
        let sealed = sealed_secrets::from_member(&member)?;
        body["secrets"] = sealed_secrets::open::<Value>(&state.vault, &doc.id, &sealed)?;
    }
    serde_json::from_value(body).map_err(|e| ApiError::internal(&e))
}

/// Seals the secrets of every endpoint still holding them in the clear
/// (written before they were sealed); answers how many. Idempotent: a
/// sealed row has a `kek_id`, so a second run finds nothing.
pub async fn seal_plaintext_endpoints(state: &AppState) -> ApiResult<u64> {
    let plaintext = ScanQuery {
        filters: vec![("kek_id", ScanOp::IsNull, SqlValue::Null)],
        created_before: None,
        limit: SEAL_BATCH,
    };
    let mut sealed = 0;
    loop {
        let batch = state
            .store
            .scan(Table::WebhookEndpoints, &plaintext)
            .await?;
        if batch.is_empty() {
            return Ok(sealed);
        }
        for found in batch {
            let endpoint = parse(state, &found.doc)?;
            let writes = update_writes(state, &found.scope, &found.doc, &endpoint, &endpoint)?;
            match state.store.commit(writes).await {
                Ok(()) => sealed += 1,
                // Changed meanwhile (and sealed by that change, or seen again).
                Err(StoreError::Conflict) => {}
                Err(err) => return Err(err.into()),
            }
        }
    }
}
