//! Publishing one task attempt's events on `outpost.event.<zone>.<job>`:
//! numbered in order, deduplicated by `Nats-Msg-Id` =
//! `<task>.<attempt>.<seq>`, carrying the trace context. Publish acks are
//! collected and awaited (and the event re-sent if the ack was lost) before
//! the task message itself is acknowledged.

use async_nats::HeaderMap;
use async_nats::jetstream::{self, context::PublishAckFuture};
use bytes::Bytes;
use outpost_proto::pb::{self, event::Body};
use outpost_proto::{Message, headers, layout, now_ms};
use std::time::Duration;
use thiserror::Error;

/// Why an event could not be stored.
#[derive(Debug, Error)]
pub enum EventError {
    #[error("invalid event subject: {0}")]
    Subject(#[from] layout::SubjectError),
    #[error("event {msg_id} was not stored: {message}")]
    Publish { msg_id: String, message: String },
}

struct Pending {
    msg_id: String,
    payload: Bytes,
    headers: HeaderMap,
    ack: Option<PublishAckFuture>,
}

/// The events of one attempt of one task.
pub struct EventSink {
    js: jetstream::Context,
    subject: String,
    template: pb::Event,
    /// The task's kind, stamped on its result.
    kind: String,
    seq: u32,
    pending: Vec<Pending>,
    /// When the attempt started (0: not yet), and whether `Started` went out.
    started_at_ms: i64,
    started_sent: bool,
}

impl EventSink {
    pub fn new(
        js: jetstream::Context,
        task: &pb::Task,
        worker_id: &str,
        attempt: u32,
    ) -> Result<Self, EventError> {
        Ok(Self {
            js,
            subject: layout::event_subject(&task.zone, &task.job_id)?,
            template: pb::Event {
                job_id: task.job_id.clone(),
                task_id: task.task_id.clone(),
                zone: task.zone.clone(),
                worker_id: worker_id.to_string(),
                attempt,
                seq: 0,
                at_ms: 0,
                body: None,
            },
            kind: task.kind.clone(),
            seq: 0,
            pending: Vec::new(),
            started_at_ms: 0,
            started_sent: false,
        })
    }

    /// Notes that the attempt started. No event goes out yet: a task that
    /// finishes quickly says when it started in its result (one stored
    /// write instead of two); [`EventSink::announce_start`] publishes
    /// `Started` for one that takes longer, and any progress or log
    /// publishes it first.
    pub fn mark_started(&mut self) {
        self.started_at_ms = now_ms();
    }

    /// Publishes `Started` now, unless it already went out.
    pub async fn announce_start(&mut self) {
        if self.started_at_ms != 0 && !self.started_sent {
            self.started_sent = true;
            self.publish(Body::Started(pb::Started {})).await;
        }
    }

    /// Publishes `body` as the attempt's next event. Does not wait for the
    /// server's ack; [`EventSink::confirm`] does.
    pub async fn emit(&mut self, body: Body) {
        match &body {
            Body::Started(_) => {
                if self.started_at_ms == 0 {
                    self.started_at_ms = now_ms();
                }
                return self.announce_start().await;
            }
            Body::Progress(_) | Body::Log(_) => self.announce_start().await,
            Body::Result(_) | Body::Retrying(_) => {}
        }
        self.publish(body).await;
    }

    async fn publish(&mut self, body: Body) {
        self.seq += 1;
        let mut ev = self.template.clone();
        ev.seq = self.seq;
        ev.at_ms = now_ms();
        ev.body = Some(match body {
            Body::Result(mut r) => {
                r.kind = self.kind.clone();
                r.started_at_ms = self.started_at_ms;
                Body::Result(r)
            }
            other => other,
        });
        let msg_id = format!("{}.{}.{}", ev.task_id, ev.attempt, ev.seq);
        let mut hdrs = HeaderMap::new();
        hdrs.insert(headers::MSG_ID, msg_id.as_str());
        outpost_telemetry::propagation::inject_nats(&tracing::Span::current(), &mut hdrs);
        let payload = Bytes::from(ev.encode_to_vec());
        let ack = self
            .js
            .publish_with_headers(self.subject.clone(), hdrs.clone(), payload.clone())
            .await
            .ok();
        self.pending.push(Pending {
            msg_id,
            payload,
            headers: hdrs,
            ack,
        });
    }

    /// Waits until every event emitted so far is stored, re-publishing (same
    /// message id, so never twice) those whose ack did not come, until
    /// `deadline` passes.
    pub async fn confirm(&mut self, deadline: Duration) -> Result<(), EventError> {
        let until = tokio::time::Instant::now() + deadline;
        let mut delay = Duration::from_millis(50);
        for p in self.pending.iter_mut() {
            loop {
                let ok = match p.ack.take() {
                    Some(ack) => matches!(tokio::time::timeout_at(until, ack).await, Ok(Ok(_))),
                    None => false,
                };
                if ok {
                    break;
                }
                if tokio::time::Instant::now() + delay >= until {
                    return Err(EventError::Publish {
                        msg_id: p.msg_id.clone(),
                        message: format!("no ack within {} s", deadline.as_secs()),
                    });
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
                p.ack = self
                    .js
                    .publish_with_headers(
                        self.subject.clone(),
                        p.headers.clone(),
                        p.payload.clone(),
                    )
                    .await
                    .ok();
            }
        }
        self.pending.clear();
        Ok(())
    }
}

/// An event body for a task's result.
pub fn result(
    outcome: pb::Outcome,
    error_kind: &str,
    error: &str,
    output: Option<&serde_json::Value>,
) -> Body {
    Body::Result(pb::Result {
        outcome: outcome as i32,
        error_kind: error_kind.to_string(),
        error: error.to_string(),
        output_json: output
            .map(|v| serde_json::to_vec(v).unwrap_or_default())
            .unwrap_or_default(),
        // Stamped by the sink, which knows the task and the start.
        kind: String::new(),
        started_at_ms: 0,
    })
}
