//! Wiring of the coordinator process: configuration, NATS layout, engine,
//! HTTP API, and the shutdown path (a cancellation token that stops the
//! API, the relay and the engine in order).

use crate::api::{self, AppState};
use crate::bus;
use crate::config::Config;
use crate::engine::Engine;
use crate::supervise::{Health, Supervisor};
use crate::zones::Zones;
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
    #[error("the engine stopped unexpectedly")]
    EngineDied,
}

/// How long background tasks and then the engine may take to stop.
const DRAIN_BACKGROUND: Duration = Duration::from_secs(5);

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
    let client = bus::connect(&nats_url, &opts.config.nats, "outpost-coordinator").await?;
    let bus = bus::ensure_layout_with_retry(
        client,
        &opts.config.jetstream,
        &opts.config.zones,
        Duration::from_secs(60),
    )
    .await?;
    // Shutdown is staged: the API stops taking work first (`shutdown`),
    // then the background tasks (`background`), then the engine.
    let background = CancellationToken::new();
    let engine_stop = CancellationToken::new();
    let mut sup = Supervisor::new(Health::default(), background.clone());
    let (engine, engine_task) = Engine::start(
        bus.clone(),
        crate::engine::EngineConfig {
            capture_dir: opts.config.capture_dir(),
            jetstream: opts.config.jetstream.clone(),
            retention: opts.config.retention.clone(),
            zones: opts.config.zones.clone(),
        },
        &mut sup,
        engine_stop.clone(),
    )
    .await?;
    let state = AppState {
        engine,
        zones: Arc::new(Zones::new(&opts.config.zones)),
        inventory: Arc::new(opts.config.inventory.clone()),
        servers: Arc::new(opts.config.servers.clone()),
        capture_dir: Arc::new(opts.config.capture_dir()),
        bus: bus.clone(),
        token: token.map(Arc::from),
        api: Arc::new(opts.config.api.clone()),
        hosts: Arc::default(),
        http: Arc::default(),
        followers: api::Followers::new(&opts.config.api, shutdown.clone()),
    };
    if let Some(cfg) = opts.config.dsm.clone() {
        let store = bus
            .js
            .get_key_value(outpost_proto::layout::DSM_BUCKET)
            .await
            .map_err(|e| ServerError::Dsm(e.to_string()))?;
        let parts = crate::dsm::bridge::BridgeParts {
            cfg,
            engine: state.engine.clone(),
            zones: state.zones.clone(),
            inventory: state.inventory.clone(),
            servers: state.servers.clone(),
            store,
        };
        let stop = background.clone();
        sup.spawn("dsm_bridge", move || {
            crate::dsm::bridge::run(parts.clone(), stop.clone())
        });
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })?;
    let local = listener.local_addr().map_err(ServerError::Http)?;
    tracing::info!(%local, nats = %outpost_proto::nats_url::split_url(&nats_url).0, "coordinator ready");
    // Tests and scripts wait for this line to learn the bound port.
    println!("outpost-coordinator listening on http://{local}");
    let _ = std::io::stdout().flush();
    let http = state.http.clone();
    // Stage 1: the API stops taking connections; open ones get the
    // serve loop's drain deadline.
    let serve = api::serve::serve(
        listener,
        api::router(state, local),
        &opts.config.api,
        http,
        shutdown.clone(),
    );
    tokio::pin!(serve);
    let mut engine_task = engine_task;
    tokio::select! {
        _ = &mut serve => {}
        // The engine stopping on its own is fatal: the process exits so
        // that its supervisor restarts it, and start-up reconciles.
        _ = &mut engine_task => {
            tracing::error!("the engine stopped unexpectedly; exiting");
            return Err(ServerError::EngineDied);
        }
    }
    shutdown.cancel();
    // Stage 2: background tasks (relay, watches, bridge).
    sup.shutdown(DRAIN_BACKGROUND).await;
    // Stage 3: the engine finishes the command at hand and stops.
    engine_stop.cancel();
    if tokio::time::timeout(DRAIN_BACKGROUND, &mut engine_task)
        .await
        .is_err()
    {
        tracing::warn!("the engine did not stop in time");
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), bus.client.flush()).await;
    tracing::info!("coordinator stopped");
    Ok(())
}
