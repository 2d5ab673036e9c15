//! `bench --terminals`: the ISO 8583 side of the same run. The codec's
//! messages per second on one core (encode, MAC, decode and MAC check of a
//! terminal's 0200, in this process), and terminal authorizations per
//! second: 0200 purchases over `--connections` TCP connections to the
//! gateway's terminal listener, each one a card-present payment through
//! the whole payment path (vault, risk, acquirer, ledger, events).

use anyhow::{bail, Context};
use portcullis_connectors::iso8583::messages::Timestamps;
use portcullis_iso8583::{decode, mac, Framing, MacKey, Message, Mti, Profile};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A registered terminal of the bench's merchant.
pub struct BenchTerminal {
    pub terminal_id: String,
    pub card_acceptor_id: String,
    pub key: MacKey,
}

impl BenchTerminal {
    /// From `portcullis terminal create --json`.
    pub fn from_json(created: &Value) -> anyhow::Result<BenchTerminal> {
        let text = |field: &str| {
            created[field]
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("terminal create printed no {field}"))
        };
        Ok(BenchTerminal {
            terminal_id: text("terminal_id")?,
            card_acceptor_id: text("card_acceptor_id")?,
            key: MacKey::from_hex(&text("mac_key")?).context("a malformed mac_key")?,
        })
    }

    /// A MACed 0200 of 10.00 USD by track 2, with this STAN and DE 7.
    fn purchase(&self, stan: u32, transmission: &str) -> Vec<u8> {
        let mut message = Message::new(Mti::from_digits(*b"0200"));
        let fields = [
            (3, "000000".to_owned()),
            (4, "000000001000".to_owned()),
            (7, transmission.to_owned()),
            (11, format!("{stan:06}")),
            (35, "4242424242424242=3012101".to_owned()),
            (41, self.terminal_id.clone()),
            (42, self.card_acceptor_id.clone()),
            (49, "840".to_owned()),
        ];
        for (number, value) in fields {
            // Every value fits the field table.
            let _ = message.set_text(number, &value);
        }
        mac::sign(&mut message, Profile::Default, &self.key)
    }
}

/// STANs each connection owns within one second of DE 7, so no two
/// purchases of the run share terminal, STAN and DE 7 (a repeat would be
/// answered from the database instead of paid).
const STANS_PER_CONNECTION: u32 = 62_500;
/// Most connections (16 × 62,500 STANs = all 1,000,000).
pub const CONNECTIONS_MAX: usize = 16;

/// Encode, MAC, decode and MAC check of a 0200, on this thread, for
/// `duration`: messages per second on one core.
pub fn codec_per_s(terminal: &BenchTerminal, duration: Duration) -> f64 {
    let started = Instant::now();
    let mut messages = 0u64;
    while started.elapsed() < duration {
        for _ in 0..256 {
            let raw = terminal.purchase((messages % 1_000_000) as u32, "1205101500");
            let decoded = decode(&raw, Profile::Default).expect("our own message decodes");
            mac::verify(&raw, &decoded, Profile::Default, &terminal.key)
                .expect("our own MAC verifies");
            messages += 1;
        }
    }
    messages as f64 / started.elapsed().as_secs_f64()
}

/// What the terminals saw.
#[derive(Default)]
pub struct TerminalLoad {
    pub approved: u64,
    pub other: u64,
    pub elapsed_s: f64,
    pub latencies_us: Vec<u64>,
}

/// 0200 purchases over `connections` connections to `address` for `duration`.
pub async fn drive(
    address: &str,
    terminal: &BenchTerminal,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<TerminalLoad> {
    if connections == 0 || connections > CONNECTIONS_MAX {
        bail!("--terminals drives 1 to {CONNECTIONS_MAX} connections");
    }
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for connection in 0..connections {
        let stream = TcpStream::connect(address)
            .await
            .with_context(|| format!("connecting to the terminal listener {address}"))?;
        let own = BenchTerminal {
            terminal_id: terminal.terminal_id.clone(),
            card_acceptor_id: terminal.card_acceptor_id.clone(),
            key: terminal.key.clone(),
        };
        let first_stan = connection as u32 * STANS_PER_CONNECTION;
        tasks.push(tokio::spawn(async move {
            one_connection(stream, &own, first_stan, deadline).await
        }));
    }
    let mut load = TerminalLoad::default();
    for task in tasks {
        let part = task.await.context("a terminal connection failed")??;
        load.approved += part.approved;
        load.other += part.other;
        load.latencies_us.extend(part.latencies_us);
    }
    load.elapsed_s = started.elapsed().as_secs_f64();
    Ok(load)
}

async fn one_connection(
    mut stream: TcpStream,
    terminal: &BenchTerminal,
    first_stan: u32,
    deadline: Instant,
) -> anyhow::Result<TerminalLoad> {
    stream.set_nodelay(true)?;
    let mut load = TerminalLoad::default();
    let mut sent = 0u32;
    while Instant::now() < deadline {
        let transmission = Timestamps::now().transmission;
        let stan = first_stan + sent % STANS_PER_CONNECTION;
        sent = sent.wrapping_add(1);
        let framed = Framing::Binary2.frame(&terminal.purchase(stan, &transmission))?;
        let began = Instant::now();
        stream.write_all(&framed).await?;
        let mut header = [0u8; 2];
        stream.read_exact(&mut header).await?;
        let mut answer = vec![0u8; usize::from(u16::from_be_bytes(header))];
        stream.read_exact(&mut answer).await?;
        load.latencies_us.push(began.elapsed().as_micros() as u64);
        let approved = decode(&answer, Profile::Default)
            .ok()
            .is_some_and(|m| m.text(39) == Some("00"));
        if approved {
            load.approved += 1;
        } else {
            load.other += 1;
        }
    }
    Ok(load)
}

/// The report's `terminals` member.
pub fn figures(
    codec_per_s: f64,
    load: &TerminalLoad,
    connections: usize,
    http_payments_per_s: f64,
) -> Value {
    let mut sorted = load.latencies_us.clone();
    sorted.sort_unstable();
    let quantile = |q: f64| {
        let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
        sorted
            .get(index)
            .map(|us| (*us as f64 / 10.0).round() / 100.0)
    };
    let per_s = load.approved as f64 / load.elapsed_s.max(f64::EPSILON);
    json!({
        "codec_messages_per_s_per_core": codec_per_s.round(),
        "authorizations_per_s": (per_s * 10.0).round() / 10.0,
        "connections": connections,
        "approved": load.approved,
        "not_approved": load.other,
        "p50_ms": quantile(0.5),
        "p99_ms": quantile(0.99),
        "ratio_to_http_payments": ((per_s / http_payments_per_s.max(f64::EPSILON)) * 1000.0).round() / 1000.0,
    })
}
