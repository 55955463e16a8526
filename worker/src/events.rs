//! One task attempt's events on `outpost.event.<zone>.<job>`: numbered in
//! order, stamped with the run's trace context, and handed to the worker's
//! [`Outbox`], which stores them in batches. The receipts are awaited
//! before the task message itself is acknowledged.

use crate::outbox::{Outbox, Receipt};
use outpost_proto::pb::{self, event::Body};
use outpost_proto::{layout, now_ms};
use std::time::Duration;
use thiserror::Error;

/// Why an event could not be stored.
#[derive(Debug, Error)]
pub enum EventError {
    #[error("invalid event subject: {0}")]
    Subject(#[from] layout::SubjectError),
    #[error("event {event} was not stored: {message}")]
    Publish { event: String, message: String },
}

/// The events of one attempt of one task.
pub struct EventSink {
    outbox: Outbox,
    subject: String,
    template: pb::Event,
    /// The task's kind, stamped on its result.
    kind: String,
    seq: u32,
    /// Each event's `<task>.<attempt>.<seq>` and its receipt.
    pending: Vec<(String, Receipt)>,
    /// When the attempt started (0: not yet), and whether `Started` went out.
    started_at_ms: i64,
    started_sent: bool,
}

impl EventSink {
    /// The sink of `task`'s attempt `attempt`; call it inside the run's
    /// span, whose trace context every event carries.
    pub fn new(
        outbox: Outbox,
        task: &pb::Task,
        worker_id: &str,
        attempt: u32,
    ) -> Result<Self, EventError> {
        Ok(Self {
            outbox,
            subject: layout::event_subject(&task.zone, &task.job_id)?,
            template: pb::Event {
                job_id: task.job_id.clone(),
                task_id: task.task_id.clone(),
                zone: task.zone.clone(),
                worker_id: worker_id.to_string(),
                attempt,
                seq: 0,
                at_ms: 0,
                traceparent: outpost_telemetry::propagation::traceparent_of(
                    &tracing::Span::current(),
                )
                .unwrap_or_default(),
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
    /// event instead of two); [`EventSink::announce_start`] publishes
    /// `Started` for one that takes longer, and any progress or log
    /// publishes it first.
    pub fn mark_started(&mut self) {
        self.started_at_ms = now_ms();
    }

    /// Publishes `Started` now, unless it already went out.
    pub async fn announce_start(&mut self) {
        if self.started_at_ms != 0 && !self.started_sent {
            self.started_sent = true;
            self.publish(Body::Started(pb::Started {}));
        }
    }

    /// Publishes `body` as the attempt's next event. Does not wait for it
    /// to be stored; [`EventSink::confirm`] does.
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
        self.publish(body);
    }

    fn publish(&mut self, body: Body) {
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
        let name = format!("{}.{}.{}", ev.task_id, ev.attempt, ev.seq);
        let receipt = self.outbox.send(&self.subject, ev);
        self.pending.push((name, receipt));
    }

    /// Waits until every event emitted so far is stored (the outbox re-sends
    /// what was not acked), at most `deadline`.
    pub async fn confirm(&mut self, deadline: Duration) -> Result<(), EventError> {
        let until = tokio::time::Instant::now() + deadline;
        for (event, receipt) in self.pending.drain(..) {
            let message = match tokio::time::timeout_at(until, receipt).await {
                Ok(Ok(Ok(()))) => continue,
                Ok(Ok(Err(why))) => why,
                Ok(Err(_)) => "the worker's outbox stopped".to_string(),
                Err(_) => format!("not stored within {} s", deadline.as_secs()),
            };
            return Err(EventError::Publish { event, message });
        }
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
