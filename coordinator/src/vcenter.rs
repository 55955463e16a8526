//! Planning the vCenter kinds: `vcenter.maintenance` jobs an operator
//! submits directly (a host's status, or taking it in or out of
//! maintenance mode by hand, e.g. after a rolling update left it there),
//! and `vcenter.inventory` jobs (read a vCenter's clusters, hosts, VMs,
//! datastores and networks; checked with the kind's own parameter type).
//! One task per vCenter named in `targets`, run by a worker of the
//! vCenter's zone.

use crate::plan::{JobDoc, PlanError, err, split_host_port};
use crate::zones::Zones;
use outpost_kinds::vcenter::InventoryParams;
use serde_json::{Map, Value, json};

const KEYS: &[&str] = &[
    "action",
    "host",
    "port",
    "credential",
    "tls_pinning",
    "timeout_s",
    "evacuate_powered_off",
    "http_timeout_ms",
];
const ACTIONS: &[&str] = &["status", "enter", "exit", "wait_connected"];

/// Checks the job and plans (zone, target, params) per vCenter.
pub fn plan(doc: &JobDoc, zones: &Zones) -> Result<Vec<(String, String, Value)>, PlanError> {
    let Value::Object(p) = doc.params.clone().unwrap_or(json!({})) else {
        return Err(err("params", "must be a JSON object"));
    };
    for k in p.keys() {
        if !KEYS.contains(&k.as_str()) {
            return Err(err(
                format!("params.{k}"),
                format!("unknown parameter; expected one of {}", KEYS.join(", ")),
            ));
        }
    }
    fn s<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
        m.get(k).and_then(Value::as_str).map(str::trim)
    }
    match s(&p, "action") {
        Some(a) if ACTIONS.contains(&a) => {}
        Some(a) => {
            return Err(err(
                "params.action",
                format!("{a:?} is not one of {}", ACTIONS.join(", ")),
            ));
        }
        None => {
            return Err(err(
                "params.action",
                format!("required: one of {}", ACTIONS.join(", ")),
            ));
        }
    }
    if s(&p, "host").is_none_or(str::is_empty) {
        return Err(err(
            "params.host",
            "required: the host's name in vCenter, its address or its managed object id",
        ));
    }
    for k in ["timeout_s", "http_timeout_ms"] {
        if let Some(v) = p.get(k)
            && v.as_u64().is_none_or(|n| n == 0)
        {
            return Err(err(
                format!("params.{k}"),
                "must be a positive whole number",
            ));
        }
    }
    for k in ["tls_pinning", "evacuate_powered_off"] {
        if let Some(v) = p.get(k)
            && !v.is_boolean()
        {
            return Err(err(format!("params.{k}"), "must be true or false"));
        }
    }
    let default_port = match p.get("port") {
        None => 443,
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=65535).contains(n))
            .ok_or_else(|| err("params.port", "must be a port number (1-65535)"))?
            as u16,
    };
    let targets = doc
        .targets
        .as_ref()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| err("targets", "vcenter.maintenance needs the vCenter's address"))?;
    let mut out = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        let field = format!("targets[{i}]");
        let (host, port) = split_host_port(t).map_err(|m| err(&field, m))?;
        let zone = zones
            .place(doc.zone.as_deref(), host)
            .map_err(|e| err(&field, e.to_string()))?;
        let mut params = p.clone();
        params.insert("port".into(), json!(port.unwrap_or(default_port)));
        out.push((zone, host.to_string(), Value::Object(params)));
    }
    Ok(out)
}

/// The `vcenter.maintenance` planner.
pub struct Maintenance;

impl crate::plan::Planner for Maintenance {
    fn plan(&self, input: &crate::plan::PlanInput) -> Result<crate::plan::Planned, PlanError> {
        plan(input.doc, input.zones).map(crate::plan::Planned::triples)
    }
}

/// Checks a `vcenter.inventory` job by the task's own parameter type and
/// plans one task per vCenter; a port in the target overrides
/// `params.port`.
pub fn plan_inventory(
    doc: &JobDoc,
    zones: &Zones,
) -> Result<Vec<(String, String, Value)>, PlanError> {
    let p: InventoryParams = crate::plan::params(&doc.params)?;
    p.validate()
        .map_err(|e| err(format!("params.{}", e.field), e.message))?;
    let targets = doc
        .targets
        .as_ref()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| err("targets", "vcenter.inventory needs the vCenter's address"))?;
    let mut out = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        let field = format!("targets[{i}]");
        let (host, port) = split_host_port(t).map_err(|m| err(&field, m))?;
        if port == Some(0) {
            return Err(err(&field, "port 0 is not a vCenter's port"));
        }
        let zone = zones
            .place(doc.zone.as_deref(), host)
            .map_err(|e| err(&field, e.to_string()))?;
        let mut task = p.clone();
        task.port = port.unwrap_or(p.port);
        let params = serde_json::to_value(&task)
            .map_err(|e| err("params", format!("cannot encode: {e}")))?;
        out.push((zone, host.to_string(), params));
    }
    Ok(out)
}

