//! Spans recorded after the fact, at the times things happened: a failed
//! task that was not traced ([`crate::sampling`]) is put into its job's
//! trace by the coordinator when its result arrives, so a trace shows
//! every failure of its job.

use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, SpanKind, Status, Tracer as _};
use opentelemetry_sdk::trace::SdkTracer;
use std::sync::OnceLock;
use std::time::SystemTime;

static TRACER: OnceLock<SdkTracer> = OnceLock::new();

/// Where [`record_failed_task`] records (set by `init` when spans are on).
pub(crate) fn set_tracer(tracer: SdkTracer) {
    let _ = TRACER.set(tracer);
}

/// A failed task as its result tells it.
#[derive(Debug, Clone)]
pub struct FailedTask<'a> {
    /// The job's `traceparent`.
    pub traceparent: &'a str,
    pub zone: &'a str,
    pub job: &'a str,
    pub task: &'a str,
    pub kind: &'a str,
    pub target: &'a str,
    pub worker: &'a str,
    pub attempt: u32,
    pub error_kind: &'a str,
    pub error: &'a str,
    pub started: SystemTime,
    pub finished: SystemTime,
}

/// Records `t` as a `task.run` span of its job's trace, from its start to
/// its end, with an error status; nothing when spans are off or the job
/// has no trace context.
pub fn record_failed_task(t: &FailedTask<'_>) {
    let Some(tracer) = TRACER.get() else {
        return;
    };
    let parent =
        crate::context_from_pairs(&[("traceparent".to_string(), t.traceparent.to_string())]);
    {
        use opentelemetry::trace::TraceContextExt;
        if !parent.span().span_context().is_valid() {
            return;
        }
    }
    let mut span = tracer
        .span_builder("task.run")
        .with_kind(SpanKind::Internal)
        .with_start_time(t.started)
        .with_attributes(vec![
            KeyValue::new("zone", t.zone.to_string()),
            KeyValue::new("job", t.job.to_string()),
            KeyValue::new("task", t.task.to_string()),
            KeyValue::new("kind", t.kind.to_string()),
            KeyValue::new("target", t.target.to_string()),
            KeyValue::new("worker", t.worker.to_string()),
            KeyValue::new("attempt", i64::from(t.attempt)),
            KeyValue::new("error_kind", t.error_kind.to_string()),
            KeyValue::new("sampled", "failed"),
        ])
        .start_with_context(tracer, &parent);
    span.set_status(Status::error(t.error.to_string()));
    span.end_with_timestamp(t.finished.max(t.started));
}
