//! One device's outcome as the runners report it: from its task's `result`
//! event, or from the task's final state when it ended without one
//! (cancelled while queued, given up after every delivery).

use super::super::render::kind_and_error;
use serde_json::Value;

/// What the runner knows of a task before it ends.
#[derive(Debug, Clone, Default)]
pub struct TaskInfo {
    pub address: String,
    pub device: String,
    pub zone: String,
    /// The capture's planned path, relative (`<output_directory>/<name>`).
    pub file: Option<String>,
}

impl TaskInfo {
    /// From a task of the job document.
    pub fn of(task: &Value) -> TaskInfo {
        TaskInfo {
            address: task["target"].as_str().unwrap_or_default().to_string(),
            device: task["params"]["device_name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            zone: task["zone"].as_str().unwrap_or_default().to_string(),
            file: task["params"]["file"].as_str().map(str::to_string),
        }
    }
}

/// One device's outcome.
#[derive(Debug, Clone, Default)]
pub struct DeviceResult {
    pub task: String,
    pub address: String,
    pub device: String,
    pub ok: bool,
    pub elapsed_ms: Option<u64>,
    /// `class: message`, the class said once.
    pub error: String,
    /// The planned capture path, relative.
    pub planned_file: Option<String>,
    /// Whether the worker stored a capture, and its checksum.
    pub captured: bool,
    pub sha256: Option<String>,
    /// Where the capture was written, once it was.
    pub file: Option<String>,
    pub bytes: Option<u64>,
    pub credential: Option<(String, String)>,
}

impl DeviceResult {
    /// From a `result` task event.
    pub fn from_event(ev: &Value, info: &TaskInfo) -> DeviceResult {
        let out = &ev["output"];
        DeviceResult {
            task: ev["task_id"].as_str().unwrap_or_default().to_string(),
            address: info.address.clone(),
            device: info.device.clone(),
            ok: ev["outcome"] == "succeeded",
            elapsed_ms: out["elapsed_ms"].as_u64(),
            error: kind_and_error(
                ev["error_kind"].as_str().unwrap_or_default(),
                ev["error"].as_str().unwrap_or_default(),
            ),
            planned_file: info.file.clone(),
            captured: out["capture"].is_string(),
            sha256: out["sha256"].as_str().map(str::to_string),
            file: None,
            bytes: out["bytes"].as_u64(),
            credential: match (out["credential"].as_str(), out["username"].as_str()) {
                (Some(c), Some(u)) => Some((c.to_string(), u.to_string())),
                _ => None,
            },
        }
    }

    /// From a task's final state; `why` is said after its own reason.
    pub fn from_state(task: &Value, why: Option<&str>) -> DeviceResult {
        let info = TaskInfo::of(task);
        let status = task["status"].as_str().unwrap_or_default();
        let kind = task["error_kind"].as_str().unwrap_or(status);
        let said: Vec<&str> = [task["error"].as_str(), why]
            .into_iter()
            .flatten()
            .filter(|e| !e.is_empty())
            .collect();
        let error = kind_and_error(kind, &said.join("; "));
        DeviceResult {
            task: task["id"].as_str().unwrap_or_default().to_string(),
            address: info.address,
            device: info.device,
            ok: status == "succeeded",
            elapsed_ms: task["output"]["elapsed_ms"].as_u64(),
            error,
            planned_file: info.file,
            captured: task["output"]["capture"].is_string(),
            sha256: task["output"]["sha256"].as_str().map(str::to_string),
            file: None,
            bytes: task["output"]["bytes"].as_u64(),
            credential: None,
        }
    }

    /// `eng-leaf-1 (172.16.11.41)`, or the address alone when the device
    /// has no name.
    pub fn label(&self) -> String {
        if self.device.is_empty() || self.device == self.address {
            self.address.clone()
        } else {
            format!("{} ({})", self.device, self.address)
        }
    }

    /// Marks the device failed with `class: message`.
    pub fn fail(&mut self, class: &str, message: &str) {
        self.ok = false;
        self.error = kind_and_error(class, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_name_the_device_and_say_the_class_once() {
        let info = TaskInfo {
            address: "10.0.0.1".into(),
            device: "sw1".into(),
            zone: "alpha".into(),
            file: Some("configs/sw1.txt".into()),
        };
        let ev = serde_json::json!({"task_id": "t1", "outcome": "failed", "error_kind": "credential",
            "error": "credential: no credential named \"x\"; the vault has: lab"});
        let d = DeviceResult::from_event(&ev, &info);
        assert_eq!(d.label(), "sw1 (10.0.0.1)");
        assert_eq!(
            d.error,
            "credential: no credential named \"x\"; the vault has: lab"
        );
        let t = serde_json::json!({"id": "t2", "status": "cancelled", "target": "10.0.0.2",
            "params": {"device_name": "sw2"}});
        let d = DeviceResult::from_state(&t, Some("not collected"));
        assert_eq!(d.error, "cancelled: not collected");
        assert_eq!(DeviceResult::from_state(&t, None).error, "cancelled");
        let mut t = t;
        t["error_kind"] = "cancelled".into();
        t["error"] = "cancelled before it started".into();
        let d = DeviceResult::from_state(&t, Some("not collected"));
        assert_eq!(
            d.error,
            "cancelled: cancelled before it started; not collected"
        );
    }
}
