//! The keys of `jobs.details` the app's UI reads, computed from an
//! Outpost job's state: `progress_percent` and `current_step` for every
//! type; `success_count`/`failed_count`/`total`/`results` for per-server
//! jobs; `action` for power; `success`/`message`/`idrac_version` for a
//! credential test; the discovery counters (`ips_total`,
//! `ips_processed`, `scanned_ips`, `discovered_count`, `auth_failures`,
//! `stage*`, `server_results`); a rolling update's `total_hosts`,
//! `hosts_processed`, `current_host` and `workflow_results`; and `error`
//! whenever a job fails. Console lines are `[HH:MM:SS] [LEVEL] message`
//! (UTC), the only form the app's console view shows.

mod discovery;
mod rolling;
mod vcenter;
mod verify;

pub use verify::verify;

use super::owned::Owned;
use crate::model::{JobView, Status, TaskState};
use outpost_kinds::ErrorClass;
use serde_json::{Value, json};

/// A console line as the app's console view parses it.
pub fn console(level: &str, message: &str) -> String {
    format!(
        "[{}] [{level}] {}",
        chrono::Utc::now().format("%H:%M:%S"),
        message.replace(['\n', '\r'], " ")
    )
}

/// What the app's credential test shows for a task's failure.
pub fn test_message(t: &TaskState) -> String {
    let class = t.error_kind.as_deref().and_then(ErrorClass::parse);
    let e = t.error.clone().unwrap_or_default();
    match class {
        Some(ErrorClass::Auth | ErrorClass::Credentials) => {
            "Authentication failed - invalid credentials".into()
        }
        Some(ErrorClass::Timeout) => "Connection timeout - iDRAC not reachable".into(),
        Some(
            ErrorClass::Refused | ErrorClass::Unreachable | ErrorClass::Connect | ErrorClass::Tls,
        ) => format!("Connection failed - {e}"),
        _ => format!("Error: {e}"),
    }
}

fn task_result(t: &TaskState) -> Value {
    let mut r = json!({
        "ip_address": t.target,
        "server": t.target,
        "success": t.status == Status::Succeeded,
        "status": t.status.as_str(),
    });
    if let Some(e) = &t.error {
        r["error"] = json!(e);
    }
    r
}

fn failures(v: &JobView) -> Option<String> {
    let failed: Vec<String> = v
        .tasks
        .iter()
        .filter(|t| t.status == Status::Failed)
        .map(|t| format!("{}: {}", t.target, t.error.as_deref().unwrap_or("failed")))
        .collect();
    if failed.is_empty() {
        return None;
    }
    let mut s = format!("{} of {} failed: ", failed.len(), v.tasks.len());
    s.push_str(
        &failed
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("; "),
    );
    if failed.len() > 5 {
        s.push_str(&format!("; and {} more", failed.len() - 5));
    }
    Some(s)
}

