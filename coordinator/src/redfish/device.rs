//! Planning `redfish.inventory`, `redfish.power` and `redfish.firmware`:
//! one task per iDRAC address, with the device parameters (port,
//! credential, timeouts, `legacy_tls`) and the zone's certificate pinning,
//! legacy TLS opt-in and concurrency cap in `params.device`, and the operation's own parameters
//! checked here so a bad job is refused at submit time, naming the field.

use serde_json::{Map, Value, json};

use crate::plan::{JobDoc, PlanError, err, split_host_port};
use crate::zones::Zones;

const DEVICE_KEYS: &[&str] = &[
    "port",
    "credential",
    "http_timeout_ms",
    "retry_s",
    "legacy_tls",
];
const RESET_TYPES: &[&str] = &[
    "On",
    "ForceOff",
    "GracefulShutdown",
    "GracefulRestart",
    "ForceRestart",
    "PowerCycle",
    "PushPowerButton",
    "Nmi",
];

/// Which keys each kind accepts, and which of them are whole seconds/ms.
fn allowed(kind: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match kind {
        "redfish.inventory" => (&["all"], &[]),
        "redfish.power" => (&["reset_type", "wait_s", "poll_ms"], &["wait_s", "poll_ms"]),
        _ => (
            &[
                "component",
                "version",
                "image_uri",
                "image",
                "apply_time",
                "stale_job_age_s",
                "stall_s",
                "graceful_s",
                "reboot_s",
                "job_timeout_s",
                "poll_ms",
                "max_stall_reboots",
            ],
            &[
                "stale_job_age_s",
                "stall_s",
                "graceful_s",
                "reboot_s",
                "job_timeout_s",
                "poll_ms",
                "max_stall_reboots",
            ],
        ),
    }
}

fn string<'a>(m: &'a Map<String, Value>, k: &str) -> Result<Option<&'a str>, PlanError> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s)),
        Some(_) => Err(err(format!("params.{k}"), "must be a non-empty string")),
    }
}

fn check_op(kind: &str, op: &Map<String, Value>) -> Result<(), PlanError> {
    let (keys, numbers) = allowed(kind);
    for (k, v) in op {
        if !keys.contains(&k.as_str()) {
            let mut all: Vec<&str> = keys.to_vec();
            all.extend(DEVICE_KEYS);
            return Err(err(
                format!("params.{k}"),
                format!(
                    "unknown parameter for {kind}; expected one of {}",
                    all.join(", ")
                ),
            ));
        }
        if numbers.contains(&k.as_str())
            && !v
                .as_u64()
                .is_some_and(|n| n > 0 && n <= 7 * 24 * 3600 * 1000)
        {
            return Err(err(
                format!("params.{k}"),
                "must be a positive whole number",
            ));
        }
    }
    match kind {
        "redfish.inventory" => {
            if let Some(v) = op.get("all")
                && !v.is_boolean()
            {
                return Err(err("params.all", "must be true or false"));
            }
        }
        "redfish.power" => {
            let t = string(op, "reset_type")?.ok_or_else(|| {
                err(
                    "params.reset_type",
                    format!("required: one of {}", RESET_TYPES.join(", ")),
                )
            })?;
            if !RESET_TYPES.contains(&t) {
                return Err(err(
                    "params.reset_type",
                    format!("{t:?} is not one of {}", RESET_TYPES.join(", ")),
                ));
            }
        }
        _ => {
            string(op, "component")?.ok_or_else(|| {
                err(
                    "params.component",
                    "required: a ComponentID or part of the component's name",
                )
            })?;
            string(op, "version")?
                .ok_or_else(|| err("params.version", "required: the version to install"))?;
            check_image("params", string(op, "image_uri")?, string(op, "image")?)?;
            if let Some(a) = string(op, "apply_time")?
                && a != "Immediate"
                && a != "OnReset"
            {
                return Err(err(
                    "params.apply_time",
                    format!("{a:?} is not Immediate or OnReset"),
                ));
            }
        }
    }
    Ok(())
}

/// Exactly one image source: an http(s) `image_uri` the iDRAC fetches,
/// or `image`, an object of `outpost_firmware`; fields named under `at`.
pub fn check_image(at: &str, uri: Option<&str>, image: Option<&str>) -> Result<(), PlanError> {
    match (uri, image) {
        (Some(_), Some(_)) => Err(err(
            format!("{at}.image"),
            "give image_uri or image, not both",
        )),
        (None, None) => Err(err(
            format!("{at}.image_uri"),
            "required: an http(s) URI the iDRAC fetches, or `image`, an object in outpost_firmware",
        )),
        (Some(u), None) if !(u.starts_with("http://") || u.starts_with("https://")) => Err(err(
            format!("{at}.image_uri"),
            format!("{u:?} is not an http:// or https:// URI"),
        )),
        _ => Ok(()),
    }
}

