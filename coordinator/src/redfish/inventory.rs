//! The Redfish inventory: every iDRAC a discovery found, upserted by
//! address into KV `outpost_inventory` (`redfish.<address>_<port>`) with
//! its identity and the certificate fingerprint workers pin, and what its
//! firmware runs as the last inventory and firmware jobs saw it. The relay
//! folds each succeeded `redfish.discover`, `redfish.inventory` and
//! `redfish.firmware` result in before applying it, by the kind the result
//! carries; folding the same result again changes nothing but timestamps.

use crate::engine::View;
use async_nats::jetstream::kv;
use outpost_kinds::Kind;
use outpost_kinds::redfish::discover;
use outpost_proto::pb;
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

/// Inventory key of a Redfish device (the worker computes the same).
pub fn key(address: &str, port: u16) -> String {
    outpost_proto::layout::inventory_key("redfish", address, port)
}

/// Identity fields copied from a discovery result.
const FIELDS: &[&str] = &[
    "manufacturer",
    "model",
    "service_tag",
    "serial",
    "host_name",
    "bios_version",
    "power_state",
    "health",
    "idrac_version",
    "idrac_mac",
    "credential",
];

#[derive(Clone)]
pub struct InventoryWriter {
    pub store: kv::Store,
    /// The zones' pinned certificates (`outpost_pins`, the site's own for
    /// a zone at a site): a discovery pins what it saw where nothing is
    /// pinned yet.
    pub pins: super::pin_stores::PinStores,
    /// The coordinator's state: which device each task was planned for.
    pub view: Arc<RwLock<View>>,
    /// The leader lease's fence: a deposed coordinator folds nothing.
    pub fence: crate::leader::Fence,
}

/// The device a result is about, as the coordinator planned the task.
struct Planned {
    kind: Kind,
    zone: String,
    address: String,
    port: u16,
    /// A discovery's own parameters (its slice and port).
    discover: Option<discover::Params>,
}

impl InventoryWriter {
    /// Folds the succeeded Redfish results among `events` into the
    /// inventory, each as its kind's contract says: a discovery upserts
    /// the iDRACs it found within its own slice; an inventory replaces the
    /// device's firmware list; a firmware update or check records the
    /// component's version. Which device an entry is about, and its zone,
    /// come from the task the coordinator planned, never from the event.
    pub async fn fold(&self, events: &[pb::Event]) {
        for ev in events {
            if self.fence.check().is_err() {
                return;
            }
            let Some(pb::event::Body::Result(r)) = &ev.body else {
                continue;
            };
            if r.outcome != pb::Outcome::Succeeded as i32 {
                continue;
            }
            // A result names its kind, and one naming another kind than its
            // task's is not believed: most results need no lookup at all.
            if !r.kind.is_empty()
                && !matches!(
                    Kind::parse(&r.kind),
                    Some(Kind::RedfishDiscover | Kind::RedfishInventory | Kind::RedfishFirmware)
                )
            {
                continue;
            }
            let Some(p) = self.planned(ev) else {
                continue;
            };
            let Ok(out) = serde_json::from_slice::<Value>(&r.output_json) else {
                continue;
            };
            let written = match p.kind {
                Kind::RedfishDiscover => {
                    self.found(&p, &ev.job_id, &out).await;
                    Ok(())
                }
                Kind::RedfishInventory => self.firmware_list(&p, &ev.job_id, &out).await,
                Kind::RedfishFirmware => self.firmware_version(&p, &ev.job_id, &out).await,
                _ => Ok(()),
            };
            if let Err(e) = written {
                tracing::error!(job = %ev.job_id, error = %e, "inventory entry not updated");
            }
        }
    }

    fn planned(&self, ev: &pb::Event) -> Option<Planned> {
        let v = self.view.read().unwrap_or_else(|p| p.into_inner());
        let t = crate::engine::provenance::believed(&v, ev)?;
        let kind = Kind::parse(&t.kind)?;
        let discover = match kind {
            Kind::RedfishDiscover => Some(discover::Params::deserialize(&t.params).ok()?),
            Kind::RedfishInventory | Kind::RedfishFirmware => None,
            _ => return None,
        };
        let port = match &discover {
            Some(d) => d.port,
            None => t.params["device"]["port"]
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or(443),
        };
        Some(Planned {
            kind,
            zone: t.zone.clone(),
            address: t.target.clone(),
            port,
            discover,
        })
    }

