//! The app's update-availability scans ("Check for Updates"): the UI
//! writes an `update_availability_scans` row and a `firmware_inventory_scan`
//! job naming it (`target_scope.scan_id`). Outpost marks the scan
//! running, writes an `update_availability_results` row per host (its
//! installed components; failures with a blocker saying why, since the
//! table has no error column) and ends the scan with the summary the UI
//! reads, as `completed` or `failed` (the app's executor writes
//! `completed_with_errors`, which the table's CHECK refuses, so its scans
//! stay `running` for ever). Outpost compares against no catalog yet:
//! every component counts as not in the catalog, never as up to date.

use super::db::DbError;
use super::row::At;
use crate::model::{JobView, Status, TaskState};
use serde_json::{Value, json};
use tokio_postgres::Client;
use uuid::Uuid;

pub async fn started(db: &Client, scan: Uuid) -> Result<(), DbError> {
    db.execute(
        "UPDATE public.update_availability_scans
            SET status = 'running', started_at = coalesce(started_at, now())
          WHERE id = $1 AND status IN ('pending', 'running')",
        &[&scan],
    )
    .await?;
    Ok(())
}

/// What a failed host's blocker says it was.
fn blocker(t: &TaskState) -> Value {
    let kind = match t.error_kind.as_deref() {
        Some("auth" | "credentials" | "unknown_credential" | "no_credentials") => "authentication",
        Some("timeout") => "timeout",
        Some("refused" | "unreachable" | "connect" | "tls" | "dns") => "connectivity",
        _ => "other",
    };
    json!({"type": kind, "message": t.error.clone().unwrap_or_else(|| t.status.as_str().into())})
}

/// The row of one host (written once: a second write finds it).
pub async fn host(db: &Client, scan: Uuid, t: &TaskState) -> Result<(), DbError> {
    let Some(r) = db
        .query_opt(
            "SELECT id, vcenter_host_id, coalesce(hostname, idrac_hostname, ip_address), model,
                    service_tag
               FROM public.servers WHERE ip_address = $1",
            &[&t.target],
        )
        .await?
    else {
        return Ok(());
    };
    let s = At::new(&r, "servers");
    let server: Uuid = s.get(0, "id")?;
    let ok = t.status == Status::Succeeded;
    let components: Vec<Value> = t
        .output
        .as_ref()
        .and_then(|o| o["components"].as_array())
        .into_iter()
        .flatten()
        .filter(|c| c["id"].as_str().is_some_and(|i| i.starts_with("Installed")))
        .map(|c| {
            json!({"componentName": c["name"], "componentType": c["component_type"],
                   "componentId": c["software_id"], "currentVersion": c["version"],
                   "availableVersion": null, "updateAvailable": false, "criticality": null,
                   "updateInferred": false})
        })
        .collect();
    let total = components.len() as i32;
    let blockers = if ok { json!([]) } else { json!([blocker(t)]) };
    db.execute(
        "INSERT INTO public.update_availability_results (scan_id, server_id, vcenter_host_id,
                hostname, server_model, service_tag, firmware_components, total_components,
                updates_available, critical_updates, up_to_date, not_in_catalog, blockers,
                scan_status, scanned_at)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, 0, 0, 0, $8, $9, $10, now()
          WHERE NOT EXISTS (SELECT 1 FROM public.update_availability_results
                             WHERE scan_id = $1 AND server_id = $2)",
        &[
            &scan,
            &server,
            &s.opt::<Uuid>(1, "vcenter_host_id")?,
            &s.opt::<String>(2, "hostname")?,
            &s.opt::<String>(3, "model")?,
            &s.opt::<String>(4, "service_tag")?,
            &Value::Array(components),
            &total,
            &blockers,
            &if ok { "completed" } else { "failed" },
        ],
    )
    .await?;
    Ok(())
}

/// Ends the scan with the summary the UI reads.
pub async fn finished(db: &Client, scan: Uuid, v: &JobView) -> Result<(), DbError> {
    let ok = v
        .tasks
        .iter()
        .filter(|t| t.status == Status::Succeeded)
        .count();
    let failed = v.tasks.len() - ok;
    let components: usize = v
        .tasks
        .iter()
        .filter_map(|t| {
            t.output.as_ref()?["components"].as_array().map(|a| {
                a.iter()
                    .filter(|c| c["id"].as_str().is_some_and(|i| i.starts_with("Installed")))
                    .count()
            })
        })
        .sum();
    let summary = json!({"hostsScanned": v.tasks.len(), "hostsSuccessful": ok,
        "hostsFailed": failed, "totalComponents": components, "updatesAvailable": 0,
        "criticalUpdates": 0, "upToDate": 0});
    let status = if ok == 0 && failed > 0 {
        "failed"
    } else {
        "completed"
    };
    let error =
        (failed > 0).then(|| format!("{failed} of {} hosts could not be scanned", v.tasks.len()));
    db.execute(
        "UPDATE public.update_availability_scans
            SET status = $2, completed_at = now(), summary = $3, error_message = $4
          WHERE id = $1 AND status IN ('pending', 'running')",
        &[&scan, &status, &summary, &error],
    )
    .await?;
    Ok(())
}
