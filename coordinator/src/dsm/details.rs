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

use super::owned::{Owned, VcenterRef};
use crate::model::{JobView, Status, TaskState};
use outpost_kinds::ErrorClass;
use outpost_kinds::rollout::{HostProgress, HostState};
use serde_json::{Value, json};

/// A console line as the app's console view parses it.
pub fn console(level: &str, message: &str) -> String {
    format!(
        "[{}] [{level}] {}",
        chrono::Utc::now().format("%H:%M:%S"),
        message.replace(['\n', '\r'], " ")
    )
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
        "rolling_cluster_update" => pct = rolling(v, &mut d),
        "discovery_scan" => pct = discovery(v, &mut d),
        "vcenter_sync" | "cluster_safety_check" => vcenter_sync(v, vcenters, &mut d),
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
            d["workflow_results"] = verify(o, v);
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

fn discovery(v: &JobView, d: &mut Value) -> u64 {
    let total_ips: u64 = v.tasks.iter().map(|t| addresses(&t.params["slice"])).sum();
    let mut processed = 0u64;
    let (mut closed, mut filtered, mut open, mut idrac) = (0u64, 0u64, 0u64, 0u64);
    let mut results = Vec::new();
    let mut auth_ips = Vec::new();
    let mut found = 0u64;
    for t in &v.tasks {
        if t.status.is_terminal() {
            processed += addresses(&t.params["slice"]);
        } else if let Some(p) = &t.progress {
            processed += addresses(&t.params["slice"]) * u64::from(p.percent.min(99)) / 100;
        }
        let Some(o) = &t.output else { continue };
        let n = |k: &str| o[k].as_u64().unwrap_or(0);
        closed += n("closed");
        filtered += n("filtered");
        open += n("open");
        idrac += n("idrac");
        for f in o["found"].as_array().into_iter().flatten() {
            found += 1;
            results.push(
                json!({"ip": f["address"], "status": "synced", "model": f["model"],
                "service_tag": f["service_tag"], "credential_set": f["credential"]}),
            );
        }
        for f in o["locked"].as_array().into_iter().flatten() {
            auth_ips.push(f["address"].clone());
            results.push(json!({"ip": f["address"], "status": "auth_failed"}));
        }
        for f in o["errors"].as_array().into_iter().flatten() {
            results.push(json!({"ip": f["address"], "status": "filtered",
                "filter_reason": f["error"]}));
        }
    }
    let running = v.tasks.iter().any(|t| t.status == Status::Running);
    d["ips_total"] = json!(total_ips);
    d["ips_processed"] = json!(processed.min(total_ips));
    d["scanned_ips"] = json!(processed.min(total_ips));
    d["discovered_count"] = json!(found);
    d["auth_failures"] = json!(auth_ips.len());
    d["auth_failure_ips"] = Value::Array(auth_ips.clone());
    d["stage1_passed"] = json!(open);
    d["stage1_filtered"] = json!(closed + filtered);
    d["stage2_passed"] = json!(idrac);
    d["stage2_filtered"] = json!(open.saturating_sub(idrac));
    d["stage3_passed"] = json!(found);
    d["stage3_failed"] = json!(auth_ips.len());
    // The app's view keeps the last entries.
    let skip = results.len().saturating_sub(500);
    d["server_results"] = Value::Array(results.into_iter().skip(skip).collect());
    d["current_stage"] = json!(if v.job.status.is_terminal() {
        "complete"
    } else if running {
        "authenticating"
    } else {
        "port_check"
    });
    d["current_step"] = json!(format!(
        "scanned {}/{} addresses: {found} iDRACs logged into, {} refused every login",
        processed.min(total_ips),
        total_ips,
        auth_ips.len()
    ));
    processed * 100 / total_ips.max(1)
}

/// A verification's checks: each expected component version against the
/// inventory (`details.expected_firmware_versions`, `{component: version}`).
pub fn verify(o: &Owned, v: &JobView) -> Value {
    let mut passed = Vec::new();
    let mut failed = Vec::new();
    let mut warnings = Vec::new();
    let expected = o.extra["expected"].as_object().cloned().unwrap_or_default();
    for t in v.tasks.iter().filter(|t| t.status == Status::Succeeded) {
        let comps = t
            .output
            .as_ref()
            .and_then(|o| o["components"].as_array().cloned())
            .unwrap_or_default();
        if expected.is_empty() {
            passed.push(json!(format!(
                "{}: iDRAC answers, {} components read",
                t.target,
                comps.len()
            )));
        }
        for (component, want) in &expected {
            let want = want.as_str().unwrap_or_default();
            let c = component.to_ascii_lowercase();
            let found = comps.iter().find(|x| {
                x["id"].as_str().is_some_and(|i| i.starts_with("Installed"))
                    && (x["name"]
                        .as_str()
                        .is_some_and(|n| n.to_ascii_lowercase().contains(&c))
                        || x["software_id"].as_str() == Some(component.as_str())
                        || (c == "idrac" && x["software_id"] == "25227")
                        || (c == "bios" && x["software_id"] == "159"))
            });
            match found.and_then(|x| x["version"].as_str()) {
                Some(have) if have == want => passed.push(json!(format!("{component}: {have}"))),
                Some(have) => {
                    failed.push(json!(format!("{component}: expected {want}, found {have}")))
                }
                None => warnings.push(json!(format!("{component}: not in the inventory"))),
            }
        }
    }
    json!({"checks_passed": passed, "checks_failed": failed, "checks_warnings": warnings})
}

/// The keys the app's vCenter sync view reads.
fn vcenter_sync(v: &JobView, vcenters: &[VcenterRef], d: &mut Value) {
    let mut sums = [0usize; 5];
    const KEYS: [&str; 5] = ["clusters", "hosts", "datastores", "vms", "networks"];
    let mut results = Vec::new();
    d["current_step"] = json!(format!("reading {} vCenter(s)", vcenters.len()));
    d["sync_mode"] = json!("property_collector");
    for (i, vc) in vcenters.iter().enumerate() {
        let Some(t) = v.tasks.iter().find(|t| t.target == vc.host) else {
            continue;
        };
        let mut r = json!({"vcenter_id": vc.id, "vcenter_name": vc.name, "vcenter_host": vc.host});
        match (t.status, &t.output) {
            (Status::Succeeded, Some(out)) => {
                r["status"] = json!("success");
                for (k, sum) in KEYS.iter().zip(sums.iter_mut()) {
                    let n = out[*k].as_array().map(Vec::len).unwrap_or(0);
                    *sum += n;
                    r[*k] = json!(n);
                }
            }
            (Status::Failed | Status::Cancelled, _) => {
                r["status"] = json!("failed");
                r["error"] = json!(t.error.clone().unwrap_or_else(|| t.status.as_str().into()));
            }
            _ => {
                r["status"] = json!("running");
                d["current_vcenter_index"] = json!(i);
                d["current_vcenter_name"] = json!(vc.name);
                d["vcenter_name"] = json!(vc.name);
                d["vcenter_host"] = json!(vc.host);
                if let Some(p) = &t.progress {
                    d["current_step"] = json!(format!("{}: {}", vc.name, p.step));
                }
            }
        }
        results.push(r);
    }
    let synced = results.iter().filter(|r| r["status"] == "success").count();
    d["total_vcenters"] = json!(vcenters.len());
    d["vcenters_synced"] = json!(synced);
    for (k, n) in KEYS.iter().zip(sums) {
        d[*k] = json!(n);
    }
    if v.job.status.is_terminal() {
        d["current_step"] = json!(format!("{synced}/{} vCenters synced", vcenters.len()));
        d["sync_phase"] = json!(9);
    }
    d["vcenter_results"] = Value::Array(results);
}

fn rolling(v: &JobView, d: &mut Value) -> u64 {
    let list = v
        .job
        .rollout
        .as_ref()
        .map(HostProgress::list)
        .unwrap_or_default();
    let finished = list.iter().filter(|h| h.state.finished()).count();
    let running: Vec<&HostProgress> = list
        .iter()
        .filter(|h| h.state == HostState::Running)
        .collect();
    d["current_step"] = json!(if running.is_empty() {
        format!("{finished}/{} hosts done", list.len())
    } else {
        running
            .iter()
            .map(|h| format!("{}: {}", h.name, h.step))
            .collect::<Vec<_>>()
            .join("; ")
    });
    if let Some(h) = running.first() {
        d["current_host"] = json!(h.name);
        d["current_host_ip"] = json!(h.idrac);
    }
    d["total_hosts"] = json!(list.len());
    d["hosts_total"] = json!(list.len());
    d["hosts_processed"] = json!(finished);
    let count = |f: &dyn Fn(&HostProgress) -> bool| list.iter().filter(|h| f(h)).count();
    let results: Vec<Value> = list
        .iter()
        .map(|h| {
            let status = match h.state {
                HostState::Succeeded => "completed",
                HostState::AlreadyCurrent => "skipped",
                HostState::Failed => "failed",
                HostState::Stopped => "cancelled",
                HostState::Running => "running",
                HostState::Waiting => "pending",
            };
            let mut r = json!({"host_name": h.name, "name": h.name, "idrac": h.idrac,
                "status": status, "message": h.step});
            if h.state == HostState::AlreadyCurrent {
                r["no_updates_needed"] = json!(true);
            }
            if let Some(n) = &h.note {
                r["error"] = json!(n);
            }
            if h.left_in_maintenance {
                r["left_in_maintenance"] = json!(true);
            }
            r
        })
        .collect();
    d["workflow_results"] = json!({
        "total_hosts": list.len(),
        "hosts_updated": count(&|h| h.state == HostState::Succeeded),
        "hosts_failed": count(&|h| h.state == HostState::Failed),
        "hosts_skipped": count(&|h| h.state == HostState::AlreadyCurrent),
        "host_results": results,
    });
    (finished * 100 / list.len().max(1)) as u64
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
        assert_eq!(addresses(&json!(["10.0.0.1", "10.0.1.0-10.0.1.255"])), 257);
    }
}
