//! The claim loop of one (zone, kind) consumer: keep pull requests open on
//! the server for as many task messages as this worker has free capacity
//! (never more), hand each message to a runner with a semaphore permit, and
//! stop pulling when the worker drains.
//!
//! Pulls are pipelined: a new request for the freed capacity goes out while
//! older ones still wait, so a busy worker never idles between round trips.

use crate::ops::Kind;
use crate::runner::{self, Shared};
use async_nats::jetstream::AckKind;
use async_nats::jetstream::consumer::PullConsumer;
use futures::stream::{BoxStream, SelectAll};
use futures::{Stream, StreamExt};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long one pull request waits on the server for messages.
// No idle heartbeat on pulls: async-nats 0.51's `Batch` swallows a
// heartbeat without re-arming its waker, so messages arriving after one sit
// unseen until the batch expires. A lost server is noticed through the
// client's reconnect signal (or, at worst, the batch's expiry).
const PULL_EXPIRES: Duration = Duration::from_secs(3);
/// Most messages asked for in one pull.
const MAX_BATCH: usize = 256;

/// Everything one claim loop needs.
pub struct ClaimLoop {
    pub shared: Arc<Shared>,
    pub kind: Kind,
    pub consumer: PullConsumer,
    /// The consumer's ack wait and delivery limit, as the coordinator set them.
    pub settings: crate::config::ConsumerSettings,
    pub capacity: Arc<Semaphore>,
    /// Changes whenever a task gives its permit back.
    pub freed: watch::Receiver<u64>,
    /// Kinds sharing the capacity; each asks for its share of what is free.
    pub kinds: usize,
    /// Bumped on every reconnect to NATS: open pulls died with the old connection.
    pub reconnects: watch::Receiver<u64>,
    pub tracker: TaskTracker,
    pub stop: CancellationToken,
}

enum Item {
    Msg(Box<async_nats::jetstream::Message>),
    Failed(String),
    /// The pull with this id ended (all delivered, expired, or failed).
    End(u64),
}

type Pulls = SelectAll<BoxStream<'static, Item>>;

impl ClaimLoop {
    /// Pulls and dispatches until `stop` fires.
    pub async fn run(mut self) {
        let mut pulls: Pulls = SelectAll::new();
        // Messages still expected per open pull, and their sum.
        let mut open: HashMap<u64, usize> = HashMap::new();
        let mut outstanding = 0usize;
        let mut next_id = 0u64;
        let mut backoff = Duration::from_millis(100);
        let concurrency = self.shared.cfg.concurrency;
        let threshold = (concurrency / self.kinds / 8).max(1);
        // Reconnects before this loop started killed no pull of its own.
        self.reconnects.borrow_and_update();
        loop {
            let free = self.capacity.available_permits().div_ceil(self.kinds);
            let want = free.saturating_sub(outstanding).min(MAX_BATCH);
            if want > 0 && (want >= threshold || outstanding == 0) {
                match self.pull(want, next_id).await {
                    Ok(s) => {
                        pulls.push(s);
                        open.insert(next_id, want);
                        outstanding += want;
                        next_id += 1;
                        backoff = Duration::from_millis(100);
                    }
                    Err(e) => {
                        tracing::warn!(kind = %self.kind, error = %e, "pull request failed; retrying");
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            _ = self.stop.cancelled() => break,
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                }
                continue;
            }
            let item = tokio::select! {
                Some(item) = pulls.next(), if !pulls.is_empty() => item,
                _ = self.freed.changed() => continue,
                _ = self.reconnects.changed() => {
                    tracing::debug!(kind = %self.kind, "reconnected; renewing pulls");
                    pulls = SelectAll::new();
                    open.clear();
                    outstanding = 0;
                    continue;
                }
                _ = self.stop.cancelled() => break,
            };
            match item {
                Item::Msg(msg) => {
                    // Attribute the message to any open pull: only the total matters.
                    if let Some((&id, left)) = open.iter_mut().next() {
                        *left -= 1;
                        if *left == 0 {
                            open.remove(&id);
                        }
                    }
                    outstanding = outstanding.saturating_sub(1);
                    let permit = tokio::select! {
                        p = self.capacity.clone().acquire_owned() => match p {
                            Ok(p) => p,
                            Err(_) => break,
                        },
                        _ = self.stop.cancelled() => {
                            hand_back_unrun(&self.shared, &msg).await;
                            break;
                        }
                    };
                    self.tracker.spawn(runner::handle(
                        self.shared.clone(),
                        self.kind,
                        self.settings,
                        *msg,
                        permit,
                    ));
                }
                Item::Failed(e) => {
                    tracing::debug!(kind = %self.kind, error = %e, "pull ended with an error")
                }
                Item::End(id) => {
                    if let Some(left) = open.remove(&id) {
                        outstanding = outstanding.saturating_sub(left);
                    }
                }
            }
        }
        hand_back_buffered(&self.shared, &mut pulls).await;
    }

    async fn pull(
        &self,
        n: usize,
        id: u64,
    ) -> Result<BoxStream<'static, Item>, async_nats::jetstream::consumer::pull::BatchError> {
        let batch = self
            .consumer
            .batch()
            .max_messages(n)
            .expires(PULL_EXPIRES)
            .messages()
            .await?;
        Ok(tag(batch, id).boxed())
    }
}

fn tag(
    batch: impl Stream<Item = Result<async_nats::jetstream::Message, async_nats::Error>>
    + Send
    + 'static,
    id: u64,
) -> impl Stream<Item = Item> + Send + 'static {
    batch
        .map(|m| match m {
            Ok(m) => Item::Msg(Box::new(m)),
            Err(e) => Item::Failed(e.to_string()),
        })
        .chain(futures::stream::once(async move { Item::End(id) }))
}

/// Naks every message a stopping worker receives until its open pulls
/// have ended on the server (at most one pull expiry), so none is left
/// waiting for an ack wait in a closed inbox.
async fn hand_back_buffered(shared: &Shared, pulls: &mut Pulls) {
    let deadline = tokio::time::Instant::now() + PULL_EXPIRES + Duration::from_secs(1);
    while let Ok(Some(item)) = tokio::time::timeout_at(deadline, pulls.next()).await {
        if let Item::Msg(msg) = item {
            hand_back_unrun(shared, &msg).await;
        }
    }
}

/// Hands a message back without running it, noting in the task's delivery
/// ledger that this delivery did not crash.
async fn hand_back_unrun(shared: &Shared, msg: &async_nats::jetstream::Message) {
    use outpost_proto::Message as _;
    if let (Ok(task), Ok(info)) = (
        outpost_proto::pb::Task::decode(msg.payload.as_ref()),
        msg.info(),
    ) {
        let n = info.delivered.clamp(1, i64::from(u32::MAX)) as u32;
        crate::deliveries::handed_back_unrun(
            &shared.bus.checkpoints,
            &shared.cfg.zone,
            &task.task_id,
            n,
        )
        .await;
    }
    let _ = msg.ack_with(AckKind::Nak(None)).await;
}
