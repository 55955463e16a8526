//! One job file on the fleet: turns it into an `ssh.collect` job document,
//! plans it with a dry run, submits it and follows it, collecting each
//! device's outcome as it arrives.

use super::super::client::{Client, ClientError};
use super::super::follow::{self, Sink};
use super::Common;
use crate::model::JobState;
use serde_json::Value;
use std::path::Path;

/// A job file read and planned by the coordinator.
pub struct Planned {
    pub document: String,
    /// The dry run's answer: `job` (with `params.job`, the parsed job file,
    /// and `params.notices`), `tasks`, `devices`.
    pub preview: Value,
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
    if let Some(c) = &common.credential {
        params["credential"] = Value::String(c.clone());
    }
    if let Some(l) = common.limit {
        params["limit"] = Value::from(l);
    }
    let document = serde_json::json!({ "type": "ssh.collect", "params": params }).to_string();
    let preview = client.dry_run(document.clone()).await?;
    Ok(Planned { document, preview })
}

/// One device's outcome.
#[derive(Debug, Clone)]
pub struct DeviceResult {
    pub address: String,
    pub device: String,
    pub ok: bool,
    pub elapsed_ms: Option<u64>,
    pub error: String,
    pub file: Option<String>,
    pub bytes: Option<u64>,
    pub credential: Option<(String, String)>,
}

impl DeviceResult {
    /// From a `result` task event.
    pub fn from_event(ev: &Value, target_of: impl Fn(&str) -> (String, String)) -> DeviceResult {
        let out = &ev["output"];
        let (address, device) = target_of(ev["task_id"].as_str().unwrap_or_default());
        let ok = ev["outcome"] == "succeeded";
        DeviceResult {
            address,
            device,
            ok,
            elapsed_ms: out["elapsed_ms"].as_u64(),
            error: format!(
                "{}: {}",
                ev["error_kind"].as_str().unwrap_or_default(),
                ev["error"].as_str().unwrap_or_default()
            ),
            file: out["path"]
                .as_str()
                .or(out["file"].as_str())
                .map(str::to_string),
            bytes: out["bytes"].as_u64(),
            credential: match (out["credential"].as_str(), out["username"].as_str()) {
                (Some(c), Some(u)) => Some((c.to_string(), u.to_string())),
                _ => None,
            },
        }
    }
}

/// Follows a submitted job, calling `on_device` for each finished device.
pub struct Follower<F: FnMut(DeviceResult)> {
    pub tasks: std::collections::HashMap<String, (String, String)>,
    pub on_device: F,
    pub debug: bool,
    pub reported: std::collections::HashSet<String>,
}

impl<F: FnMut(DeviceResult)> Sink for Follower<F> {
    fn job(&mut self, _job: &JobState) {}
    fn task(&mut self, ev: &Value) {
        if self.debug {
            eprintln!("{}", super::super::render::event_line(ev));
        }
        if ev["type"] == "result" {
            let id = ev["task_id"].as_str().unwrap_or_default().to_string();
            if !self.reported.insert(id) {
                return;
            }
            let tasks = &self.tasks;
            let r = DeviceResult::from_event(ev, |id| {
                tasks
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| (id.to_string(), id.to_string()))
            });
            (self.on_device)(r);
        }
    }
}

/// Task id → (address, device name) from a submitted job's tasks.
pub fn task_targets(view: &Value) -> std::collections::HashMap<String, (String, String)> {
    view["tasks"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .map(|t| {
                    (
                        t["id"].as_str().unwrap_or_default().to_string(),
                        (
                            t["target"].as_str().unwrap_or_default().to_string(),
                            t["params"]["device_name"]
                                .as_str()
                                .unwrap_or_default()
                                .to_string(),
                        ),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Submits the planned job and follows it to the end.
pub async fn execute<F: FnMut(DeviceResult)>(
    client: &Client,
    planned: &Planned,
    debug: bool,
    on_device: F,
) -> Result<JobState, ClientError> {
    let job = client.submit(planned.document.clone()).await?;
    let (_, raw) = client.job(&job.id).await?;
    let view: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
    let mut follower = Follower {
        tasks: task_targets(&view),
        on_device,
        debug,
        reported: Default::default(),
    };
    let done = follow::watch(client, &job.id, &mut follower).await?;
    // Tasks that ended without a result of their own (cancelled while
    // queued, given up after every delivery) are reported from their state.
    let (_, raw) = client.job(&job.id).await?;
    let view: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
    for t in view["tasks"].as_array().map_or(&[][..], |v| v.as_slice()) {
        let id = t["id"].as_str().unwrap_or_default();
        if follower.reported.contains(id) {
            continue;
        }
        (follower.on_device)(DeviceResult {
            address: t["target"].as_str().unwrap_or_default().to_string(),
            device: t["params"]["device_name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            ok: t["status"] == "succeeded",
            elapsed_ms: t["output"]["elapsed_ms"].as_u64(),
            error: format!(
                "{}: {}",
                t["error_kind"]
                    .as_str()
                    .unwrap_or(t["status"].as_str().unwrap_or_default()),
                t["error"].as_str().unwrap_or_default()
            ),
            file: t["output"]["path"].as_str().map(str::to_string),
            bytes: t["output"]["bytes"].as_u64(),
            credential: None,
        });
    }
    Ok(done)
}
