//! Reporting an Outpost job back the way the app's UI reads it: a status,
//! progress and log per `job_tasks` row, the job's status and times, and
//! progress keys merged into `jobs.details` (`current_step`,
//! `progress_pct`, `console_log`, and for scans `ips_processed`,
//! `ips_total`, `discovered_count`) without touching the app's own keys.
//! Discovered iDRACs are upserted into `servers` by `ip_address`. A
//! terminal DSM job is never moved back.

use super::db::DbError;
use super::map::RowSource;
use super::owned::Owned;
use crate::model::{JobView, Status, TaskState};
use outpost_kinds::Kind;
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

fn dsm_status(s: Status) -> &'static str {
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

/// Counts addresses of rendered runs (`a.b.c.d` or `a.b.c.d-e.f.g.h`).
fn addresses(runs: &Value) -> u64 {
    runs.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|r| match r.split_once('-') {
            Some((a, b)) => match (
                a.parse::<std::net::Ipv4Addr>(),
                b.parse::<std::net::Ipv4Addr>(),
            ) {
                (Ok(a), Ok(b)) => u64::from(u32::from(b).saturating_sub(u32::from(a))) + 1,
                _ => 1,
            },
            None => 1,
        })
        .sum()
}

/// What the rows and the job should say now.
pub fn states(o: &Owned, v: &JobView) -> (Vec<(Uuid, RowState)>, Value) {
    let total = v.tasks.len().max(1) as i32;
    let done = v.tasks.iter().filter(|t| t.status.is_terminal()).count() as i32;
    let mut rows = Vec::new();
    for r in &o.rows {
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
            RowSource::Host(i) => host_row(
                v.job
                    .rollout
                    .as_ref()
                    .map(HostProgress::list)
                    .unwrap_or_default()
                    .get(*i),
            ),
        };
        rows.push((r.row_id, st));
    }
    let mut details = json!({});
    let pct = match v.job.job_type.as_str() {
        crate::plan::ROLLING_UPDATE => {
            let list = v
                .job
                .rollout
                .as_ref()
                .map(HostProgress::list)
                .unwrap_or_default();
            let finished = list.iter().filter(|h| h.state.finished()).count();
            let running: Vec<String> = list
                .iter()
                .filter(|h| h.state == HostState::Running)
                .map(|h| format!("{}: {}", h.name, h.step))
                .collect();
            details["current_step"] = json!(if running.is_empty() {
                format!("{finished}/{} hosts done", list.len())
            } else {
                running.join("; ")
            });
            (finished * 100 / list.len().max(1)) as i32
        }
        _ => {
            details["current_step"] = json!(format!("{done}/{total} tasks done"));
            done * 100 / total
        }
    };
    details["progress_pct"] = json!(if v.job.status == Status::Succeeded {
        100
    } else {
        pct
    });
    if v.job.job_type == "redfish.firmware" {
        // What the app shows of a firmware update.
        let out = v.tasks.iter().filter_map(|t| t.output.as_ref());
        if let Some(o) = out.clone().find(|o| !o["from_version"].is_null()) {
            details["version_before"] = o["from_version"].clone();
        }
        if let Some(o) = out.clone().find(|o| !o["version"].is_null()) {
            details["version_after"] = o["version"].clone();
        }
        if let Some(t) = v.tasks.iter().find(|t| t.status == Status::Running) {
            details["current_host_ip"] = json!(t.target);
        }
    }
    if Kind::parse(&v.job.job_type) == Some(Kind::RedfishDiscover) {
        let total_ips: u64 = v.tasks.iter().map(|t| addresses(&t.params["slice"])).sum();
        let processed: u64 = v
            .tasks
            .iter()
            .filter(|t| t.status.is_terminal())
            .map(|t| addresses(&t.params["slice"]))
            .sum();
        let found: u64 = v
            .tasks
            .iter()
            .filter_map(|t| t.output.as_ref())
            .map(|o| o["found"].as_array().map(|a| a.len() as u64).unwrap_or(0))
            .sum();
        details["ips_total"] = json!(total_ips);
        details["ips_processed"] = json!(processed);
        details["discovered_count"] = json!(found);
    }
    (rows, details)
}

