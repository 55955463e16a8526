//! Mapping a claimed DSM job onto an Outpost job document: which kind
//! runs it, on which addresses, with which login for each (resolved as
//! the app resolves it, see `creds`), which secrets must be decrypted
//! and sealed, and which `job_tasks` rows will report it. Pure: the rows
//! it needs are read first (`lookup`). A rolling update is mapped in
//! `map_rolling`.

use super::claim::Claimed;
use super::creds::{self, Choice, SetRow};
use super::lookup::{Lookup, ServerRow};
use super::target::Target;
use crate::plan::JobDoc;
use outpost_kinds::redfish::discover::{CredSet, ScopedCred};
use outpost_kinds::redfish::power::ResetType;
use serde_json::{Value, json};
use uuid::Uuid;
use zeroize::Zeroizing;

/// Which part of the Outpost job a `job_tasks` row reports.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum RowSource {
    /// The task whose target is this address.
    Target(String),
    /// The whole job (rows of scans claimed before the app's own shape
    /// was followed; kept so their ownership records still read).
    Whole,
    /// Host `i` of a rolling update's progress.
    Host(usize),
}

/// A `job_tasks` row to report to: the app's own row of this server when
/// it wrote one, else a new one.
#[derive(Debug, Clone, PartialEq)]
pub struct RowPlan {
    pub server_id: Option<Uuid>,
    pub source: RowSource,
}

/// A login typed into the app's dialog (`details.username`/`password`):
/// sealed like a set's, and scrubbed from the job's row at once.
pub struct Inline {
    pub name: String,
    pub username: String,
    pub password: Zeroizing<String>,
}

impl std::fmt::Debug for Inline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inline")
            .field("name", &self.name)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The secrets a job needs, decrypted by `seal::fetch`.
#[derive(Debug, Default)]
pub struct Secrets {
    pub sets: Vec<Uuid>,
    /// Servers whose own `idrac_username`/`idrac_password_encrypted` log in.
    pub servers: Vec<Uuid>,
    pub inline: Option<Inline>,
    /// vCenter addresses whose logins a rollout needs.
    pub vcenters: Vec<String>,
}

impl Secrets {
    fn add(&mut self, c: &Choice) {
        match c {
            Choice::Set(id) if !self.sets.contains(id) => self.sets.push(*id),
            Choice::Server(id) if !self.servers.contains(id) => self.servers.push(*id),
            _ => {}
        }
    }
}

/// One device's login: its address, the credential name (the vault's
/// default when `None`) and whether it speaks only legacy TLS.
#[derive(Debug, Clone, PartialEq)]
pub struct Login {
    pub address: String,
    pub credential: Option<String>,
    pub legacy_tls: bool,
}

/// The Outpost job and what goes with it.
#[derive(Debug)]
pub struct Mapped {
    pub doc: JobDoc,
    pub rows: Vec<RowPlan>,
    /// Per-device logins, set on each task (or rollout host) after planning.
    pub logins: Vec<Login>,
    pub secrets: Secrets,
    /// The vCenters a `vcenter_sync` reads.
    pub vcenters: Vec<super::owned::VcenterRef>,
    /// What the job's verdict needs (see `Owned::extra`).
    pub extra: Value,
    /// Lines for the job's console log once it starts (what was left
    /// out, and why).
    pub notes: Vec<String>,
}

/// Why a DSM job cannot run here (written to the job, which is failed).
pub type MapError = String;

fn doc(job_type: &str, targets: Vec<String>, params: Value) -> JobDoc {
    JobDoc {
        job_type: job_type.into(),
        zone: None,
        targets: Some(targets),
        params: Some(params),
        schedule_at: None,
    }
}

/// The target's servers; an error when it names none or one that is gone.
pub fn servers(l: &Lookup) -> Result<&[ServerRow], MapError> {
    if let Some(id) = l.missing.first() {
        return Err(format!("server {id} does not exist"));
    }
    match (&l.target, l.servers.is_empty()) {
        (Target::Cluster(c), true) => Err(format!(
            "no server is linked to a host of vCenter cluster {c:?}"
        )),
        (Target::Group(g), true) => Err(format!("server group {g} has no servers")),
        (Target::Address(a), true) => Err(format!("no server has the address {a}")),
        (Target::All, false) => Ok(&l.servers),
        (Target::Ranges(_) | Target::Vcenters(_) | Target::All, _) => {
            Err("the job names no servers (target_scope.server_ids)".into())
        }
        (_, true) => Err("the job names no servers".into()),
        (_, false) => Ok(&l.servers),
    }
}

/// Each server's login, resolved as the app does.
pub fn logins(list: &[ServerRow], sets: &[SetRow], secrets: &mut Secrets) -> Vec<Login> {
    list.iter()
        .map(|s| {
            let c = creds::resolve(s.id, &s.ip, &s.creds, sets);
            secrets.add(&c);
            Login {
                address: s.ip.clone(),
                credential: c.name(sets),
                legacy_tls: s.legacy_tls,
            }
        })
        .collect()
}

