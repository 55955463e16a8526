//! The VelocityCollector job file, v2.0: every field of the seed's format
//! is read, `storage.base_path` (where `outpost run-job` writes captures)
//! and `credentials.credential_set` (the credential, below `--credential`)
//! included; fields Outpost does not act on (`vendor`, `description`,
//! `validation.*`, and anything unknown) are reported once as notices
//! rather than silently dropped. Errors name the field.

use super::filter::DeviceFilter;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;

/// A job file that cannot be used, naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {message}")]
pub struct JobFileError {
    pub field: String,
    pub message: String,
}

fn err(field: &str, message: impl Into<String>) -> JobFileError {
    JobFileError {
        field: field.to_string(),
        message: message.into(),
    }
}

/// A parsed job file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectJob {
    pub job_id: String,
    pub capture_type: String,
    pub filter: DeviceFilter,
    pub commands: Vec<String>,
    pub paging_disable: Option<String>,
    pub output_directory: String,
    pub timeout_secs: u64,
    pub inter_command_ms: u64,
    pub max_workers: u32,
    pub filename_pattern: String,
    /// `storage.base_path` as written (`~` and relative paths are resolved
    /// by the runner, where it runs).
    #[serde(default)]
    pub base_path: Option<String>,
    /// `credentials.credential_set`: the vault credential when no
    /// `--credential` is given.
    #[serde(default)]
    pub credential_set: Option<String>,
    pub notices: Vec<String>,
}

const NOT_ACTED: &[(&str, &str)] = &[
    (
        "vendor",
        "informational; devices are selected by device_filter",
    ),
    ("description", "informational"),
    ("created_at", "informational"),
    ("updated_at", "informational"),
    ("name", "informational"),
];

struct Reader<'a> {
    obj: &'a Map<String, Value>,
    prefix: &'a str,
    used: Vec<&'static str>,
}

impl<'a> Reader<'a> {
    fn path(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }

    fn get(&mut self, key: &'static str) -> Option<&'a Value> {
        self.used.push(key);
        self.obj.get(key).filter(|v| !v.is_null())
    }

    fn string(&mut self, key: &'static str) -> Result<Option<String>, JobFileError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(err(
                &self.path(key),
                format!("must be a string, found {other}"),
            )),
        }
    }

    fn number(&mut self, key: &'static str) -> Result<Option<f64>, JobFileError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(Value::String(s)) => s
                .trim()
                .parse::<f64>()
                .map(Some)
                .map_err(|_| err(&self.path(key), format!("must be a number, found {s:?}"))),
            Some(other) => Err(err(
                &self.path(key),
                format!("must be a number, found {other}"),
            )),
        }
    }

    fn object(
        &mut self,
        key: &'static str,
    ) -> Result<Option<&'a Map<String, Value>>, JobFileError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(o)) => Ok(Some(o)),
            Some(other) => Err(err(
                &self.path(key),
                format!("must be an object, found {other}"),
            )),
        }
    }

    /// Notices for every key this reader did not use.
    fn leftovers(&self, notices: &mut Vec<String>) {
        for k in self.obj.keys() {
            if self.used.contains(&k.as_str()) {
                continue;
            }
            let path = self.path(k);
            match NOT_ACTED.iter().find(|(p, _)| *p == path) {
                Some((_, why)) => notices.push(format!("{path}: {why}")),
                None if path == "validation" || path.starts_with("validation.") => {}
                None => notices.push(format!("{path}: unknown field, ignored")),
            }
        }
    }
}