/// Writes one row.
pub async fn write_row(db: &Client, id: Uuid, s: &RowState) -> Result<(), DbError> {
    db.execute(
        "UPDATE public.job_tasks SET status = $2::text::public.job_status, progress = $3, log = $4,
                started_at = CASE WHEN $2 <> 'pending' THEN coalesce(started_at, now()) ELSE started_at END,
                completed_at = CASE WHEN $2 IN ('completed', 'failed', 'cancelled')
                                    THEN coalesce(completed_at, now()) ELSE completed_at END
          WHERE id = $1",
        &[&id, &s.status, &s.progress, &s.log],
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
        "UPDATE public.jobs SET details = coalesce(details, '{}'::jsonb) || $2::jsonb
                || jsonb_build_object('console_log', (
                     SELECT coalesce(jsonb_agg(x ORDER BY n), '[]'::jsonb) FROM (
                       SELECT x, n FROM jsonb_array_elements(
                           coalesce(details->'console_log', '[]'::jsonb) || $3::jsonb)
                         WITH ORDINALITY AS e(x, n)
                       ORDER BY n DESC LIMIT 100) last))
          WHERE id = $1",
        &[&id, patch, &json!(lines)],
    )
    .await?;
    Ok(())
}

/// Ends the DSM job unless it already ended (e.g. cancelled in the app).
pub async fn finish(db: &Client, id: Uuid, status: Status) -> Result<(), DbError> {
    db.execute(
        "UPDATE public.jobs SET status = $2::text::public.job_status, completed_at = now()
          WHERE id = $1 AND status NOT IN ('completed', 'failed', 'cancelled')",
        &[&id, &dsm_status(status)],
    )
    .await?;
    Ok(())
}

/// Fails a DSM job Outpost cannot run, saying why.
pub async fn refuse(db: &Client, id: Uuid, why: &str) -> Result<(), DbError> {
    db.execute(
        "UPDATE public.jobs SET status = 'failed', completed_at = now(),
                details = coalesce(details, '{}'::jsonb) || jsonb_build_object('error', $2::text,
                    'current_step', 'refused by Outpost')
          WHERE id = $1 AND status = 'running'",
        &[&id, &why],
    )
    .await?;
    Ok(())
}

/// Upserts the iDRACs a discovery task found into `servers`.
pub async fn upsert_servers(db: &Client, dsm_job: Uuid, output: &Value) -> Result<u64, DbError> {
    let mut n = 0;
    for f in output["found"].as_array().into_iter().flatten() {
        let Some(ip) = f["address"].as_str() else {
            continue;
        };
        let s = |k: &str| f[k].as_str().map(str::to_string);
        let r = db
            .execute(
                "INSERT INTO public.servers (ip_address, hostname, model, service_tag, bios_version,
                        idrac_firmware, power_state, overall_health, manager_mac_address, manufacturer,
                        discovery_job_id, connection_status, last_seen, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'online', now(), now())
                 ON CONFLICT (ip_address) DO UPDATE SET
                   hostname = coalesce(EXCLUDED.hostname, servers.hostname),
                   model = coalesce(EXCLUDED.model, servers.model),
                   service_tag = coalesce(EXCLUDED.service_tag, servers.service_tag),
                   bios_version = coalesce(EXCLUDED.bios_version, servers.bios_version),
                   idrac_firmware = coalesce(EXCLUDED.idrac_firmware, servers.idrac_firmware),
                   power_state = coalesce(EXCLUDED.power_state, servers.power_state),
                   overall_health = coalesce(EXCLUDED.overall_health, servers.overall_health),
                   manager_mac_address = coalesce(EXCLUDED.manager_mac_address, servers.manager_mac_address),
                   manufacturer = coalesce(EXCLUDED.manufacturer, servers.manufacturer),
                   discovery_job_id = EXCLUDED.discovery_job_id,
                   connection_status = 'online', last_seen = now(), updated_at = now()",
                &[
                    &ip,
                    &s("host_name"),
                    &s("model"),
                    &s("service_tag"),
                    &s("bios_version"),
                    &s("idrac_version"),
                    &s("power_state"),
                    &s("health"),
                    &s("idrac_mac"),
                    &s("manufacturer"),
                    &dsm_job,
                ],
            )
            .await;
        match r {
            Ok(_) => n += 1,
            Err(e) => {
                tracing::warn!(address = ip, error = %DbError::from(e), "server not upserted")
            }
        }
    }
    Ok(n)
}
