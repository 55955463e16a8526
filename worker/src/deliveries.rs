//! Which deliveries of a task ended with their worker gone. A task that
//! kills the worker running it (a device answer that aborts the process,
//! an operation that exhausts memory) would otherwise be handed to the next
//! worker of the zone, and the next, until the zone is empty.
//!
//! The ledger lives in KV `outpost_checkpoints` under `deliveries.<task_id>`
//! and costs nothing on the hot path: a first delivery writes nothing, a
//! delivery that hands its task back on purpose (retry, drain) records that
//! it ended, and a redelivery that took the lease records that it runs. A
//! redelivery that finds the last run neither ended nor still leased knows
//! that run's worker vanished: one crash more. At [`CRASH_LIMIT`] crashes
//! the task fails with class `worker_crashed` instead of running again.

use crate::kv::Bucket;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// Crashed runs after which a task is failed instead of run again.
pub const CRASH_LIMIT: u32 = 2;

/// What is known about a task's deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    /// The last delivery that ran (or was handed back on purpose).
    pub run: u32,
    /// Whether that delivery ended on purpose (handed back for a retry).
    pub ended: bool,
    /// Runs that ended with their worker gone.
    pub crashes: u32,
}

impl Ledger {
    /// The ledger of a first delivery, which nothing precedes.
    pub fn first() -> Ledger {
        Ledger {
            run: 1,
            ended: false,
            crashes: 0,
        }
    }

    /// Judges the runs before delivery `n`, which holds the task's lease
    /// (so no earlier run is still alive). Nothing stored means delivery 1
    /// ran and never said how it ended.
    pub fn judge(stored: Option<Ledger>, n: u32) -> Ledger {
        let prev = stored.unwrap_or_else(Ledger::first);
        let crashed = !prev.ended && prev.run < n;
        Ledger {
            run: n.max(prev.run),
            ended: false,
            crashes: prev.crashes + u32::from(crashed),
        }
    }

    /// The same ledger once its run handed the task back on purpose.
    pub fn ended(self) -> Ledger {
        Ledger {
            ended: true,
            ..self
        }
    }

    /// Whether the task has crashed its workers too often to run again.
    pub fn exhausted(&self) -> bool {
        self.crashes >= CRASH_LIMIT
    }
}

fn key(zone: &str, task_id: &str) -> Result<String, String> {
    outpost_proto::layout::delivery_ledger_key(zone, task_id).map_err(|e| e.to_string())
}

/// The stored ledger of `task_id`; an unreadable one counts as absent.
pub async fn load(store: &Bucket, zone: &str, task_id: &str) -> Result<Option<Ledger>, String> {
    match store.get(&key(zone, task_id)?).await {
        Ok(Some(b)) => Ok(serde_json::from_slice(&b).ok()),
        Ok(None) => Ok(None),
        Err(e) => Err(format!("cannot read the delivery ledger: {e}")),
    }
}

/// Stores `ledger` for the next delivery; a failure is logged, not fatal
/// (at worst a crash goes uncounted).
pub async fn save(store: &Bucket, zone: &str, task_id: &str, ledger: Ledger) {
    let stored = match key(zone, task_id) {
        Ok(k) => {
            let value = serde_json::to_vec(&ledger).unwrap_or_default();
            store.put(&k, Bytes::from(value)).await.map(|_| ())
        }
        Err(e) => {
            tracing::warn!(error = %e, "delivery ledger not stored");
            return;
        }
    };
    if let Err(e) = stored {
        tracing::warn!(error = %e, "delivery ledger not stored");
    }
}

/// Records that delivery `n` of `task_id` was handed back without running
/// (a draining worker's buffered message), so it never counts as a crash.
pub async fn handed_back_unrun(store: &Bucket, zone: &str, task_id: &str, n: u32) {
    match load(store, zone, task_id).await {
        Ok(stored) => save(store, zone, task_id, Ledger::judge(stored, n).ended()).await,
        Err(e) => tracing::warn!(error = %e, "delivery ledger not updated"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_vanished_runs_exhaust_the_task() {
        // Delivery 1 ran and its worker died (nothing stored).
        let l = Ledger::judge(None, 2);
        assert_eq!(l.crashes, 1);
        assert!(!l.exhausted());
        // Deliveries 3 and 4 were refused (lease still held): nothing
        // stored; delivery 5 takes the lease after delivery 2's worker died.
        let l = Ledger::judge(Some(l), 5);
        assert_eq!((l.run, l.crashes), (5, 2));
        assert!(l.exhausted());
    }

    #[test]
    fn runs_handed_back_on_purpose_are_not_crashes() {
        let l = Ledger::first().ended();
        let l = Ledger::judge(Some(l), 2);
        assert_eq!(l.crashes, 0);
        let l = Ledger::judge(Some(l.ended()), 3);
        assert_eq!(l.crashes, 0);
        // A drained, never-run first delivery is not a crash either.
        let l = Ledger::judge(None, 1).ended();
        assert_eq!(Ledger::judge(Some(l), 2).crashes, 0);
    }

    #[test]
    fn judging_the_same_delivery_twice_counts_once() {
        let l = Ledger::judge(None, 2);
        let again = Ledger::judge(Some(l), 2);
        assert_eq!(again.crashes, 1);
    }

    #[test]
    fn one_crash_then_success_is_fine() {
        let l = Ledger::judge(None, 2);
        assert!(!l.exhausted());
    }
}
