//! `cluster_safety_check`: whether a vCenter cluster can give up a host
//! for maintenance, judged from a fresh read of the cluster and its hosts
//! (`vcenter.inventory`), the way the app judges it: a host is healthy
//! when connected, powered on and not in maintenance mode, and the
//! cluster is safe when at least `min_required_hosts + 1` are healthy.
//! Each cluster's verdict becomes a `cluster_safety_checks` row (the
//! table the app's maintenance dialogs consult) and the job's details.

use super::db::DbError;
use serde_json::{Value, json};
use tokio_postgres::Client;
use uuid::Uuid;

/// The clusters a job names: `details.cluster_name`, `details.cluster_names`,
/// `target_scope.clusters` or `target_scope.cluster_name`.
pub fn clusters(scope: &Value, details: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |v: &Value| {
        if let Some(s) = v.as_str().map(str::trim).filter(|s| !s.is_empty())
            && !out.iter().any(|o| o == s)
        {
            out.push(s.to_string());
        }
    };
    add(&details["cluster_name"]);
    for v in details["cluster_names"].as_array().into_iter().flatten() {
        add(v);
    }
    for v in scope["clusters"].as_array().into_iter().flatten() {
        add(v);
    }
    add(&scope["cluster_name"]);
    out
}

/// The verdict on `cluster` from a vCenter's inventory, or `None` when
/// that vCenter has no such cluster.
pub fn evaluate(out: &Value, cluster: &str, min_required: u64) -> Option<Value> {
    let c = out["clusters"]
        .as_array()?
        .iter()
        .find(|c| c["name"].as_str() == Some(cluster))?;
    let hosts: Vec<&Value> = out["hosts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|h| h["cluster"].as_str() == Some(cluster))
        .collect();
    let healthy = hosts
        .iter()
        .filter(|h| {
            h["connection_state"] == "connected"
                && h["power_state"] == "poweredOn"
                && h["maintenance_mode"] != true
        })
        .count() as u64;
    let drs = c["drs_enabled"].as_bool().unwrap_or(false);
    let mode = c["drs_automation_level"].as_str();
    let mut warnings = Vec::new();
    if !drs {
        warnings.push("DRS is disabled - VMs will not automatically evacuate");
    } else if mode == Some("manual") {
        warnings.push("DRS is in manual mode - requires manual VM migration");
    }
    let safe = healthy > min_required;
    Some(json!({
        "cluster_name": cluster,
        "safe_to_proceed": safe,
        "total_hosts": hosts.len(),
        "healthy_hosts": healthy,
        "min_required_hosts": min_required,
        "drs_enabled": drs,
        "drs_mode": mode,
        "ha_enabled": c["ha_enabled"],
        "warnings": warnings,
        "unhealthy_hosts": hosts.iter()
            .filter(|h| !(h["connection_state"] == "connected" && h["power_state"] == "poweredOn"
                && h["maintenance_mode"] != true))
            .map(|h| h["name"].clone())
            .collect::<Vec<_>>(),
        "recommendation": if safe {
            format!("{cluster} can give up one host for maintenance")
        } else {
            format!(
                "{cluster} has {healthy} healthy host(s): one in maintenance would leave fewer than {min_required}"
            )
        },
    }))
}

/// Records one verdict (once per job and cluster).
pub async fn record(db: &Client, job: Uuid, verdict: &Value) -> Result<(), DbError> {
    let int = |k: &str| {
        verdict[k]
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .unwrap_or(0)
    };
    db.execute(
        "INSERT INTO public.cluster_safety_checks (job_id, cluster_id, total_hosts, healthy_hosts,
                min_required_hosts, safe_to_proceed, details)
         SELECT $1, $2, $3, $4, $5, $6, $7
          WHERE NOT EXISTS (SELECT 1 FROM public.cluster_safety_checks
                             WHERE job_id = $1 AND cluster_id = $2)",
        &[
            &job,
            &verdict["cluster_name"].as_str().unwrap_or_default(),
            &int("total_hosts"),
            &int("healthy_hosts"),
            &int("min_required_hosts"),
            &verdict["safe_to_proceed"].as_bool().unwrap_or(false),
            verdict,
        ],
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_is_safe_with_one_healthy_host_to_spare() {
        let host = |n: &str, conn: &str, maint: bool| {
            json!({"name": n, "cluster": "prod", "connection_state": conn,
                   "power_state": "poweredOn", "maintenance_mode": maint})
        };
        let mut out = json!({
            "clusters": [{"name": "prod", "drs_enabled": true, "drs_automation_level": "fullyAutomated"}],
            "hosts": [host("a", "connected", false), host("b", "connected", false),
                      host("c", "connected", false), host("d", "disconnected", false)],
        });
        let v = evaluate(&out, "prod", 2).unwrap();
        assert_eq!(v["safe_to_proceed"], true);
        assert_eq!(
            (v["total_hosts"].as_u64(), v["healthy_hosts"].as_u64()),
            (Some(4), Some(3))
        );
        assert_eq!(v["unhealthy_hosts"], json!(["d"]));
        out["hosts"][0]["maintenance_mode"] = json!(true);
        let v = evaluate(&out, "prod", 2).unwrap();
        assert_eq!(v["safe_to_proceed"], false);
        assert!(evaluate(&out, "other", 2).is_none());
        out["clusters"][0]["drs_enabled"] = json!(false);
        let v = evaluate(&out, "prod", 1).unwrap();
        assert_eq!(
            v["warnings"][0],
            "DRS is disabled - VMs will not automatically evacuate"
        );
        assert_eq!(
            clusters(
                &json!({"type": "all_clusters", "clusters": ["x", "prod"]}),
                &json!({"cluster_name": "prod"})
            ),
            vec!["prod".to_string(), "x".to_string()]
        );
    }
}