    /// A discovery's iDRACs: only addresses of its own slice, on its port.
    async fn found(&self, p: &Planned, job: &str, out: &Value) {
        let Some(d) = &p.discover else { return };
        for found in out["found"].as_array().into_iter().flatten() {
            let Some(ip) = found["address"]
                .as_str()
                .and_then(|a| a.parse::<IpAddr>().ok())
            else {
                continue;
            };
            if !d.holds(ip) {
                tracing::warn!(job, address = %ip, "discovery result outside its slice ignored");
                continue;
            }
            let at = Planned {
                kind: p.kind,
                zone: p.zone.clone(),
                address: ip.to_string(),
                port: d.port,
                discover: None,
            };
            if let Err(e) = self.upsert(&at, job, found).await {
                tracing::error!(job, error = %e, "inventory entry not written");
            }
        }
    }

    async fn upsert(&self, p: &Planned, job: &str, found: &Value) -> Result<(), String> {
        self.modify(p, |doc| {
            for f in FIELDS {
                if let Some(v) = found.get(*f).filter(|v| !v.is_null()) {
                    doc[*f] = v.clone();
                }
            }
            // A pin, once recorded, is only replaced by an operator.
            if doc["cert_sha256"].is_null()
                && let Some(c) = found["cert_sha256"].as_str()
            {
                doc["cert_sha256"] = json!(c);
            }
            doc["discovered_by_job"] = json!(job);
            doc["discovered_at_ms"] = json!(outpost_proto::now_ms());
        })
        .await?;
        // A pin, once recorded, is only replaced by an operator: `create`
        // leaves one that exists alone.
        if let Some(c) = found["cert_sha256"].as_str()
            && let Ok(key) = outpost_proto::layout::pin_key(&p.zone, "redfish", &p.address, p.port)
        {
            let pin = json!({
                "address": p.address,
                "port": p.port,
                "zone": p.zone,
                "cert_sha256": c,
                "pinned_at_ms": outpost_proto::now_ms(),
                "by": job,
            });
            let pins = self.pins.for_zone(&p.zone).await?;
            match pins
                .create(&key, serde_json::to_vec(&pin).unwrap_or_default().into())
                .await
            {
                Ok(_) => {}
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {}
                Err(e) => return Err(format!("pin of {}:{} not written: {e}", p.address, p.port)),
            }
        }
        Ok(())
    }

    /// A `redfish.inventory` result: the device's installed firmware.
    async fn firmware_list(&self, p: &Planned, job: &str, out: &Value) -> Result<(), String> {
        let Some(components) = out["components"].as_array() else {
            return Err(format!("inventory result without components: {out}"));
        };
        self.modify(p, |doc| {
            doc["firmware"] = json!(components);
            for c in components {
                note_version(
                    doc,
                    c["software_id"].as_str(),
                    c["name"].as_str(),
                    &c["version"],
                );
            }
            doc["inventoried_by_job"] = json!(job);
            doc["inventoried_at_ms"] = json!(outpost_proto::now_ms());
        })
        .await
    }

    /// A `redfish.firmware` result: what one component runs now.
    async fn firmware_version(&self, p: &Planned, job: &str, out: &Value) -> Result<(), String> {
        // `scheduled` applies at a later reboot: nothing changed yet.
        if !matches!(
            out["status"].as_str(),
            Some("updated" | "already_current" | "verified")
        ) {
            return Ok(());
        }
        let (id, name, version) = (
            out["component_id"].as_str(),
            out["component"].as_str(),
            out["version"].clone(),
        );
        self.modify(p, |doc| {
            if let Some(list) = doc["firmware"].as_array_mut() {
                for c in list.iter_mut().filter(|c| {
                    (id.is_some() && c["software_id"].as_str() == id)
                        || (id.is_none() && c["name"].as_str() == name)
                }) {
                    c["version"] = version.clone();
                }
            }
            note_version(doc, id, name, &version);
            doc["firmware_by_job"] = json!(job);
            doc["firmware_at_ms"] = json!(outpost_proto::now_ms());
        })
        .await
    }

