//! One persistent TCP session to an ISO 8583 host: signs on (0800, DE 70 =
//! 001), multiplexes concurrent requests over the connection and matches
//! answers by STAN (DE 11) and RRN (DE 37), bounds the requests in flight,
//! echoes (301) when idle, reconnects with jittered exponential backoff, and
//! signs off (002) on [`Session::sign_off`].
//!
//! An answer that cannot be decoded poisons the connection (its framing can
//! no longer be trusted): it is closed and every request in flight fails
//! with an outcome-unknown error. An answer nobody waits for (late, or a
//! duplicate) is dropped.

use crate::connector::ConnectorError;
use crate::iso8583::messages::Timestamps;
use portcullis_iso8583::fields::{self, mti, network, response};
use portcullis_iso8583::{decode, encode, Framing, Message, Profile};
use rand::Rng;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch, Semaphore};

/// The longest frame accepted from the host.
pub const FRAME_MAX: usize = 8 * 1024;
/// Writes queued per connection before callers wait.
const WRITE_QUEUE_MAX: usize = 256;

/// The addresses a host name may be connected to: each answer checked by
/// the caller (the gateway's SSRF guard), so the connection goes exactly
/// where the check looked.
pub type ResolveFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<SocketAddr>, String>> + Send>>;

/// A resolver of `(host, port)` to checked addresses.
pub type ResolveFn = dyn Fn(&str, u16) -> ResolveFuture + Send + Sync;

/// Resolves `(host, port)` to checked addresses; see [`ResolveFuture`].
#[derive(Clone)]
pub struct CheckedAddresses(pub Arc<ResolveFn>);

impl std::fmt::Debug for CheckedAddresses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CheckedAddresses")
    }
}

/// How a session talks to its host.
#[derive(Clone, Debug)]
pub struct SessionOptions {
    /// `host:port`.
    pub address: String,
    /// When set, the address's host is resolved through it at each
    /// connection and only the addresses it answers are tried; when not,
    /// the address is connected to as written (the settings file's hosts).
    pub resolver: Option<CheckedAddresses>,
    pub profile: Profile,
    pub framing: Framing,
    /// DE 32 of network management messages.
    pub acquirer_id: String,
    pub connect_timeout: Duration,
    /// Bound on one request's answer.
    pub request_timeout: Duration,
    /// Requests in flight on the connection at most; more wait.
    pub in_flight_max: usize,
    /// An echo test after this long without traffic.
    pub echo_idle: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

type Key = (String, String);
type Waiter = oneshot::Sender<Result<Message, ConnectorError>>;

struct Connection {
    writes: mpsc::Sender<Vec<u8>>,
    pending: Arc<Mutex<HashMap<Key, Waiter>>>,
    /// Set when the connection is done for (its reader ended, or it was
    /// closed on purpose); both its tasks then stop.
    closed: Arc<watch::Sender<bool>>,
    last_used: Arc<Mutex<Instant>>,
}

impl Connection {
    fn is_open(&self) -> bool {
        !*self.closed.borrow() && !self.writes.is_closed()
    }

    fn close(&self) {
        self.closed.send_replace(true);
    }
}

struct Reconnect {
    failures: u32,
    not_before: Option<Instant>,
}

/// A shared session; clones share the connection.
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

struct Inner {
    options: SessionOptions,
    connection: tokio::sync::Mutex<Option<Arc<Connection>>>,
    reconnect: Mutex<Reconnect>,
    stan: AtomicU32,
    in_flight: Semaphore,
}

fn key_of(message: &Message) -> Key {
    (
        message.text(fields::STAN).unwrap_or_default().to_owned(),
        message.text(fields::RRN).unwrap_or_default().to_owned(),
    )
}

fn unavailable(reason: impl Into<String>) -> ConnectorError {
    ConnectorError::Unavailable(reason.into())
}

impl Session {
    pub fn new(options: SessionOptions) -> Session {
        let in_flight = Semaphore::new(options.in_flight_max.max(1));
        Session {
            inner: Arc::new(Inner {
                options,
                connection: tokio::sync::Mutex::new(None),
                reconnect: Mutex::new(Reconnect {
                    failures: 0,
                    not_before: None,
                }),
                stan: AtomicU32::new(rand::thread_rng().gen_range(1..999_999)),
                in_flight,
            }),
        }
    }

    pub fn options(&self) -> &SessionOptions {
        &self.inner.options
    }

    /// The next STAN (6 digits, 000001–999999, wrapping).
    pub fn next_stan(&self) -> String {
        let next = self.inner.stan.fetch_add(1, Ordering::Relaxed);
        format!("{:06}", next % 999_999 + 1)
    }

    /// Sends `request` (which carries its STAN and, for financial messages,
    /// its RRN) and waits for the answer with the same STAN and RRN.
    pub async fn call(&self, request: &Message) -> Result<Message, ConnectorError> {
        let deadline = self.inner.options.request_timeout;
        let started = Instant::now();
        let _permit = tokio::time::timeout(deadline, self.inner.in_flight.acquire())
            .await
            .map_err(|_| ConnectorError::Timeout)?
            .map_err(|_| unavailable("session closed"))?;
        let connection = self.connected().await?;
        let remaining = deadline.saturating_sub(started.elapsed());
        exchange(&connection, request, &self.inner.options, remaining).await
    }

