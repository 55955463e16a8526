//! What a notification is about: the events a channel can ask for, and
//! which of them a job's state has reached.

use crate::model::{JobState, Status};
use serde::{Deserialize, Serialize};

/// An event a channel can subscribe to (its wire name in `events`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EventKind {
    #[serde(rename = "job.started")]
    JobStarted,
    #[serde(rename = "job.succeeded")]
    JobSucceeded,
    #[serde(rename = "job.failed")]
    JobFailed,
    #[serde(rename = "job.cancelled")]
    JobCancelled,
    /// A rolling update ended with a host Outpost left in maintenance mode.
    #[serde(rename = "rollout.host_left_in_maintenance")]
    HostLeftInMaintenance,
    /// A zone had no live worker for the channel's `no_workers_minutes`.
    #[serde(rename = "zone.no_workers")]
    ZoneNoWorkers,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::JobStarted => "job.started",
            EventKind::JobSucceeded => "job.succeeded",
            EventKind::JobFailed => "job.failed",
            EventKind::JobCancelled => "job.cancelled",
            EventKind::HostLeftInMaintenance => "rollout.host_left_in_maintenance",
            EventKind::ZoneNoWorkers => "zone.no_workers",
        }
    }
}

/// The job events `job`'s state has reached, in the order they happened.
pub fn reached(job: &JobState) -> Vec<EventKind> {
    let mut out = Vec::new();
    if job.started_at.is_some() || job.status == Status::Running {
        out.push(EventKind::JobStarted);
    }
    match job.status {
        Status::Succeeded => out.push(EventKind::JobSucceeded),
        Status::Failed => out.push(EventKind::JobFailed),
        Status::Cancelled => out.push(EventKind::JobCancelled),
        Status::Pending | Status::Running => {}
    }
    if job.status.is_terminal() && !left_in_maintenance(job).is_empty() {
        out.push(EventKind::HostLeftInMaintenance);
    }
    out
}

/// The hosts a finished rolling update left in maintenance mode.
pub fn left_in_maintenance(job: &JobState) -> Vec<String> {
    job.rollout
        .as_ref()
        .map(outpost_kinds::rollout::HostProgress::list)
        .unwrap_or_default()
        .into_iter()
        .filter(|h| h.left_in_maintenance)
        .map(|h| h.name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::JobRules;

    #[test]
    fn a_job_reaches_start_then_its_outcome() {
        let mut j = JobState::pending(
            "j",
            "diag.sleep",
            vec!["alpha".into()],
            None,
            serde_json::json!({}),
        );
        assert!(reached(&j).is_empty());
        j.status = Status::Running;
        j.started_at = Some("t".into());
        assert_eq!(reached(&j), [EventKind::JobStarted]);
        j.status = Status::Failed;
        assert_eq!(reached(&j), [EventKind::JobStarted, EventKind::JobFailed]);
        // Cancelled before it started: no start.
        let mut c = JobState::pending("c", "diag.sleep", vec![], None, serde_json::json!({}));
        c.status = Status::Cancelled;
        assert_eq!(reached(&c), [EventKind::JobCancelled]);
        let names: Vec<&str> = [EventKind::JobStarted, EventKind::ZoneNoWorkers]
            .iter()
            .map(|e| e.as_str())
            .collect();
        assert_eq!(names, ["job.started", "zone.no_workers"]);
    }
}
