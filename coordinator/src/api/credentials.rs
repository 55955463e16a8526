//! Refusing at submit a job that names a credential its zone does not
//! have. The vaults live with the workers, which report their credential
//! names (never a secret) in their presence; a job whose task needs a
//! name a live worker of its zone lacks (any of them may claim it), or
//! needs the vault default where a worker has none, is refused naming
//! the credential, the worker and the names it has. A zone whose workers do not report (or that
//! has none running yet) is not judged: the task then fails at run time
//! with the same reason.

use crate::model::TaskState;
use crate::plan::{PlanError, err};
use outpost_kinds::Kind;
use outpost_proto::pb;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// What one live worker can resolve.
#[derive(Debug, Default)]
pub struct WorkerVault {
    pub worker_id: String,
    /// False: the worker runs without a vault.
    pub present: bool,
    pub names: BTreeSet<String>,
    pub has_default: bool,
}

/// The workers of each zone that report their vault.
pub fn by_zone(presence: &[pb::WorkerPresence]) -> BTreeMap<String, Vec<WorkerVault>> {
    let mut out: BTreeMap<String, Vec<WorkerVault>> = BTreeMap::new();
    for p in presence {
        let Some(v) = &p.vault else { continue };
        out.entry(p.zone.clone()).or_default().push(WorkerVault {
            worker_id: p.worker_id.clone(),
            present: v.present,
            names: v.names.iter().cloned().collect(),
            has_default: !v.default_name.is_empty(),
        });
    }
    out
}

/// The credential a task needs from its zone's vault: `Some(name)`, or
/// `None` for the vault default; tasks carrying their own sealed
/// credentials (from the DSM bridge) or needing none are skipped.
fn needs(t: &TaskState) -> Vec<(&'static str, Option<String>)> {
    let p = &t.params;
    if p.get("sealed_credentials").is_some_and(|s| !s.is_null()) {
        return Vec::new();
    }
    let name = |v: &Value| v.as_str().map(str::to_string);
    match Kind::parse(&t.kind) {
        Some(Kind::RedfishDiscover) => {
            let sets: Vec<Option<String>> = p["credentials"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|s| name(s).or_else(|| name(&s["name"])))
                        .collect()
                })
                .unwrap_or_default();
            if sets.is_empty() {
                vec![("params.credentials", None)]
            } else {
                sets.into_iter()
                    .flatten()
                    .map(|n| ("params.credentials", Some(n)))
                    .collect()
            }
        }
        Some(Kind::RedfishInventory | Kind::RedfishPower | Kind::RedfishFirmware) => {
            vec![("params.credential", name(&p["device"]["credential"]))]
        }
        Some(Kind::SshCollect) => vec![("params.credential", name(&p["credential"]))],
        _ => Vec::new(),
    }
}

/// The zones whose workers' vaults the tasks depend on.
pub fn zones_to_check(tasks: &[TaskState]) -> BTreeSet<String> {
    tasks
        .iter()
        .filter(|t| !needs(t).is_empty())
        .map(|t| t.zone.clone())
        .collect()
}

/// Checks every task's credential against each worker of its zone that
/// reported its vault: any of them may claim the task, so each must be
/// able to open it.
pub fn check(
    tasks: &[TaskState],
    zones: &BTreeMap<String, Vec<WorkerVault>>,
) -> Result<(), PlanError> {
    let mut seen = BTreeSet::new();
    for t in tasks {
        let Some(workers) = zones.get(&t.zone) else {
            continue;
        };
        for (field, want) in needs(t) {
            if !seen.insert((t.zone.clone(), want.clone())) {
                continue;
            }
            for w in workers {
                let has = || {
                    if w.names.is_empty() {
                        "none".to_string()
                    } else {
                        w.names.iter().cloned().collect::<Vec<_>>().join(", ")
                    }
                };
                let problem = match &want {
                    _ if !w.present => {
                        Some("has no credential vault (start it with --vault)".to_string())
                    }
                    Some(n) if !w.names.contains(n) => {
                        Some(format!("has no credential {n:?}; it has: {}", has()))
                    }
                    None if !w.has_default => Some(format!(
                        "has no default credential and none is named; it has: {}",
                        has()
                    )),
                    _ => None,
                };
                if let Some(p) = problem {
                    return Err(err(
                        field,
                        format!("zone {:?}: worker {} {p}", t.zone, w.worker_id),
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NewTask;
    use serde_json::json;

    fn presence(zone: &str, names: &[&str], default: &str) -> pb::WorkerPresence {
        pb::WorkerPresence {
            worker_id: format!("{zone}-1"),
            zone: zone.into(),
            vault: Some(pb::VaultNames {
                present: true,
                names: names.iter().map(|s| s.to_string()).collect(),
                default_name: default.into(),
            }),
            ..Default::default()
        }
    }

    fn task(zone: &str, kind: &str, params: Value) -> TaskState {
        TaskState::pending("t".into(), "j", zone.into(), kind, String::new(), params)
    }

    #[test]
    fn names_a_zone_lacks_are_refused_and_unknown_zones_pass() {
        let zones = by_zone(&[
            presence("a", &["idrac", "lab"], "idrac"),
            presence("b", &["sw"], ""),
        ]);
        let disc = |zone, creds: Value| {
            task(
                zone,
                "redfish.discover",
                json!({"slice": [], "credentials": creds}),
            )
        };
        assert!(check(&[disc("a", json!(["lab", {"name": "idrac"}]))], &zones).is_ok());
        let e = check(&[disc("a", json!(["lab", "idarc"]))], &zones).unwrap_err();
        assert_eq!(e.field, "params.credentials");
        assert!(
            e.message.contains("idarc") && e.message.contains("idrac, lab"),
            "{e}"
        );
        // No name: the default is needed, and zone b has none.
        assert!(check(&[disc("a", json!([]))], &zones).is_ok());
        let e = check(&[disc("b", json!([]))], &zones).unwrap_err();
        assert!(e.message.contains("no default"), "{e}");
        let fw = task(
            "b",
            "redfish.firmware",
            json!({"device": {"credential": "sw"}}),
        );
        assert!(check(&[fw], &zones).is_ok());
        // A zone no worker reported for, and sealed credentials, are not judged.
        assert!(check(&[disc("c", json!(["x"]))], &zones).is_ok());
        let sealed = task(
            "b",
            "redfish.inventory",
            json!({"device": {"credential": "dsm"}, "sealed_credentials": {"dsm": {}}}),
        );
        assert!(check(&[sealed], &zones).is_ok());
        // Every worker of the zone must hold it: any may claim the task.
        let mut short = presence("a", &["idrac"], "idrac");
        short.worker_id = "a-2".into();
        let zones = by_zone(&[presence("a", &["idrac", "lab"], "idrac"), short]);
        let e = check(&[disc("a", json!(["lab"]))], &zones).unwrap_err();
        assert!(e.message.contains("a-2"), "{e}");
    }
}
