//! `prepare_host_for_update`: a server made ready for a firmware update,
//! as the app's workflow dialog asks: the server checked, its vCenter host
//! put into maintenance mode (VMs evacuated by DRS) when it has one, else
//! its iDRAC's answer checked. Each step is a `workflow_executions` row,
//! which is what the app's workflow view shows for this job type.

use super::db::DbError;
use serde_json::{Value, json};
use tokio_postgres::Client;
use uuid::Uuid;

/// The server and vCenter host a preparation is about.
fn ids(extra: &Value) -> (Option<Uuid>, Option<Uuid>) {
    let id = |k: &str| extra[k].as_str().and_then(|s| Uuid::parse_str(s).ok());
    (id("server_id"), id("vcenter_host_id"))
}

/// Writes (or rewrites) step `n` of a job's workflow.
#[allow(clippy::too_many_arguments)]
pub async fn step(
    db: &Client,
    job: Uuid,
    n: i32,
    name: &str,
    status: &str,
    server: Option<Uuid>,
    host: Option<Uuid>,
    details: &Value,
    error: Option<&str>,
) -> Result<(), DbError> {
    let updated = db
        .execute(
            "UPDATE public.workflow_executions SET step_status = $3, step_details = $4,
                    step_error = $5,
                    step_completed_at = CASE WHEN $3 IN ('completed', 'failed', 'skipped')
                                             THEN coalesce(step_completed_at, now()) END
              WHERE job_id = $1 AND step_number = $2",
            &[&job, &n, &status, details, &error],
        )
        .await?;
    if updated == 0 {
        db.execute(
            "INSERT INTO public.workflow_executions (job_id, workflow_type, step_number, step_name,
                    step_status, server_id, host_id, step_details, step_error, step_started_at,
                    step_completed_at)
             VALUES ($1, 'prepare', $2, $3, $4, $5, $6, $7, $8, now(),
                     CASE WHEN $4 IN ('completed', 'failed', 'skipped') THEN now() END)",
            &[&job, &n, &name, &status, &server, &host, details, &error],
        )
        .await?;
    }
    Ok(())
}

/// The steps a preparation starts with: the server found, maintenance
/// mode under way (or skipped for a server without a vCenter host).
pub async fn started(db: &Client, job: Uuid, extra: &Value) -> Result<(), DbError> {
    let (server, host) = ids(extra);
    step(
        db,
        job,
        1,
        "Validate Server",
        "completed",
        server,
        host,
        &json!({"hostname": extra["hostname"]}),
        None,
    )
    .await?;
    if host.is_some() {
        step(
            db,
            job,
            2,
            "Enter Maintenance Mode",
            "running",
            server,
            host,
            &json!({"vcenter_host": extra["vcenter_host"]}),
            None,
        )
        .await
    } else {
        step(
            db,
            job,
            2,
            "Enter Maintenance Mode",
            "skipped",
            server,
            host,
            &json!({"reason": "No vCenter host linked"}),
            None,
        )
        .await?;
        step(
            db,
            job,
            3,
            "Test iDRAC Connectivity",
            "running",
            server,
            host,
            &json!({}),
            None,
        )
        .await
    }
}

/// The step under way ends; with maintenance mode entered, the app's host
/// row says so.
pub async fn ended(
    db: &Client,
    job: Uuid,
    extra: &Value,
    ok: bool,
    error: Option<&str>,
) -> Result<(), DbError> {
    let (server, host) = ids(extra);
    let status = if ok { "completed" } else { "failed" };
    match host {
        Some(h) => {
            step(
                db,
                job,
                2,
                "Enter Maintenance Mode",
                status,
                server,
                host,
                &json!({"in_maintenance": ok}),
                error,
            )
            .await?;
            if ok {
                db.execute(
                    "UPDATE public.vcenter_hosts SET maintenance_mode = true WHERE id = $1",
                    &[&h],
                )
                .await?;
            }
        }
        None => {
            step(
                db,
                job,
                3,
                "Test iDRAC Connectivity",
                status,
                server,
                host,
                &json!({}),
                error,
            )
            .await?;
        }
    }
    Ok(())
}

/// The job's final details as the app's workflow view reads them.
pub fn results(extra: &Value, ok: bool, seconds: i64) -> Value {
    let host = !extra["vcenter_host_id"].is_null();
    let mut done = vec!["validate_server"];
    let last = if host {
        "enter_maintenance"
    } else {
        "test_idrac"
    };
    let mut failed = Vec::new();
    if ok {
        done.push(last);
    } else {
        failed.push(last);
    }
    json!({
        "workflow_results": {"steps_completed": done, "steps_failed": failed,
                             "total_time_seconds": seconds},
        "server_id": extra["server_id"],
        "vcenter_host_id": extra["vcenter_host_id"],
        "ready_for_update": ok,
    })
}