    /// Reads, changes and writes back the entry of the planned device,
    /// creating it when missing; retried when another writer got there
    /// first.
    async fn modify(&self, p: &Planned, mut change: impl FnMut(&mut Value)) -> Result<(), String> {
        let (address, port, zone) = (p.address.as_str(), p.port, p.zone.as_str());
        let k = key(address, port);
        for _ in 0..5 {
            let entry = self.store.entry(&k).await.map_err(|e| e.to_string())?;
            let (mut doc, rev) = match entry {
                Some(e) if e.operation == kv::Operation::Put => (
                    serde_json::from_slice::<Value>(&e.value).unwrap_or(json!({})),
                    Some(e.revision),
                ),
                _ => (json!({}), None),
            };
            if !doc.is_object() {
                doc = json!({});
            }
            doc["address"] = json!(address);
            doc["port"] = json!(port);
            doc["zone"] = json!(zone);
            change(&mut doc);
            let bytes = serde_json::to_vec(&doc).unwrap_or_default().into();
            let r = match rev {
                Some(rev) => self
                    .store
                    .update(&k, bytes, rev)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                None => self
                    .store
                    .create(&k, bytes)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
            };
            if r.is_ok() {
                return Ok(());
            }
        }
        Err(format!("{k} kept changing while it was written"))
    }
}

/// The identity fields that name a component's version: the BIOS
/// (ComponentID 159) and the iDRAC's own firmware (25227).
fn note_version(doc: &mut Value, id: Option<&str>, name: Option<&str>, version: &Value) {
    let name = name.unwrap_or_default();
    if id == Some("159") || name.eq_ignore_ascii_case("BIOS") {
        doc["bios_version"] = version.clone();
    }
    if id == Some("25227") || name.contains("Integrated Dell Remote Access Controller") {
        doc["idrac_version"] = version.clone();
    }
}

/// Every Redfish inventory entry, sorted by address, with the certificate
/// its zone's workers have pinned (`outpost_pins`) as `cert_sha256` (left
/// as the inventory has it where the zone's site does not answer).
pub async fn list(
    store: &kv::Store,
    pins: &super::pin_stores::PinStores,
) -> Result<Vec<Value>, String> {
    use futures::StreamExt;
    let keys: Vec<String> = store
        .keys()
        .await
        .map_err(|e| e.to_string())?
        .filter_map(|k| async move { k.ok() })
        .filter(|k| futures::future::ready(k.starts_with("redfish.")))
        .collect()
        .await;
    let mut out = Vec::with_capacity(keys.len());
    let mut buckets: std::collections::HashMap<String, Option<kv::Store>> =
        std::collections::HashMap::new();
    for k in keys {
        if let Ok(Some(b)) = store.get(&k).await
            && let Ok(mut v) = serde_json::from_slice::<Value>(&b)
        {
            if let (Some(zone), Some(address), Some(port)) = (
                v["zone"].as_str(),
                v["address"].as_str(),
                v["port"].as_u64().and_then(|p| u16::try_from(p).ok()),
            ) && let Ok(pk) = outpost_proto::layout::pin_key(zone, "redfish", address, port)
            {
                if !buckets.contains_key(zone) {
                    let b = pins.for_zone(zone).await.ok();
                    buckets.insert(zone.to_string(), b);
                }
                let Some(Some(bucket)) = buckets.get(zone) else {
                    out.push(v);
                    continue;
                };
                let pinned = match bucket.get(&pk).await {
                    Ok(Some(p)) => serde_json::from_slice::<Value>(&p)
                        .ok()
                        .map(|p| p["cert_sha256"].clone()),
                    Ok(None) => Some(Value::Null),
                    Err(_) => None,
                };
                if let Some(p) = pinned {
                    v["cert_sha256"] = p;
                }
            }
            out.push(v);
        }
    }
    out.sort_by_key(|v| {
        (
            v["address"]
                .as_str()
                .and_then(|a| a.parse::<std::net::IpAddr>().ok()),
            v["port"].as_u64(),
        )
    });
    Ok(out)
}

