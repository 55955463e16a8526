//! Mapping `rolling_cluster_update` from both of the app's wizards: the
//! servers of a vCenter cluster (`{type: "cluster", cluster_name}` or
//! `{cluster_id}` holding the name), of a server group (`{type: "group",
//! group_id}` or `{server_group_id}`) or by id; the firmware from
//! `firmware_updates[]` (`image_uri`, or `firmware_uri` as older jobs
//! wrote it), `details.firmware_uri`, or the packages of the firmware
//! library or the Dell catalog for the wizard's component filter (all
//! components by default), several installed in one maintenance window
//! per host; the cluster rules; each host's iDRAC login resolved as the
//! app resolves it.

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

/// Dell's order for updating a server's components, as the app's
/// `create-job` orders a full server update; others come after.
const ORDER: [&str; 6] = ["idrac", "bios", "cpld", "raid", "nic", "backplane"];

fn rank(component: &str) -> usize {
    let c = component.to_ascii_lowercase();
    ORDER.iter().position(|o| *o == c).unwrap_or(ORDER.len())
}

/// What a rollout installs on each host, as `redfish.firmware` takes it:
/// one component (`component`, `version`, `image_uri`) or several
/// (`updates`, in Dell's order), all in one maintenance window per host.
/// From the wizard's `firmware_updates` (manual source) or the newest
/// package of each filtered component in the firmware library or the Dell
/// catalog; a component with no package is left out with a note.
fn firmware(d: &Value, l: &Lookup) -> Result<(Value, Vec<String>), MapError> {
    let list = d["firmware_updates"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let source = d["firmware_source"].as_str().unwrap_or("");
    let mut notes = Vec::new();
    let mut images: Vec<Value> = Vec::new();
    if list.is_empty() && matches!(source, "local_repository" | "dell_online_catalog") {
        for (component, p) in &l.packages {
            match p {
                Ok((version, url)) => images.push(json!({
                    "component": component, "version": version, "image_uri": url})),
                Err(why) => notes.push(format!("{component} skipped: {why}")),
            }
        }
        if images.is_empty() {
            let same = |why: &String| {
                l.packages
                    .iter()
                    .all(|(_, p)| p.as_ref().err() == Some(why))
            };
            return Err(match l.packages.first() {
                None => format!("no package found ({source})"),
                // One reason for all (the catalog could not be read): said once.
                Some((_, Err(why))) if same(why) => why.clone(),
                Some(_) => format!("no package found ({source}): {}", notes.join("; ")),
            });
        }
    } else if list.is_empty() {
        if text(d, &["firmware_uri", "image_uri"]).is_none() {
            let source = d["firmware_source"].as_str().unwrap_or("manual");
            return Err(format!(
                "details.firmware_updates is empty (firmware source {source:?}): Outpost \
                 installs the image the wizard names (manual source), or a package of the \
                 firmware library (local_repository) or the Dell catalog (dell_online_catalog)"
            ));
        }
        images.push(entry(d, "details")?);
    } else {
        if list.len() > outpost_kinds::redfish::firmware::MAX_UPDATES {
            return Err(format!(
                "details.firmware_updates has {} entries; at most {} components roll in one job",
                list.len(),
                outpost_kinds::redfish::firmware::MAX_UPDATES
            ));
        }
        for (i, fw) in list.iter().enumerate() {
            images.push(entry(fw, &format!("details.firmware_updates[{i}]"))?);
        }
    }
    // Stable: the wizard's own order among components Dell does not rank.
    images.sort_by_key(|v| rank(v["component"].as_str().unwrap_or("")));
    Ok(match images.as_slice() {
        [one] => (one.clone(), notes),
        _ => (json!({ "updates": images }), notes),
    })
}

/// One image the wizard names: `image_uri` (or `firmware_uri`, as older
/// jobs wrote it), its version and component (BIOS when unnamed).
fn entry(fw: &Value, at: &str) -> Result<Value, MapError> {
    let uri =
        text(fw, &["image_uri", "firmware_uri"]).ok_or(format!("{at}.image_uri is missing"))?;
    let version = text(fw, &["version"]).ok_or(format!("{at}.version is missing"))?;
    if version.eq_ignore_ascii_case("latest") {
        return Err(format!(
            "{at}.version is \"latest\": Outpost needs the version the image installs"
        ));
    }
    Ok(json!({
        "component": text(fw, &["component"]).unwrap_or("BIOS"),
        "version": version,
        "image_uri": uri,
    }))
}

pub fn map(c: &Claimed, l: &Lookup, port: u16) -> Result<Mapped, MapError> {
    let d = &c.details;
    let list = servers(l)?;
    let (fw, notes) = firmware(d, l)?;
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
        notes,
    })
}