/// Parses a v2.0 job file.
pub fn parse_job_file(bytes: &[u8]) -> Result<CollectJob, JobFileError> {
    let root: Value =
        serde_json::from_slice(bytes).map_err(|e| err("(file)", format!("not valid JSON: {e}")))?;
    let Value::Object(obj) = &root else {
        return Err(err("(file)", "a job file is a JSON object"));
    };
    let mut notices = Vec::new();
    let mut top = Reader {
        obj,
        prefix: "",
        used: vec![],
    };
    let job_id = match top.get("job_id") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => return Err(err("job_id", "must be a non-empty string or a number")),
        None => return Err(err("job_id", "missing")),
    };
    if let Some(v) = top.get("version") {
        let s = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if s.trim() != "2" && !s.trim().starts_with("2.") {
            return Err(err(
                "version",
                format!("{s:?} is not supported; Outpost reads job files v2.0"),
            ));
        }
    }
    let capture_type = top
        .string("capture_type")?
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| err("capture_type", "missing"))?;

    let mut filter = DeviceFilter::default();
    if let Some(f) = top.object("device_filter")? {
        let mut r = Reader {
            obj: f,
            prefix: "device_filter",
            used: vec![],
        };
        filter.vendor = r.string("vendor")?;
        filter.site = r.string("site")?;
        filter.role = r.string("role")?;
        filter.name_pattern = r.string("name_pattern")?;
        r.leftovers(&mut notices);
    }

    let c = top
        .object("commands")?
        .ok_or_else(|| err("commands", "missing"))?;
    let mut r = Reader {
        obj: c,
        prefix: "commands",
        used: vec![],
    };
    let commands: Vec<String> = match r.get("command") {
        Some(Value::String(s)) => s
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(|s| s.trim().to_string())
                    .ok_or_else(|| err("commands.command", "a list of commands must hold strings"))
            })
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .filter(|c| !c.is_empty())
            .collect(),
        Some(_) => return Err(err("commands.command", "must be a comma-separated string")),
        None => return Err(err("commands.command", "missing")),
    };
    if commands.is_empty() {
        return Err(err("commands.command", "empty: name at least one command"));
    }
    if commands
        .iter()
        .any(|c| c.len() > 4096 || c.contains(['\n', '\r']))
    {
        return Err(err(
            "commands.command",
            "a command is longer than 4096 bytes or spans lines",
        ));
    }
    let output_directory = r
        .string("output_directory")?
        .unwrap_or_else(|| capture_type.clone());
    let paging_disable = r.string("paging_disable")?.filter(|s| !s.trim().is_empty());
    r.leftovers(&mut notices);

    let (mut timeout_secs, mut inter_command_ms, mut max_workers) = (60u64, 1000u64, 12u32);
    if let Some(e) = top.object("execution")? {
        let mut r = Reader {
            obj: e,
            prefix: "execution",
            used: vec![],
        };
        if let Some(t) = r.number("timeout")? {
            if !(1.0..=3600.0).contains(&t) {
                return Err(err(
                    "execution.timeout",
                    "must be between 1 and 3600 seconds",
                ));
            }
            timeout_secs = t.ceil() as u64;
        }
        if let Some(t) = r.number("inter_command_time")? {
            if !(0.0..=300.0).contains(&t) {
                return Err(err(
                    "execution.inter_command_time",
                    "must be between 0 and 300 seconds",
                ));
            }
            inter_command_ms = (t * 1000.0).round() as u64;
        }
        if let Some(m) = r.number("max_workers")? {
            if !(1.0..=1000.0).contains(&m) || m.fract() != 0.0 {
                return Err(err(
                    "execution.max_workers",
                    "must be a whole number between 1 and 1000",
                ));
            }
            max_workers = m as u32;
        }
        r.leftovers(&mut notices);
    }
    let mut filename_pattern = "{device_name}.txt".to_string();
    let mut base_path = None;
    if let Some(s) = top.object("storage")? {
        let mut r = Reader {
            obj: s,
            prefix: "storage",
            used: vec![],
        };
        if let Some(p) = r
            .string("filename_pattern")?
            .filter(|p| !p.trim().is_empty())
        {
            filename_pattern = p;
        }
        base_path = r.string("base_path")?.filter(|p| !p.trim().is_empty());
        if base_path.as_deref().is_some_and(|p| p.contains('\0')) {
            return Err(err("storage.base_path", "contains a NUL byte"));
        }
        r.leftovers(&mut notices);
    }
    let mut credential_set = None;
    if let Some(c) = top.object("credentials")? {
        let mut r = Reader {
            obj: c,
            prefix: "credentials",
            used: vec![],
        };
        credential_set = r
            .string("credential_set")?
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        r.leftovers(&mut notices);
    }
    if let Some(v) = top.get("validation") {
        if !v.is_object() {
            return Err(err("validation", "must be an object"));
        }
        if v.as_object().is_some_and(|o| !o.is_empty()) {
            notices.push("validation: not acted on (captures are saved as collected)".to_string());
        }
    }
    top.leftovers(&mut notices);
    Ok(CollectJob {
        job_id,
        capture_type,
        filter,
        commands,
        paging_disable,
        output_directory,
        timeout_secs,
        inter_command_ms,
        max_workers,
        filename_pattern,
        base_path,
        credential_set,
        notices,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_example_with_every_field() {
        let j = parse_job_file(br#"{
          "job_id": 329, "version": "2.0", "vendor": "cisco", "capture_type": "cisco-ios_configs",
          "device_filter": {"vendor": "cisco", "site": null, "role": null, "name_pattern": "eng-*"},
          "commands": {"command": "terminal length 0, show running-config", "output_directory": "configs",
                       "paging_disable": "terminal length 0"},
          "execution": {"timeout": 60, "inter_command_time": 1.5, "max_workers": 12},
          "storage": {"filename_pattern": "{device_name}.txt", "base_path": "~/captures"},
          "credentials": {"credential_set": " lab "},
          "validation": {"min_bytes": 100}
        }"#).unwrap();
        assert_eq!(j.job_id, "329");
        assert_eq!(j.commands, ["terminal length 0", "show running-config"]);
        assert_eq!(j.inter_command_ms, 1500);
        assert_eq!(j.filter.name_pattern.as_deref(), Some("eng-*"));
        assert_eq!(j.paging_disable.as_deref(), Some("terminal length 0"));
        assert_eq!(j.base_path.as_deref(), Some("~/captures"));
        assert_eq!(j.credential_set.as_deref(), Some("lab"));
        let n = j.notices.join("\n");
        assert!(n.contains("validation") && n.contains("vendor"), "{n}");
        assert!(!n.contains("base_path") && !n.contains("credential"), "{n}");
    }

    #[test]
    fn errors_name_the_field() {
        let e =
            parse_job_file(br#"{"job_id":"1","capture_type":"c","commands":{"command":" , "}}"#)
                .unwrap_err();
        assert_eq!(e.field, "commands.command");
        let e = parse_job_file(br#"{"job_id":"1","capture_type":"c","commands":{"command":"x"},"execution":{"timeout":0}}"#).unwrap_err();
        assert_eq!(e.field, "execution.timeout");
        let e = parse_job_file(
            br#"{"job_id":"1","capture_type":"c","version":"3.0","commands":{"command":"x"}}"#,
        )
        .unwrap_err();
        assert_eq!(e.field, "version");
        let j = parse_job_file(br#"{"job_id":"1","capture_type":"c","commands":{"command":"x","colour":"red"},"extra":1}"#).unwrap();
        assert!(
            j.notices
                .iter()
                .any(|n| n.starts_with("commands.colour: unknown")),
            "{:?}",
            j.notices
        );
        assert!(
            j.notices.iter().any(|n| n.starts_with("extra: unknown")),
            "{:?}",
            j.notices
        );
    }
}
