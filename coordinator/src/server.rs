//! Wiring of the coordinator process: configuration, NATS layout, the
//! leader lease, engine, HTTP API, and the shutdown path (a cancellation
//! token that stops the API, the relay and the engine in order).
//!
//! Every coordinator serves the API at once; until it holds the leader
//! lease it is a standby ([`crate::standby`]) that forwards to the leader.
//! Once it holds the lease it starts the engine (which loads the state the
//! last leader left) and serves the API itself. Losing the lease ends the
//! process with an error: its supervisor restarts it as a standby.

use crate::api::{self, AppState};
use crate::bus;
use crate::config::Config;
use crate::engine::Engine;
use crate::leader::{self, Holder, Lease, LeaseError};
use crate::standby::{self, Front};
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
    #[error("notification channels: {0}")]
    Notify(String),
    #[error("the engine stopped unexpectedly")]
    EngineDied,
    #[error("invalid advertised API address {0:?}: expected http://host:port")]
    Advertise(String),
    #[error("cannot open the leader lease: {0}")]
    Lease(LeaseError),
    #[error("lost the leader lease ({0}); exiting so that a restart rejoins as a standby")]
    LostLease(LeaseError),
}

/// How long background tasks and then the engine may take to stop.
const DRAIN_BACKGROUND: Duration = Duration::from_secs(5);

/// Everything the process needs to run.
pub struct Options {
    pub config: Config,
    pub listen: Option<String>,
    pub nats_url: Option<String>,
    pub token: Option<String>,
    /// Where standbys forward to (overrides `api.advertise`).
    pub advertise: Option<String>,
}

/// This machine's host name, if it has one.
fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

/// The URL standbys forward to while this coordinator leads.
fn advertised(configured: Option<String>, local: SocketAddr) -> String {
    if let Some(a) = configured {
        return a.trim_end_matches('/').to_string();
    }
    if !local.ip().is_unspecified() {
        return format!("http://{local}");
    }
    let host = hostname().unwrap_or_else(|| "localhost".to_string());
    format!("http://{host}:{}", local.port())
}

/// A coordinator id unique to this process: its host and a random part.
fn coordinator_id() -> String {
    let host = hostname().unwrap_or_else(|| "coordinator".to_string());
    // The last digits of a v7 uuid are random.
    let tail = uuid::Uuid::now_v7().simple().to_string();
    format!("{host}-{}", &tail[tail.len() - 8..])
}