fn per_server(l: &Lookup, kind: &str, params: Value, rows: bool) -> Result<Mapped, MapError> {
    let list = servers(l)?;
    let mut secrets = Secrets::default();
    let logins = logins(list, &l.sets, &mut secrets);
    Ok(Mapped {
        doc: doc(kind, list.iter().map(|s| s.ip.clone()).collect(), params),
        rows: if rows {
            list.iter()
                .map(|s| RowPlan {
                    server_id: Some(s.id),
                    source: RowSource::Target(s.ip.clone()),
                })
                .collect()
        } else {
            Vec::new()
        },
        logins,
        secrets,
        vcenters: Vec::new(),
        extra: Value::Null,
        notes: Vec::new(),
    })
}

/// The job's own credential sets: `credential_set_ids`, else
/// `details.credential_set_ids` (the discovery dialog writes both).
fn job_sets(c: &Claimed) -> Vec<Uuid> {
    if !c.credential_set_ids.is_empty() {
        return c.credential_set_ids.clone();
    }
    c.details["credential_set_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().and_then(|s| Uuid::parse_str(s).ok()))
        .collect()
}

/// Maps one claimed job; iDRACs answer on `port`.
pub fn map(c: &Claimed, l: &Lookup, port: u16) -> Result<Mapped, MapError> {
    let d = &c.details;
    match c.job_type.as_str() {
        "power_action" => {
            let action = d["action"].as_str().unwrap_or("On");
            let reset = ResetType::ALL
                .into_iter()
                .find(|r| r.as_str().eq_ignore_ascii_case(action))
                .ok_or_else(|| {
                    format!(
                        "details.action {action:?} is not a Redfish reset type ({})",
                        ResetType::ALL.map(|r| r.as_str()).join(", ")
                    )
                })?;
            per_server(
                l,
                "redfish.power",
                json!({"reset_type": reset.as_str(), "port": port}),
                true,
            )
        }
        "firmware_inventory_scan" => {
            per_server(l, "redfish.inventory", json!({"port": port}), true)
        }
        "test_credentials" => scan::map_test(c, l, port),
        "firmware_update" => {
            let uri = d["firmware_uri"]
                .as_str()
                .or_else(|| d["image_uri"].as_str())
                .filter(|u| !u.trim().is_empty());
            let version = d["version"].as_str().unwrap_or("latest");
            let Some(uri) = uri else {
                return Err(format!(
                    "details.firmware_uri is missing: Outpost installs a named image; choosing \
                     the {version:?} version from a Dell catalog or the firmware library is not \
                     supported yet"
                ));
            };
            if version.eq_ignore_ascii_case("latest") {
                return Err(
                    "details.version is \"latest\": Outpost needs the version the image installs"
                        .into(),
                );
            }
            per_server(
                l,
                "redfish.firmware",
                json!({
                    "component": d["component"].as_str().unwrap_or("BIOS"),
                    "version": version,
                    "image_uri": uri.trim(),
                    // The app's executor restarts the host itself for an
                    // OnReset update and checks the version after: so
                    // does Outpost's Immediate.
                    "apply_time": "Immediate",
                    "port": port,
                }),
                true,
            )
        }
        "discovery_scan" => scan::map_discovery(c, l, port),
        "vcenter_sync" => vcenter::map_vcenter_sync(l),
        "health_check" => per_server(
            l,
            "redfish.inventory",
            json!({"port": port, "health": true}),
            true,
        ),
        "verify_host_after_update" => {
            let mut m = per_server(l, "redfish.inventory", json!({"port": port}), true)?;
            m.extra = json!({"expected": d["expected_firmware_versions"].clone()});
            Ok(m)
        }
        "prepare_host_for_update" => vcenter::map_prepare(l, port, d),
        "cluster_safety_check" => {
            if l.clusters.is_empty() {
                return Err("Missing cluster_name in job details".into());
            }
            let mut m = vcenter::map_vcenter_sync(l).map_err(|_| {
                format!(
                    "no vCenter of the app holds cluster {}",
                    l.clusters.join(", ")
                )
            })?;
            m.doc.params = Some(json!({"include": ["clusters", "hosts"]}));
            m.extra = json!({
                "clusters": l.clusters,
                "min_required_hosts": d["min_required_hosts"].as_u64().unwrap_or(2),
            });
            Ok(m)
        }
        "rolling_cluster_update" => super::map_rolling::map(c, l, port),
        other => Err(format!("job type {other} is not run by Outpost")),
    }
}

#[path = "map_scan.rs"]
mod scan;
#[path = "map_vcenter.rs"]
mod vcenter;

#[cfg(test)]
#[path = "map_tests.rs"]
mod tests;
