//! Planning `redfish.inventory`, `redfish.power` and `redfish.firmware`:
//! one task per iDRAC address, with the device parameters (port,
//! credential, timeouts, `legacy_tls`) and the zone's certificate pinning,
//! legacy TLS opt-in and concurrency cap in `params.device`, and the operation's own parameters
//! checked here so a bad job is refused at submit time, naming the field.

use serde_json::{Map, Value, json};

use crate::plan::{JobDoc, PlanError, err, located, split_host_port};
use crate::zones::Zones;

use outpost_kinds::redfish::device::JOB_KEYS as DEVICE_KEYS;
use outpost_kinds::redfish::{firmware, inventory, power};
use outpost_kinds::{Invalid, Kind};

/// Checks a task's parameters as the worker will read them: the kind's
/// own contract, deserialised and validated, so what is accepted here is
/// exactly what the worker runs.
fn check(kind: Kind, task_params: &Value) -> Result<(), PlanError> {
    fn read<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, PlanError> {
        serde_path_to_error::deserialize(v).map_err(|e| {
            let mut pe = located("params", e);
            // Device keys are written flat in a job document.
            pe.field = pe.field.replace("params.device.", "params.");
            if pe.message.starts_with("unknown field") {
                pe.message.push_str(&format!(
                    "; or a device setting: {}",
                    DEVICE_KEYS.join(", ")
                ));
            }
            pe
        })
    }
    let named = |e: Invalid| err(format!("params.{}", e.field), e.message);
    match kind {
        Kind::RedfishInventory => read::<inventory::Params>(task_params)?
            .device
            .validate()
            .map_err(named),
        Kind::RedfishPower => read::<power::Params>(task_params)?
            .validate()
            .map_err(named),
        _ => read::<firmware::Params>(task_params)?
            .validate()
            .map_err(named),
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
    let kind = Kind::parse(kind).unwrap_or(Kind::RedfishFirmware);
    let mut whole = op.clone();
    whole.insert("device".into(), Value::Object(device.clone()));
    check(kind, &Value::Object(whole))?;
    let port = device
        .get("port")
        .and_then(Value::as_u64)
        .map(|p| p as u16)
        .unwrap_or(443);
    let legacy = device
        .get("legacy_tls")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let targets = doc.targets.as_ref().ok_or_else(|| {
        err(
            "targets",
            format!("{} needs a list of iDRAC addresses", doc.job_type),
        )
    })?;
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

/// The planner of the per-device Redfish kinds.
pub struct Device;

impl crate::plan::Planner for Device {
    fn plan(&self, input: &crate::plan::PlanInput) -> Result<crate::plan::Planned, PlanError> {
        plan(input.doc, input.zones).map(crate::plan::Planned::triples)
    }
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
