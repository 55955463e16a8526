//! Claiming a job: one statement moves one ready job (pending, due, of a
//! type Outpost supports) to `running`, locking it with `FOR UPDATE SKIP
//! LOCKED` so concurrent claimers (other coordinators, the old executor)
//! never take the same job. Higher `priority` first, then oldest.

use super::db::DbError;
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
UPDATE public.jobs AS j
   SET status = 'running', started_at = coalesce(j.started_at, now())
 WHERE j.id = (
        SELECT id FROM public.jobs
         WHERE status = 'pending'
           AND (schedule_at IS NULL OR schedule_at <= now())
           AND job_type::text = ANY($1)
         ORDER BY CASE priority WHEN 'critical' THEN 0 WHEN 'high' THEN 1
                                WHEN 'normal' THEN 2 ELSE 3 END,
                  created_at
         FOR UPDATE SKIP LOCKED
         LIMIT 1)
   AND j.status = 'pending'
RETURNING j.id, j.job_type::text, j.target_scope, j.details, j.credential_set_ids
"#;

/// Claims one ready job of `types`, if there is one.
pub async fn claim_one(client: &Client, types: &[&str]) -> Result<Option<Claimed>, DbError> {
    let types: Vec<String> = types.iter().map(|t| t.to_string()).collect();
    let row = client.query_opt(CLAIM, &[&types]).await?;
    Ok(row.map(|r| Claimed {
        id: r.get(0),
        job_type: r.get(1),
        target_scope: r.get::<_, Option<Value>>(2).unwrap_or(Value::Null),
        details: r.get::<_, Option<Value>>(3).unwrap_or(Value::Null),
        credential_set_ids: r.get::<_, Option<Vec<Uuid>>>(4).unwrap_or_default(),
    }))
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
             AND schedule_at > now() AND job_type::text = ANY($1)",
            &[&types],
        )
        .await?;
    Ok(row.get(0))
}
