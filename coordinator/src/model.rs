//! Job and task state as kept in KV `outpost_jobs` (JSON) and served by the
//! API, and the rules that derive a job's status from its tasks.

use std::collections::BTreeMap;

pub use outpost_api::job::{Counts, JobState, JobView, Status, TaskProgress, TaskState};

/// How the coordinator makes a task.
pub trait NewTask {
    /// A task not run yet.
    fn pending(
        id: String,
        job_id: &str,
        zone: String,
        kind: &str,
        target: String,
        params: serde_json::Value,
    ) -> TaskState;
}

impl NewTask for TaskState {
    fn pending(
        id: String,
        job_id: &str,
        zone: String,
        kind: &str,
        target: String,
        params: serde_json::Value,
    ) -> TaskState {
        TaskState {
            id,
            job_id: job_id.to_string(),
            zone,
            kind: kind.to_string(),
            target,
            status: Status::Pending,
            attempts: 0,
            worker_id: None,
            started_at: None,
            finished_at: None,
            progress: None,
            error_kind: None,
            error: None,
            output: None,
            params,
            stream_seq: None,
            applied: (0, 0),
            cleanup: false,
            chunk: 0,
        }
    }
}

/// How the coordinator makes a job and derives its status from its tasks.
pub trait JobRules {
    /// A job just planned.
    fn pending(
        id: &str,
        job_type: &str,
        zones: Vec<String>,
        schedule_at: Option<String>,
        params: serde_json::Value,
    ) -> JobState;

    /// Sets the job's status from its task counts; returns whether it changed.
    fn derive_status(&mut self, counts: Counts, now: &str) -> bool;
}

impl JobRules for JobState {
    fn pending(
        id: &str,
        job_type: &str,
        zones: Vec<String>,
        schedule_at: Option<String>,
        params: serde_json::Value,
    ) -> JobState {
        JobState {
            id: id.to_string(),
            job_type: job_type.to_string(),
            status: Status::Pending,
            zones,
            created_at: now_rfc3339(),
            schedule_at,
            started_at: None,
            finished_at: None,
            dispatched: false,
            cancel_requested: false,
            drain_requested: false,
            counts: Counts::default(),
            params,
            traceparent: None,
            open: false,
            rollout: None,
            task_chunks: 0,
        }
    }

    fn derive_status(&mut self, counts: Counts, now: &str) -> bool {
        let before = (self.status, self.counts.clone());
        let status = if self.open {
            if counts.total() > counts.pending {
                Status::Running
            } else {
                Status::Pending
            }
        } else if counts.unfinished() == 0 && counts.total() > 0 {
            if self.cancel_requested {
                Status::Cancelled
            } else if counts.failed > 0 {
                Status::Failed
            } else if counts.cancelled > 0 {
                Status::Cancelled
            } else {
                Status::Succeeded
            }
        } else if counts.total() == 0 && self.cancel_requested {
            // Cancelled before it had a task (a workflow not yet started).
            Status::Cancelled
        } else if counts.running > 0 || counts.total() > counts.pending {
            Status::Running
        } else {
            Status::Pending
        };
        if status == Status::Running && self.started_at.is_none() {
            self.started_at = Some(now.to_string());
        }
        if status.is_terminal() && self.finished_at.is_none() {
            if self.started_at.is_none() && counts.succeeded + counts.failed > 0 {
                self.started_at = Some(now.to_string());
            }
            self.finished_at = Some(now.to_string());
        }
        self.status = status;
        self.counts = counts;
        before != (self.status, self.counts.clone())
    }
}

/// Counts the statuses of a set of tasks.
pub fn count<'a>(tasks: impl IntoIterator<Item = &'a TaskState>) -> Counts {
    let mut c = Counts::default();
    for t in tasks {
        c.add(t.status);
    }
    c
}

/// Current time as RFC 3339 with milliseconds, the format of every timestamp.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Formats Unix milliseconds like [`now_rfc3339`].
pub fn ms_to_rfc3339(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Tasks of a job keyed by task id.
pub type TaskMap = BTreeMap<String, (TaskState, u64)>;

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> JobState {
        JobState {
            id: "j".into(),
            job_type: "diag.sleep".into(),
            status: Status::Pending,
            zones: vec!["a".into()],
            created_at: now_rfc3339(),
            schedule_at: None,
            started_at: None,
            finished_at: None,
            dispatched: true,
            cancel_requested: false,
            drain_requested: false,
            counts: Counts::default(),
            params: serde_json::Value::Null,
            traceparent: None,
            open: false,
            rollout: None,
            task_chunks: 0,
        }
    }

    fn counts(p: u64, r: u64, s: u64, f: u64, c: u64) -> Counts {
        Counts {
            pending: p,
            running: r,
            succeeded: s,
            failed: f,
            cancelled: c,
        }
    }

    #[test]
    fn status_follows_tasks() {
        let mut j = job();
        j.derive_status(counts(3, 0, 0, 0, 0), "t0");
        assert!(
            !j.derive_status(counts(3, 0, 0, 0, 0), "t0"),
            "same counts: no change"
        );
        assert_eq!(j.status, Status::Pending);
        assert_eq!(j.started_at, None);
        assert!(j.derive_status(counts(2, 1, 0, 0, 0), "t1"));
        assert_eq!(j.status, Status::Running);
        assert_eq!(j.started_at.as_deref(), Some("t1"));
        j.derive_status(counts(0, 0, 3, 0, 0), "t2");
        assert_eq!(j.status, Status::Succeeded);
        assert_eq!(j.finished_at.as_deref(), Some("t2"));
        j.derive_status(counts(0, 0, 2, 1, 0), "t3");
        assert_eq!(j.status, Status::Failed);
    }

    #[test]
    fn cancel_wins_once_everything_stopped() {
        let mut j = job();
        j.cancel_requested = true;
        j.derive_status(counts(0, 1, 1, 0, 1), "t");
        assert_eq!(j.status, Status::Running);
        j.derive_status(counts(0, 0, 1, 1, 1), "t");
        assert_eq!(j.status, Status::Cancelled);
    }
}
