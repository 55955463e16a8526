//! The claim loop of one (zone, kind) consumer: pull only as many task
//! messages as there is free capacity, hand each to a runner with a
//! semaphore permit, and stop pulling when the worker drains.

use crate::ops::Kind;
use crate::runner::{self, Shared};
use async_nats::jetstream::AckKind;
use async_nats::jetstream::consumer::PullConsumer;
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long one pull request waits on the server for messages.
const PULL_EXPIRES: Duration = Duration::from_secs(5);
// No idle heartbeat on pulls: async-nats 0.51's `Batch` swallows a
// heartbeat without re-arming its waker, so messages arriving after one sit
// unseen until the batch expires (and are then redelivered only after the
// ack wait). A lost server is noticed at the batch's expiry instead.
/// Most messages asked for in one pull.
const MAX_BATCH: usize = 256;

/// Everything one claim loop needs.
pub struct ClaimLoop {
    pub shared: Arc<Shared>,
    pub kind: Kind,
    pub consumer: PullConsumer,
    pub capacity: Arc<Semaphore>,
    /// Kinds sharing the capacity; each pull asks for its share of what is free.
    pub kinds: usize,
    pub tracker: TaskTracker,
    pub stop: CancellationToken,
}

impl ClaimLoop {
    /// Pulls and dispatches until `stop` fires.
    pub async fn run(self) {
        let mut backoff = Duration::from_millis(100);
        loop {
            // Wait for free capacity before asking for work.
            let free = tokio::select! {
                p = self.capacity.acquire() => match p {
                    Ok(p) => { let n = self.capacity.available_permits() + 1; drop(p); n }
                    Err(_) => return,
                },
                _ = self.stop.cancelled() => return,
            };
            let want = free.div_ceil(self.kinds).clamp(1, MAX_BATCH);
            let batch = self
                .consumer
                .batch()
                .max_messages(want)
                .expires(PULL_EXPIRES)
                .messages()
                .await;
            let mut batch = match batch {
                Ok(b) => {
                    backoff = Duration::from_millis(100);
                    b
                }
                Err(e) => {
                    tracing::warn!(kind = %self.kind, error = %e, "pull request failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = self.stop.cancelled() => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            loop {
                let msg = tokio::select! {
                    m = batch.next() => m,
                    _ = self.stop.cancelled() => {
                        hand_back_buffered(&mut batch).await;
                        return;
                    }
                };
                let msg = match msg {
                    Some(Ok(m)) => m,
                    Some(Err(e)) => {
                        tracing::debug!(kind = %self.kind, error = %e, "pull ended");
                        break;
                    }
                    None => break,
                };
                let permit = tokio::select! {
                    p = self.capacity.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => return,
                    },
                    _ = self.stop.cancelled() => {
                        let _ = msg.ack_with(AckKind::Nak(None)).await;
                        hand_back_buffered(&mut batch).await;
                        return;
                    }
                };
                self.tracker
                    .spawn(runner::handle(self.shared.clone(), self.kind, msg, permit));
            }
        }
    }
}

/// Naks the messages a stopping worker already received but has not started.
async fn hand_back_buffered(batch: &mut async_nats::jetstream::consumer::pull::Batch) {
    while let Ok(Some(Ok(msg))) =
        tokio::time::timeout(Duration::from_millis(50), batch.next()).await
    {
        let _ = msg.ack_with(AckKind::Nak(None)).await;
    }
}
