//! A rolling update's progress as the app's workflow view reads it:
//! hosts processed, the host under way, `workflow_results`.

use crate::model::JobView;
use outpost_kinds::rollout::{HostProgress, HostState};
use serde_json::{Value, json};

pub(super) fn rolling(v: &JobView, d: &mut Value) -> u64 {
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
