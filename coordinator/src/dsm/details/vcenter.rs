//! A vCenter read's progress as the app's vCenter sync view reads it:
//! one result per vCenter and the object counts.

use crate::dsm::owned::VcenterRef;
use crate::model::{JobView, Status};
use serde_json::{Value, json};

/// The keys the app's vCenter sync view reads.
pub(super) fn vcenter_sync(v: &JobView, vcenters: &[VcenterRef], d: &mut Value) {
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
