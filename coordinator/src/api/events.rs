//! `GET /api/v1/jobs/{id}/events`: the job's events as Server-Sent Events,
//! from the first one (history from the events stream) and then live, with
//! `job` events when the job's status or counts change. The stream ends with
//! an `end` event once the job is finished and every one of its events has
//! been sent.

use super::{ApiError, AppState};
use crate::model::{JobState, ms_to_rfc3339};
use async_nats::jetstream::consumer;
use axum::extract::{Path, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use outpost_proto::pb::{self, event::Body};
use outpost_proto::{Message, names, subject};
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::mpsc;

pub async fn follow(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    // Subscribe to changes before reading the job, so a change between
    // the two cannot go unnoticed.
    let changes = state.engine.subscribe();
    let job = state
        .engine
        .read(|v| v.jobs.get(&id).map(|e| e.job.clone()))
        .ok_or_else(|| ApiError::NotFound(format!("no job {id:?}")))?;
    let filter =
        subject::job_events_filter(&id).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let stream = state
        .bus
        .js
        .get_stream(names::EVENTS_STREAM)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let events = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: filter,
            deliver_policy: consumer::DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?
        .messages()
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let (tx, rx) = mpsc::channel::<SseEvent>(256);
    tokio::spawn(pump(state, job, stream, events, changes, tx));
    let out = futures::stream::unfold(
        rx,
        |mut rx| async move { rx.recv().await.map(|e| (Ok(e), rx)) },
    );
    Ok(Sse::new(out).keep_alive(KeepAlive::new().interval(Duration::from_secs(10))))
}

fn job_event(name: &str, job: &JobState) -> SseEvent {
    SseEvent::default()
        .event(name)
        .data(serde_json::to_string(job).unwrap_or_default())
}

async fn pump(
    state: AppState,
    mut job: JobState,
    stream: async_nats::jetstream::stream::Stream,
    mut events: consumer::pull::Ordered,
    mut changes: tokio::sync::broadcast::Receiver<String>,
    tx: mpsc::Sender<SseEvent>,
) {
    if tx.send(job_event("job", &job)).await.is_err() {
        return;
    }
    // Stream sequence of the newest event we have sent.
    let mut sent_upto = 0u64;
    // Once the job is finished: the sequence of its last event in the stream.
    let mut last_needed: Option<u64> = None;
    loop {
        if job.status.is_terminal() && last_needed.is_none() {
            last_needed = Some(last_event_seq(&stream, &job).await);
        }
        if let Some(last) = last_needed
            && sent_upto >= last
        {
            let _ = tx.send(job_event("end", &job)).await;
            return;
        }
        tokio::select! {
            _ = tx.closed() => return,
            m = events.next() => {
                let Some(Ok(m)) = m else {
                    // The ordered consumer recovers by itself; an end means the server is gone.
                    let _ = tx.send(SseEvent::default().event("error").data("event stream interrupted")).await;
                    return;
                };
                if let Ok(info) = m.info() {
                    sent_upto = sent_upto.max(info.stream_sequence);
                }
                if let Ok(ev) = pb::Event::decode(m.payload.as_ref()) {
                    let data = event_json(&ev).to_string();
                    if tx.send(SseEvent::default().event("task").data(data)).await.is_err() {
                        return;
                    }
                }
            }
            c = changes.recv() => {
                let relevant = match c {
                    Ok(id) => id == job.id,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => true,
                    Err(_) => return,
                };
                if !relevant {
                    continue;
                }
                let Some(now) = state.engine.read(|v| v.jobs.get(&job.id).map(|e| e.job.clone())) else {
                    return;
                };
                if now.status != job.status || now.counts != job.counts {
                    job = now;
                    if tx.send(job_event("job", &job)).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// Sequence of the newest event of `job` in the events stream (0: none).
async fn last_event_seq(stream: &async_nats::jetstream::stream::Stream, job: &JobState) -> u64 {
    let mut last = 0;
    for zone in &job.zones {
        if let Ok(subj) = subject::event_subject(zone, &job.id)
            && let Ok(m) = stream.get_last_raw_message_by_subject(&subj).await
        {
            last = last.max(m.sequence);
        }
    }
    last
}

/// An event as JSON, the form SSE followers and the CLI read.
pub fn event_json(ev: &pb::Event) -> serde_json::Value {
    let mut v = serde_json::json!({
        "job_id": ev.job_id,
        "task_id": ev.task_id,
        "zone": ev.zone,
        "worker_id": ev.worker_id,
        "attempt": ev.attempt,
        "seq": ev.seq,
        "at": ms_to_rfc3339(ev.at_ms),
    });
    let extra = match &ev.body {
        Some(Body::Started(_)) => serde_json::json!({ "type": "started" }),
        Some(Body::Progress(p)) => {
            serde_json::json!({ "type": "progress", "percent": p.percent, "step": p.step })
        }
        Some(Body::Log(l)) => {
            serde_json::json!({ "type": "log", "level": l.level, "line": l.line })
        }
        Some(Body::Retrying(r)) => serde_json::json!({
            "type": "retrying", "error_kind": r.error_kind, "error": r.error, "delay_ms": r.delay_ms
        }),
        Some(Body::Result(r)) => {
            let outcome = match pb::Outcome::try_from(r.outcome) {
                Ok(pb::Outcome::Succeeded) => "succeeded",
                Ok(pb::Outcome::Cancelled) => "cancelled",
                _ => "failed",
            };
            let output: serde_json::Value =
                serde_json::from_slice(&r.output_json).unwrap_or(serde_json::Value::Null);
            serde_json::json!({
                "type": "result", "outcome": outcome, "error_kind": r.error_kind,
                "error": r.error, "output": output
            })
        }
        None => serde_json::json!({ "type": "unknown" }),
    };
    if let (Some(a), Some(b)) = (v.as_object_mut(), extra.as_object()) {
        a.extend(b.clone());
    }
    v
}
