//! Wiring of the coordinator process: configuration, NATS layout, engine,
//! HTTP API, and the shutdown path (a cancellation token that stops the
//! API, the relay and the engine in order).

use crate::api::{self, AppState};
use crate::bus;
use crate::config::Config;
use crate::engine::Engine;
use crate::zones::Zones;
use axum::serve::ListenerExt;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio_util::sync::CancellationToken;

/// Default API address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Why the coordinator could not start or keep running.
#[derive(Debug, Error)]
pub enum ServerError {
    #[error("invalid listen address {0:?}: expected host:port")]
    Listen(String),
    #[error(
        "refusing to listen on {0} without OUTPOST_API_TOKEN: set a token, or listen on a loopback address"
    )]
    NoToken(SocketAddr),
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Bus(#[from] bus::BusError),
    #[error("cannot start the engine: {0}")]
    Engine(#[from] crate::engine::EngineError),
    #[error("HTTP server failed: {0}")]
    Http(std::io::Error),
    #[error("cannot start the DSM bridge: {0}")]
    Dsm(String),
}

/// Everything the process needs to run.
pub struct Options {
    pub config: Config,
    pub listen: Option<String>,
    pub nats_url: Option<String>,
    pub token: Option<String>,
}

/// Runs the coordinator until `shutdown` is cancelled.
pub async fn run(opts: Options, shutdown: CancellationToken) -> Result<(), ServerError> {
    let listen = opts
        .listen
        .or(opts.config.listen.clone())
        .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
    let addr: SocketAddr = listen
        .parse()
        .map_err(|_| ServerError::Listen(listen.clone()))?;
    let token = opts.token.filter(|t| !t.is_empty());
    if token.is_none() {
        if !addr.ip().is_loopback() {
            return Err(ServerError::NoToken(addr));
        }
        tracing::warn!(%addr, "OUTPOST_API_TOKEN is not set: the API has no authentication and listens on loopback only");
    }
    let nats_url = opts.nats_url.unwrap_or(opts.config.nats_url.clone());
    let client = bus::connect(&nats_url, "outpost-coordinator").await?;
    let bus = bus::ensure_layout_with_retry(
        client,
        &opts.config.jetstream,
        &opts.config.zones,
        Duration::from_secs(60),
    )
    .await?;
    let (engine, engine_task) =
        Engine::start(bus.clone(), opts.config.capture_dir(), shutdown.clone()).await?;
    let state = AppState {
        engine,
        zones: Arc::new(Zones::new(&opts.config.zones)),
        inventory: Arc::new(opts.config.inventory.clone()),
        servers: Arc::new(opts.config.servers.clone()),
        capture_dir: Arc::new(opts.config.capture_dir()),
        bus: bus.clone(),
        token: token.map(Arc::from),
    };
    if let Some(cfg) = opts.config.dsm.clone() {
        let store = bus
            .js
            .get_key_value(outpost_proto::names::DSM_BUCKET)
            .await
            .map_err(|e| ServerError::Dsm(e.to_string()))?;
        tokio::spawn(crate::dsm::bridge::run(
            crate::dsm::bridge::BridgeParts {
                cfg,
                engine: state.engine.clone(),
                zones: state.zones.clone(),
                inventory: state.inventory.clone(),
                servers: state.servers.clone(),
                store,
            },
            shutdown.clone(),
        ));
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })?;
    let local = listener.local_addr().map_err(ServerError::Http)?;
    tracing::info!(%local, nats = %nats_url, "coordinator ready");
    // Tests and scripts wait for this line to learn the bound port.
    println!("outpost-coordinator listening on http://{local}");
    let _ = std::io::stdout().flush();
    let stop = shutdown.clone();
    // Small SSE writes must not wait for delayed ACKs (Nagle).
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    axum::serve(listener, api::router(state))
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
        .map_err(ServerError::Http)?;
    shutdown.cancel();
    let _ = engine_task.await;
    let _ = bus.client.flush().await;
    tracing::info!("coordinator stopped");
    Ok(())
}
