//! Mapping `rolling_cluster_update` from both of the app's wizards: the
//! servers of a vCenter cluster (`{type: "cluster", cluster_name}` or
//! `{cluster_id}` holding the name), of a server group (`{type: "group",
//! group_id}` or `{server_group_id}`) or by id; the firmware from
//! `firmware_updates[]` (`image_uri`, or `firmware_uri` as older jobs
//! wrote it) or `details.firmware_uri`; the cluster rules; each host's
//! iDRAC login resolved as the app resolves it.

use super::claim::Claimed;
use super::lookup::Lookup;
use super::map::{MapError, Mapped, RowPlan, RowSource, Secrets, logins, servers};
use serde_json::{Value, json};

fn text<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a str> {
    keys.iter()
        .find_map(|k| v[*k].as_str())
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The one image a rollout installs: the wizard's (manual source) or the
/// firmware library's (local repository source, one component).
fn firmware(d: &Value, l: &Lookup) -> Result<Value, MapError> {
    let list = d["firmware_updates"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let source = d["firmware_source"].as_str().unwrap_or("");
    if list.is_empty() && matches!(source, "local_repository" | "dell_online_catalog") {
        let found: Vec<&(String, super::full_update::Package)> =
            l.packages.iter().filter(|(_, p)| p.is_ok()).collect();
        return match (found.as_slice(), l.packages.as_slice()) {
            (_, []) => Err(format!("no package found ({source})")),
            ([], [(_, Err(why)), ..]) => Err(why.clone()),
            ([(component, Ok((version, url)))], _) => Ok(json!({
                "component": component, "version": version, "image_uri": url})),
            (many, _) => Err(format!(
                "{source} has packages for {} components ({}); Outpost rolls one image per \
                 job: choose one component in the wizard's filter",
                many.len(),
                many.iter()
                    .map(|(c, _)| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        };
    }
    let fw = match list.as_slice() {
        [one] => one.clone(),
        [] => {
            if text(d, &["firmware_uri", "image_uri"]).is_some() {
                d.clone()
            } else {
                let source = d["firmware_source"].as_str().unwrap_or("manual");
                return Err(format!(
                    "details.firmware_updates is empty (firmware source {source:?}): Outpost \
                     installs the image the wizard names (manual source), or a package of the \
                     firmware library (local_repository) or the Dell catalog (dell_online_catalog)"
                ));
            }
        }
        more => {
            return Err(format!(
                "details.firmware_updates has {} entries; Outpost rolls one image per job: \
                 create one job per component",
                more.len()
            ));
        }
    };
    let uri = text(&fw, &["image_uri", "firmware_uri"])
        .ok_or("details.firmware_updates[0].image_uri is missing")?;
    let version =
        text(&fw, &["version"]).ok_or("details.firmware_updates[0].version is missing")?;
    if version.eq_ignore_ascii_case("latest") {
        return Err("details.firmware_updates[0].version is \"latest\": Outpost needs the version the image installs".into());
    }
    Ok(json!({
        "component": text(&fw, &["component"]).unwrap_or("BIOS"),
        "version": version,
        "image_uri": uri,
    }))
}

pub fn map(c: &Claimed, l: &Lookup, port: u16) -> Result<Mapped, MapError> {
    let d = &c.details;
    let list = servers(l)?;
    let fw = firmware(d, l)?;
    let mut secrets = Secrets::default();
    let logins = logins(list, &l.sets, &mut secrets);
    let vc = list.iter().find_map(|s| s.vcenter.clone());
    let servers: Vec<Value> = list
        .iter()
        .map(|s| {
            let mut v =
                json!({"idrac": s.ip, "name": s.name.clone().unwrap_or_else(|| s.ip.clone())});
            if let Some((host, cluster, vc_host, _)) = &s.vcenter
                && vc.as_ref().is_some_and(|v| v.2 == *vc_host)
            {
                v["vcenter_host"] = json!(host);
                v["cluster"] = json!(cluster.clone().unwrap_or_else(|| "(no cluster)".into()));
            }
            v
        })
        .collect();
    let num = |k: &str, default: u64| {
        d[k].as_u64()
            .or_else(|| d[k].as_str().and_then(|s| s.trim().parse().ok()))
            .unwrap_or(default)
    };
    let mut params = json!({
        "servers": servers,
        "firmware": fw,
        "max_parallel": num("max_parallel", 1).max(1),
        "min_healthy_hosts": num("min_healthy_hosts", 0),
        "continue_on_failure": d["continue_on_failure"].as_bool().unwrap_or(false),
        "idrac": {"port": port},
    });
    if let Some(t) = d["maintenance_timeout"].as_u64() {
        params["maintenance_timeout_s"] = json!(t);
    }
    if let Some((_, _, host, port)) = vc {
        // The login of the vCenter's own row (`vcenters`).
        params["vcenter"] = json!({"address": host, "port": port,
            "credential": super::seal::vcenter_credential(&host)});
        secrets.vcenters.push(host);
    }
    Ok(Mapped {
        doc: crate::plan::JobDoc {
            job_type: crate::plan::ROLLING_UPDATE.into(),
            zone: None,
            targets: None,
            params: Some(params),
            schedule_at: None,
        },
        rows: list
            .iter()
            .enumerate()
            .map(|(i, s)| RowPlan {
                server_id: Some(s.id),
                source: RowSource::Host(i),
            })
            .collect(),
        logins,
        secrets,
        vcenters: Vec::new(),
        extra: Value::Null,
    })
}
