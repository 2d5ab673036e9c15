//! `portcullis sandbox-acquirer`: the sandbox acquirer as its own process,
//! serving the [`Connector`] calls over the HTTP/JSON protocol of
//! `portcullis_connectors::remote::protocol`, with its journal in a file of
//! its own. A gateway started with `connector_url` calls it; killing the
//! gateway leaves the acquirer's memory (and journal) intact, which is what
//! `portcullis soak` needs to check recovery against the acquirer's truth.

use crate::cli::SandboxAcquirerArgs;
use anyhow::Context;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use portcullis_connectors::remote::protocol::*;
use portcullis_connectors::{
    AttemptRecord, AuthorizeOutcome, CaptureOutcome, Connector, RefundOutcome, SandboxAcquirer,
    SandboxOptions,
};
use std::sync::Arc;
use std::time::Duration;

type Sandbox = Arc<SandboxAcquirer>;

pub async fn run(args: &SandboxAcquirerArgs) -> anyhow::Result<()> {
    let options = SandboxOptions {
        call_latency: Duration::from_millis(args.latency_ms),
        journal_path: Some(args.journal.clone()),
        attempts_max: args.remembered.get()?,
        ..SandboxOptions::default()
    };
    let sandbox = Arc::new(SandboxAcquirer::new(options).context("opening the journal")?);
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let address = listener.local_addr()?;
    anyhow::ensure!(
        address.ip().is_loopback(),
        "the sandbox acquirer listens on loopback addresses only"
    );
    println!("sandbox acquirer listening on http://{address}");
    axum::serve(listener, routes(sandbox))
        .with_graceful_shutdown(crate::serve::wait_for_signal())
        .await
        .context("serving the sandbox acquirer")
}

fn routes(sandbox: Sandbox) -> Router {
    Router::new()
        .route(AUTHORIZE_PATH, post(authorize))
        .route(CAPTURE_PATH, post(capture))
        .route(VOID_PATH, post(void))
        .route(REFUND_PATH, post(refund))
        .route(REFUND_STATUS_PATH, post(refund_status))
        .route(CANCEL_REFUND_PATH, post(cancel_refund))
        .route(QUERY_PATH, post(query))
        .route(ATTEMPTS_PATH, get(attempts))
        .with_state(sandbox)
}

async fn authorize(
    State(sandbox): State<Sandbox>,
    Json(body): Json<AuthorizeBody>,
) -> Json<Reply<AuthorizeOutcome>> {
    let card = match body.card() {
        Ok(card) => card,
        Err(error) => return Json(Reply::Error(error)),
    };
    let request = body.request(&card);
    Json(sandbox.authorize(&request).await.into())
}

async fn capture(
    State(sandbox): State<Sandbox>,
    Json(body): Json<CaptureBody>,
) -> Json<Reply<CaptureOutcome>> {
    Json(
        sandbox
            .capture(&body.reference, body.amount_minor)
            .await
            .into(),
    )
}

async fn void(State(sandbox): State<Sandbox>, Json(body): Json<ReferenceBody>) -> Json<Reply<()>> {
    Json(sandbox.void(&body.reference).await.into())
}

async fn refund(
    State(sandbox): State<Sandbox>,
    Json(body): Json<RefundBody>,
) -> Json<Reply<RefundOutcome>> {
    let result = sandbox
        .refund(&body.reference, &body.refund_id, body.amount_minor)
        .await;
    Json(result.into())
}

async fn refund_status(
    State(sandbox): State<Sandbox>,
    Json(body): Json<RefundIdBody>,
) -> Json<Reply<RefundOutcome>> {
    Json(sandbox.refund_status(&body.refund_id).await.into())
}

async fn cancel_refund(
    State(sandbox): State<Sandbox>,
    Json(body): Json<RefundIdBody>,
) -> Json<Reply<bool>> {
    Json(sandbox.cancel_refund(&body.refund_id).await.into())
}

async fn query(
    State(sandbox): State<Sandbox>,
    Json(body): Json<AttemptIdBody>,
) -> Json<Reply<Option<AttemptRecord>>> {
    Json(sandbox.query(&body.attempt_id).await.into())
}

async fn attempts(State(sandbox): State<Sandbox>) -> Json<Reply<Vec<AttemptListing>>> {
    let listed = sandbox.attempts().map(|all| {
        all.into_iter()
            .map(|(attempt_id, record)| AttemptListing { attempt_id, record })
            .collect()
    });
    Json(listed.into())
}
