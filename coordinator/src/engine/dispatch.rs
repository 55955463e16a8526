//! Dispatch: publishes a job's pending tasks on `outpost.task.<zone>.<kind>`
//! (`outpost.site.<site>.task.<zone>.<kind>` for a zone at a site, see
//! [`crate::sites::layout`]) with `Nats-Msg-Id` = task id, so a re-dispatch after a crash is
//! de-duplicated by JetStream. Publishes are pipelined and their acks
//! awaited together; failed ones are retried until the server takes them.

use crate::model::{JobState, TaskState};
use async_nats::jetstream::{self, message::PublishMessage};
use futures::future::join_all;
use outpost_proto::{Message, headers, layout, now_ms, pb};
use std::time::Duration;
use tracing::Instrument;

/// How many publishes are in flight at once.
const WINDOW: usize = 1024;

/// A task as it goes on the wire: its id, subject and encoded message.
/// Built from the task state when the dispatch starts, so a dispatch of a
/// big job holds a few hundred bytes per task, not a copy of its state.
pub struct Outgoing {
    id: String,
    subject: Result<String, String>,
    payload: bytes::Bytes,
}

impl Outgoing {
    pub fn new(t: &TaskState, routes: &crate::sites::Routes) -> Outgoing {
        let msg = pb::Task {
            task_id: t.id.clone(),
            job_id: t.job_id.clone(),
            zone: t.zone.clone(),
            kind: t.kind.clone(),
            target: t.target.clone(),
            params_json: serde_json::to_vec(&t.params).unwrap_or_default(),
            // The credential's name only; the worker resolves it in its zone.
            credential_ref: t.params["credential"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            dispatched_at_ms: now_ms(),
            cleanup: t.cleanup,
        };
        Outgoing {
            id: t.id.clone(),
            subject: match routes.get(&t.zone) {
                Some(site) => layout::site_task_subject(site, &t.zone, &t.kind),
                None => layout::task_subject(&t.zone, &t.kind),
            }
            .map_err(|e| e.to_string()),
            payload: msg.encode_to_vec().into(),
        }
    }
}

/// Publishes `tasks` of `job`; returns each task's stream sequence.
pub async fn publish_tasks(
    js: jetstream::Context,
    job: JobState,
    tasks: Vec<Outgoing>,
) -> Vec<(String, u64)> {
    let span = tracing::info_span!(
        "dispatch",
        job = %job.id,
        tasks = tasks.len(),
        trace_id = tracing::field::Empty,
    );
    if let Some(tp) = &job.traceparent {
        outpost_telemetry::set_parent_from_pairs(&span, &[("traceparent".into(), tp.clone())]);
    }
    outpost_telemetry::record_trace_id(&span);
    let mut trace_headers = async_nats::HeaderMap::new();
    outpost_telemetry::inject_nats(&span, &mut trace_headers);
    let no_trace = async_nats::HeaderMap::new();
    let sampling = outpost_telemetry::sampling::configured();
    async move {
        let mut seqs = Vec::with_capacity(tasks.len());
        let mut todo: Vec<&Outgoing> = tasks.iter().collect();
        let mut delay = Duration::from_millis(50);
        while !todo.is_empty() {
            let mut failed = Vec::new();
            for chunk in todo.chunks(WINDOW) {
                let mut acks = Vec::with_capacity(chunk.len());
                for t in chunk {
                    // Only the tasks sampled into the job's trace carry it.
                    let traced = sampling.traced(&job.id, &t.id);
                    let headers = if traced { &trace_headers } else { &no_trace };
                    acks.push(publish_one(&js, t, headers).await);
                }
                let results = join_all(acks.into_iter().map(|a| async move {
                    match a {
                        Ok(fut) => fut.await.map_err(|e| e.to_string()),
                        Err(e) => Err(e),
                    }
                }))
                .await;
                for (t, r) in chunk.iter().zip(results) {
                    match r {
                        Ok(ack) => seqs.push((t.id.clone(), ack.sequence)),
                        Err(e) => {
                            tracing::warn!(task = %t.id, error = %e, "task publish failed; will retry");
                            failed.push(*t);
                        }
                    }
                }
            }
            if !failed.is_empty() {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            todo = failed;
        }
        tracing::debug!("dispatched");
        seqs
    }
    .instrument(span.clone())
    .await
}

async fn publish_one(
    js: &jetstream::Context,
    t: &Outgoing,
    trace_headers: &async_nats::HeaderMap,
) -> Result<jetstream::context::PublishAckFuture, String> {
    let subject = t.subject.clone()?;
    let mut hdrs = trace_headers.clone();
    hdrs.insert(headers::MSG_ID, t.id.as_str());
    js.send_publish(
        subject,
        PublishMessage::build()
            .payload(t.payload.clone())
            .headers(hdrs),
    )
    .await
    .map_err(|e| e.to_string())
}
