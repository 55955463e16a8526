//! Pinned device certificates, kept per zone in KV `outpost_pins` (key
//! `<zone>.<class>.<address>_<port>`, field `cert_sha256`; callers name a
//! device by its inventory key `<class>.<address>_<port>` and the zone is
//! the worker's own). The first worker to talk to a device records what it
//! saw; every later connection must see the same certificate; an operator
//! replaces a pin through the coordinator. Detached contexts keep pins in
//! memory.

use crate::kv::{Bucket, Operation};
use outpost_kinds::ErrorClass;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Mutex;

use super::tls::Pin;
use crate::ops::OpError;

pub enum Pins {
    Kv { store: Box<Bucket>, zone: String },
    Memory(Mutex<HashMap<String, String>>),
}

/// Inventory key of a Redfish device.
pub fn inventory_key(address: &str, port: u16) -> String {
    keyed("redfish", address, port)
}

/// Inventory key of a device of `class` (`redfish`, `vcenter`).
pub fn keyed(class: &str, address: &str, port: u16) -> String {
    outpost_proto::layout::inventory_key(class, address, port)
}

/// The pins-bucket key of inventory key `key` in `zone`.
fn zoned(zone: &str, key: &str) -> Result<String, OpError> {
    outpost_proto::layout::validate_zone(zone)
        .map(|()| format!("{zone}.{key}"))
        .map_err(|e| OpError::permanent(ErrorClass::Params, e.to_string()))
}

fn unavailable(e: impl std::fmt::Display) -> OpError {
    OpError::retryable(
        ErrorClass::Inventory,
        format!("inventory store unavailable: {e}"),
    )
}

/// A first connection's certificate did not become the pin: another
/// worker recorded a different one first.
pub struct Mismatch {
    pub pinned: String,
    pub presented: String,
}

impl Pins {
    pub fn memory() -> Self {
        Pins::Memory(Mutex::new(HashMap::new()))
    }

    /// What the verifier of the device at `key` expects: its pin, a first
    /// use, or nothing (`pinning` off for the zone).
    pub async fn expectation(&self, key: &str, pinning: bool) -> Result<Pin, OpError> {
        if !pinning {
            return Ok(Pin::Off);
        }
        Ok(match self.get_key(key).await? {
            Some(fp) => Pin::Expect(fp),
            None => Pin::FirstUse,
        })
    }

    /// After a connection made with `pin`: on first use, records what was
    /// `seen` (unless another worker was first with the same) .
    pub async fn settle(
        &self,
        pin: &Pin,
        key: &str,
        address: &str,
        port: u16,
        zone: &str,
        seen: Option<String>,
    ) -> Result<Result<(), Mismatch>, OpError> {
        if *pin != Pin::FirstUse {
            return Ok(Ok(()));
        }
        let seen = seen.ok_or_else(|| {
            OpError::retryable(
                ErrorClass::Tls,
                format!("{address}: no certificate seen on the connection"),
            )
        })?;
        let kept = self.record_key(key, address, port, zone, &seen).await?;
        Ok(if kept == seen {
            Ok(())
        } else {
            Err(Mismatch {
                pinned: kept,
                presented: seen,
            })
        })
    }

    /// The pinned fingerprint of `address:port`, if one is recorded.
    pub async fn get(&self, address: &str, port: u16) -> Result<Option<String>, OpError> {
        self.get_key(&inventory_key(address, port)).await
    }

    /// The pinned fingerprint under an inventory key, if one is recorded.
    pub async fn get_key(&self, key: &str) -> Result<Option<String>, OpError> {
        match self {
            Pins::Memory(m) => Ok(m
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(key)
                .cloned()),
            Pins::Kv { store: s, zone } => {
                let key = zoned(zone, key)?;
                let v = s.get(&key).await.map_err(unavailable)?;
                Ok(v.and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                    .and_then(|v| v["cert_sha256"].as_str().map(str::to_string)))
            }
        }
    }

    /// Records `fp` as the pin of `address:port` unless one exists; returns
    /// the pin in force afterwards (another worker may have been first).
    pub async fn record(
        &self,
        address: &str,
        port: u16,
        zone: &str,
        fp: &str,
    ) -> Result<String, OpError> {
        self.record_key(&inventory_key(address, port), address, port, zone, fp)
            .await
    }

    /// Like [`record`](Self::record) under an explicit inventory key.
    pub async fn record_key(
        &self,
        key: &str,
        address: &str,
        port: u16,
        zone: &str,
        fp: &str,
    ) -> Result<String, OpError> {
        let key = key.to_string();
        match self {
            Pins::Memory(m) => Ok(m
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(key)
                .or_insert_with(|| fp.to_string())
                .clone()),
            Pins::Kv {
                store: s,
                zone: own,
            } => {
                let key = zoned(own, &key)?;
                for _ in 0..5 {
                    let entry = s.entry(&key).await.map_err(unavailable)?;
                    let (mut doc, rev) = match entry {
                        Some(e) if e.operation == Operation::Put => (
                            serde_json::from_slice::<Value>(&e.value).unwrap_or(json!({})),
                            Some(e.revision),
                        ),
                        _ => (json!({}), None),
                    };
                    if let Some(pinned) = doc["cert_sha256"].as_str() {
                        return Ok(pinned.to_string());
                    }
                    if !doc.is_object() {
                        doc = json!({});
                    }
                    doc["address"] = json!(address);
                    doc["port"] = json!(port);
                    doc["zone"] = json!(zone);
                    doc["cert_sha256"] = json!(fp);
                    doc["pinned_at_ms"] = json!(outpost_proto::now_ms());
                    let bytes = serde_json::to_vec(&doc).unwrap_or_default().into();
                    let r = match rev {
                        Some(rev) => s
                            .update(&key, bytes, rev)
                            .await
                            .map(|_| ())
                            .map_err(|e| e.to_string()),
                        None => s
                            .create(&key, bytes)
                            .await
                            .map(|_| ())
                            .map_err(|e| e.to_string()),
                    };
                    if r.is_ok() {
                        return Ok(fp.to_string());
                    }
                }
                Err(unavailable(
                    "the entry kept changing while the pin was recorded",
                ))
            }
        }
    }
}
