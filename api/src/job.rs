//! Jobs and tasks as the API serves them (and as the coordinator stores
//! them under `job.<id>` and `tasks.<job>.<n>` in KV `outpost_jobs`).

use serde::{Deserialize, Serialize};

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

/// A job with all its tasks, as the API returns it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobView {
    #[serde(flatten)]
    pub job: JobState,
    pub tasks: Vec<TaskState>,
}

/// `GET /api/v1/jobs/{id}`: the job with its counts and first tasks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobDocument {
    #[serde(flatten)]
    pub job: JobState,
    pub tasks: Vec<TaskState>,
    /// Cursor of the next page (`/tasks?after=`), absent on the last.
    #[serde(default)]
    pub tasks_next: Option<String>,
}

/// `GET /api/v1/jobs/{id}/tasks`: one page of a job's tasks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskPage {
    pub tasks: Vec<TaskState>,
    /// Cursor of the next page, absent on the last.
    #[serde(default)]
    pub next: Option<String>,
}

/// `GET /api/v1/jobs/{id}` of a finished job that left the hot state:
/// the job, and its first failed tasks instead of pages of tasks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobSummary {
    #[serde(flatten)]
    pub job: JobState,
    /// The job left the hot state: its tasks are no longer listed.
    pub archived: bool,
    /// The first failed tasks (at most 100).
    pub failed_tasks: Vec<FailedTask>,
}

/// One failed task, as a summary names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedTask {
    pub id: String,
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `GET /api/v1/jobs/{id}`: a job still kept whole, or the summary of
/// one archived.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum JobAnswer {
    Archived(JobSummary),
    Hot(JobDocument),
}