    /// The open connection, or a new one (signed on); fails fast while a
    /// reconnect backoff runs.
    async fn connected(&self) -> Result<Arc<Connection>, ConnectorError> {
        let mut slot = self.inner.connection.lock().await;
        if let Some(connection) = slot.as_ref().filter(|c| c.is_open()) {
            return Ok(connection.clone());
        }
        *slot = None;
        if let Some(not_before) = self.inner.reconnect.lock().map_or(None, |r| r.not_before) {
            if Instant::now() < not_before {
                return Err(unavailable("reconnecting to the acquirer (backoff)"));
            }
        }
        match self.open().await {
            Ok(connection) => {
                if let Ok(mut reconnect) = self.inner.reconnect.lock() {
                    reconnect.failures = 0;
                    reconnect.not_before = None;
                }
                *slot = Some(connection.clone());
                Ok(connection)
            }
            Err(error) => {
                self.back_off();
                Err(error)
            }
        }
    }

    fn back_off(&self) {
        let options = &self.inner.options;
        if let Ok(mut reconnect) = self.inner.reconnect.lock() {
            reconnect.failures = reconnect.failures.saturating_add(1);
            let exponent = reconnect.failures.min(16) - 1;
            let ceiling = options
                .backoff_min
                .saturating_mul(1 << exponent)
                .min(options.backoff_max);
            // Full jitter: anywhere between the minimum and the ceiling.
            let wait = rand::thread_rng()
                .gen_range(options.backoff_min..=ceiling.max(options.backoff_min));
            reconnect.not_before = Some(Instant::now() + wait);
        }
    }

    async fn open(&self) -> Result<Arc<Connection>, ConnectorError> {
        let options = &self.inner.options;
        let stream = tokio::time::timeout(options.connect_timeout, connect(options))
            .await
            .map_err(|_| unavailable("connecting to the acquirer timed out"))??;
        let _ = stream.set_nodelay(true);
        let connection = Arc::new(start_connection(stream, options.clone()));
        let answer = exchange(
            &connection,
            &self.network_message(network::SIGN_ON)?,
            options,
            options.request_timeout,
        )
        .await?;
        if answer.text(fields::RESPONSE_CODE) != Some(response::APPROVED) {
            connection.close();
            return Err(unavailable("the acquirer refused sign-on"));
        }
        tokio::spawn(echo_when_idle(Arc::downgrade(&connection), self.clone()));
        Ok(connection)
    }

    fn network_message(&self, code: &str) -> Result<Message, ConnectorError> {
        let mut message = Message::new(mti::NETWORK_MANAGEMENT);
        let build = |message: &mut Message| -> Result<(), portcullis_iso8583::FieldError> {
            message.set_text(
                fields::TRANSMISSION_DATE_TIME,
                &Timestamps::now().transmission,
            )?;
            message.set_text(fields::STAN, &self.next_stan())?;
            message.set_text(fields::ACQUIRER_ID, &self.inner.options.acquirer_id)?;
            message.set_text(fields::NETWORK_MANAGEMENT_CODE, code)
        };
        build(&mut message).map_err(|error| unavailable(format!("building 0800: {error}")))?;
        Ok(message)
    }

    /// Signs off (0800, DE 70 = 002) and closes the connection.
    pub async fn sign_off(&self) {
        let connection = self.inner.connection.lock().await.take();
        if let Some(connection) = connection {
            if let Ok(message) = self.network_message(network::SIGN_OFF) {
                let timeout = self.inner.options.request_timeout;
                let _ = exchange(&connection, &message, &self.inner.options, timeout).await;
            }
            connection.close();
        }
    }
}

/// Registers the request, writes it and waits for its answer.
async fn exchange(
    connection: &Connection,
    request: &Message,
    options: &SessionOptions,
    timeout: Duration,
) -> Result<Message, ConnectorError> {
    let key = key_of(request);
    let framed = options
        .framing
        .frame(&encode(request, options.profile))
        .map_err(|error| ConnectorError::Refused(error.to_string()))?;
    let (sender, receiver) = oneshot::channel();
    {
        let mut pending = connection
            .pending
            .lock()
            .map_err(|_| unavailable("session poisoned"))?;
        if pending.contains_key(&key) {
            return Err(ConnectorError::Refused(
                "a request with this STAN is in flight".into(),
            ));
        }
        pending.insert(key.clone(), sender);
    }
    if let Ok(mut last) = connection.last_used.lock() {
        *last = Instant::now();
    }
    let forget = || {
        if let Ok(mut pending) = connection.pending.lock() {
            pending.remove(&key);
        }
    };
    if connection.writes.send(framed).await.is_err() {
        forget();
        return Err(unavailable("connection to the acquirer closed"));
    }
    match tokio::time::timeout(timeout, receiver).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(_)) => Err(unavailable("connection to the acquirer closed")),
        Err(_) => {
            forget();
            Err(ConnectorError::Timeout)
        }
    }
}

