//! API keys: the merchant's keys (never the keys themselves, only their
//! first characters), and create, roll (a new key of the same kind and
//! mode, the old one revoked) and revoke. A new key is shown once, on the
//! page that answers the form. Revoked keys stop working on every
//! instance within the key cache's time, as with `portcullis key revoke`.

use super::audit::{self, Entry};
use super::layout::{error_page, guard_form, locale, Layout};
use super::pages::{start, when};
use super::session::SignedIn;
use super::users::Permission;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::wire::ApiRequest;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use portcullis_domain::api_keys::{ApiKeyRecord, KeyKind, KeyMode};
use portcullis_domain::ids::ApiKeyId;
use portcullis_store::WriteSet;

pub struct KeyRow {
    pub id: String,
    pub kind: &'static str,
    pub mode: &'static str,
    pub prefix: String,
    pub created: String,
    pub active: bool,
}

#[derive(Template)]
#[template(path = "dashboard/keys.html")]
struct KeysPage {
    l: Layout,
    keys: Vec<KeyRow>,
    /// A key just made, shown this once.
    new_key: Option<String>,
}

async fn keys_page(
    state: &AppState,
    signed: &SignedIn,
    loc: crate::hosted::Locale,
    new_key: Option<String>,
) -> ApiResult<KeysPage> {
    let t = super::texts::of(loc);
    let keys = state
        .store
        .list_api_keys(&signed.user.merchant)
        .await?
        .into_iter()
        .map(|k| KeyRow {
            active: k.is_active(),
            id: k.id.to_string(),
            kind: k.kind.as_str(),
            mode: k.mode.as_str(),
            prefix: k.display_prefix,
            created: when(k.created),
        })
        .collect();
    Ok(KeysPage {
        l: Layout::signed(signed, loc, t.api_keys, "/dashboard/api_keys"),
        keys,
        new_key,
    })
}

pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let s = match start(&state, &headers, &mut request, Permission::ManageKeys).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    if let Err(err) = std::mem::take(&mut request.params).finish() {
        return error_page(&state, s.loc, &err);
    }
    match keys_page(&state, &s.signed, s.loc, None).await {
        Ok(page) => super::layout::page(&state, &page, s.lang_named.then_some(s.loc)),
        Err(err) => error_page(&state, s.loc, &err),
    }
}

/// The signed-in user allowed to manage keys, after the CSRF check.
async fn manager(
    state: &AppState,
    headers: &HeaderMap,
    request: &mut ApiRequest,
) -> Result<(crate::hosted::Locale, SignedIn), Response> {
    let loc = locale(None, headers);
    let signed = guard_form(state, headers, loc).await?;
    let csrf = super::pages::field(request, "csrf_token", 128)
        .ok()
        .flatten();
    let allowed = signed
        .check_csrf(csrf.as_deref())
        .and_then(|()| signed.require(Permission::ManageKeys));
    match allowed {
        Ok(()) => Ok((loc, signed)),
        Err(err) => Err(error_page(state, loc, &err)),
    }
}

async fn record(
    state: &AppState,
    signed: &SignedIn,
    request: &ApiRequest,
    action: &'static str,
    key: &str,
) -> ApiResult<()> {
    let op = audit::record(
        &signed.scope(),
        Entry {
            user: Some(&signed.user.id),
            email: Some(&signed.user.email),
            action,
            object: Some(key),
            result: None,
            ip: request.client_ip.map(|ip| ip.to_string()),
        },
        state.now(),
    )?;
    state.store.commit(WriteSet { ops: vec![op] }).await?;
    Ok(())
}

/// Issues and stores a key; answers it (shown once).
async fn issue(
    state: &AppState,
    signed: &SignedIn,
    kind: KeyKind,
    mode: KeyMode,
) -> ApiResult<(String, String)> {
    let (record, key) = ApiKeyRecord::issue(
        &signed.user.merchant,
        kind,
        mode,
        None,
        &state.key_hasher,
        state.now(),
    );
    state.store.insert_api_key(&record).await?;
    Ok((record.id.to_string(), key.reveal().to_owned()))
}

/// The merchant's own key `id`.
async fn own_key(state: &AppState, signed: &SignedIn, id: &str) -> ApiResult<ApiKeyRecord> {
    let id = ApiKeyId::parse(id).ok_or_else(|| ApiError::no_such("api_key", id, "id"))?;
    state
        .store
        .list_api_keys(&signed.user.merchant)
        .await?
        .into_iter()
        .find(|k| k.id == id && k.is_active())
        .ok_or_else(|| ApiError::no_such("api_key", id.as_str(), "id"))
}

pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let (loc, signed) = match manager(&state, &headers, &mut request).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let result = async {
        let kind = match super::pages::field(&mut request, "kind", 20)?.as_deref() {
            Some("publishable") => KeyKind::Publishable,
            _ => KeyKind::Secret,
        };
        let mode = match super::pages::field(&mut request, "mode", 10)?.as_deref() {
            Some("live") => KeyMode::Live,
            _ => KeyMode::Test,
        };
        std::mem::take(&mut request.params).finish()?;
        let (id, key) = issue(&state, &signed, kind, mode).await?;
        record(&state, &signed, &request, "api_key_create", &id).await?;
        keys_page(&state, &signed, loc, Some(key)).await
    };
    match result.await {
        Ok(page) => super::layout::page(&state, &page, None),
        Err(err) => error_page(&state, loc, &err),
    }
}

pub async fn roll(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Response {
    let (loc, signed) = match manager(&state, &headers, &mut request).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let result = async {
        std::mem::take(&mut request.params).finish()?;
        let old = own_key(&state, &signed, &id).await?;
        let (new_id, key) = issue(&state, &signed, old.kind, old.mode).await?;
        state.store.revoke_api_key(&old.id, state.now()).await?;
        record(&state, &signed, &request, "api_key_roll", &new_id).await?;
        keys_page(&state, &signed, loc, Some(key)).await
    };
    match result.await {
        Ok(page) => super::layout::page(&state, &page, None),
        Err(err) => error_page(&state, loc, &err),
    }
}

pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Response {
    let (loc, signed) = match manager(&state, &headers, &mut request).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let result = async {
        std::mem::take(&mut request.params).finish()?;
        let old = own_key(&state, &signed, &id).await?;
        state.store.revoke_api_key(&old.id, state.now()).await?;
        record(&state, &signed, &request, "api_key_revoke", &id).await?;
        keys_page(&state, &signed, loc, None).await
    };
    match result.await {
        Ok(page) => super::layout::page(&state, &page, None),
        Err(err) => error_page(&state, loc, &err),
    }
}
