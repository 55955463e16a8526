//! Planning an `ssh.collect` job: the VelocityCollector job file in the
//! job's params, the devices its filter selects from the inventory (first
//! `limit` of them), each placed in its zone, each with the capture path it
//! will be written to. Everything is checked here, before anything is
//! written: a bad field, a device in no zone, a pattern that would escape
//! the output directory, two devices writing the same file. A device whose
//! name is not a safe file name is not refused: its capture name is made
//! safe ([`filename::safe_component`]), told apart from the others with
//! `_2`, `_3`… when two safe names collide, and listed in `renamed`.
//! The credential is the params' (`--credential`), else the job file's
//! `credentials.credential_set`, else the zone vault's default. Captures
//! are written by the coordinator under its `capture_dir`, or, with
//! `deliver: client` (`outpost run-job`), by the client under the job
//! file's `storage.base_path`.

use super::filename::{self, FileVars};
use super::filter;
use super::inventory::{self, InventorySource};
use super::jobfile::{self, CollectJob};
use crate::zones::{ZoneError, Zones};
use serde::Deserialize;
use std::collections::HashSet;

/// A planning failure naming the field or device at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectError {
    pub field: String,
    pub message: String,
}

fn err(field: impl Into<String>, message: impl Into<String>) -> CollectError {
    CollectError {
        field: field.into(),
        message: message.into(),
    }
}

/// The `params` of an `ssh.collect` job document.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectParams {
    /// The VelocityCollector v2.0 job file, as JSON.
    pub job: serde_json::Value,
    /// Vault credential name; the vault default when absent.
    #[serde(default)]
    pub credential: Option<String>,
    /// Only the first N matched devices.
    #[serde(default)]
    pub limit: Option<usize>,
    /// Write capture files (`--no-save` turns it off).
    #[serde(default = "yes")]
    pub save: bool,
    /// Largest output accepted from one device.
    #[serde(default)]
    pub max_output_bytes: Option<usize>,
    /// Who writes the captures.
    #[serde(default)]
    pub deliver: Deliver,
}

pub use outpost_kinds::ssh::Deliver;

fn yes() -> bool {
    true
}

/// One planned device task.
pub struct CollectTask {
    pub zone: String,
    pub target: String,
    pub params: serde_json::Value,
}

/// The planned job: its tasks, what the job state keeps about it, and the
/// matched devices as a dry run shows them.
pub struct CollectPlan {
    pub tasks: Vec<CollectTask>,
    pub job_params: serde_json::Value,
    pub devices: Vec<serde_json::Value>,
}

