//! `GET /healthz` and `GET /metrics` (Prometheus text format).

use super::AppState;
use crate::model::Status;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use std::fmt::Write;
use std::sync::atomic::Ordering;

/// 200 while the coordinator is connected to NATS, every background task
/// runs, the streams exist and the relay keeps up; 503 naming what is
/// wrong otherwise.
pub async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let connected = matches!(
        state.bus.client.connection_state(),
        async_nats::connection::State::Connected
    );
    let report = state.engine.health.report();
    let mut problems = report.problems();
    if !connected {
        problems.insert(0, "nats disconnected".to_string());
    }
    let (code, status) = if problems.is_empty() {
        (StatusCode::OK, "ok".to_string())
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, problems.join("; "))
    };
    (
        code,
        axum::Json(serde_json::json!({
            "status": status,
            "nats": if connected { "connected" } else { "disconnected" },
            "components": report.components,
            "relay_lag": report.relay_lag,
        })),
    )
}

use outpost_telemetry::metrics::Metric;

pub const QUEUE_PENDING: Metric = (
    "outpost_queue_pending_tasks",
    "Tasks published for a zone and kind that no worker has claimed yet.",
    "gauge",
);
pub const QUEUE_ACK_PENDING: Metric = (
    "outpost_queue_ack_pending_tasks",
    "Tasks claimed by a worker of the zone and not yet acknowledged.",
    "gauge",
);
pub const RELAY_PENDING: Metric = (
    "outpost_relay_pending_events",
    "Worker events stored but not yet applied to job state (the relay's lag).",
    "gauge",
);
pub const SITE_LINK_UP: Metric = (
    "outpost_site_link_up",
    "1 while the site's JetStream answers through its leaf link.",
    "gauge",
);
pub const DSM_CLAIM: Metric = (
    "outpost_dsm_claim_duration_seconds",
    "Claims of the app's pending jobs (one UPDATE … RETURNING), found or not.",
    "histogram",
);
pub const DSM_WRITEBACK_ERRORS: Metric = (
    "outpost_dsm_writeback_errors_total",
    "Task results that could not be written to the app's tables (each attempt).",
    "counter",
);

pub const NOTIFICATIONS: Metric = (
    "outpost_notifications_total",
    "Notification attempts by channel, event and outcome (delivered, retrying, failed).",
    "counter",
);

/// The coordinator's metrics kept in the process registry.
pub const REGISTERED: &[Metric] = &[
    QUEUE_PENDING,
    QUEUE_ACK_PENDING,
    RELAY_PENDING,
    SITE_LINK_UP,
    DSM_CLAIM,
    DSM_WRITEBACK_ERRORS,
    NOTIFICATIONS,
];

pub async fn render(State(state): State<AppState>) -> impl IntoResponse {
    let m = &state.engine.metrics;
    let (jobs, tasks) = state.engine.read(|v| v.totals());
    let mut out = String::from(
        "# HELP outpost_coordinator_leader 1 while this coordinator holds the leader lease.\n\
         # TYPE outpost_coordinator_leader gauge\n\
         outpost_coordinator_leader 1\n",
    );
    let counters = [
        (
            "outpost_jobs_submitted_total",
            "Jobs accepted.",
            &m.jobs_submitted,
        ),
        (
            "outpost_jobs_rejected_total",
            "Job documents refused.",
            &m.jobs_rejected,
        ),
        (
            "outpost_jobs_cancelled_total",
            "Cancel requests applied.",
            &m.jobs_cancelled,
        ),
        (
            "outpost_tasks_dispatched_total",
            "Tasks published to the work queue.",
            &m.tasks_dispatched,
        ),
        (
            "outpost_events_relayed_total",
            "Worker events applied to state.",
            &m.events_relayed,
        ),
        (
            "outpost_events_dropped_total",
            "Worker events not believed (zone, job, attempt or kind do not fit) and dropped.",
            &m.events_dropped,
        ),
        (
            "outpost_state_writes_total",
            "KV state writes.",
            &m.state_writes,
        ),
        (
            "outpost_state_conflicts_total",
            "KV writes that lost a revision race.",
            &m.state_conflicts,
        ),
        (
            "outpost_jobs_evicted_total",
            "Finished jobs moved out of the hot state into history.",
            &m.jobs_evicted,
        ),
    ];
    for (name, help, c) in counters {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
            c.load(Ordering::Relaxed)
        );
    }
    let http = &state.http;
    let (followers, followed, refused) = state.followers.stats();
    for (name, kind, help, value) in [
        (
            "outpost_sse_followers",
            "gauge",
            "Live event followers.",
            followers as u64,
        ),
        (
            "outpost_sse_jobs_followed",
            "gauge",
            "Jobs with live followers (one events-stream reader each).",
            followed as u64,
        ),
        (
            "outpost_sse_followers_refused_total",
            "counter",
            "Event followers refused at the follower limit.",
            refused,
        ),
        (
            "outpost_http_connections_open",
            "gauge",
            "HTTP connections being served.",
            http.open.load(Ordering::Relaxed),
        ),
        (
            "outpost_http_connections_accepted_total",
            "counter",
            "HTTP connections served.",
            http.accepted.load(Ordering::Relaxed),
        ),
        (
            "outpost_http_connections_refused_total",
            "counter",
            "HTTP connections refused at the connection limit.",
            http.refused.load(Ordering::Relaxed),
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    }
    for (name, help, counts) in [
        ("outpost_jobs", "Jobs by status.", &jobs),
        ("outpost_tasks", "Tasks by status.", &tasks),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for s in Status::ALL {
            let _ = writeln!(out, "{name}{{status=\"{}\"}} {}", s.as_str(), counts.get(s));
        }
    }
    for site in &state.sites.config {
        let up = state.sites.registry.get(&site.name).up;
        outpost_telemetry::metrics::global().set(
            SITE_LINK_UP.0,
            SITE_LINK_UP.1,
            &[("site", site.name.as_str())],
            if up { 1.0 } else { 0.0 },
        );
    }
    // Queue depths, relay lag, DSM claims and write-backs.
    let m = outpost_telemetry::metrics::global();
    for (name, help, kind) in REGISTERED {
        m.describe(name, help, kind);
    }
    out.push_str(&m.render());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
