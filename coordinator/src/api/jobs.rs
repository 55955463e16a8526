//! Job endpoints: submit, list, read, cancel.

use super::{ApiError, AppState, MAX_BODY};
use crate::model::{JobState, Status};
use crate::plan::{self, JobDoc};
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use futures::StreamExt;
use serde::Deserialize;
use std::sync::atomic::Ordering;
use tracing::Instrument;

/// `POST /api/v1/jobs`: validates and plans the document, then writes and
/// dispatches it. Nothing is written unless the whole document is valid.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateQuery {
    /// Plan and show the job without creating it.
    #[serde(default)]
    dry_run: bool,
}

/// How long a submit waits for the workers' presence to check credentials.
const PRESENCE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(2);

/// `POST /api/v1/jobs[?dry_run=true]`: a dry run answers 200 with the
/// planned job, its tasks and (for `ssh.collect`) the matched devices.
pub async fn create(
    State(state): State<AppState>,
    query: Result<Query<CreateQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let body = read_limited(body, state.api.body_read_timeout())
        .await
        .and_then(|b| single_document(&b).map(|()| b))
        .inspect_err(|_| {
            state
                .engine
                .metrics
                .jobs_rejected
                .fetch_add(1, Ordering::Relaxed);
        })?;
    let span = tracing::info_span!(
        "submit_job",
        job = tracing::field::Empty,
        job_type = tracing::field::Empty,
        trace_id = tracing::field::Empty,
    );
    let pairs: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    outpost_telemetry::set_parent_from_pairs(&span, &pairs);
    outpost_telemetry::record_trace_id(&span);
    async move {
        let reject = |e: plan::PlanError| {
            state
                .engine
                .metrics
                .jobs_rejected
                .fetch_add(1, Ordering::Relaxed);
            ApiError::Invalid(e)
        };
        let doc = JobDoc::from_json(&body).map_err(reject)?;
        let job_id = uuid::Uuid::now_v7().simple().to_string();
        let span = tracing::Span::current();
        span.record("job", job_id.as_str());
        span.record("job_type", doc.job_type.as_str());
        let inventory = state.inventory.clone();
        let servers = state.servers.clone();
        let zones = state.zones.clone();
        let doc2 = doc.clone();
        let id2 = job_id.clone();
        // Inventory files are read here: off the async threads.
        let plan_span = tracing::info_span!("plan", job = %job_id);
        let mut planned = tokio::task::spawn_blocking(move || {
            plan_span.in_scope(|| plan::plan_full(&doc2, &zones, &inventory, &servers, &id2))
        })
        .await
        .map_err(|e| ApiError::Unavailable(format!("planner stopped: {e}")))?
        .map_err(reject)?;
        // A credential the zone's workers say they lack is refused now;
        // only the zones of tasks that name one are read, and a store that
        // does not answer in time leaves the check to the workers.
        let zones = super::credentials::zones_to_check(&planned.tasks);
        if !zones.is_empty()
            && let Ok(Ok(workers)) = tokio::time::timeout(
                PRESENCE_DEADLINE,
                super::workers::presence(&state.bus.workers, Some(&zones)),
            )
            .await
        {
            super::credentials::check(&planned.tasks, &super::credentials::by_zone(&workers))
                .map_err(reject)?;
        }
        if q.dry_run {
            let mut body = serde_json::json!({
                "job": planned.job,
                "tasks": planned.tasks,
                "capture_dir": state.capture_dir.display().to_string(),
            });
            if let Some(serde_json::Value::Object(extra)) = planned.preview.take() {
                for (k, v) in extra {
                    body[k] = v;
                }
            }
            return Ok((StatusCode::OK, Json(body)).into_response());
        }
        planned.job.traceparent = outpost_telemetry::traceparent_of(&span);
        let job = state.engine.submit(planned).await?;
        tracing::info!(tasks = job.counts.total(), "job accepted");
        Ok((StatusCode::CREATED, Json(job)).into_response())
    }
    .instrument(span)
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    status: Option<String>,
    #[serde(default, rename = "type")]
    job_type: Option<String>,
    #[serde(default)]
    zone: Option<String>,
    #[serde(default)]
    offset: Option<usize>,
    #[serde(default)]
    limit: Option<usize>,
}

/// `GET /api/v1/jobs[?status=running&type=redfish.power&zone=alpha&offset=50&limit=50]`:
/// newest first; empty filter values select everything.
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<JobState>>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(Status::parse(s).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "status {s:?} is not one of pending, running, succeeded, failed, cancelled"
            ))
        })?),
    };
    let given = |s: Option<String>| s.filter(|s| !s.is_empty());
    let filter = crate::engine::JobFilter {
        status,
        job_type: given(q.job_type),
        zone: given(q.zone),
        offset: q.offset.unwrap_or(0),
        limit: q.limit.unwrap_or(100).min(10_000),
    };
    Ok(Json(state.engine.read(|v| v.list(&filter))))
}

/// `POST /api/v1/jobs/{id}/cancel`: queued tasks are dropped at once,
/// running ones are told to stop; the job ends `cancelled`.
pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<JobState>), ApiError> {
    let span = tracing::info_span!("cancel_job", job = %id);
    let job = state.engine.cancel(&id).instrument(span).await?;
    Ok((StatusCode::ACCEPTED, Json(job)))
}

/// Bodies up to this size are read to the end even when too large, so the
/// client gets its 413 instead of a reset connection; beyond it the
/// connection is dropped.
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;

/// Reads a job document of at most `MAX_BODY` bytes within `deadline`.
async fn read_limited(body: Body, deadline: std::time::Duration) -> Result<Bytes, ApiError> {
    let read = async {
        let mut stream = body.into_data_stream();
        let mut buf = Vec::new();
        let mut seen = 0usize;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk
                .map_err(|e| ApiError::BadRequest(format!("cannot read the request body: {e}")))?;
            seen += chunk.len();
            if seen <= MAX_BODY {
                buf.extend_from_slice(&chunk);
            } else if seen > DRAIN_LIMIT {
                break;
            }
        }
        if seen > MAX_BODY {
            return Err(ApiError::TooLarge(MAX_BODY));
        }
        Ok(Bytes::from(buf))
    };
    tokio::time::timeout(deadline, read).await.map_err(|_| {
        ApiError::Timeout(format!(
            "the request body did not arrive within {} ms",
            deadline.as_millis()
        ))
    })?
}

/// Refuses a body holding anything but whitespace after its first JSON
/// value (garbage, or a second document). A body whose first value does
/// not parse is left to the planner, whose error names the field.
fn single_document(body: &[u8]) -> Result<(), ApiError> {
    let mut values =
        serde_json::Deserializer::from_slice(body).into_iter::<serde::de::IgnoredAny>();
    if let Some(Ok(_)) = values.next() {
        let end = values.byte_offset();
        if let Some(extra) = body[end..].iter().position(|b| !b.is_ascii_whitespace()) {
            return Err(ApiError::BadRequest(format!(
                "unexpected data after the job document at byte {}: the body must hold exactly one JSON document",
                end + extra
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_document_and_nothing_after_it() {
        assert!(single_document(b"{\"a\":1}").is_ok());
        assert!(single_document(b" {\"a\":1} \n\t").is_ok());
        assert!(single_document(b"{\"a\":1}{\"a\":2}").is_err());
        assert!(single_document(b"{\"a\":1} x").is_err());
        assert!(single_document(b"{\"a\":1}\n{}").is_err());
        // Broken documents are left to the planner's message.
        assert!(single_document(b"{\"a\":").is_ok());
        assert!(single_document(b"").is_ok());
    }
}