/// Keeps the lease renewed until `stop`; returns it for release, or why
/// it was lost. A lease that lapsed because NATS was out of reach is taken
/// back when NATS answers again, unless another coordinator held it
/// meanwhile (the fence stays closed until then: no state write leaves).
async fn keep(mut lease: Lease, stop: CancellationToken) -> Result<Lease, LeaseError> {
    let mut lapsed = false;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return Ok(lease),
            _ = tokio::time::sleep(if lapsed { lease.renew_every() / 2 } else { lease.renew_every() }) => {}
        }
        let result = if lapsed {
            lease.regain().await
        } else {
            lease.renew().await
        };
        match result {
            Ok(()) => {
                if lapsed {
                    tracing::warn!(
                        token = lease.token(),
                        "leader lease taken back: nobody led meanwhile"
                    );
                }
                lapsed = false;
            }
            Err(LeaseError::Unavailable(e)) => {
                tracing::warn!(error = %e, "leader lease not renewed; trying again");
            }
            Err(LeaseError::Expired) => {
                if !lapsed {
                    tracing::error!(
                        "leader lease lapsed (NATS out of reach): no state is written until it is taken back"
                    );
                }
                lapsed = true;
            }
            Err(e) => return Err(e),
        }
    }
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
    // Channels and their secrets, checked before anything starts.
    let channels =
        Arc::new(crate::notify::config::load(&opts.config.notify).map_err(ServerError::Notify)?);
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
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })?;
    let local = listener.local_addr().map_err(ServerError::Http)?;
    let advertise = advertised(opts.advertise.or(opts.config.api.advertise.clone()), local);
    let authority = api::advertised_authority(&advertise)
        .map_err(|_| ServerError::Advertise(advertise.clone()))?;
    let me = Holder {
        id: coordinator_id(),
        api: advertise,
    };
    // A freshly formed cluster may not answer at once: retried like the layout.
    let until = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut delay = Duration::from_millis(100);
    loop {
        match crate::sites::layout::ensure_hub(&bus, &opts.config.jetstream, &opts.config.sites)
            .await
        {
            Ok(()) => break,
            Err(e) if tokio::time::Instant::now() + delay < until => {
                tracing::warn!(error = %e, "the hub's side of the sites not ready; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            Err(e) => return Err(e.into()),
        }
    }
    let leases = leader::open(&bus.js, leader::DEFAULT_TTL, opts.config.jetstream.replicas)
        .await
        .map_err(ServerError::Lease)?;
    bus::ensure_replicas(
        &bus.js,
        &format!("KV_{}", outpost_proto::layout::LEADER_BUCKET),
        opts.config.jetstream.replicas,
    )
    .await?;
    let token: Option<Arc<str>> = token.map(Arc::from);
    let hosts = api::guard::HostPolicy::new(local, &opts.config.api.allowed_hosts, token.is_some())
        .also(Some(authority.clone()));
    let front = Arc::new(
        Front::new(leases.clone(), me.clone(), token.clone(), hosts).map_err(ServerError::Dsm)?,
    );
    let http = Arc::new(api::serve::HttpMetrics::default());
    // Stage 1 of shutdown: the API stops taking connections; open ones
    // get the serve loop's drain deadline.
    let serve = api::serve::serve(
        listener,
        standby::router(front.clone()),
        &opts.config.api,
        http.clone(),
        shutdown.clone(),
    );
    tokio::pin!(serve);
    tracing::info!(%local, id = %me.id, "coordinator standing by for the leader lease");
    println!("outpost-coordinator standby on http://{local}");
    let _ = std::io::stdout().flush();
    let mut served = false;
    let lease = tokio::select! {
        l = Lease::acquire(&leases, &me, leader::DEFAULT_TTL, &shutdown) => l,
        _ = &mut serve => {
            served = true;
            None
        }
    };
    let Some(lease) = lease else {
        if !served {
            serve.await;
        }
        tracing::info!("coordinator stopped");
        return Ok(());
    };
    let fence = lease.fence();
    tracing::info!(id = %me.id, token = lease.token(), "this coordinator leads now");
    println!(
        "outpost-coordinator leads (fencing token {})",
        lease.token()
    );
    let _ = std::io::stdout().flush();
    // The lease is renewed from now on, also while the engine loads.
    let renew_stop = CancellationToken::new();
    let renew = tokio::spawn(keep(lease, renew_stop.clone()));
    tokio::pin!(renew);
    // Shutdown is staged: the API stops taking work first (`shutdown`),
    // then the background tasks (`background`), then the engine.
    let background = CancellationToken::new();
    let engine_stop = CancellationToken::new();
    let mut sup = Supervisor::new(Health::default(), background.clone());
    let routes = Arc::new(crate::sites::routes(&opts.config.sites));
    let started = tokio::select! {
        r = Engine::start(
            bus.clone(),
            crate::engine::EngineConfig {
                capture_dir: opts.config.capture_dir(),
                jetstream: opts.config.jetstream.clone(),
                retention: opts.config.retention.clone(),
                zones: opts.config.zones.clone(),
                fence,
                routes: routes.clone(),
            },
            &mut sup,
            engine_stop.clone(),
        ) => r,
        lost = &mut renew => {
            return Err(ServerError::LostLease(lost_reason(lost)));
        }
    };
    let (engine, engine_task) = started?;
    let registry = Arc::new(crate::sites::Registry::new(&opts.config.sites));
    let state = AppState {
        engine,
        zones: Arc::new(Zones::new(&opts.config.zones)),
        inventory: Arc::new(opts.config.inventory.clone()),
        servers: Arc::new(opts.config.servers.clone()),
        capture_dir: Arc::new(opts.config.capture_dir()),
        bus: bus.clone(),
        token,
        api: Arc::new(opts.config.api.clone()),
        hosts: Arc::default(),
        http,
        followers: api::Followers::new(&opts.config.api, shutdown.clone()),
        sites: Arc::new(crate::sites::status::Sites {
            config: opts.config.sites.clone(),
            hub_domain: opts.config.jetstream.domain.clone(),
            registry: registry.clone(),
            routes,
        }),
        notify: channels.clone(),
    };
    if let Some(cfg) = opts.config.dsm.clone() {
        // A role the app's row-level security blinds would never claim a
        // job and never say so: refuse to start. A database that does not
        // answer within a few seconds does not hold the start up: the
        // bridge retries it, and checks the role again when it connects.
        let check = async {
            let (db, _) = crate::dsm::db::connect(&cfg.database_url, &cfg.tls()).await?;
            crate::dsm::access::check(&db).await
        };
        if let Ok(Ok(problems)) =
            tokio::time::timeout(std::time::Duration::from_secs(10), check).await
            && !problems.is_empty()
        {
            return Err(ServerError::Dsm(
                crate::dsm::db::DbError::Access(problems).to_string(),
            ));
        }
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
        let notify_cfg = parts.cfg.clone();
        sup.spawn("dsm_bridge", move || {
            crate::dsm::bridge::run(parts.clone(), stop.clone())
        });
        // The app's own notifications, for the jobs this bridge runs.
        let notify_store = bus
            .js
            .get_key_value(outpost_proto::layout::NOTIFY_BUCKET)
            .await
            .map_err(|e| ServerError::Dsm(e.to_string()))?;
        let stop = background.clone();
        sup.spawn("dsm_notify", move || {
            let (cfg, store, stop) = (notify_cfg.clone(), notify_store.clone(), stop.clone());
            async move {
                if let Err(e) = crate::dsm::notify::run(cfg, store, stop).await {
                    tracing::warn!(error = %e, "DSM notifications stopped");
                }
            }
        });
    }
    if !channels.is_empty() {
        let store = bus
            .js
            .get_key_value(outpost_proto::layout::NOTIFY_BUCKET)
            .await
            .map_err(|e| ServerError::Notify(e.to_string()))?;
        let console = opts
            .config
            .api
            .public_url
            .clone()
            .or_else(|| Some(advertised(opts.config.api.advertise.clone(), local)));
        let notifier = crate::notify::deliver::Notifier {
            channels: channels.clone(),
            engine: state.engine.clone(),
            store,
            console,
            workers: bus.workers.clone(),
            zones: opts.config.zones.iter().map(|z| z.name.clone()).collect(),
        };
        let stop = background.clone();
        sup.spawn("notify", move || {
            let (n, stop) = (notifier.clone(), stop.clone());
            async move {
                if let Err(e) = crate::notify::deliver::run(n, stop).await {
                    tracing::warn!(error = %e, "notifications stopped");
                }
            }
        });
    }
    for site in &opts.config.sites {
        let parts = (
            bus.client.clone(),
            opts.config.jetstream.clone(),
            site.clone(),
            opts.config.zones.clone(),
            registry.clone(),
        );
        let stop = background.clone();
        sup.spawn("site_layout", move || {
            let (client, cfg, site, zones, registry) = parts.clone();
            let stop = stop.clone();
            async move { crate::sites::keep_layout(client, cfg, site, zones, registry, stop).await }
        });
    }
    front.lead(api::router(state, local, Some(authority)));
    tracing::info!(%local, nats = %outpost_proto::nats_url::split_url(&nats_url).0, "coordinator ready");
    // Tests and scripts wait for this line to learn the bound port.
    println!("outpost-coordinator listening on http://{local}");
    let _ = std::io::stdout().flush();
    let mut engine_task = engine_task;
    let mut outcome = Ok(());
    tokio::select! {
        _ = &mut serve => {}
        // The engine stopping on its own is fatal: the process exits so
        // that its supervisor restarts it, and start-up reconciles.
        _ = &mut engine_task => {
            tracing::error!("the engine stopped unexpectedly; exiting");
            return Err(ServerError::EngineDied);
        }
        lost = &mut renew => {
            // The fence is closed already: nothing more is written.
            let why = lost_reason(lost);
            tracing::error!(error = %why, "lost the leader lease; exiting");
            outcome = Err(ServerError::LostLease(why));
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
    if outcome.is_ok() {
        // A clean stop hands the lease over at once.
        renew_stop.cancel();
        if let Ok(Ok(lease)) = renew.await {
            lease.release().await;
        }
    }
    tracing::info!("coordinator stopped");
    outcome
}

/// Why the renewal task ended early.
fn lost_reason(r: Result<Result<Lease, LeaseError>, tokio::task::JoinError>) -> LeaseError {
    match r {
        Ok(Err(e)) => e,
        Ok(Ok(_)) => LeaseError::Expired,
        Err(e) => LeaseError::Unavailable(format!("the renewal task failed: {e}")),
    }
}
