//! `portcullis acquirer-sim`: a standalone acquirer host over ISO 8583 on
//! TCP (2-byte big-endian framing, pyiso8583 `default` layout, unless told
//! otherwise), answering by the sandbox's test-card table, journaling every
//! approval, completion, reversal and refund durably before answering, and
//! injecting faults on request (`--fault KIND:PERCENT`).
//!
//! Each fault strikes after the request was decided and journaled (so the
//! host may have approved what the caller never hears of):
//! `drop` sends no answer; `late` answers after `--late-ms`; `close` closes
//! the connection instead of answering; `garbage` answers unparseable bytes;
//! `duplicate` answers twice. Network management (0800) is never faulted.

mod host;
mod journal;
mod settlement;

use crate::cli::{AcquirerSimArgs, AcquirerSimCommand};
use crate::faults::{Fault, Faults};
use anyhow::Context;
use host::Host;
use portcullis_connectors::iso8583::session::FRAME_MAX;
use portcullis_iso8583::fields::{self, mti, response};
use portcullis_iso8583::{decode, encode, Framing, Message, Profile};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

struct Simulator {
    host: Host,
    faults: Faults<Fault>,
    latency: Duration,
    late: Duration,
    profile: Profile,
    framing: Framing,
}

pub async fn run(args: &AcquirerSimArgs) -> anyhow::Result<()> {
    if let Some(AcquirerSimCommand::Settlement { journal, date, out }) = &args.command {
        anyhow::ensure!(valid_date(date), "--date is YYYY-MM-DD");
        let csv = settlement::settlement_csv(journal, date)?;
        return match out {
            Some(path) => {
                std::fs::write(path, csv).with_context(|| format!("writing {}", path.display()))
            }
            None => {
                print!("{csv}");
                Ok(())
            }
        };
    }
    let listen = args
        .listen
        .as_deref()
        .context("--listen ADDR is required")?;
    let journal = args
        .journal
        .as_deref()
        .context("--journal FILE is required")?;
    let simulator = Arc::new(Simulator {
        host: Host::open(journal).context("opening the journal")?,
        faults: Faults::parse(&args.faults)?,
        latency: Duration::from_millis(args.latency_ms),
        late: Duration::from_millis(args.late_ms),
        profile: Profile::parse(&args.profile).context("--profile is default or default_ascii")?,
        framing: Framing::parse(&args.framing).context("--framing is binary2 or ascii4")?,
    });
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let address = listener.local_addr()?;
    println!("acquirer-sim listening on {address}");
    let accept = async {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(serve_connection(stream, simulator.clone()));
                }
                Err(error) => tracing::warn!(%error, "acquirer-sim accept failed"),
            }
        }
    };
    tokio::select! {
        _ = accept => Ok(()),
        _ = crate::serve::wait_for_signal() => Ok(()),
    }
}

fn valid_date(date: &str) -> bool {
    let bytes = date.as_bytes();
    bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit())
}

/// What the connection's writer is told to do.
enum Output {
    Frame(Vec<u8>),
    Close,
}

async fn serve_connection(stream: TcpStream, simulator: Arc<Simulator>) {
    let (mut reader, mut writer) = stream.into_split();
    let (output, mut outputs) = mpsc::channel::<Output>(256);
    let writing = tokio::spawn(async move {
        while let Some(next) = outputs.recv().await {
            match next {
                Output::Frame(frame) => {
                    if writer.write_all(&frame).await.is_err() {
                        break;
                    }
                }
                Output::Close => break,
            }
        }
        let _ = writer.shutdown().await;
    });
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    'reading: loop {
        loop {
            let (body, used) = match simulator.framing.split(&buffer, FRAME_MAX) {
                Ok(Some((body, used))) => (body.to_vec(), used),
                Ok(None) => break,
                Err(_) => break 'reading,
            };
            buffer.drain(..used);
            tokio::spawn(answer_request(body, simulator.clone(), output.clone()));
        }
        match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(read) => buffer.extend_from_slice(&chunk[..read]),
        }
        if output.is_closed() {
            break;
        }
    }
    drop(output);
    let _ = writing.await;
}

async fn answer_request(body: Vec<u8>, simulator: Arc<Simulator>, output: mpsc::Sender<Output>) {
    let answer = match decode(&body, simulator.profile) {
        Ok(request) => match simulator.host.handle(&request) {
            Ok(Some(answer)) => (request.mti() != mti::NETWORK_MANAGEMENT, answer),
            Ok(None) => return,
            Err(error) => {
                tracing::error!(%error, "acquirer-sim could not journal; closing the connection");
                let _ = output.send(Output::Close).await;
                return;
            }
        },
        Err(error) => match format_error_answer(&error) {
            Some(answer) => (false, answer),
            None => {
                let _ = output.send(Output::Close).await;
                return;
            }
        },
    };
    let (faultable, answer) = answer;
    if !simulator.latency.is_zero() {
        tokio::time::sleep(simulator.latency).await;
    }
    let Ok(frame) = simulator.framing.frame(&encode(&answer, simulator.profile)) else {
        return;
    };
    let fault = if faultable {
        simulator.faults.roll()
    } else {
        None
    };
    match fault {
        None => {
            let _ = output.send(Output::Frame(frame)).await;
        }
        Some(Fault::Drop) => {}
        Some(Fault::Late) => {
            tokio::time::sleep(simulator.late).await;
            let _ = output.send(Output::Frame(frame)).await;
        }
        Some(Fault::Close) => {
            let _ = output.send(Output::Close).await;
        }
        Some(Fault::Garbage) => {
            if let Ok(garbage) = simulator.framing.frame(b"GARBAGE\xff\x00not iso 8583") {
                let _ = output.send(Output::Frame(garbage)).await;
            }
        }
        Some(Fault::Duplicate) => {
            let _ = output.send(Output::Frame(frame.clone())).await;
            let _ = output.send(Output::Frame(frame)).await;
        }
    }
}

/// A 30 (format error) answer when the MTI and STAN of a malformed request
/// are readable.
fn format_error_answer(error: &portcullis_iso8583::DecodeError) -> Option<Message> {
    let partial = error.partial.as_ref()?;
    let stan = partial.text(fields::STAN)?;
    let mut answer = Message::new(partial.mti().response()?);
    answer.set_text(fields::STAN, stan).ok()?;
    answer
        .set_text(fields::RESPONSE_CODE, response::FORMAT_ERROR)
        .ok()?;
    Some(answer)
}
