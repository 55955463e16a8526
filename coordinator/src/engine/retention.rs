//! Retention: finished jobs leave the hot state (the in-memory view and KV
//! `outpost_jobs`) once they are older than the retention age, or when more
//! finished jobs are held than the retention count, oldest first. A compact
//! summary of each (the job with its counts and the first failed tasks) is
//! kept in KV `outpost_history` for `history_days`, where `GET` of the job
//! still finds it. Eviction writes the summary before it purges the state,
//! so a crash in between evicts the job again on the next run; the purge
//! removes the job's messages from the bucket's stream (no delete markers
//! left), so start-up time and memory do not grow with history.

use crate::model::{JobState, Status, TaskState};
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// The `[retention]` section of the coordinator's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Finished jobs kept in the hot state at most.
    #[serde(default = "default_hot_jobs")]
    pub hot_jobs: usize,
    /// Tasks of finished jobs kept in the hot state at most (a few big jobs
    /// weigh more than many small ones).
    #[serde(default = "default_hot_tasks")]
    pub hot_tasks: usize,
    /// Hours a finished job stays in the hot state.
    #[serde(default = "default_hot_hours")]
    pub hot_hours: u64,
    /// Seconds a finished job stays in the hot state at least, whatever the
    /// count (followers and the DSM bridge read its last state there).
    #[serde(default = "default_min_hot_secs")]
    pub min_hot_secs: u64,
    /// Days a finished job's summary is kept in `outpost_history`.
    #[serde(default = "default_history_days")]
    pub history_days: u64,
}

fn default_hot_jobs() -> usize {
    1000
}
fn default_hot_tasks() -> usize {
    20_000
}
fn default_hot_hours() -> u64 {
    24
}
fn default_min_hot_secs() -> u64 {
    60
}
fn default_history_days() -> u64 {
    30
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            hot_jobs: default_hot_jobs(),
            hot_tasks: default_hot_tasks(),
            hot_hours: default_hot_hours(),
            min_hot_secs: default_min_hot_secs(),
            history_days: default_history_days(),
        }
    }
}

/// Failed tasks named in a summary at most.
pub const SUMMARY_FAILED: usize = 100;
/// Largest job parameters kept in a summary, in bytes of JSON.
const SUMMARY_PARAMS: usize = 16 * 1024;

pub use outpost_api::job::{FailedTask, JobSummary};

/// Builds the summary of a finished job.
pub fn summarize<'a>(job: &JobState, tasks: impl Iterator<Item = &'a TaskState>) -> JobSummary {
    let mut failed: Vec<FailedTask> = tasks
        .filter(|t| t.status == Status::Failed)
        .map(|t| FailedTask {
            id: t.id.clone(),
            target: t.target.clone(),
            error_kind: t.error_kind.clone(),
            error: t.error.clone(),
        })
        .collect();
    failed.sort_by(|a, b| a.id.cmp(&b.id));
    failed.truncate(SUMMARY_FAILED);
    let mut job = job.clone();
    if serde_json::to_vec(&job.params).map_or(0, |b| b.len()) > SUMMARY_PARAMS {
        job.params = serde_json::json!({"truncated": true});
    }
    JobSummary {
        job,
        archived: true,
        failed_tasks: failed,
    }
}

/// A finished job as eviction sees it.
pub struct Finished<'a> {
    pub id: &'a str,
    pub finished_at: DateTime<Utc>,
    pub tasks: usize,
}

