//! The reader of one followed job: it reads the job's events from the
//! events stream (one ordered consumer) and its state changes from the
//! engine into a log of rendered SSE events that every follower of the job
//! reads at its own pace; the log is bounded in bytes, oldest first out.
//! It stops at the job's end or when its followers are gone, and deletes
//! its consumer so nothing stays on nats-server.

use super::events::event_json;
use crate::bus::Bus;
use crate::engine::Engine;
use crate::model::JobState;
use async_nats::jetstream::consumer;
use axum::response::sse::Event as SseEvent;
use futures::StreamExt;
use outpost_proto::layout;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// What the reader writes and the followers read.
pub(super) struct Shared {
    pub(super) log: Mutex<Log>,
    /// Number of entries ever appended.
    pub(super) grew: watch::Sender<u64>,
}

pub(super) struct Entry {
    pub(super) event: SseEvent,
    bytes: usize,
    /// Nothing follows: the follower ends after sending it.
    pub(super) last: bool,
}

/// The rendered events, oldest dropped first beyond `cap` bytes.
pub(super) struct Log {
    /// Index of `entries[0]` among all entries ever appended.
    pub(super) base: u64,
    pub(super) entries: VecDeque<Arc<Entry>>,
    bytes: usize,
    cap: usize,
}

impl Shared {
    /// An empty log of at most `cap` bytes.
    pub(super) fn new(cap: usize) -> Shared {
        let (grew, _) = watch::channel(0u64);
        Shared {
            log: Mutex::new(Log {
                base: 0,
                entries: VecDeque::new(),
                bytes: 0,
                cap,
            }),
            grew,
        }
    }

    fn push(&self, name: &str, data: String, last: bool) {
        let bytes = data.len() + name.len() + 16;
        let entry = Arc::new(Entry {
            event: SseEvent::default().event(name).data(data),
            bytes,
            last,
        });
        let total = {
            let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
            log.bytes += bytes;
            log.entries.push_back(entry);
            while log.bytes > log.cap && log.entries.len() > 1 {
                if let Some(old) = log.entries.pop_front() {
                    log.bytes -= old.bytes;
                    log.base += 1;
                }
            }
            log.base + log.entries.len() as u64
        };
        self.grew.send_replace(total);
    }

    fn job(&self, name: &str, job: &JobState, last: bool) {
        self.push(name, serde_json::to_string(job).unwrap_or_default(), last);
    }
}

/// Reads job `id`'s events into `shared` until the job is finished and
/// every event of it was read, or `stop`; then deletes its consumer.
pub(super) async fn read_job(
    shared: Arc<Shared>,
    engine: Engine,
    bus: Bus,
    id: String,
    stop: CancellationToken,
) {
    let mut changes = engine.subscribe();
    let Some(mut job) = engine.read(|v| v.jobs.get(&id).map(|e| e.job.clone())) else {
        shared.push("error", format!("no job {id:?}"), true);
        return;
    };
    shared.job("job", &job, false);
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        tracing::warn!(error = %e, "{what}");
        shared.push("error", format!("{what}: {e}"), true);
    };
    let stream = match bus.js.get_stream(layout::EVENTS_STREAM).await {
        Ok(s) => s,
        Err(e) => return fail("cannot read the events stream", &e),
    };
    let Ok(filters) = layout::job_events_filters(&id) else {
        return fail("job id unusable in a subject", &id);
    };
    let name = format!("outpost_follow_{}", uuid::Uuid::now_v7().simple());
    let events = stream
        .create_consumer(consumer::pull::OrderedConfig {
            name: Some(name.clone()),
            filter_subjects: filters,
            deliver_policy: consumer::DeliverPolicy::All,
            ..Default::default()
        })
        .await;
    let events = match events {
        Ok(c) => c.messages().await,
        Err(e) => return fail("cannot follow the events stream", &e),
    };
    match events {
        Ok(events) => {
            pump(
                &shared,
                &engine,
                &stream,
                events,
                &mut changes,
                &mut job,
                &stop,
            )
            .await;
        }
        Err(e) => fail("cannot follow the events stream", &e),
    }
    delete_consumer(&stream, &name).await;
}

async fn pump(
    shared: &Shared,
    engine: &Engine,
    stream: &async_nats::jetstream::stream::Stream,
    mut events: consumer::pull::Ordered,
    changes: &mut tokio::sync::broadcast::Receiver<String>,
    job: &mut JobState,
    stop: &CancellationToken,
) {
    // Stream sequence of the newest event read.
    let mut read_upto = 0u64;
    // Once the job is finished: the sequence of its last event in the stream.
    let mut last_needed: Option<u64> = None;
    loop {
        if job.status.is_terminal() && last_needed.is_none() {
            last_needed = Some(last_event_seq(stream, job).await);
        }
        if let Some(last) = last_needed
            && read_upto >= last
        {
            shared.job("end", job, true);
            return;
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            m = events.next() => {
                let Some(Ok(m)) = m else {
                    // The ordered consumer recovers by itself; an end means the server is gone.
                    shared.push("error", "event stream interrupted".into(), true);
                    return;
                };
                if let Ok(info) = m.info() {
                    read_upto = read_upto.max(info.stream_sequence);
                }
                // Only what the relay would believe of the subject.
                if let Ok(read) = crate::engine::provenance::from_subject(m.subject.as_str(), m.payload.as_ref()) {
                    for ev in &read.events {
                        shared.push("task", event_json(ev).to_string(), false);
                    }
                }
            }
            c = changes.recv() => {
                let relevant = match c {
                    Ok(changed) => changed == job.id,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => true,
                    Err(_) => return,
                };
                if !relevant {
                    continue;
                }
                let Some(now) = engine.read(|v| v.jobs.get(&job.id).map(|e| e.job.clone())) else {
                    shared.push("error", "the job is gone".into(), true);
                    return;
                };
                if now.status != job.status || now.counts != job.counts {
                    *job = now;
                    shared.job("job", job, false);
                }
            }
        }
    }
}

/// Deletes the reader's consumer (or its replacement `{name}_{n}` after
/// the ordered consumer recreated itself), so nothing stays on the server.
async fn delete_consumer(stream: &async_nats::jetstream::stream::Stream, name: &str) {
    if stream.delete_consumer(name).await.is_ok() {
        return;
    }
    let prefix = format!("{name}_");
    let mut names = stream.consumer_names();
    while let Some(Ok(n)) = names.next().await {
        if n.starts_with(&prefix)
            && let Err(e) = stream.delete_consumer(&n).await
        {
            tracing::debug!(consumer = %n, error = %e, "cannot delete a follower consumer");
        }
    }
}

/// Sequence of the newest event of `job` in the events stream (0: none).
async fn last_event_seq(stream: &async_nats::jetstream::stream::Stream, job: &JobState) -> u64 {
    let mut last = 0;
    for zone in &job.zones {
        if let Ok(subj) = layout::event_subject(zone, &job.id)
            && let Ok(m) = stream.get_last_raw_message_by_subject(&subj).await
        {
            last = last.max(m.sequence);
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_drops_its_oldest_events_beyond_its_cap() {
        let s = Shared::new(1000);
        for _ in 0..100 {
            s.push("task", "x".repeat(100), false);
        }
        let log = s.log.lock().unwrap();
        assert!(log.bytes <= 1000, "{}", log.bytes);
        assert!(log.base > 90, "{}", log.base);
        assert_eq!(log.base + log.entries.len() as u64, 100);
        assert_eq!(*s.grew.borrow(), 100);
    }
}
