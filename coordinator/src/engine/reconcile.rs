//! Start-up reconciliation: job state is a fold of `OUTPOST_EVENTS`, so
//! before a restarted coordinator resumes anything it reads, for every job
//! that is not finished, the job's events from the stream and applies them
//! (idempotently) to the state it loaded. Whatever instant the previous
//! process died at (events pulled but not applied, state writes lost, a
//! relay consumer reset), the state converges to what the stream says.
//!
//! Only the part of the stream that can hold such events is read: from the
//! earliest time an unfinished job could have been dispatched, with the
//! jobs' subjects as filters. Finished jobs and history cost nothing.

use async_nats::jetstream::{self, consumer};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use outpost_proto::{layout, pb};
use std::time::Duration;
use thiserror::Error;

/// Filter subjects per reading consumer.
const FILTERS_PER_READ: usize = 128;
/// Margin for clock skew between this host and the NATS server.
const SKEW: chrono::TimeDelta = chrono::TimeDelta::seconds(120);
/// How long one read may wait for the next message before giving up.
const READ_IDLE: Duration = Duration::from_secs(10);

/// Why the stream could not be read back.
#[derive(Debug, Error)]
pub enum ReconcileError {
    #[error("cannot open the events stream: {0}")]
    Stream(String),
    #[error("cannot read the events stream: {0}")]
    Read(String),
}

/// A job to reconcile and the earliest time its events can carry.
pub struct Pending {
    pub job_id: String,
    pub since: DateTime<Utc>,
}

/// The earliest instant events of a job created at `created` and
/// scheduled for `schedule_at` can have been published.
pub fn events_since(created: &str, schedule_at: Option<&str>) -> DateTime<Utc> {
    let parse = |s: &str| {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    };
    let created = parse(created).unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    // A scheduled job may have been dispatched early only if the clock
    // jumped; the margin below covers skew, not that.
    let at = schedule_at
        .and_then(parse)
        .unwrap_or(created)
        .min(Utc::now());
    let at = at.max(created);
    at.checked_sub_signed(SKEW).unwrap_or(at)
}

/// Reads every event of `jobs` published up to now, in stream order.
pub async fn read_events(
    js: &jetstream::Context,
    jobs: &[Pending],
    metrics: &super::Metrics,
    drops: &super::provenance::Drops,
) -> Result<Vec<pb::Event>, ReconcileError> {
    let mut out: Vec<(u64, pb::Event)> = Vec::new();
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let mut stream = js
        .get_stream(layout::EVENTS_STREAM)
        .await
        .map_err(|e| ReconcileError::Stream(e.to_string()))?;
    let last = stream
        .info()
        .await
        .map_err(|e| ReconcileError::Stream(e.to_string()))?
        .state
        .last_sequence;
    if last == 0 {
        return Ok(Vec::new());
    }
    let mut sorted: Vec<&Pending> = jobs.iter().collect();
    sorted.sort_by_key(|p| p.since);
    for chunk in sorted.chunks(FILTERS_PER_READ) {
        let filters: Vec<String> = chunk
            .iter()
            .filter_map(|p| layout::job_events_filters(&p.job_id).ok())
            .flatten()
            .collect();
        let since = chunk[0].since.max(DateTime::<Utc>::UNIX_EPOCH);
        let start = time::OffsetDateTime::from_unix_timestamp(since.timestamp())
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        read_range(&stream, filters, start, last, &mut out, metrics, drops).await?;
    }
    // Chunks were read one after the other: bring events back to stream
    // order per task (apply is idempotent, but order decides the result).
    out.sort_by_key(|(seq, _)| *seq);
    Ok(out.into_iter().map(|(_, ev)| ev).collect())
}

async fn read_range(
    stream: &jetstream::stream::Stream,
    filters: Vec<String>,
    start: time::OffsetDateTime,
    last: u64,
    out: &mut Vec<(u64, pb::Event)>,
    metrics: &super::Metrics,
    drops: &super::provenance::Drops,
) -> Result<(), ReconcileError> {
    let read_err = |e: &dyn std::fmt::Display| ReconcileError::Read(e.to_string());
    let consumer: consumer::PullConsumer = stream
        .create_consumer(consumer::pull::Config {
            filter_subjects: filters,
            deliver_policy: consumer::DeliverPolicy::ByStartTime { start_time: start },
            ack_policy: consumer::AckPolicy::None,
            inactive_threshold: Duration::from_secs(30),
            memory_storage: true,
            ..Default::default()
        })
        .await
        .map_err(|e| read_err(&e))?;
    let name = consumer.cached_info().name.clone();
    let result = async {
        if consumer.cached_info().num_pending == 0 {
            return Ok(());
        }
        let mut messages = consumer
            .stream()
            .max_messages_per_batch(1000)
            .heartbeat(Duration::from_secs(2))
            .expires(Duration::from_secs(5))
            .messages()
            .await
            .map_err(|e| read_err(&e))?;
        loop {
            let next = tokio::time::timeout(READ_IDLE, messages.next())
                .await
                .map_err(|_| ReconcileError::Read("no message within the read deadline".into()))?;
            let Some(m) = next else { break };
            let m = m.map_err(|e| read_err(&e))?;
            let info = m.info().map_err(|e| read_err(&e))?;
            let (seq, pending) = (info.stream_sequence, info.pending);
            // The same belief as the relay's: subject and payload agree.
            let evs = super::provenance::admit_one(
                m.subject.as_str(),
                m.payload.as_ref(),
                metrics,
                drops,
            );
            out.extend(evs.into_iter().map(|ev| (seq, ev)));
            if pending == 0 || seq >= last {
                break;
            }
        }
        Ok(())
    }
    .await;
    let _ = stream.delete_consumer(&name).await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_begin_at_creation_or_the_schedule_whichever_is_later() {
        let created = "2026-01-01T00:00:00Z";
        let c = DateTime::parse_from_rfc3339(created)
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(events_since(created, None), c - SKEW);
        let later = "2026-01-02T00:00:00Z";
        let l = DateTime::parse_from_rfc3339(later)
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(events_since(created, Some(later)), l - SKEW);
        // A schedule in the future is capped at now; one before creation
        // (the job was submitted late) counts from creation.
        assert!(events_since(created, Some("2999-01-01T00:00:00Z")) <= Utc::now());
        assert_eq!(events_since(later, Some(created)), l - SKEW);
        // Unreadable times read everything rather than miss events.
        assert!(events_since("garbage", None) < c);
        assert!(events_since("garbage", Some("garbage")) <= DateTime::<Utc>::UNIX_EPOCH);
    }
}
