//! The terminal listener (`serve --iso8583-listen ADDR`): TCP connections
//! from terminals, each message preceded by a 2-byte big-endian length or
//! 4 ASCII digits, in pyiso8583's `default` or `default_ascii` layout
//! (`iso8583_listen_framing`, `iso8583_listen_profile`). Messages of one
//! connection are answered in order; connections run concurrently, up to a
//! bound.

use super::messages::{handle, Reply};
use crate::state::AppState;
use portcullis_iso8583::{Framing, Profile};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Longest message accepted: the authorization path's fields fit in well
/// under 1 KiB; a longer announced length closes the connection.
const MESSAGE_BYTES_MAX: usize = 4096;
/// Terminal connections served at once; more wait to be accepted.
const CONNECTIONS_MAX: usize = 1024;
/// A connection with no message for this long is closed (terminals echo
/// with 0800/301 to keep theirs open).
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Longest wait for the rest of a message once its length has arrived.
const MESSAGE_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How messages are laid out on the wire.
#[derive(Clone, Copy, Debug)]
pub struct Wire {
    pub profile: Profile,
    pub framing: Framing,
}

impl Default for Wire {
    fn default() -> Self {
        Wire {
            profile: Profile::Default,
            framing: Framing::Binary2,
        }
    }
}

/// Serves terminals on `listener` until `stop` resolves.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    wire: Wire,
    stop: impl std::future::Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(CONNECTIONS_MAX));
    tokio::pin!(stop);
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let accepted = tokio::select! {
            () = &mut stop => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                let state = state.clone();
                tokio::spawn(async move {
                    let _slot = slot;
                    converse(&state, stream, wire).await;
                });
            }
            Err(err) => {
                tracing::warn!(error = %err, "accepting a terminal connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Answers one connection's messages in order until it closes, idles out
/// or sends something that is not ISO 8583.
async fn converse(state: &AppState, mut stream: TcpStream, wire: Wire) {
    let _ = stream.set_nodelay(true);
    loop {
        let message = match read_message(&mut stream, wire.framing).await {
            Some(message) => message,
            None => return,
        };
        match handle(state, &message, wire.profile).await {
            Reply::Send(answer) => {
                let Ok(framed) = wire.framing.frame(&answer) else {
                    return;
                };
                if stream.write_all(&framed).await.is_err() {
                    return;
                }
            }
            Reply::Silent => {}
            Reply::Close => return,
        }
    }
}

/// The next message, or `None` when the connection closed, idled out, or
/// announced a length that cannot be trusted.
async fn read_message(stream: &mut TcpStream, framing: Framing) -> Option<Vec<u8>> {
    let mut header = vec![0u8; framing.header_len()];
    tokio::time::timeout(IDLE_TIMEOUT, stream.read_exact(&mut header))
        .await
        .ok()?
        .ok()?;
    let length = framing.parse_header(&header).ok()?;
    if length == 0 || length > MESSAGE_BYTES_MAX {
        return None;
    }
    let mut message = vec![0u8; length];
    tokio::time::timeout(MESSAGE_READ_TIMEOUT, stream.read_exact(&mut message))
        .await
        .ok()?
        .ok()?;
    Some(message)
}