fn valid_credential_name(n: &str) -> bool {
    (1..=64).contains(&n.len())
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Plans the job. `zone` is the document's explicit zone, if any.
pub fn plan(
    params: CollectParams,
    zone: Option<&str>,
    zones: &Zones,
    sources: &[InventorySource],
) -> Result<CollectPlan, CollectError> {
    let body = serde_json::to_vec(&params.job).unwrap_or_default();
    let job: CollectJob =
        jobfile::parse_job_file(&body).map_err(|e| err("params.job", e.to_string()))?;
    // --credential > the job file's credentials.credential_set > the vault default.
    let (credential, credential_field) = match (&params.credential, &job.credential_set) {
        (Some(c), _) => (Some(c.clone()), "params.credential"),
        (None, Some(c)) => (Some(c.clone()), "params.job.credentials.credential_set"),
        (None, None) => (None, ""),
    };
    if let Some(c) = &credential
        && !valid_credential_name(c)
    {
        return Err(err(
            credential_field,
            format!("{c:?} is not a credential name (letters, digits, _ - . ; at most 64)"),
        ));
    }
    if params.limit == Some(0) {
        return Err(err("params.limit", "must be at least 1"));
    }
    filename::check_output_directory(&job.output_directory)
        .map_err(|e| err("params.job.commands.output_directory", e.to_string()))?;
    if sources.is_empty() {
        return Err(err(
            "type",
            "ssh.collect needs an inventory: add [[inventory]] sources to the coordinator's config",
        ));
    }
    let inv = inventory::load(sources).map_err(|e| err("inventory", e.to_string()))?;
    let mut selected = filter::select(&inv, &job.filter);
    let matched = selected.len();
    if let Some(limit) = params.limit {
        selected.truncate(limit);
    }
    let timestamp = chrono::Local::now().format("%Y%m%d_%H%M%S").to_string();
    // Pass 1: each device's zone and the file name the pattern gives it.
    let mut placed = Vec::with_capacity(selected.len());
    for d in selected {
        let field = format!("device {:?}", d.name);
        let zone = zones
            .place_device(d.zone.as_deref(), zone, &d.management_ip)
            .map_err(|e| match e {
                ZoneError::NeedsZone(_) => err(
                    &field,
                    format!(
                        "management address {:?} is a host name: give the device a zone in the inventory, or name the job's zone",
                        d.management_ip
                    ),
                ),
                other => err(&field, other.to_string()),
            })?;
        let name = if params.save {
            let vars = FileVars {
                device_name: d.normalized_name.clone(),
                device_id: d.id.clone(),
                timestamp: timestamp.clone(),
                capture_type: job.capture_type.clone(),
            };
            let name = filename::render_filename(&job.filename_pattern, &vars)
                .map_err(|e| err("params.job.storage.filename_pattern", e.to_string()))?;
            let changed = |var: &str, value: &str| {
                job.filename_pattern.contains(var) && filename::safe_component(value) != value
            };
            let renamed = changed("{device_name}", &vars.device_name)
                || changed("{device_id}", &vars.device_id);
            Some((name, renamed))
        } else {
            None
        };
        placed.push((d, zone, name));
    }
    // Pass 2: names kept as they are claim their files first; two of them
    // on one file is the pattern's fault. A renamed device whose safe name
    // is taken gets `_2`, `_3`…
    let mut files = HashSet::new();
    for (_, _, name) in &placed {
        if let Some((name, false)) = name {
            let rel = filename::relative_capture_path(&job.output_directory, name);
            if !files.insert(rel.clone()) {
                return Err(err(
                    "params.job.storage.filename_pattern",
                    format!(
                        "two devices would write {rel:?}: the pattern {:?} must tell devices apart (use {{device_name}})",
                        job.filename_pattern
                    ),
                ));
            }
        }
    }
    let mut tasks = Vec::with_capacity(placed.len());
    let mut devices = Vec::with_capacity(placed.len());
    let mut renamed = Vec::new();
    for (d, zone, name) in placed {
        let file = match name {
            None => None,
            Some((name, false)) => Some(filename::relative_capture_path(
                &job.output_directory,
                &name,
            )),
            Some((name, true)) => {
                let mut rel = filename::relative_capture_path(&job.output_directory, &name);
                let mut n = 1;
                while files.contains(&rel) {
                    n += 1;
                    rel = filename::relative_capture_path(
                        &job.output_directory,
                        &filename::with_suffix(&name, n),
                    );
                }
                files.insert(rel.clone());
                renamed.push(serde_json::json!({ "device": d.name, "file": rel }));
                Some(rel)
            }
        };
        devices.push(serde_json::json!({
            "name": d.name, "address": d.management_ip, "model": d.model, "zone": zone, "file": file,
        }));
        tasks.push(CollectTask {
            zone,
            target: d.management_ip.clone(),
            params: serde_json::json!({
                "port": d.port.unwrap_or(22),
                "device_name": d.normalized_name,
                "device_id": d.id,
                "platform": d.platform,
                "legacy": d.legacy,
                "commands": job.commands,
                "paging_disable": job.paging_disable,
                "timeout_secs": job.timeout_secs,
                "inter_command_ms": job.inter_command_ms,
                "max_workers": job.max_workers,
                "credential": credential,
                "file": file,
                "max_output_bytes": params.max_output_bytes,
            }),
        });
        if params.deliver == Deliver::Client
            && let Some(t) = tasks.last_mut()
        {
            t.params["deliver"] = serde_json::json!(Deliver::Client);
        }
    }
    if tasks.is_empty() {
        return Err(err(
            "params.job.device_filter",
            format!(
                "no device in the inventory ({} devices) matches the filter",
                inv.len()
            ),
        ));
    }
    let mut notices = job.notices.clone();
    if params.deliver == Deliver::Coordinator && job.base_path.is_some() {
        notices.push(
            "storage.base_path: used by `outpost run-job`; a job submitted through the API saves its captures under the coordinator's capture_dir".to_string(),
        );
    }
    for r in &renamed {
        notices.push(format!(
            "device {} is saved as {} (characters outside [A-Za-z0-9._-] and leading dots become _)",
            r["device"], r["file"]
        ));
    }
    Ok(CollectPlan {
        tasks,
        job_params: serde_json::json!({
            "job": job,
            "credential": credential,
            "credential_from": match credential_field {
                "params.credential" => Some("--credential"),
                "" => None,
                _ => Some("credentials.credential_set"),
            },
            "deliver": params.deliver,
            "limit": params.limit,
            "save": params.save,
            "matched": matched,
            "notices": notices,
            "renamed": renamed,
        }),
        devices,
    })
}

/// The `ssh.collect` planner: the job file in the params, devices from
/// the inventory.
pub struct Collect;

impl crate::plan::Planner for Collect {
    fn plan(
        &self,
        input: &crate::plan::PlanInput,
    ) -> Result<crate::plan::Planned, crate::plan::PlanError> {
        let p: CollectParams = crate::plan::params(&input.doc.params)?;
        let planned = plan(p, input.doc.zone.as_deref(), input.zones, input.inventory)
            .map_err(|e| crate::plan::err(e.field, e.message))?;
        Ok(crate::plan::Planned {
            specs: planned
                .tasks
                .into_iter()
                .map(|t| crate::plan::Spec {
                    zone: t.zone,
                    target: t.target,
                    params: t.params,
                })
                .collect(),
            job_params: Some(planned.job_params),
            preview: Some(serde_json::json!({ "devices": planned.devices })),
        })
    }
}
