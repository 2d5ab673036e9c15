//! The test/live switch: a form (with the session's CSRF token) that sets
//! the mode cookie, for the roles the permission matrix lets see live mode
//! (`Permission::ViewLive`); switching to live is recorded with the user.
//! `session::signed_in` honours the cookie only for such a role, so a role
//! that loses the permission is back in test mode at its next page.

use super::actions::authorised;
use super::audit::{self, Entry};
use super::layout::{error_page, see_other};
use super::session::{self, SignedIn, MODE_COOKIE, SESSION_TTL_S};
use super::users::Permission;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use portcullis_store::WriteSet;

/// The two modes a merchant's objects live in.
pub const MODES: &[&str] = &["test", "live"];

pub async fn switch(
    State(state): State<AppState>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let mode = request.params.string("mode", 4).ok().flatten();
    let live = mode.as_deref() == Some("live");
    let permission = match live {
        true => Permission::ViewLive,
        false => Permission::ViewPayments,
    };
    let (loc, signed) = match authorised(&state, &headers, &mut request, permission).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let result = async {
        std::mem::take(&mut request.params).finish()?;
        if !mode.as_deref().is_some_and(|m| MODES.contains(&m)) {
            return Err(ApiError::invalid(
                "parameter_invalid",
                "mode must be test or live.",
                "mode",
            ));
        }
        if live {
            record_live(&state, &signed, &request).await?;
        }
        Ok::<_, ApiError>(())
    };
    match result.await {
        Ok(()) => {
            let value = if live { "live" } else { "test" };
            let cookie = session::cookie(&state, MODE_COOKIE, value, SESSION_TTL_S);
            let mut response = see_other("/dashboard/payments");
            if let Ok(cookie) = HeaderValue::from_str(&cookie) {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(err) => error_page(&state, loc, &err),
    }
}

/// Access to live data is an audited event (PCI DSS 10.2).
async fn record_live(state: &AppState, signed: &SignedIn, request: &ApiRequest) -> ApiResult<()> {
    let entry = Entry {
        user: Some(&signed.user.id),
        email: Some(&signed.user.email),
        action: "view_live",
        object: None,
        result: None,
        ip: request.client_ip.map(|ip| ip.to_string()),
    };
    let op = audit::record(&signed.home_scope(), entry, state.now())?;
    state.store.commit(WriteSet { ops: vec![op] }).await?;
    Ok(())
}
