//! Who is signed in: the app's key (publishable, or secret) in
//! `Authorization`, and the customer's session token in `Account-Session`.
//! A session works only in its merchant's scope, until it expires or is
//! revoked, and only while its account is active.

use super::audit::Origin;
use super::records::{self, StoredSession};
use super::{errors, tokens};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::state::AppState;
use axum::http::HeaderMap;
use portcullis_domain::accounts::{AccountStatus, CustomerAccount, Locale};
use portcullis_domain::api_keys::{Access, KeyKind};
use portcullis_store::Doc;

pub const SESSION_HEADER: &str = "account-session";
/// Longest user agent kept with a session or an event.
const USER_AGENT_CHARS_MAX: usize = 256;

/// A signed-in customer.
pub struct SignedIn {
    pub scope: portcullis_store::Scope,
    pub session_doc: Doc,
    pub session: StoredSession,
    pub account_doc: Doc,
    pub account: CustomerAccount,
}

/// Refuses keys that may not call the accounts API: publishable and
/// secret keys may; a restricted key needs `customer_accounts` write.
pub fn allow(caller: &Caller) -> ApiResult<()> {
    match caller.kind {
        KeyKind::Publishable | KeyKind::Secret => Ok(()),
        KeyKind::Restricted => caller.require("customer_accounts", Access::Write),
    }
}

pub async fn signed_in(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
) -> ApiResult<SignedIn> {
    allow(caller)?;
    let token = headers
        .get(SESSION_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|t| t.starts_with(tokens::SESSION_PREFIX) && t.len() <= tokens::TOKEN_CHARS_MAX)
        .ok_or_else(errors::session_required)?;
    let scope = caller.scope();
    let now = state.now();
    let (session_doc, session) =
        records::session_by_digest(state, &scope, &tokens::digest(state, token))
            .await?
            .filter(|(_, stored)| stored.session.is_live(now))
            .ok_or_else(errors::session_required)?;
    let (account_doc, account) = records::account(state, &scope, &session.session.account).await?;
    if account.status() != AccountStatus::Active {
        return Err(errors::session_required());
    }
    Ok(SignedIn {
        scope,
        session_doc,
        session,
        account_doc,
        account,
    })
}

/// The holder of a signed-in call, with where the call came from.
pub struct Holder {
    pub signed_in: SignedIn,
    pub origin: Origin,
}

impl Holder {
    pub fn scope(&self) -> &portcullis_store::Scope {
        &self.signed_in.scope
    }
}

/// The preamble every call on behalf of a signed-in holder shares: its
/// parameters read with `read` (any left over refused), then its session
/// checked; the holder and what `read` took.
pub async fn holder<T>(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    request: &mut crate::wire::ApiRequest,
    read: impl FnOnce(&mut crate::wire::Params) -> ApiResult<T>,
) -> ApiResult<(Holder, T)> {
    let params = &mut request.params;
    let taken = read(params)?;
    std::mem::take(params).finish()?;
    let signed_in = signed_in(state, caller, headers).await?;
    let origin = origin(request.client_ip, headers);
    Ok((Holder { signed_in, origin }, taken))
}

pub fn origin(request_ip: Option<std::net::IpAddr>, headers: &HeaderMap) -> Origin {
    Origin {
        ip: request_ip.map(|ip| ip.to_string()),
        user_agent: headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(USER_AGENT_CHARS_MAX).collect()),
        device_hash: None,
    }
}

/// The language asked for: `locale` if given, else `Accept-Language`.
pub fn locale(named: Option<&str>, headers: &HeaderMap) -> Locale {
    named
        .and_then(Locale::parse)
        .or_else(|| crate::hosted::locale::from_accept_language(headers))
        .unwrap_or_default()
}