/// The details patch of the DSM job `o` run as `v`.
pub fn details(o: &Owned, v: &JobView) -> Value {
    let (dsm_type, vcenters) = (o.job_type.as_str(), o.vcenters.as_slice());
    let total = v.tasks.len();
    let done = v.tasks.iter().filter(|t| t.status.is_terminal()).count();
    let ok = v
        .tasks
        .iter()
        .filter(|t| t.status == Status::Succeeded)
        .count();
    let failed = v
        .tasks
        .iter()
        .filter(|t| t.status == Status::Failed)
        .count();
    let mut d = json!({});
    let mut pct = (done * 100 / total.max(1)) as u64;
    match dsm_type {
        "rolling_cluster_update" => pct = rolling::rolling(v, &mut d),
        "discovery_scan" => pct = discovery::discovery(v, &mut d),
        "vcenter_sync" | "cluster_safety_check" => vcenter::vcenter_sync(v, vcenters, &mut d),
        _ => {
            d["current_step"] = json!(format!("{done}/{total} servers done"));
            d["success_count"] = json!(ok);
            d["failed_count"] = json!(failed);
            d["total"] = json!(total);
            d["total_servers"] = json!(total);
            d["results"] = Value::Array(v.tasks.iter().map(task_result).collect());
            if let Some(t) = v.tasks.iter().find(|t| t.status == Status::Running) {
                d["current_step"] = json!(format!(
                    "{}: {}",
                    t.target,
                    t.progress
                        .as_ref()
                        .map(|p| p.step.clone())
                        .unwrap_or_else(|| "running".into())
                ));
                d["current_host_ip"] = json!(t.target);
            }
        }
    }
    match dsm_type {
        "power_action" => {
            if let Some(a) = v.job.params["reset_type"].as_str() {
                d["action"] = json!(a);
            }
        }
        "test_credentials" if v.job.status.is_terminal() => {
            let good = total > 0 && ok == total;
            d["success"] = json!(good);
            let first_bad = v.tasks.iter().find(|t| t.status != Status::Succeeded);
            let msg = match first_bad {
                None => "Connection successful".to_string(),
                Some(t) if t.status == Status::Cancelled => "Cancelled".into(),
                Some(t) => test_message(t),
            };
            if !good {
                d["error"] = json!(msg);
            }
            d["message"] = json!(msg);
            if let Some(version) = v
                .tasks
                .iter()
                .find_map(|t| idrac_version(t.output.as_ref()?))
            {
                d["idrac_version"] = json!(version);
            }
        }
        "firmware_update" => {
            let out = v.tasks.iter().filter_map(|t| t.output.as_ref());
            if let Some(o) = out.clone().find(|o| !o["from_version"].is_null()) {
                d["version_before"] = o["from_version"].clone();
            }
            // Only a version the component reports, not one staged for later.
            if let Some(o) = out
                .clone()
                .find(|o| !o["version"].is_null() && o["status"] != "scheduled")
            {
                d["version_after"] = o["version"].clone();
            }
            if let Some(c) = v.job.params["component"].as_str() {
                d["component"] = json!(c);
            }
            d["total_tasks"] = json!(total);
            d["failed_tasks"] = json!(failed);
        }
        "firmware_inventory_scan" => {
            d["hosts_total"] = json!(total);
            d["hosts_scanned"] = json!(done);
        }
        "prepare_host_for_update" if v.job.status.is_terminal() => {
            let secs = chrono::DateTime::parse_from_rfc3339(&v.job.created_at)
                .map(|c| (chrono::Utc::now() - c.with_timezone(&chrono::Utc)).num_seconds())
                .unwrap_or(0);
            let r = super::workflow::results(&o.extra, v.job.status == Status::Succeeded, secs);
            if let Some(m) = r.as_object() {
                for (k, x) in m {
                    d[k.as_str()] = x.clone();
                }
            }
        }
        "health_check" => {
            d["failed_servers"] = Value::Array(
                v.tasks
                    .iter()
                    .filter(|t| t.status == Status::Failed)
                    .map(|t| json!({"ip_address": t.target, "error": t.error}))
                    .collect(),
            );
        }
        "verify_host_after_update" => {
            d["workflow_results"] = verify::verify(o, v);
            if v.job.status.is_terminal() {
                d["server_id"] = o
                    .rows
                    .first()
                    .and_then(|r| r.server_id)
                    .map(|s| json!(s))
                    .unwrap_or(Value::Null);
            }
        }
        "cluster_safety_check" => {
            let min = o.extra["min_required_hosts"].as_u64().unwrap_or(2);
            let verdicts: Vec<Value> = o.extra["clusters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .filter_map(|c| {
                    v.tasks
                        .iter()
                        .find_map(|t| super::safety::evaluate(t.output.as_ref()?, c, min))
                })
                .collect();
            if let [one] = verdicts.as_slice()
                && let Some(m) = one.as_object()
            {
                for (k, x) in m {
                    d[k.as_str()] = x.clone();
                }
            }
            if !verdicts.is_empty() {
                d["safe_to_proceed"] = json!(verdicts.iter().all(|x| x["safe_to_proceed"] == true));
                d["cluster_results"] = Value::Array(verdicts);
                d["current_step"] = json!("safety check done");
            }
        }
        _ => {}
    }
    if v.job.status == Status::Succeeded {
        pct = 100;
    }
    d["progress_percent"] = json!(pct.min(100));
    if v.job.status == Status::Failed
        && d["error"].is_null()
        && let Some(e) = failures(v)
    {
        d["error"] = json!(e);
    }
    d
}

/// The iDRAC's firmware version in an inventory.
fn idrac_version(out: &Value) -> Option<String> {
    out["components"].as_array()?.iter().find_map(|c| {
        let name = c["name"].as_str().unwrap_or("");
        let id = c["id"].as_str().unwrap_or("");
        let idrac = c["software_id"].as_str() == Some("25227")
            || name.contains("Integrated Dell Remote Access Controller")
            || id.contains("iDRAC");
        (idrac && id.starts_with("Installed"))
            .then(|| c["version"].as_str().map(str::to_string))
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_lines_parse_as_the_app_parses_them() {
        let l = console("WARN", "two\nlines");
        let b = l.as_bytes();
        assert_eq!(b[0], b'[');
        assert_eq!(&l[9..], "] [WARN] two lines");
        assert!(l[1..9].chars().all(|c| c.is_ascii_digit() || c == ':'));
    }

    #[test]
    fn ranges_count_their_addresses() {
        assert_eq!(
            discovery::addresses(&json!(["10.0.0.1", "10.0.1.0-10.0.1.255"])),
            257
        );
    }
}