/// The `vcenter.inventory` planner.
pub struct Inventory;

impl crate::plan::Planner for Inventory {
    fn plan(&self, input: &crate::plan::PlanInput) -> Result<crate::plan::Planned, PlanError> {
        plan_inventory(input.doc, input.zones).map(crate::plan::Planned::triples)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ZoneConfig;

    fn zones() -> Zones {
        Zones::new(&[ZoneConfig::new(
            "mgmt",
            vec!["10.0.0.0/24".parse().unwrap()],
        )])
    }

    fn doc(s: &str) -> JobDoc {
        JobDoc::from_json(s.as_bytes()).unwrap()
    }

    #[test]
    fn a_manual_exit_is_planned_in_the_vcenters_zone_and_bad_params_are_named() {
        let p = plan(
            &doc(r#"{"type":"vcenter.maintenance","targets":["10.0.0.5"],"params":{"action":"exit","host":"esx1.lab","credential":"vc"}}"#),
            &zones(),
        )
        .unwrap();
        assert_eq!(p[0].0, "mgmt");
        assert_eq!(p[0].1, "10.0.0.5");
        assert_eq!(p[0].2["port"], 443);
        assert_eq!(p[0].2["action"], "exit");
        for (json, field) in [
            (
                r#"{"type":"vcenter.maintenance","targets":["10.0.0.5"],"params":{"host":"h"}}"#,
                "params.action",
            ),
            (
                r#"{"type":"vcenter.maintenance","targets":["10.0.0.5"],"params":{"action":"reboot","host":"h"}}"#,
                "params.action",
            ),
            (
                r#"{"type":"vcenter.maintenance","targets":["10.0.0.5"],"params":{"action":"exit"}}"#,
                "params.host",
            ),
            (
                r#"{"type":"vcenter.maintenance","targets":["10.0.0.5"],"params":{"action":"exit","host":"h","colour":1}}"#,
                "params.colour",
            ),
            (
                r#"{"type":"vcenter.maintenance","params":{"action":"exit","host":"h"}}"#,
                "targets",
            ),
            (
                r#"{"type":"vcenter.maintenance","targets":["10.9.9.9"],"params":{"action":"exit","host":"h"}}"#,
                "targets[0]",
            ),
            (
                r#"{"type":"vcenter.maintenance","targets":["10.0.0.5"],"params":{"action":"enter","host":"h","timeout_s":0}}"#,
                "params.timeout_s",
            ),
        ] {
            assert_eq!(
                plan(&doc(json), &zones()).unwrap_err().field,
                field,
                "{json}"
            );
        }
    }

    #[test]
    fn an_inventory_is_planned_per_vcenter_with_the_kinds_own_params() {
        let p = plan_inventory(
            &doc(r#"{"type":"vcenter.inventory","targets":["10.0.0.5","10.0.0.6:8443"],"params":{"credential":"vc","include":["hosts","vms"]}}"#),
            &zones(),
        )
        .unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].0.as_str(), p[0].1.as_str()), ("mgmt", "10.0.0.5"));
        assert_eq!(p[0].2["port"], 443);
        assert_eq!(p[1].2["port"], 8443);
        assert_eq!(p[0].2["credential"], "vc");
        assert_eq!(p[0].2["include"], json!(["hosts", "vms"]));
        // What the worker reads back is what was checked.
        let back: InventoryParams = serde_json::from_value(p[1].2.clone()).unwrap();
        assert!(back.validate().is_ok());
        for (json, field) in [
            (r#"{"type":"vcenter.inventory","params":{}}"#, "targets"),
            (
                r#"{"type":"vcenter.inventory","targets":["10.0.0.5"],"params":{"colour":1}}"#,
                "params.colour",
            ),
            (
                r#"{"type":"vcenter.inventory","targets":["10.0.0.5"],"params":{"include":["disks"]}}"#,
                "params.include[0]",
            ),
            (
                r#"{"type":"vcenter.inventory","targets":["10.0.0.5"],"params":{"page_size":0}}"#,
                "params.page_size",
            ),
            (
                r#"{"type":"vcenter.inventory","targets":["10.9.9.9"]}"#,
                "targets[0]",
            ),
            (
                r#"{"type":"vcenter.inventory","targets":["10.0.0.5:0"]}"#,
                "targets[0]",
            ),
        ] {
            assert_eq!(
                plan_inventory(&doc(json), &zones()).unwrap_err().field,
                field,
                "{json}"
            );
        }
    }
}
