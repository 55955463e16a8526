//! The scheduler: holds jobs whose `schedule_at` lies in the future and
//! tells the engine when each one is due. It waits on a timer for the
//! earliest job, never polls.

use super::Command;
use chrono::{DateTime, Utc};
use std::collections::BTreeSet;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Runs until shutdown; `rx` receives `(when, job_id)` to hold.
pub async fn run(
    mut rx: mpsc::UnboundedReceiver<(DateTime<Utc>, String)>,
    tx: mpsc::Sender<Command>,
    shutdown: CancellationToken,
) {
    let mut queue: BTreeSet<(DateTime<Utc>, String)> = BTreeSet::new();
    loop {
        let next = queue.first().cloned();
        let wait = async {
            match &next {
                Some((when, _)) => {
                    let left = (*when - Utc::now()).to_std().unwrap_or_default();
                    tokio::time::sleep(left).await
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            item = rx.recv() => match item {
                Some(item) => { queue.insert(item); }
                None => return,
            },
            _ = wait => {
                if let Some(item) = next {
                    queue.remove(&item);
                    if tx.send(Command::Due { job_id: item.1 }).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}
