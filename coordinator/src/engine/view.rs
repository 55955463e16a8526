//! The coordinator's in-memory copy of job and task state, with the KV
//! revision of every entry (a job's document, and each chunk of its tasks).
//! The engine's actor is its only writer; the API reads it under a short
//! read lock.

use crate::model::{Counts, JobState, JobView, Status, TaskMap, count};
use std::collections::HashMap;

/// A job, its KV revision and its tasks.
#[derive(Debug, Clone)]
pub struct JobEntry {
    pub job: JobState,
    pub rev: u64,
    /// Tasks by id, each with the revision of the chunk that holds it.
    pub tasks: TaskMap,
    /// The chunks of the job's tasks: their task ids and revision (0: not
    /// stored yet).
    pub chunks: Vec<Chunk>,
}

/// One stored chunk of a job's tasks (`tasks.<job>.<n>`).
#[derive(Debug, Clone, Default)]
pub struct Chunk {
    pub ids: Vec<String>,
    pub rev: u64,
}

impl JobEntry {
    /// An entry for `job` whose tasks are not stored yet: chunks of
    /// [`outpost_proto::layout::TASKS_PER_CHUNK`] in the given order.
    pub fn new(job: JobState, tasks: Vec<crate::model::TaskState>) -> JobEntry {
        let mut e = JobEntry {
            job,
            rev: 0,
            tasks: TaskMap::new(),
            chunks: Vec::new(),
        };
        e.append(tasks);
        e
    }

    /// Adds `tasks` after the existing ones, filling the last chunk first;
    /// returns the chunks that changed.
    pub fn append(&mut self, tasks: Vec<crate::model::TaskState>) -> Vec<u32> {
        let per = outpost_proto::layout::TASKS_PER_CHUNK;
        let mut touched = Vec::new();
        for mut t in tasks {
            if self.chunks.last().is_none_or(|c| c.ids.len() >= per) {
                self.chunks.push(Chunk::default());
            }
            let n = (self.chunks.len() - 1) as u32;
            if touched.last() != Some(&n) {
                touched.push(n);
            }
            t.chunk = n;
            let rev = self.chunks[n as usize].rev;
            self.chunks[n as usize].ids.push(t.id.clone());
            self.tasks.insert(t.id.clone(), (t, rev));
        }
        touched
    }

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

    /// Jobs `filter` selects, newest first, from its `offset` on.
    pub fn list(&self, filter: &JobFilter) -> Vec<JobState> {
        let mut jobs: Vec<&JobState> = self
            .jobs
            .values()
            .map(|e| &e.job)
            .filter(|j| filter.selects(j))
            .collect();
        jobs.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        jobs.into_iter()
            .skip(filter.offset)
            .take(filter.limit)
            .cloned()
            .collect()
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

/// Which jobs a listing shows.
#[derive(Debug, Clone)]
pub struct JobFilter {
    pub status: Option<Status>,
    /// The job's type, exactly.
    pub job_type: Option<String>,
    /// A zone the job has tasks in.
    pub zone: Option<String>,
    /// Jobs skipped from the newest (a page's start).
    pub offset: usize,
    pub limit: usize,
}

impl JobFilter {
    fn selects(&self, j: &JobState) -> bool {
        self.status.is_none_or(|s| j.status == s)
            && self.job_type.as_deref().is_none_or(|t| j.job_type == t)
            && self
                .zone
                .as_deref()
                .is_none_or(|z| j.zones.iter().any(|x| x == z))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::JobRules;

    fn job(id: &str, ty: &str, zone: &str, status: Status, at: &str) -> JobEntry {
        let mut j = JobState::pending(id, ty, vec![zone.to_string()], None, serde_json::json!({}));
        j.status = status;
        j.created_at = at.to_string();
        JobEntry::new(j, Vec::new())
    }

    fn ids(v: &View, f: &JobFilter) -> Vec<String> {
        v.list(f).into_iter().map(|j| j.id).collect()
    }

    #[test]
    fn listings_filter_by_status_type_and_zone_and_page_newest_first() {
        let mut v = View::default();
        for (id, ty, zone, status, at) in [
            (
                "a",
                "diag.sleep",
                "alpha",
                Status::Succeeded,
                "2026-01-01T00:00:01Z",
            ),
            (
                "b",
                "redfish.power",
                "beta",
                Status::Failed,
                "2026-01-01T00:00:02Z",
            ),
            (
                "c",
                "diag.sleep",
                "beta",
                Status::Running,
                "2026-01-01T00:00:03Z",
            ),
            (
                "d",
                "diag.sleep",
                "alpha",
                Status::Failed,
                "2026-01-01T00:00:04Z",
            ),
        ] {
            v.jobs.insert(id.into(), job(id, ty, zone, status, at));
        }
        let all = JobFilter {
            status: None,
            job_type: None,
            zone: None,
            offset: 0,
            limit: 10,
        };
        assert_eq!(ids(&v, &all), ["d", "c", "b", "a"]);
        let failed = JobFilter {
            status: Some(Status::Failed),
            ..all.clone()
        };
        assert_eq!(ids(&v, &failed), ["d", "b"]);
        let sleeps_in_alpha = JobFilter {
            job_type: Some("diag.sleep".into()),
            zone: Some("alpha".into()),
            ..all.clone()
        };
        assert_eq!(ids(&v, &sleeps_in_alpha), ["d", "a"]);
        let page2 = JobFilter {
            offset: 2,
            limit: 1,
            ..all.clone()
        };
        assert_eq!(ids(&v, &page2), ["b"]);
        let past_the_end = JobFilter { offset: 9, ..all };
        assert!(ids(&v, &past_the_end).is_empty());
    }
}