/// Checks the job and plans (zone, target, params) per iDRAC.
pub fn plan(doc: &JobDoc, zones: &Zones) -> Result<Vec<(String, String, Value)>, PlanError> {
    let kind = doc.job_type.as_str();
    let params = doc.params.clone().unwrap_or(json!({}));
    let Value::Object(mut op) = params else {
        return Err(err("params", "must be a JSON object"));
    };
    let mut device = Map::new();
    for k in DEVICE_KEYS {
        if let Some(v) = op.remove(*k) {
            device.insert((*k).to_string(), v);
        }
    }
    let port = match device.get("port") {
        None => 443,
        Some(v) => v
            .as_u64()
            .filter(|p| (1..=65535).contains(p))
            .ok_or_else(|| err("params.port", "must be a port number (1-65535)"))?
            as u16,
    };
    if device.contains_key("credential") {
        string(&device, "credential")?;
    }
    for k in ["http_timeout_ms", "retry_s"] {
        if let Some(v) = device.get(k)
            && !v.as_u64().is_some_and(|n| n > 0 && n <= 3_600_000)
        {
            return Err(err(
                format!("params.{k}"),
                "must be a positive whole number",
            ));
        }
    }
    let legacy = match device.get("legacy_tls") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(err("params.legacy_tls", "must be true or false")),
    };
    check_op(kind, &op)?;
    let targets = doc
        .targets
        .as_ref()
        .ok_or_else(|| err("targets", format!("{kind} needs a list of iDRAC addresses")))?;
    let mut out = Vec::with_capacity(targets.len());
    let mut seen = std::collections::HashSet::new();
    for (i, t) in targets.iter().enumerate() {
        let field = format!("targets[{i}]");
        let (host, tport) = split_host_port(t).map_err(|m| err(&field, m))?;
        let port = tport.unwrap_or(port);
        if port == 0 {
            return Err(err(&field, "port 0 is not a valid destination"));
        }
        if !seen.insert((host.to_string(), port)) {
            return Err(err(&field, format!("{t:?} is listed twice")));
        }
        let zone = zones
            .place(doc.zone.as_deref(), host)
            .map_err(|e| err(&field, e.to_string()))?;
        let (pinning, limit) = zones.redfish(&zone);
        let mut d = device.clone();
        d.insert("port".into(), json!(port));
        d.insert("tls_pinning".into(), json!(pinning));
        // The job's or the zone's opt-in.
        d.insert(
            "legacy_tls".into(),
            json!(legacy || zones.redfish_legacy_tls(&zone)),
        );
        d.insert("zone_limit".into(), json!(limit));
        let mut p = op.clone();
        p.insert("device".into(), Value::Object(d));
        out.push((zone, host.to_string(), Value::Object(p)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ZoneConfig;

    fn zones() -> Zones {
        let mut b = ZoneConfig::new("b", vec!["127.0.2.0/24".parse().unwrap()]);
        b.redfish_tls_pinning = false;
        b.redfish_max_concurrent = 2;
        b.redfish_legacy_tls = true;
        Zones::new(&[
            ZoneConfig::new("a", vec!["127.0.1.0/24".parse().unwrap()]),
            b,
        ])
    }

    fn doc(s: &str) -> JobDoc {
        JobDoc::from_json(s.as_bytes()).unwrap()
    }

    #[test]
    fn device_jobs_carry_zone_settings_and_refuse_bad_params() {
        let p = plan(
            &doc(r#"{"type":"redfish.firmware","targets":["127.0.1.5","127.0.2.6:8443"],"params":{"credential":"idrac","component":"BIOS","version":"2.1","image":"bios.exe"}}"#),
            &zones(),
        )
        .unwrap();
        assert_eq!(p[0].0, "a");
        assert_eq!(p[0].2["device"]["port"], 443);
        assert_eq!(p[0].2["device"]["tls_pinning"], true);
        assert_eq!(p[1].0, "b");
        assert_eq!(p[1].2["device"]["port"], 8443);
        assert_eq!(p[1].2["device"]["tls_pinning"], false);
        assert_eq!(p[1].2["device"]["zone_limit"], 2);
        assert_eq!(p[1].2["device"]["credential"], "idrac");
        assert_eq!(p[1].2["component"], "BIOS");
        // Legacy TLS: the zone's opt-in, or the job's.
        assert_eq!(p[0].2["device"]["legacy_tls"], false);
        assert_eq!(p[1].2["device"]["legacy_tls"], true);
        let p = plan(
            &doc(r#"{"type":"redfish.inventory","targets":["127.0.1.5"],"params":{"legacy_tls":true}}"#),
            &zones(),
        )
        .unwrap();
        assert_eq!(p[0].2["device"]["legacy_tls"], true);

        for (json, field) in [
            (
                r#"{"type":"redfish.power","targets":["127.0.1.5"],"params":{"reset_type":"Reboot"}}"#,
                "params.reset_type",
            ),
            (
                r#"{"type":"redfish.power","targets":["127.0.1.5"],"params":{}}"#,
                "params.reset_type",
            ),
            (
                r#"{"type":"redfish.firmware","targets":["127.0.1.5"],"params":{"component":"BIOS","version":"1"}}"#,
                "params.image_uri",
            ),
            (
                r#"{"type":"redfish.firmware","targets":["127.0.1.5"],"params":{"component":"BIOS","version":"1","image_uri":"ftp://x/y"}}"#,
                "params.image_uri",
            ),
            (
                r#"{"type":"redfish.firmware","targets":["127.0.1.5"],"params":{"component":"BIOS","version":"1","image":"x","apply_time":"Later"}}"#,
                "params.apply_time",
            ),
            (
                r#"{"type":"redfish.inventory","targets":["127.0.1.5"],"params":{"colour":"red"}}"#,
                "params.colour",
            ),
            (
                r#"{"type":"redfish.inventory","targets":["127.0.1.5"],"params":{"port":0}}"#,
                "params.port",
            ),
            (
                r#"{"type":"redfish.inventory","targets":["127.0.1.5"],"params":{"legacy_tls":"yes"}}"#,
                "params.legacy_tls",
            ),
            (
                r#"{"type":"redfish.inventory","targets":["127.0.1.5","127.0.1.5"]}"#,
                "targets[1]",
            ),
            (
                r#"{"type":"redfish.inventory","targets":["10.9.9.9"]}"#,
                "targets[0]",
            ),
            (
                r#"{"type":"redfish.inventory","targets":["idrac1"]}"#,
                "targets[0]",
            ),
        ] {
            let e = plan(&doc(json), &zones()).unwrap_err();
            assert_eq!(e.field, field, "{json}: {e:?}");
        }
    }
}
