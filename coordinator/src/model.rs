//! Job and task state as kept in KV `outpost_jobs` (JSON) and served by the
//! API, and the rules that derive a job's status from its tasks.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Status of a job or a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Pending,
        Status::Running,
        Status::Succeeded,
        Status::Failed,
        Status::Cancelled,
    ];

    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Succeeded | Status::Failed | Status::Cancelled)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Running => "running",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// Number of tasks in each status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub pending: u64,
    pub running: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub cancelled: u64,
}

impl Counts {
    pub fn add(&mut self, status: Status) {
        *self.slot(status) += 1;
    }

    /// Moves one task from `from` to `to`; false when `from` had none
    /// (the counts were not the tasks' own and need a recount).
    pub fn shift(&mut self, from: Status, to: Status) -> bool {
        let slot = self.slot(from);
        if *slot == 0 {
            return false;
        }
        *slot -= 1;
        self.add(to);
        true
    }

    pub fn get(&self, status: Status) -> u64 {
        match status {
            Status::Pending => self.pending,
            Status::Running => self.running,
            Status::Succeeded => self.succeeded,
            Status::Failed => self.failed,
            Status::Cancelled => self.cancelled,
        }
    }

    fn slot(&mut self, status: Status) -> &mut u64 {
        match status {
            Status::Pending => &mut self.pending,
            Status::Running => &mut self.running,
            Status::Succeeded => &mut self.succeeded,
            Status::Failed => &mut self.failed,
            Status::Cancelled => &mut self.cancelled,
        }
    }

    pub fn merge(&mut self, other: &Counts) {
        for s in Status::ALL {
            *self.slot(s) += other.get(s);
        }
    }

    pub fn total(&self) -> u64 {
        self.pending + self.running + self.succeeded + self.failed + self.cancelled
    }

    pub fn unfinished(&self) -> u64 {
        self.pending + self.running
    }
}

/// A job as stored under `job.<id>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobState {
    pub id: String,
    #[serde(rename = "type")]
    pub job_type: String,
    pub status: Status,
    /// Zones the job's tasks run in.
    pub zones: Vec<String>,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// The tasks have been published to the tasks stream.
    pub dispatched: bool,
    #[serde(default)]
    pub cancel_requested: bool,
    /// A rollout finishes the hosts it has begun and starts no other
    /// (Dell Server Manager's graceful cancel).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drain_requested: bool,
    pub counts: Counts,
    /// The job's parameters, as submitted.
    #[serde(default)]
    pub params: serde_json::Value,
    /// W3C traceparent of the submission, so later dispatches join its trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// A workflow (a rolling update) still adds tasks: the job does not end
    /// when the tasks it has so far do.
    #[serde(default, skip_serializing_if = "is_false")]
    pub open: bool,
    /// A rolling update's progress: each host's current step and state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<serde_json::Value>,
    /// Chunks of tasks written with the job at submission (`tasks.<id>.0`
    /// to `n - 1`): the job and its chunks are written together, so a job
    /// found without all of them is a submission cut short (0: not known,
    /// a job stored before this was recorded).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub task_chunks: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Progress reported by the worker running a task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskProgress {
    pub percent: u32,
    #[serde(default)]
    pub step: String,
}

/// A task as stored in its job's chunk `tasks.<job>.<n>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskState {
    pub id: String,
    pub job_id: String,
    pub zone: String,
    pub kind: String,
    #[serde(default)]
    pub target: String,
    pub status: Status,
    /// Delivery attempts seen so far.
    #[serde(default)]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<TaskProgress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<serde_json::Value>,
    /// Kind-specific parameters of this task.
    #[serde(default)]
    pub params: serde_json::Value,
    /// Sequence of the task message in the tasks stream, once published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_seq: Option<u64>,
    /// (attempt, seq) of the last event applied: later events only.
    #[serde(default)]
    pub applied: (u32, u32),
    /// Runs even when the job is cancelled (a workflow's clean-up step).
    #[serde(default, skip_serializing_if = "is_false")]
    pub cleanup: bool,
    /// Which stored chunk of the job's tasks holds this one (its key says).
    #[serde(skip)]
    pub chunk: u32,
}

impl TaskState {
    /// A task not run yet.
    pub fn pending(
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

impl JobState {
    /// A job just planned.
    pub fn pending(
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

    /// Sets the job's status from its task counts; returns whether it changed.
    pub fn derive_status(&mut self, counts: Counts, now: &str) -> bool {
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

/// A job with all its tasks, as the API returns it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobView {
    #[serde(flatten)]
    pub job: JobState,
    pub tasks: Vec<TaskState>,
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
