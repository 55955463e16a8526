//! Claiming a job: one statement moves one ready job (pending, due, of a
//! type Outpost supports) to `running`, locking it with `FOR UPDATE SKIP
//! LOCKED` so concurrent claimers (other coordinators, the old executor)
//! never take the same job. Higher `priority` first, then oldest. A job
//! with a `parent_job_id` is never claimed on its own (its parent runs
//! it), and while the app's pause switch
//! (`activity_settings.pause_idrac_operations`) is on, jobs that touch
//! iDRACs stay pending: the app's executor cancels them; Outpost leaves
//! them to start when the switch is turned off. A login typed into the
//! app's dialog (`details.password`, `details.manual_credentials.password`)
//! is removed from the row by the claim itself and kept in memory only. The
//! claim also marks the job with this executor's id
//! (`details.outpost_executor`), so a coordinator that dies between the
//! claim and recording its ownership finds the job again when it restarts.

use super::db::DbError;
use super::row::{At, RowError};
use serde_json::Value;
use tokio_postgres::Client;
use uuid::Uuid;

/// A job this coordinator now owns.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    pub id: Uuid,
    pub job_type: String,
    pub target_scope: Value,
    pub details: Value,
    pub credential_set_ids: Vec<Uuid>,
}

const CLAIM: &str = r#"
WITH picked AS (
        SELECT q.id,
               CASE WHEN jsonb_typeof(q.details) = 'object' THEN q.details ELSE '{}'::jsonb END AS details
          FROM public.jobs q
         WHERE q.status = 'pending'
           AND q.parent_job_id IS NULL
           AND (schedule_at IS NULL OR schedule_at <= now())
           -- create-job writes a full update's sub-jobs after the parent
           AND (job_type::text <> 'full_server_update'
                OR EXISTS (SELECT 1 FROM public.jobs c WHERE c.parent_job_id = q.id)
                OR created_at < now() - interval '30 seconds')
           AND job_type::text = ANY($1)
           AND NOT (job_type::text = ANY($3) AND coalesce(
                 (SELECT bool_or(a.pause_idrac_operations) FROM public.activity_settings a), false))
         ORDER BY CASE priority WHEN 'critical' THEN 0 WHEN 'high' THEN 1
                                WHEN 'normal' THEN 2 ELSE 3 END,
                  created_at
         FOR UPDATE SKIP LOCKED
         LIMIT 1)
UPDATE public.jobs AS j
   SET status = 'running', started_at = coalesce(j.started_at, now()),
       -- A login typed into the app's dialog leaves the row in the same
       -- statement that claims it: it is never seen running.
       details = ((picked.details - 'password') #- '{manual_credentials,password}')
                 || jsonb_build_object('outpost_executor', $2::text)
  FROM picked
 WHERE j.id = picked.id
   AND j.status = 'pending'
RETURNING j.id, j.job_type::text, j.target_scope,
          picked.details || jsonb_build_object('outpost_executor', $2::text),
          j.credential_set_ids
"#;

/// A claimed job whose row cannot be read (a NULL or a changed column
/// type in the app's schema). With its id it is failed in the app.
pub type Unreadable = RowError;

/// Claims one ready job of `types` for `executor`, if there is one. The
/// job is claimed even when its row then cannot be read
/// ([`DbError::Row`], naming the row): the caller fails it, so it is
/// never claimed again.
pub async fn claim_one(
    client: &Client,
    types: &[&str],
    executor: &str,
) -> Result<Option<Claimed>, DbError> {
    let types: Vec<String> = types.iter().map(|t| t.to_string()).collect();
    let idrac: Vec<String> = super::IDRAC_TYPES.iter().map(|t| t.to_string()).collect();
    let row = client
        .query_opt(CLAIM, &[&types, &executor, &idrac])
        .await?;
    Ok(row.map(|r| claimed(&r)).transpose()?)
}

fn claimed(r: &tokio_postgres::Row) -> Result<Claimed, Unreadable> {
    let at = At::new(r, "jobs");
    let at = at.with_id(at.get(0, "id")?);
    Ok(Claimed {
        id: at.get(0, "id")?,
        job_type: at.get(1, "job_type")?,
        target_scope: at.opt(2, "target_scope")?.unwrap_or(Value::Null),
        details: at.opt(3, "details")?.unwrap_or(Value::Null),
        credential_set_ids: at.opt(4, "credential_set_ids")?.unwrap_or_default(),
    })
}

/// Jobs `executor` claimed that are still running but not in `owned`:
/// claimed just before a crash, never started.
pub async fn orphans(
    client: &Client,
    executor: &str,
    owned: &[Uuid],
) -> Result<Vec<Result<Claimed, Unreadable>>, DbError> {
    let rows = client
        .query(
            "SELECT id, job_type::text, target_scope, details, credential_set_ids
               FROM public.jobs
              WHERE status = 'running' AND details->>'outpost_executor' = $1
                AND parent_job_id IS NULL AND NOT (id = ANY($2))",
            &[&executor, &owned],
        )
        .await?;
    Ok(rows.iter().map(claimed).collect())
}

/// Whether a claimed job is still `running` (not cancelled in the app
/// while it waited, say, for its catalog).
pub async fn still_running(client: &Client, id: Uuid) -> Result<bool, DbError> {
    let row = client
        .query_opt(
            "SELECT status = 'running' FROM public.jobs WHERE id = $1",
            &[&id],
        )
        .await?;
    Ok(match row {
        Some(r) => At::new(&r, "jobs").get(0, "status")?,
        None => false,
    })
}

/// Whether the app's pause switch holds jobs that touch iDRACs.
pub async fn paused(client: &Client) -> Result<bool, DbError> {
    let row = client
        .query_one(
            "SELECT coalesce(bool_or(pause_idrac_operations), false) FROM public.activity_settings",
            &[],
        )
        .await?;
    Ok(At::new(&row, "activity_settings").get(0, "pause_idrac_operations")?)
}

/// When the next scheduled job of `types` becomes due, if any is waiting.
pub async fn next_due(
    client: &Client,
    types: &[&str],
) -> Result<Option<chrono::DateTime<chrono::Utc>>, DbError> {
    let types: Vec<String> = types.iter().map(|t| t.to_string()).collect();
    let row = client
        .query_one(
            "SELECT min(schedule_at) FROM public.jobs WHERE status = 'pending' \
             AND parent_job_id IS NULL AND schedule_at > now() AND job_type::text = ANY($1)",
            &[&types],
        )
        .await?;
    Ok(At::new(&row, "jobs").opt(0, "schedule_at")?)
}
