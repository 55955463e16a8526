//! A discovery's progress and results as the app's discovery view reads
//! them: address counts, stage counters, `server_results`.

use crate::model::{JobView, Status};
use serde_json::{Value, json};

/// Counts addresses of rendered runs (`a.b.c.d` or `a.b.c.d-e.f.g.h`).
pub(super) fn addresses(runs: &Value) -> u64 {
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

pub(super) fn discovery(v: &JobView, d: &mut Value) -> u64 {
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
