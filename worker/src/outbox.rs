//! The worker's outbox: every event its tasks produce leaves through one
//! publisher, which stores them as batches (`pb::Events`), one message per
//! job. While a few batches wait for their stored acks, new events gather;
//! when an ack comes, what gathered goes out together. An idle worker thus
//! publishes each event at once, and a busy one stores one message for many
//! results instead of one each, which halves what the server does per short
//! task. Each batch has its own `Nats-Msg-Id` (`<worker>.<nonce>.<n>`, the
//! nonce drawn at start so a restarted worker never reuses an id inside the
//! server's de-duplication window) and is re-sent unchanged until stored or
//! until its deadline; each event's sender learns which through its receipt.

use async_nats::HeaderMap;
use async_nats::jetstream;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use outpost_proto::{events, headers, pb};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Batches waiting for their acks before new events are gathered instead
/// of sent.
const IN_FLIGHT: usize = 4;
/// Most events in one batch (well under what a reader accepts).
const MAX_EVENTS: usize = 256;
/// A batch is cut once its events pass this many bytes (NATS's default
/// largest message is 1 MiB); a single larger event goes alone.
const MAX_BYTES: usize = 256 * 1024;
/// How long a batch is re-sent before its events are reported unstored.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Whether an event was stored: `Err` says why not.
pub type Receipt = oneshot::Receiver<Result<(), String>>;

struct Entry {
    subject: String,
    event: pb::Event,
    size: usize,
    done: oneshot::Sender<Result<(), String>>,
}

/// A handle on the outbox; cheap to clone. The publisher ends once every
/// handle is dropped and what it holds is settled.
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::UnboundedSender<Entry>,
}

impl Outbox {
    /// Starts the publisher of worker `worker_id` on `js`.
    pub fn start(js: jetstream::Context, worker_id: &str) -> Outbox {
        let (tx, rx) = mpsc::unbounded_channel();
        let prefix = format!("{worker_id}.{:016x}", crate::runner::random_u64());
        tokio::spawn(run(js, prefix, rx));
        Outbox { tx }
    }

    /// Queues `event` for `subject`; the receipt says when it is stored.
    pub fn send(&self, subject: &str, event: pb::Event) -> Receipt {
        let (done, receipt) = oneshot::channel();
        let size = outpost_proto::Message::encoded_len(&event);
        let entry = Entry {
            subject: subject.to_string(),
            event,
            size,
            done,
        };
        if let Err(mpsc::error::SendError(entry)) = self.tx.send(entry) {
            let _ = entry.done.send(Err("the worker's outbox is closed".into()));
        }
        receipt
    }
}

async fn run(js: jetstream::Context, prefix: String, mut rx: mpsc::UnboundedReceiver<Entry>) {
    let mut in_flight = FuturesUnordered::new();
    let mut next = 0u64;
    let mut open = true;
    loop {
        tokio::select! {
            biased;
            Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
            first = rx.recv(), if open && in_flight.len() < IN_FLIGHT => {
                let Some(first) = first else {
                    open = false;
                    continue;
                };
                let mut gathered = vec![first];
                while let Ok(e) = rx.try_recv() {
                    gathered.push(e);
                }
                for batch in cut(gathered) {
                    next += 1;
                    in_flight.push(deliver(js.clone(), format!("{prefix}.{next}"), batch));
                }
            }
            else => break,
        }
    }
}

/// Groups entries by subject (first seen first, each subject's events in
/// their order) and cuts each group at [`MAX_EVENTS`] and [`MAX_BYTES`].
fn cut(entries: Vec<Entry>) -> Vec<Vec<Entry>> {
    let mut batches: Vec<(Vec<Entry>, usize)> = Vec::new();
    // The open (not yet full) batch of each subject, by index.
    let mut open: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for e in entries {
        let fits = open.get(&e.subject).is_some_and(|&i| {
            let (b, bytes) = &batches[i];
            b.len() < MAX_EVENTS && bytes + e.size <= MAX_BYTES
        });
        if fits {
            let i = open[&e.subject];
            batches[i].1 += e.size;
            batches[i].0.push(e);
        } else {
            open.insert(e.subject.clone(), batches.len());
            let size = e.size;
            batches.push((vec![e], size));
        }
    }
    batches.into_iter().map(|(b, _)| b).collect()
}

/// Publishes one batch until it is stored or [`DEADLINE`] passes, then
/// tells each of its events' senders.
async fn deliver(js: jetstream::Context, msg_id: String, batch: Vec<Entry>) {
    let subject = batch[0].subject.clone();
    let mut waiters = Vec::with_capacity(batch.len());
    let mut evs = Vec::with_capacity(batch.len());
    for e in batch {
        waiters.push(e.done);
        evs.push(e.event);
    }
    let payload = Bytes::from(events::encode(evs));
    let mut hdrs = HeaderMap::new();
    hdrs.insert(headers::MSG_ID, msg_id.as_str());
    let until = tokio::time::Instant::now() + DEADLINE;
    let mut delay = Duration::from_millis(50);
    let outcome = loop {
        let why = match js
            .publish_with_headers(subject.clone(), hdrs.clone(), payload.clone())
            .await
        {
            Ok(ack) => match tokio::time::timeout_at(until, ack).await {
                Ok(Ok(_)) => break Ok(()),
                Ok(Err(e)) => e.to_string(),
                Err(_) => "no ack before the deadline".to_string(),
            },
            Err(e) => e.to_string(),
        };
        if tokio::time::Instant::now() + delay >= until {
            break Err(format!("not stored within {} s: {why}", DEADLINE.as_secs()));
        }
        tracing::debug!(msg_id, error = %why, "event batch not stored yet; sending it again");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    };
    for w in waiters {
        let _ = w.send(outcome.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(subject: &str, size: usize) -> Entry {
        Entry {
            subject: subject.into(),
            event: pb::Event::default(),
            size,
            done: oneshot::channel().0,
        }
    }

    #[test]
    fn batches_are_per_subject_in_order_and_bounded() {
        let mut entries = vec![entry("a", 10), entry("b", 10), entry("a", 10)];
        entries.extend((0..MAX_EVENTS).map(|_| entry("c", 1)));
        entries.push(entry("d", MAX_BYTES - 5));
        entries.push(entry("d", 10));
        let shape: Vec<(String, usize)> = cut(entries)
            .iter()
            .map(|b| (b[0].subject.clone(), b.len()))
            .collect();
        let want = [("a", 2), ("b", 1), ("c", MAX_EVENTS), ("d", 1), ("d", 1)];
        assert_eq!(
            shape,
            want.iter()
                .map(|(s, n)| (s.to_string(), *n))
                .collect::<Vec<_>>()
        );
    }
}
