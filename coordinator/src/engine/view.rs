//! The coordinator's in-memory copy of job and task state, with the KV
//! revision of every entry. The engine's actor is its only writer; the API
//! reads it under a short read lock.

use crate::model::{Counts, JobState, JobView, Status, TaskMap, count};
use std::collections::HashMap;

/// A job, its KV revision and its tasks.
#[derive(Debug, Clone)]
pub struct JobEntry {
    pub job: JobState,
    pub rev: u64,
    pub tasks: TaskMap,
}

impl JobEntry {
    /// Task counts as they are now.
    pub fn counts(&self) -> Counts {
        count(self.tasks.values().map(|(t, _)| t))
    }
}

/// Every job the coordinator knows.
#[derive(Debug, Default)]
pub struct View {
    pub jobs: HashMap<String, JobEntry>,
}

impl View {
    /// One job with its tasks, as the API returns it.
    pub fn job_view(&self, id: &str) -> Option<JobView> {
        self.jobs.get(id).map(|e| JobView {
            job: e.job.clone(),
            tasks: e.tasks.values().map(|(t, _)| t.clone()).collect(),
        })
    }

    /// Jobs, newest first, optionally only those in `status`.
    pub fn list(&self, status: Option<Status>, limit: usize) -> Vec<JobState> {
        let mut jobs: Vec<&JobState> = self
            .jobs
            .values()
            .map(|e| &e.job)
            .filter(|j| status.is_none_or(|s| j.status == s))
            .collect();
        jobs.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        jobs.into_iter().take(limit).cloned().collect()
    }

    /// Number of jobs and of tasks in each status.
    pub fn totals(&self) -> (Counts, Counts) {
        let mut jobs = Counts::default();
        let mut tasks = Counts::default();
        for e in self.jobs.values() {
            jobs.add(e.job.status);
            tasks.merge(&e.job.counts);
        }
        (jobs, tasks)
    }
}