/// A TCP connection to the host, through the checked resolver when set.
async fn connect(options: &SessionOptions) -> Result<TcpStream, ConnectorError> {
    let failed = |error: String| unavailable(format!("connecting to the acquirer: {error}"));
    let Some(resolver) = &options.resolver else {
        return TcpStream::connect(&options.address)
            .await
            .map_err(|error| failed(error.to_string()));
    };
    let (host, port) = options
        .address
        .rsplit_once(':')
        .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)))
        .ok_or_else(|| failed("the address is not host:port".to_owned()))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addresses = (resolver.0)(host, port).await.map_err(failed)?;
    TcpStream::connect(&addresses[..])
        .await
        .map_err(|error| failed(error.to_string()))
}

fn start_connection(stream: TcpStream, options: SessionOptions) -> Connection {
    let (mut reader, mut writer) = stream.into_split();
    let (writes, mut queue) = mpsc::channel::<Vec<u8>>(WRITE_QUEUE_MAX);
    let pending: Arc<Mutex<HashMap<Key, Waiter>>> = Arc::default();
    let closed = Arc::new(watch::Sender::new(false));
    let writer_closed = closed.subscribe();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                next = queue.recv() => match next {
                    Some(frame) => if writer.write_all(&frame).await.is_err() { break },
                    None => break,
                },
                _ = until_closed(writer_closed.clone()) => break,
            }
        }
        queue.close();
        let _ = writer.shutdown().await;
    });
    let reader_pending = pending.clone();
    let reader_closed = closed.clone();
    let reader_watch = closed.subscribe();
    tokio::spawn(async move {
        let failure = tokio::select! {
            failure = read_answers(&mut reader, &options, &reader_pending) => failure,
            _ = until_closed(reader_watch) => unavailable("connection closed"),
        };
        reader_closed.send_replace(true);
        let waiters: Vec<Waiter> = reader_pending
            .lock()
            .map(|mut pending| pending.drain().map(|(_, waiter)| waiter).collect())
            .unwrap_or_default();
        for waiter in waiters {
            let _ = waiter.send(Err(failure.clone()));
        }
    });
    Connection {
        writes,
        pending,
        closed,
        last_used: Arc::new(Mutex::new(Instant::now())),
    }
}

/// Resolves once the connection is marked closed.
async fn until_closed(mut closed: watch::Receiver<bool>) {
    while !*closed.borrow_and_update() {
        if closed.changed().await.is_err() {
            return;
        }
    }
}

/// Reads framed answers and hands each to its waiter, until the connection
/// fails; returns why.
async fn read_answers(
    reader: &mut tokio::net::tcp::OwnedReadHalf,
    options: &SessionOptions,
    pending: &Mutex<HashMap<Key, Waiter>>,
) -> ConnectorError {
    let mut buffer = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        loop {
            let (body, used) = match options.framing.split(&buffer, FRAME_MAX) {
                Ok(Some((body, used))) => (body.to_vec(), used),
                Ok(None) => break,
                Err(error) => return ConnectorError::InvalidResponse(format!("framing: {error}")),
            };
            buffer.drain(..used);
            let answer = match decode(&body, options.profile) {
                Ok(answer) => answer,
                Err(error) => return ConnectorError::InvalidResponse(error.to_string()),
            };
            let waiter = pending
                .lock()
                .ok()
                .and_then(|mut p| p.remove(&key_of(&answer)));
            match waiter {
                Some(waiter) => {
                    let _ = waiter.send(Ok(answer));
                }
                None => tracing::warn!(
                    mti = %answer.mti(),
                    stan = answer.text(fields::STAN).unwrap_or(""),
                    "acquirer answer nobody waits for (late or duplicate); dropped"
                ),
            }
        }
        match reader.read(&mut chunk).await {
            Ok(0) => return unavailable("the acquirer closed the connection"),
            Ok(read) => buffer.extend_from_slice(&chunk[..read]),
            Err(error) => return unavailable(format!("reading from the acquirer: {error}")),
        }
    }
}

/// Sends an echo test (0800, DE 70 = 301) whenever the connection has been
/// idle for `echo_idle`; a failed echo closes the connection.
async fn echo_when_idle(connection: std::sync::Weak<Connection>, session: Session) {
    let idle = session.inner.options.echo_idle;
    loop {
        tokio::time::sleep(idle / 2).await;
        let Some(connection) = connection.upgrade() else {
            return;
        };
        if !connection.is_open() {
            return;
        }
        let quiet = connection
            .last_used
            .lock()
            .map_or(Duration::ZERO, |l| l.elapsed());
        if quiet < idle {
            continue;
        }
        let Ok(echo) = session.network_message(network::ECHO) else {
            return;
        };
        let timeout = session.inner.options.request_timeout;
        let answer = exchange(&connection, &echo, &session.inner.options, timeout).await;
        if !matches!(&answer, Ok(a) if a.text(fields::RESPONSE_CODE) == Some(response::APPROVED)) {
            tracing::warn!("acquirer echo test failed; closing the connection");
            connection.close();
            return;
        }
    }
}
