//! The `executor_heartbeats` row the app shows for each executor: upserted
//! by `executor_id` at start and every `heartbeat_s` seconds after.

use super::db::DbError;
use serde_json::json;
use tokio_postgres::Client;

/// What the heartbeat reports.
#[derive(Debug, Clone, Default)]
pub struct Beat {
    pub executor_id: String,
    pub polls: i32,
    pub jobs_processed: i32,
    pub last_error: Option<String>,
}

/// Writes the heartbeat row (insert or update).
pub async fn beat(client: &Client, b: &Beat, first: bool) -> Result<(), DbError> {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let caps = json!({"engine": "outpost", "job_types": super::SUPPORTED});
    client
        .execute(
            "INSERT INTO public.executor_heartbeats
               (executor_id, hostname, version, capabilities, last_seen_at, poll_count,
                jobs_processed, startup_time, last_error)
             VALUES ($1, $2, $3, $4, now(), $5, $6, now(), $7)
             ON CONFLICT (executor_id) DO UPDATE SET
               hostname = EXCLUDED.hostname, version = EXCLUDED.version,
               capabilities = EXCLUDED.capabilities, last_seen_at = now(),
               poll_count = EXCLUDED.poll_count, jobs_processed = EXCLUDED.jobs_processed,
               startup_time = CASE WHEN $8 THEN now() ELSE executor_heartbeats.startup_time END,
               last_error = EXCLUDED.last_error",
            &[
                &b.executor_id,
                &host,
                &env!("CARGO_PKG_VERSION"),
                &caps,
                &b.polls,
                &b.jobs_processed,
                &b.last_error,
                &first,
            ],
        )
        .await?;
    Ok(())
}