/// Which finished jobs leave the hot state now: those finished before the
/// age cut-off, then the oldest while more jobs or more tasks are held than
/// the retention allows; never one finished less than `min_hot_secs` ago.
/// At most `limit` at once, oldest first.
pub fn select<'a>(
    mut finished: Vec<Finished<'a>>,
    now: DateTime<Utc>,
    cfg: &RetentionConfig,
    limit: usize,
) -> Vec<&'a str> {
    finished.sort_by(|a, b| a.finished_at.cmp(&b.finished_at).then(a.id.cmp(b.id)));
    let age_cut = now - chrono::TimeDelta::hours(cfg.hot_hours.min(1 << 20) as i64);
    let min_cut = now - chrono::TimeDelta::seconds(cfg.min_hot_secs.min(1 << 30) as i64);
    let mut jobs = finished.len();
    let mut tasks: usize = finished.iter().map(|f| f.tasks).sum();
    let mut out = Vec::new();
    for f in &finished {
        if out.len() >= limit || f.finished_at > min_cut {
            break;
        }
        if jobs > cfg.hot_jobs || tasks > cfg.hot_tasks || f.finished_at <= age_cut {
            out.push(f.id);
            jobs -= 1;
            tasks -= f.tasks;
        }
    }
    out
}

/// When a job finished, for eviction: its `finished_at`, else its
/// creation (a job cancelled before it started has no finish time).
pub fn finished_at(job: &JobState) -> Option<DateTime<Utc>> {
    if !job.status.is_terminal() || job.open {
        return None;
    }
    let parse = |s: &str| {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    };
    job.finished_at
        .as_deref()
        .and_then(parse)
        .or_else(|| parse(&job.created_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs_ago: i64, now: DateTime<Utc>) -> DateTime<Utc> {
        now - chrono::TimeDelta::seconds(secs_ago)
    }

    fn cfg(hot_jobs: usize, hot_hours: u64, min_hot_secs: u64) -> RetentionConfig {
        RetentionConfig {
            hot_jobs,
            hot_tasks: usize::MAX,
            hot_hours,
            min_hot_secs,
            history_days: 1,
        }
    }

    #[test]
    fn count_evicts_the_oldest_first() {
        let now = Utc::now();
        let ids: Vec<String> = (0..10).map(|i| format!("j{i}")).collect();
        // j0 finished most recently, j9 longest ago.
        let jobs = ids
            .iter()
            .enumerate()
            .map(|(i, id)| Finished {
                id,
                finished_at: at(100 + i as i64, now),
                tasks: 1,
            })
            .collect();
        let out = select(jobs, now, &cfg(7, 24, 0), 100);
        assert_eq!(out, vec!["j9", "j8", "j7"]);
    }

    #[test]
    fn age_evicts_whatever_the_count() {
        let now = Utc::now();
        let jobs = vec![
            Finished {
                id: "old",
                finished_at: at(3 * 3600, now),
                tasks: 1,
            },
            Finished {
                id: "new",
                finished_at: at(10, now),
                tasks: 1,
            },
        ];
        assert_eq!(select(jobs, now, &cfg(1000, 2, 0), 100), vec!["old"]);
    }

    #[test]
    fn recent_jobs_stay_and_the_limit_holds() {
        let now = Utc::now();
        let ids: Vec<String> = (0..10).map(|i| format!("j{i}")).collect();
        let jobs = ids
            .iter()
            .enumerate()
            .map(|(i, id)| Finished {
                id,
                finished_at: at(i as i64 * 10, now),
                tasks: 1,
            })
            .collect();
        // Count says keep 0, but only jobs finished 45 s ago or more may go.
        let out = select(jobs, now, &cfg(0, 24, 45), 3);
        assert_eq!(out, vec!["j9", "j8", "j7"]);
    }

    #[test]
    fn big_jobs_are_evicted_by_their_tasks() {
        let now = Utc::now();
        let jobs = vec![
            Finished {
                id: "big-old",
                finished_at: at(300, now),
                tasks: 50_000,
            },
            Finished {
                id: "small",
                finished_at: at(200, now),
                tasks: 10,
            },
            Finished {
                id: "big-new",
                finished_at: at(100, now),
                tasks: 50_000,
            },
        ];
        let mut c = cfg(1000, 24, 0);
        c.hot_tasks = 60_000;
        assert_eq!(select(jobs, now, &c, 100), vec!["big-old"]);
    }
}
