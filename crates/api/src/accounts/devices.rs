//! The holder's devices, for the new-device step-up of a payment from the
//! customer balance (issue 15 item 4).
//!
//! Each session is bound to the device it was opened on: an app names one
//! with `device_id` when signing in (a random value it generates once per
//! installation and keeps, 16 to 128 characters), the hosted pages with a
//! long-lived random cookie of their own. Only a keyed digest is stored,
//! on the session ([`AccountSession::device_hash`]). A device becomes known
//! to the account once the holder has proven themself on it: a passkey or
//! emailed-code step-up in a session of that device, or a passkey sign-in
//! (a password step-up does not: the sign-in's own factor). A payment
//! from the balance confirmed with a session whose device is unknown (or
//! that named none) waits for the holder's step-up.
//!
//! [`AccountSession::device_hash`]: portcullis_domain::accounts::AccountSession

use super::records;
use super::session::{self, SignedIn, SESSION_HEADER};
use crate::auth::Caller;
use crate::customer_balance::step_up::HolderDevice;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::wire::Params;
use axum::http::HeaderMap;
use portcullis_store::WriteOp;

/// The sign-in parameter naming the device.
pub const PARAM: &str = "device_id";
/// Shortest device id taken: long enough not to be guessed.
pub const DEVICE_ID_CHARS_MIN: usize = 16;
pub const DEVICE_ID_CHARS_MAX: usize = 128;

/// Reads `device_id` and answers its digest, if given.
pub fn read(state: &AppState, params: &mut Params) -> ApiResult<Option<String>> {
    let Some(id) = params.string(PARAM, DEVICE_ID_CHARS_MAX)? else {
        return Ok(None);
    };
    if id.chars().count() < DEVICE_ID_CHARS_MIN {
        return Err(ApiError::invalid(
            "parameter_invalid",
            format!("device_id must be {DEVICE_ID_CHARS_MIN} to {DEVICE_ID_CHARS_MAX} characters."),
            PARAM,
        ));
    }
    Ok(Some(digest(state, &id)))
}

/// What storage keeps of a device id.
pub fn digest(state: &AppState, device_id: &str) -> String {
    state
        .key_hasher
        .keyed_digest("customer_account_device", device_id)
}

/// The write making the device of `signed_in`'s session known to its
/// account, if it has one the account does not know yet.
pub fn known_write(signed_in: &SignedIn) -> ApiResult<Option<WriteOp>> {
    let Some(hash) = signed_in.session.session.device_hash.as_deref() else {
        return Ok(None);
    };
    let Some(account) = signed_in.account.with_known_device(hash) else {
        return Ok(None);
    };
    records::update_account(&signed_in.scope, &signed_in.account_doc, &account).map(Some)
}

/// The holder whose session a payment confirmation carries (the
/// `Account-Session` header), with whether its device is known; `None`
/// without the header. A header naming no live session is refused.
pub async fn holder_of(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
) -> ApiResult<Option<HolderDevice>> {
    if !headers.contains_key(SESSION_HEADER) {
        return Ok(None);
    }
    let signed_in = session::signed_in(state, caller, headers).await?;
    let device_known = signed_in
        .session
        .session
        .device_hash
        .as_deref()
        .is_some_and(|hash| signed_in.account.knows_device(hash));
    Ok(Some(HolderDevice {
        customer: signed_in.account.customer.to_string(),
        device_known,
    }))
}
