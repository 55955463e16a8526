//! Reporting an Outpost job back the way the app's UI reads it: a status,
//! progress and log per `job_tasks` row (the app's own pending rows of
//! the job's servers, which `create-job` writes, or Outpost's where it
//! wrote none), the job's status and times, and the UI's keys merged
//! into `jobs.details` (see `details`) without touching the app's own
//! keys. A terminal DSM job is never moved back.

use super::db::DbError;
use super::map::RowSource;
use super::owned::{Owned, OwnedRow};
use crate::model::{JobView, Status, TaskState};
use outpost_kinds::rollout::{HostProgress, HostState};
use serde_json::{Value, json};
use tokio_postgres::Client;
use uuid::Uuid;

/// One row's reported state.
#[derive(Debug, Clone, PartialEq)]
pub struct RowState {
    pub status: &'static str,
    pub progress: i32,
    pub log: String,
}

pub fn dsm_status(s: Status) -> &'static str {
    match s {
        Status::Pending => "pending",
        Status::Running => "running",
        Status::Succeeded => "completed",
        Status::Failed => "failed",
        Status::Cancelled => "cancelled",
    }
}

fn task_row(t: &TaskState) -> RowState {
    let progress = match t.status {
        Status::Succeeded => 100,
        _ => t.progress.as_ref().map(|p| p.percent as i32).unwrap_or(0),
    };
    let mut log = String::new();
    if let Some(p) = &t.progress
        && !p.step.is_empty()
    {
        log.push_str(&p.step);
    }
    if let Some(e) = &t.error {
        if !log.is_empty() {
            log.push('\n');
        }
        log.push_str(e);
    }
    if t.status == Status::Succeeded && log.is_empty() {
        log.push_str("done");
    }
    RowState {
        status: dsm_status(t.status),
        progress: progress.clamp(0, 100),
        log,
    }
}

/// A host of a rolling update, as its row in the app shows it: the state
/// and the step's place in the rollout decide, the label is only shown.
fn host_row(h: Option<&HostProgress>) -> RowState {
    let Some(h) = h else {
        return RowState {
            status: "pending",
            progress: 0,
            log: String::new(),
        };
    };
    let status = match h.state {
        HostState::Running => "running",
        HostState::Succeeded | HostState::AlreadyCurrent => "completed",
        HostState::Failed => "failed",
        HostState::Stopped => "cancelled",
        HostState::Waiting => "pending",
    };
    let mut log = h.step.clone();
    if let Some(n) = &h.note {
        log.push('\n');
        log.push_str(n);
    }
    if h.left_in_maintenance {
        log.push_str("\nleft in maintenance mode");
    }
    let progress = match h.state {
        HostState::Succeeded | HostState::AlreadyCurrent => 100,
        HostState::Running => h.at.map(|s| s.percent() as i32).unwrap_or(0),
        _ => 0,
    };
    RowState {
        status,
        progress,
        log,
    }
}

/// What the rows should say now.
pub fn states(o: &Owned, v: &JobView) -> Vec<(OwnedRow, RowState)> {
    let total = v.tasks.len().max(1) as i32;
    let done = v.tasks.iter().filter(|t| t.status.is_terminal()).count() as i32;
    let hosts = v
        .job
        .rollout
        .as_ref()
        .map(HostProgress::list)
        .unwrap_or_default();
    o.rows
        .iter()
        .map(|r| {
            let st = match &r.source {
                RowSource::Target(ip) => v
                    .tasks
                    .iter()
                    .find(|t| &t.target == ip)
                    .map(task_row)
                    .unwrap_or(RowState {
                        status: "pending",
                        progress: 0,
                        log: String::new(),
                    }),
                RowSource::Whole => RowState {
                    status: dsm_status(v.job.status),
                    progress: if v.job.status == Status::Succeeded {
                        100
                    } else {
                        done * 100 / total
                    },
                    log: v
                        .tasks
                        .iter()
                        .filter_map(|t| t.error.clone())
                        .collect::<Vec<_>>()
                        .join("\n"),
                },
                RowSource::Host(i) => host_row(hosts.get(*i)),
            };
            (r.clone(), st)
        })
        .collect()
}

