//! The worker's `/metrics` page (Prometheus text format), served when
//! `--metrics-listen` is given: the process registry (task durations,
//! failures, retries, redeliveries, device-operation timings) and, at each
//! scrape, this worker's capacity and tasks in flight.

use crate::runner::Shared;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

use outpost_telemetry::metrics::Metric;

pub const TASK_DURATION: Metric = (
    "outpost_task_duration_seconds",
    "Task runs on this worker from claim to end, by zone, kind and outcome.",
    "histogram",
);
pub const TASK_FAILURES: Metric = (
    "outpost_task_failures_total",
    "Failed runs (retried or final), by zone, kind and error class.",
    "counter",
);
pub const TASK_RETRIES: Metric = (
    "outpost_task_retries_total",
    "Runs handed back to be tried again after a retryable failure.",
    "counter",
);
pub const TASK_REDELIVERIES: Metric = (
    "outpost_task_redeliveries_total",
    "Runs of a task delivered more than once (retries, crashed or slow workers).",
    "counter",
);
pub const REDFISH_REQUEST: Metric = (
    "outpost_redfish_request_duration_seconds",
    "Redfish HTTP requests to devices until the response headers, by method and status (or error class).",
    "histogram",
);
pub const SSH_PHASE: Metric = (
    "outpost_ssh_phase_duration_seconds",
    "SSH session phases that completed: connect, auth, first_prompt, command.",
    "histogram",
);
pub const VCENTER_SOAP: Metric = (
    "outpost_vcenter_soap_duration_seconds",
    "vCenter SOAP calls, by method and outcome (ok or error class).",
    "histogram",
);
const CAPACITY: Metric = (
    "outpost_worker_capacity",
    "Tasks this worker runs at once, all kinds together.",
    "gauge",
);
const IN_FLIGHT: Metric = (
    "outpost_worker_tasks_in_flight",
    "Tasks this worker is running now.",
    "gauge",
);

/// Every metric a worker reports.
pub const ALL: &[Metric] = &[
    TASK_DURATION,
    TASK_FAILURES,
    TASK_RETRIES,
    TASK_REDELIVERIES,
    REDFISH_REQUEST,
    SSH_PHASE,
    VCENTER_SOAP,
    CAPACITY,
    IN_FLIGHT,
];

async fn render(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let m = outpost_telemetry::metrics::global();
    for (name, help, kind) in ALL {
        m.describe(name, help, kind);
    }
    let (zone, worker) = (shared.cfg.zone.as_str(), shared.cfg.worker_id.as_str());
    let l = [("zone", zone), ("worker", worker)];
    m.set(CAPACITY.0, CAPACITY.1, &l, shared.cfg.concurrency as f64);
    m.set(IN_FLIGHT.0, IN_FLIGHT.1, &l, shared.running() as f64);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        m.render(),
    )
}

/// Binds `addr` now (so a taken port fails the start), then serves until `done`.
pub async fn serve(
    addr: SocketAddr,
    shared: Arc<Shared>,
    done: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let app = Router::new()
        .route("/metrics", get(render))
        .with_state(shared);
    tokio::spawn(async move {
        let r = axum::serve(listener, app)
            .with_graceful_shutdown(async move { done.cancelled().await })
            .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "metrics server stopped");
        }
    });
    Ok(local)
}
