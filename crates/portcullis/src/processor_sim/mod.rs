//! `portcullis processor-sim`: a card processor speaking the signed
//! JSON-over-HTTP protocol of `portcullis_connectors::processor` (the one
//! the `processor` connector calls), for tests and demos.
//!
//! It decides by the sandbox's test-card table (the `SandboxAcquirer` itself,
//! with its durable journal when `--journal` is given), approves other
//! approvable cards (4242…) with `--approval-rate` percent, and injects
//! faults (`--fault KIND:PERCENT`, see [`faults`]). Approval rate, faults and
//! latency can be changed while it runs (`POST /_sim/settings`, signed like
//! every request), so a test can make a healthy processor go bad and
//! recover. It shares nothing with the gateway but the secret.

mod faults;
mod handler;
mod idempotency;
mod settings;

use crate::cli::ProcessorSimArgs;
use anyhow::Context;
use portcullis_connectors::{SandboxAcquirer, SandboxOptions};
use std::sync::Arc;

/// Everything a request handler reads.
pub struct Simulator {
    sandbox: SandboxAcquirer,
    secret: Vec<u8>,
    settings: parking_lot::RwLock<settings::SimSettings>,
    keys: idempotency::Keys,
}

pub async fn run(args: &ProcessorSimArgs) -> anyhow::Result<()> {
    anyhow::ensure!(!args.secret.is_empty(), "--secret must not be empty");
    let settings = settings::SimSettings::from_args(args)?;
    let options = SandboxOptions {
        journal_path: args.journal.clone(),
        attempts_max: args.remembered.get()?,
        ..SandboxOptions::default()
    };
    let simulator = Arc::new(Simulator {
        sandbox: SandboxAcquirer::new(options).context("opening the journal")?,
        secret: args.secret.as_bytes().to_vec(),
        settings: parking_lot::RwLock::new(settings),
        keys: idempotency::Keys::default(),
    });
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let address = listener.local_addr()?;
    println!("processor-sim listening on http://{address}");
    axum::serve(listener, handler::routes(simulator))
        .with_graceful_shutdown(crate::serve::wait_for_signal())
        .await
        .context("serving the processor simulator")
}