/// Writes one row: every row of the job for its server (the app's own
/// rows, even one written after the claim), else the row by id.
pub async fn write_row(db: &Client, job: Uuid, r: &OwnedRow, s: &RowState) -> Result<(), DbError> {
    db.execute(
        "UPDATE public.job_tasks SET status = $4::text::public.job_status, progress = $5, log = $6,
                started_at = CASE WHEN $4 <> 'pending' THEN coalesce(started_at, now()) ELSE started_at END,
                completed_at = CASE WHEN $4 IN ('completed', 'failed', 'cancelled')
                                    THEN coalesce(completed_at, now()) ELSE completed_at END
          WHERE job_id = $1 AND (id = $2 OR ($3::uuid IS NOT NULL AND server_id = $3))",
        &[&job, &r.row_id, &r.server_id, &s.status, &s.progress, &s.log],
    )
    .await?;
    Ok(())
}

/// Merges Outpost's progress keys into `details`, appending `lines` to
/// `console_log` (the app keeps the last 100).
pub async fn write_details(
    db: &Client,
    id: Uuid,
    patch: &Value,
    lines: &[String],
) -> Result<(), DbError> {
    db.execute(
        "UPDATE public.jobs SET details = (CASE WHEN jsonb_typeof(details) = 'object' THEN details ELSE '{}'::jsonb END) || $2::jsonb
                || jsonb_build_object('console_log', (
                     SELECT coalesce(jsonb_agg(x ORDER BY n), '[]'::jsonb) FROM (
                       SELECT x, n FROM jsonb_array_elements(
                           (CASE WHEN jsonb_typeof(details->'console_log') = 'array' THEN details->'console_log' ELSE '[]'::jsonb END) || $3::jsonb)
                         WITH ORDINALITY AS e(x, n)
                       ORDER BY n DESC LIMIT 100) last))
          WHERE id = $1",
        &[&id, patch, &json!(lines)],
    )
    .await?;
    Ok(())
}

/// Fails a DSM job Outpost cannot run, saying why (in `error`, which
/// the UI shows, `message`, which the credential dialogs show, and the
/// console), and fails its pending rows.
pub async fn refuse(db: &Client, id: Uuid, why: &str) -> Result<(), DbError> {
    let line = super::details::console("ERROR", &format!("Outpost cannot run this job: {why}"));
    db.execute(
        "UPDATE public.jobs SET status = 'failed', completed_at = now(),
                details = (CASE WHEN jsonb_typeof(details) = 'object' THEN details ELSE '{}'::jsonb END) || jsonb_build_object('error', $2::text,
                    'message', $2::text, 'success', false, 'current_step', 'refused by Outpost',
                    'console_log', (CASE WHEN jsonb_typeof(details->'console_log') = 'array' THEN details->'console_log' ELSE '[]'::jsonb END) || jsonb_build_array($3::text))
          WHERE id = $1 AND status = 'running'",
        &[&id, &why, &line],
    )
    .await?;
    db.execute(
        "UPDATE public.job_tasks SET status = 'failed', completed_at = now(), log = $2
          WHERE job_id = $1 AND status IN ('pending', 'running')",
        &[&id, &why],
    )
    .await?;
    Ok(())
}

/// Ends the DSM job as `status` unless it already ended, with the app's
/// pending rows of it (servers Outpost never reached) ended alike.
pub async fn finish_as(db: &Client, id: Uuid, status: &str) -> Result<(), DbError> {
    db.execute(
        "UPDATE public.jobs SET status = $2::text::public.job_status, completed_at = now()
          WHERE id = $1 AND status NOT IN ('completed', 'failed', 'cancelled')",
        &[&id, &status],
    )
    .await?;
    db.execute(
        "UPDATE public.job_tasks SET status = 'cancelled', completed_at = now(),
                log = coalesce(nullif(log, ''), 'not run')
          WHERE job_id = $1 AND status = 'pending'",
        &[&id],
    )
    .await?;
    Ok(())
}
