//! `serve --iso8583-listen ADDR`: binds the terminal listener before the
//! API's banner (its bound address is printed as `iso8583 listening on
//! ADDR`, so port 0 works) and serves it until the server stops.

use crate::settings::Settings;
use anyhow::Context;
use portcullis_api::AppState;
use std::future::Future;
use tokio::task::JoinHandle;

/// The listener's task; one that ends at once when none is configured.
pub async fn start(
    settings: &Settings,
    state: &AppState,
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<JoinHandle<()>> {
    let Some(address) = &settings.iso8583_listen else {
        return Ok(tokio::spawn(async {}));
    };
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("binding the ISO 8583 terminal listener {address}"))?;
    let bound = listener.local_addr()?;
    let wire = settings.iso8583_listen_wire;
    tracing::info!(
        address = %bound,
        profile = wire.profile.name(),
        framing = wire.framing.name(),
        "accepting ISO 8583 terminals"
    );
    println!("iso8583 listening on {bound}");
    Ok(tokio::spawn(portcullis_api::terminals::serve(
        state.clone(),
        listener,
        wire,
        stop,
    )))
}
