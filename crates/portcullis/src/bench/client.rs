//! The load generator's HTTP client: one keep-alive HTTP/1.1 connection per
//! worker (hyper's connection API, no pool, no proxy), reconnecting after a
//! transport error.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::Request;
use hyper_util::rt::TokioIo;

/// Longest answer body read; larger answers count as errors.
const ANSWER_BYTES_MAX: usize = 1024 * 1024;

/// What a request sends.
pub struct Call<'a> {
    pub path: &'a str,
    pub body: Bytes,
    pub content_type: &'static str,
    pub idempotency_key: Option<&'a str>,
}

/// What came back.
pub struct Answer {
    pub status: u16,
    pub replayed: bool,
    pub body: Bytes,
}

/// One worker's connection to the target.
pub struct Connection {
    address: String,
    authorization: String,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Connection {
    /// `base_url` is `http://HOST:PORT` (plain HTTP, loopback).
    pub fn new(base_url: &str, secret_key: &str) -> Self {
        Self {
            address: base_url.trim_start_matches("http://").to_owned(),
            authorization: format!("Bearer {secret_key}"),
            sender: None,
        }
    }

    async fn connect(&mut self) -> anyhow::Result<&mut SendRequest<Full<Bytes>>> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            let stream = tokio::net::TcpStream::connect(&self.address).await?;
            stream.set_nodelay(true)?;
            let (sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(connection);
            self.sender = Some(sender);
        }
        Ok(self.sender.as_mut().expect("connected above"))
    }

    /// Sends `call` and reads the whole answer. A transport error drops the
    /// connection; the next call reconnects.
    pub async fn send(&mut self, call: &Call<'_>) -> anyhow::Result<Answer> {
        let mut request = Request::post(call.path)
            .header("host", &self.address)
            .header("authorization", &self.authorization)
            .header("content-type", call.content_type);
        if let Some(key) = call.idempotency_key {
            request = request.header("idempotency-key", key);
        }
        self.exchange(request.body(Full::new(call.body.clone()))?)
            .await
    }

    /// `GET path` (with the query), answered in full.
    pub async fn get(&mut self, path: &str) -> anyhow::Result<Answer> {
        let request = Request::get(path)
            .header("host", &self.address)
            .header("authorization", &self.authorization)
            .body(Full::new(Bytes::new()))?;
        self.exchange(request).await
    }

    async fn exchange(&mut self, request: Request<Full<Bytes>>) -> anyhow::Result<Answer> {
        let outcome = async {
            let sender = self.connect().await?;
            sender.ready().await?;
            let response = sender.send_request(request).await?;
            let status = response.status().as_u16();
            let replayed = response.headers().contains_key("idempotent-replayed");
            let body = response.into_body().collect().await?.to_bytes();
            anyhow::ensure!(body.len() <= ANSWER_BYTES_MAX, "answer too large");
            Ok(Answer {
                status,
                replayed,
                body,
            })
        }
        .await;
        if outcome.is_err() {
            self.sender = None;
        }
        outcome
    }
}

/// `GET path` on a fresh connection to `base_url`; the body as text when
/// the answer is 200.
pub async fn get_text(base_url: &str, path: &str) -> anyhow::Result<String> {
    let address = base_url.trim_start_matches("http://");
    let stream = tokio::net::TcpStream::connect(address).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let task = tokio::spawn(connection);
    let request = Request::get(path)
        .header("host", address)
        .body(Full::new(Bytes::new()))?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    task.abort();
    anyhow::ensure!(status == 200, "GET {path} answered {status}");
    anyhow::ensure!(body.len() <= ANSWER_BYTES_MAX, "answer too large");
    Ok(String::from_utf8_lossy(&body).into_owned())
}
