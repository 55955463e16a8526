//! The coordinator's HTTP API (axum): jobs, their live events, workers,
//! health and metrics, behind an optional bearer token and the browser
//! guards of [`guard`]; served with the bounds of [`serve`].

mod auth;
mod captures;
mod config;
pub mod console;
mod credentials;
mod error;
mod event_reader;
mod events;
pub mod guard;
mod inventory;
mod jobs;
pub mod metrics;
mod notifications;
pub mod serve;
mod sites;
mod tasks;
mod workers;

pub use auth::authorized as auth_ok;
pub use config::{ApiConfig, advertised_authority};
pub use error::ApiError;
pub use events::Followers;
pub use workers::presence as worker_presence;

use crate::bus::Bus;
use crate::collect::inventory::InventorySource;
use crate::engine::Engine;
use crate::zones::Zones;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use std::sync::Arc;

/// Largest job document accepted.
pub const MAX_BODY: usize = 1024 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub zones: Arc<Zones>,
    /// Where `ssh.collect` jobs select devices from.
    pub inventory: Arc<Vec<InventorySource>>,
    /// Where `rolling_update` jobs select servers by cluster or group.
    pub servers: Arc<Vec<crate::rolling::servers::ServerSource>>,
    /// Where capture files are written (shown by dry runs).
    pub capture_dir: Arc<std::path::PathBuf>,
    pub bus: Bus,
    pub token: Option<Arc<str>>,
    /// The `[api]` settings.
    pub api: Arc<ApiConfig>,
    /// Which `Host` values are answered; set by [`router`].
    pub hosts: Arc<guard::HostPolicy>,
    /// HTTP connection counters, shared with [`serve::serve`].
    pub http: Arc<serve::HttpMetrics>,
    /// Live event followers and their per-job readers.
    pub followers: Followers,
    /// The sites and their links.
    pub sites: Arc<crate::sites::status::Sites>,
    /// Notification channels (`[[notify]]`).
    pub notify: Arc<Vec<crate::notify::Channel>>,
}

/// The API's routes, for a server listening on `local`.
/// Serves `state` on `local`; `advertised` is the address other
/// coordinators forward to, answered besides the configured hosts.
pub fn router(
    mut state: AppState,
    local: std::net::SocketAddr,
    advertised: Option<guard::Authority>,
) -> Router {
    state.hosts = Arc::new(
        guard::HostPolicy::new(local, &state.api.allowed_hosts, state.token.is_some())
            .also(advertised),
    );
    let api = Router::new()
        .route("/api/v1/jobs", post(jobs::create).get(jobs::list))
        .route("/api/v1/jobs/{id}", get(tasks::job))
        .route("/api/v1/jobs/{id}/tasks", get(tasks::list))
        .route("/api/v1/jobs/{id}/tasks/{task}/capture", get(captures::get))
        .route("/api/v1/jobs/{id}/events", get(events::follow))
        .route("/api/v1/jobs/{id}/cancel", post(jobs::cancel))
        .route("/api/v1/workers", get(workers::list))
        .route("/api/v1/sites", get(sites::list))
        .route("/api/v1/inventory/redfish", get(inventory::redfish))
        .route(
            "/api/v1/inventory/redfish/{address}/pin",
            axum::routing::put(inventory::set_pin).delete(inventory::set_pin),
        )
        .route("/api/v1/notifications", get(notifications::list))
        .route("/api/v1/notifications/test", post(notifications::test))
        .route("/metrics", get(metrics::render))
        // Layers run last added first: site checks, token, then the body's type.
        .route_layer(axum::middleware::from_fn(guard::require_json))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::check_site,
        ));
    // Sign-in is reached without a token, behind the same site checks.
    let session = Router::new()
        .route(
            "/api/v1/session",
            get(console::session::get)
                .post(console::session::sign_in)
                .delete(console::session::sign_out),
        )
        .route_layer(axum::middleware::from_fn(guard::require_json))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::check_site,
        ));
    Router::new()
        .route("/healthz", get(metrics::health))
        .route("/", get(console::index))
        .route("/ui/app.js", get(console::script))
        .route("/ui/app.css", get(console::style))
        .route("/ui/icon.svg", get(console::icon))
        .route("/favicon.ico", get(console::icon))
        .merge(session)
        .merge(api)
        .fallback(|| async { ApiError::NotFound("no such endpoint".into()) })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}
