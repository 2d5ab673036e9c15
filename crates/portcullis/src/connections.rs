//! The cap on open connections, in front of TLS and HTTP.
//!
//! Every accepted TCP connection takes a slot; at most `connections_max`
//! are open at once, so a flood of sockets cannot use up the process's file
//! descriptors and starve real clients (`/health` included). When every
//! slot is taken, the oldest connection that has not sent a single byte is
//! closed to make room — a client that connects and stays silent is the
//! cheapest to lose and the likeliest attacker. When every open connection
//! has spoken, the new one is refused: on plain HTTP with a `503` and
//! `Retry-After`, under TLS (where nothing readable can be sent before the
//! handshake) by closing it. Silent and stalled connections are cut anyway
//! by the first-request and header timeouts set in `serve`.

use axum_server::accept::Accept;
use futures_util::task::AtomicWaker;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Connection-level bounds, set in `serve`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Most connections open at once (see the module docs).
    pub connections_max: usize,
    /// A new connection must complete its TLS handshake, and then each
    /// request head must arrive, within this time; it also bounds how long
    /// a kept-alive connection may sit idle between requests.
    pub header_timeout_ms: u64,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            connections_max: 512,
            header_timeout_ms: 10_000,
        }
    }
}

impl ConnectionLimits {
    pub fn header_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.header_timeout_ms)
    }
}

/// What a refused connection is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A plain-HTTP `503 Service Unavailable` with `Retry-After`, then close.
    Http503,
    /// Close at once (TLS: no readable answer exists before the handshake).
    Close,
}

/// The answer written to a refused plain-HTTP connection: Stripe's error
/// shape, as every other answer.
fn refused_response() -> String {
    let body = r#"{"error":{"type":"api_error","message":"Too many open connections; retry after 1 second."}}"#;
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nStripe-Should-Retry: true\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// One open connection.
struct Slot {
    /// Set by the first byte read: the client has spoken.
    spoke: AtomicBool,
    /// Set when the slot was taken back for a newer connection.
    evicted: AtomicBool,
    /// Wakes the connection's pending read so it sees `evicted`.
    reader: AtomicWaker,
}

#[derive(Default)]
struct Registry {
    /// Open connections by acceptance order (oldest first).
    open: BTreeMap<u64, Arc<Slot>>,
    accepted_total: u64,
}

/// An acceptor that holds every connection to a slot, then hands it on.
#[derive(Clone)]
pub struct ConnectionCap<A> {
    inner: A,
    registry: Arc<Mutex<Registry>>,
    connections_max: usize,
    refusal: Refusal,
}

impl<A> ConnectionCap<A> {
    pub fn new(inner: A, connections_max: usize, refusal: Refusal) -> Self {
        Self {
            inner,
            registry: Arc::new(Mutex::new(Registry::default())),
            connections_max,
            refusal,
        }
    }

    /// A slot for a new connection, evicting the oldest silent one if all
    /// are taken; `None` when every open connection has spoken.
    fn take_slot(&self) -> Option<(u64, Arc<Slot>)> {
        let mut registry = self.registry.lock();
        if registry.open.len() >= self.connections_max {
            let silent = registry
                .open
                .iter()
                .find(|(_, slot)| !slot.spoke.load(Ordering::Acquire))
                .map(|(id, _)| *id)?;
            if let Some(slot) = registry.open.remove(&silent) {
                slot.evicted.store(true, Ordering::Release);
                slot.reader.wake();
                tracing::debug!("closed the oldest silent connection to make room");
            }
        }
        registry.accepted_total += 1;
        let id = registry.accepted_total;
        let slot = Arc::new(Slot {
            spoke: AtomicBool::new(false),
            evicted: AtomicBool::new(false),
            reader: AtomicWaker::new(),
        });
        registry.open.insert(id, slot.clone());
        Some((id, slot))
    }
}

type Accepting<T> = Pin<Box<dyn Future<Output = io::Result<T>> + Send>>;

impl<A, S> Accept<TcpStream, S> for ConnectionCap<A>
where
    A: Accept<CappedStream, S> + Clone + Send + Sync + 'static,
    A::Future: Send,
    S: Send + 'static,
{
    type Stream = A::Stream;
    type Service = A::Service;
    type Future = Accepting<(A::Stream, A::Service)>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let taken = self.take_slot();
        let refusal = self.refusal;
        let registry = self.registry.clone();
        let inner = self.inner.clone();
        Box::pin(async move {
            let Some((id, slot)) = taken else {
                tracing::warn!("connection refused: every connection slot is taken");
                if refusal == Refusal::Http503 {
                    // Best effort: a fresh socket's send buffer takes this at once.
                    let _ = stream.try_write(refused_response().as_bytes());
                }
                return Err(io::Error::other("connection cap reached"));
            };
            let capped = CappedStream {
                inner: stream,
                id,
                slot,
                registry,
            };
            inner.accept(capped, service).await
        })
    }
}

/// A TCP stream holding a connection slot until it is dropped.
pub struct CappedStream {
    inner: TcpStream,
    id: u64,
    slot: Arc<Slot>,
    registry: Arc<Mutex<Registry>>,
}

impl Drop for CappedStream {
    fn drop(&mut self) {
        self.registry.lock().open.remove(&self.id);
    }
}

impl AsyncRead for CappedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.slot.reader.register(cx.waker());
        if self.slot.evicted.load(Ordering::Acquire) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "closed to make room for a newer connection",
            )));
        }
        let filled_before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > filled_before {
            self.slot.spoke.store(true, Ordering::Release);
        }
        polled
    }
}

impl AsyncWrite for CappedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
