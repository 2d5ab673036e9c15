//! What the connectors that are HTTP clients (`processor`, `stripe`)
//! share: their client, their clock, and reading an answer's body with a
//! bound on its size.

use crate::connector::ConnectorError;
use std::time::Duration;

/// Idle keep-alive connections kept to one institution.
const IDLE_CONNECTIONS_MAX: usize = 64;

/// A client whose calls give up after `call_timeout`, following no
/// redirect and using no proxy.
pub(crate) fn client(call_timeout: Duration) -> Result<reqwest::Client, ConnectorError> {
    reqwest::Client::builder()
        .timeout(call_timeout)
        .pool_max_idle_per_host(IDLE_CONNECTIONS_MAX)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(|e| ConnectorError::Unavailable(e.to_string()))
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The body of `response`, at most `max_bytes`; `who` names the other
/// side in errors ("processor", "upstream"). A body too large is an
/// invalid answer; one cut short leaves the outcome unknown.
pub(crate) async fn read_bounded(
    mut response: reqwest::Response,
    max_bytes: usize,
    who: &str,
) -> Result<Vec<u8>, ConnectorError> {
    let mut bytes = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if bytes.len() + chunk.len() > max_bytes {
                    return Err(ConnectorError::InvalidResponse("answer too large".into()));
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(bytes),
            Err(err) if err.is_timeout() => return Err(ConnectorError::Timeout),
            Err(_) => {
                return Err(ConnectorError::Unavailable(format!(
                    "{who} answer cut short"
                )))
            }
        }
    }
}
