//! Knowing which jobs are cancelled: live signals on the zone's
//! `outpost.cancel.<zone>.*`, backed by the zone's cancel records in KV
//! `outpost_cancels` (`<zone>.<job>`) for cancels that were sent while
//! this worker was not listening; a worker never reads the coordinator's
//! job documents. Running tasks hold a token per job that fires on the
//! signal.

use crate::kv::Bucket;
use futures::StreamExt;
use outpost_proto::layout;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How long a "not cancelled" answer from KV is trusted before asking again.
const RECHECK: Duration = Duration::from_secs(30);
/// Jobs not seen for this long are forgotten.
const FORGET: Duration = Duration::from_secs(600);

struct JobEntry {
    token: CancellationToken,
    checked: Option<Instant>,
    seen: Instant,
}

/// The worker's view of cancelled jobs.
#[derive(Clone)]
pub struct Cancels {
    jobs: Arc<Mutex<HashMap<String, JobEntry>>>,
    store: Bucket,
    zone: String,
}

impl Cancels {
    pub fn new(store: Bucket, zone: String) -> Self {
        Self {
            jobs: Arc::new(Mutex::new(HashMap::new())),
            store,
            zone,
        }
    }

    fn with_entry<R>(&self, job_id: &str, f: impl FnOnce(&mut JobEntry) -> R) -> R {
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if jobs.len() > 4096 {
            jobs.retain(|_, e| now.duration_since(e.seen) < FORGET || !e.token.is_cancelled());
        }
        let e = jobs.entry(job_id.to_string()).or_insert_with(|| JobEntry {
            token: CancellationToken::new(),
            checked: None,
            seen: now,
        });
        e.seen = now;
        f(e)
    }

    /// Marks `job_id` cancelled and stops its running tasks.
    pub fn cancel(&self, job_id: &str) {
        self.with_entry(job_id, |e| e.token.cancel());
    }

    /// The token that fires when `job_id` is cancelled, and whether it
    /// already is. Asks KV when this worker has no recent answer.
    pub async fn token(&self, job_id: &str) -> CancellationToken {
        let (token, stale) = self.with_entry(job_id, |e| {
            let stale = !e.token.is_cancelled() && e.checked.is_none_or(|t| t.elapsed() > RECHECK);
            (e.token.clone(), stale)
        });
        if stale {
            let cancelled = match layout::cancel_key(&self.zone, job_id) {
                Ok(key) => matches!(self.store.get(&key).await, Ok(Some(_))),
                Err(_) => false,
            };
            self.with_entry(job_id, |e| {
                e.checked = Some(Instant::now());
                if cancelled {
                    e.token.cancel();
                }
            });
        }
        token
    }

    /// Listens for cancel signals until `stop` fires, resubscribing after errors.
    pub async fn listen(self, client: async_nats::Client, stop: CancellationToken) {
        loop {
            let Ok(wildcard) = layout::cancel_wildcard(&self.zone) else {
                tracing::error!(zone = %self.zone, "zone unusable in a subject; cancel signals not received");
                return;
            };
            let mut sub = match client.subscribe(wildcard).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot subscribe to cancel signals; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        _ = stop.cancelled() => return,
                    }
                }
            };
            loop {
                tokio::select! {
                    msg = sub.next() => match msg {
                        Some(m) => match layout::parse_cancel_subject(&m.subject) {
                            Ok((_, job)) => {
                                tracing::info!(job = %job, "job cancelled");
                                self.cancel(job);
                            }
                            Err(e) => tracing::debug!(error = %e, "ignoring malformed cancel subject"),
                        },
                        None => break,
                    },
                    _ = stop.cancelled() => return,
                }
            }
        }
    }
}