/// Why a pinned certificate could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error("no iDRAC {address}:{port} in the inventory")]
    NotFound { address: String, port: u16 },
    #[error("sha256 {0:?} is not a certificate fingerprint: 64 hex digits expected")]
    BadFingerprint(String),
    #[error("the inventory store is unavailable: {0}")]
    Unavailable(String),
}

/// Replaces (`Some`) or forgets (`None`) the pinned certificate of the
/// iDRAC at `address:port`: an operator's answer to a certificate that
/// changed for a known reason (a replaced board, a renewed certificate).
/// Forgotten, the next connection pins what it sees. The pin workers
/// check is the device's zone's entry in `outpost_pins` (the zone the
/// inventory records for it, else `zone`, where the configuration places
/// the address); the inventory entry, if any, shows the same. Returns the
/// old pin and the new one as stored (lowercase hex).
pub async fn set_pin(
    store: &kv::Store,
    pins: &super::pin_stores::PinStores,
    address: &str,
    port: u16,
    zone: Option<&str>,
    sha256: Option<&str>,
) -> Result<(Option<String>, Option<String>), PinError> {
    let new = match sha256 {
        Some(s) => {
            let s = s.trim().replace(':', "").to_ascii_lowercase();
            if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(PinError::BadFingerprint(s));
            }
            Some(s)
        }
        None => None,
    };
    let not_found = || PinError::NotFound {
        address: address.to_string(),
        port,
    };
    let unavailable = |e: &dyn std::fmt::Display| PinError::Unavailable(e.to_string());
    let k = key(address, port);
    let entry = store
        .entry(&k)
        .await
        .map_err(|e| unavailable(&e))?
        .filter(|e| e.operation == kv::Operation::Put);
    let doc = entry
        .as_ref()
        .and_then(|e| serde_json::from_slice::<Value>(&e.value).ok())
        .filter(Value::is_object);
    let zone = doc
        .as_ref()
        .and_then(|d| d["zone"].as_str().map(str::to_string))
        .or(zone.map(str::to_string))
        .ok_or_else(not_found)?;
    let pin_key = outpost_proto::layout::pin_key(&zone, "redfish", address, port)
        .map_err(|e| unavailable(&e))?;
    let pins = pins.for_zone(&zone).await.map_err(PinError::Unavailable)?;
    let pinned: Option<Value> = pins
        .get(&pin_key)
        .await
        .map_err(|e| unavailable(&e))?
        .and_then(|b| serde_json::from_slice(&b).ok());
    if doc.is_none() && pinned.is_none() {
        return Err(not_found());
    }
    let old = pinned
        .as_ref()
        .and_then(|p| p["cert_sha256"].as_str().map(str::to_string));
    match &new {
        Some(fp) => {
            let pin = json!({
                "address": address,
                "port": port,
                "zone": zone,
                "cert_sha256": fp,
                "pinned_at_ms": outpost_proto::now_ms(),
                "by": "operator",
            });
            pins.put(
                &pin_key,
                serde_json::to_vec(&pin).unwrap_or_default().into(),
            )
            .await
            .map_err(|e| unavailable(&e))?;
        }
        None => pins.delete(&pin_key).await.map_err(|e| unavailable(&e))?,
    }
    // The inventory shows the pin in force; a failure here changes nothing
    // a worker checks.
    if let (Some(entry), Some(mut doc)) = (entry, doc) {
        match &new {
            Some(fp) => {
                doc["cert_sha256"] = json!(fp);
                doc["pinned_at_ms"] = json!(outpost_proto::now_ms());
            }
            None => {
                if let Some(o) = doc.as_object_mut() {
                    o.remove("cert_sha256");
                    o.remove("pinned_at_ms");
                }
            }
        }
        let bytes = serde_json::to_vec(&doc).unwrap_or_default();
        if let Err(e) = store.update(&k, bytes.into(), entry.revision).await {
            tracing::warn!(address, port, error = %e, "inventory entry not updated with the new pin");
        }
    }
    Ok((old, new))
}
