//! `outpost dsm install`: the trigger that tells listening coordinators
//! about new and changed jobs at once (`NOTIFY outpost_jobs`), so a job is
//! picked up within a second of its creation and a cancel in the app is
//! seen at once. Idempotent; touches no table but the trigger on `jobs`.

use super::db::DbError;
use tokio_postgres::Client;

/// The channel the trigger notifies.
pub const CHANNEL: &str = "outpost_jobs";

const SQL: &str = r#"
CREATE OR REPLACE FUNCTION public.outpost_notify_job() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('outpost_jobs', json_build_object(
    'id', NEW.id, 'status', NEW.status, 'job_type', NEW.job_type)::text);
  RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS outpost_notify_job ON public.jobs;
CREATE TRIGGER outpost_notify_job
  AFTER INSERT OR UPDATE OF status, schedule_at ON public.jobs
  FOR EACH ROW EXECUTE FUNCTION public.outpost_notify_job();
"#;

/// Creates (or replaces) the trigger.
pub async fn install(client: &Client) -> Result<(), DbError> {
    client.batch_execute(SQL).await?;
    Ok(())
}

/// Whether the trigger is in place.
pub async fn installed(client: &Client) -> Result<bool, DbError> {
    let row = client
        .query_one(
            "SELECT count(*) FROM pg_trigger WHERE tgname = 'outpost_notify_job' AND NOT tgisinternal",
            &[],
        )
        .await?;
    Ok(super::row::At::new(&row, "pg_trigger").get::<i64>(0, "count")? > 0)
}
