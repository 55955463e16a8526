//! One job file read and planned: turned into an `ssh.collect` job
//! document whose captures the runner writes itself (`deliver: client`),
//! planned with a dry run on the coordinator, with the directory its
//! captures go to resolved where the runner runs.

use super::super::client::{Client, ClientError};
use super::Common;
use super::save;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A job file read and planned by the coordinator.
pub struct Planned {
    pub document: String,
    /// The dry run's answer: `job` (with `params.job`, the parsed job file,
    /// and `params.notices`), `tasks`, `devices`.
    pub preview: Value,
    /// The base directory captures are written under; `None` with `--no-save`.
    pub base: Option<PathBuf>,
}

impl Planned {
    pub fn job_id(&self) -> String {
        match &self.preview["job"]["params"]["job"]["job_id"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
    pub fn capture_type(&self) -> String {
        self.preview["job"]["params"]["job"]["capture_type"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
    pub fn devices(&self) -> &[Value] {
        self.preview["devices"]
            .as_array()
            .map_or(&[], |v| v.as_slice())
    }
    pub fn matched(&self) -> u64 {
        self.preview["job"]["params"]["matched"]
            .as_u64()
            .unwrap_or(0)
    }
    /// `<base>/<output_directory>`, where this job's captures go.
    pub fn output_dir(&self) -> Option<PathBuf> {
        let sub = self.preview["job"]["params"]["job"]["output_directory"]
            .as_str()
            .unwrap_or_default();
        self.base.as_ref().map(|b| b.join(sub))
    }
    /// Zone → devices planned there.
    pub fn zones(&self) -> BTreeMap<String, usize> {
        let mut z = BTreeMap::new();
        for d in self.devices() {
            *z.entry(d["zone"].as_str().unwrap_or_default().to_string())
                .or_insert(0) += 1;
        }
        z
    }
    /// The credential the coordinator settled on (flag > job file), if any.
    pub fn credential(&self) -> CredentialChoice {
        let p = &self.preview["job"]["params"];
        CredentialChoice {
            name: p["credential"].as_str().map(str::to_string),
            from: p["credential_from"].as_str().map(str::to_string),
        }
    }
    pub fn notices(&self) -> Vec<String> {
        self.preview["job"]["params"]["notices"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|n| n.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The job's credential and where it came from.
#[derive(Debug, Clone, Default)]
pub struct CredentialChoice {
    pub name: Option<String>,
    /// `--credential` or `credentials.credential_set`.
    pub from: Option<String>,
}

/// Reads `path` and plans it (dry run) on the coordinator.
pub async fn plan(client: &Client, path: &Path, common: &Common) -> Result<Planned, ClientError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ClientError::Usage(format!("cannot read job file {}: {e}", path.display())))?;
    let job: Value = serde_json::from_str(&text).map_err(|e| {
        ClientError::Usage(format!(
            "job file {} is not valid JSON: {e}",
            path.display()
        ))
    })?;
    let mut params = serde_json::json!({ "job": job, "save": !common.no_save });
    if !common.no_save {
        params["deliver"] = Value::String("client".into());
    }
    if let Some(c) = &common.credential {
        params["credential"] = Value::String(c.clone());
    }
    if let Some(l) = common.limit {
        params["limit"] = Value::from(l);
    }
    let document = serde_json::json!({ "type": "ssh.collect", "params": params }).to_string();
    let preview = client.dry_run(document.clone()).await?;
    let base = if common.no_save {
        None
    } else {
        let cwd = std::env::current_dir()
            .map_err(|e| ClientError::Usage(format!("cannot read the working directory: {e}")))?;
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from);
        let base_path = preview["job"]["params"]["job"]["base_path"].as_str();
        Some(
            save::resolve_base(base_path, home.as_deref(), &cwd)
                .map_err(|e| ClientError::Usage(format!("job file {}: {e}", path.display())))?,
        )
    };
    Ok(Planned {
        document,
        preview,
        base,
    })
}
