//! Where `ssh.collect` finds devices: VelocityCMDB's `assets.db`,
//! VelocityCollector's `dcim.db`, or a plain CSV/TOML file for small
//! setups, configured as `[[inventory]]` sources in the coordinator's
//! config and searched in order (a device name seen in an earlier source
//! wins). Inventories are read at plan time, so edits need no restart.

mod plain;
mod sqlite;

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use thiserror::Error;

/// One device as the collector needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub id: String,
    pub name: String,
    pub normalized_name: String,
    pub management_ip: String,
    pub port: Option<u16>,
    pub site: Option<String>,
    pub vendor: Option<String>,
    pub role: Option<String>,
    pub model: Option<String>,
    pub platform: Option<String>,
    pub zone: Option<String>,
    pub legacy: bool,
}

/// The devices of every source, and the rows that could not be used.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub devices: Vec<Device>,
    /// Rows skipped, with why (e.g. no management address).
    pub skipped: Vec<String>,
}

impl Inventory {
    pub fn len(&self) -> usize {
        self.devices.len()
    }
    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// VelocityCMDB `assets.db` (view `v_device_status`).
    AssetsDb,
    /// VelocityCollector `dcim.db` (view `v_device_detail`).
    DcimDb,
    Csv,
    Toml,
}

/// An `[[inventory]]` entry of the coordinator's config.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InventorySource {
    #[serde(rename = "type")]
    pub kind: SourceKind,
    pub path: PathBuf,
}

/// Why an inventory could not be read.
#[derive(Debug, Error)]
pub enum InventoryError {
    #[error("inventory {path}: {message}")]
    Read { path: String, message: String },
}

pub(crate) fn read_err(path: &std::path::Path, message: impl Into<String>) -> InventoryError {
    InventoryError::Read {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// Reads every source in order.
pub fn load(sources: &[InventorySource]) -> Result<Inventory, InventoryError> {
    let mut inv = Inventory::default();
    let mut names = std::collections::HashSet::new();
    for s in sources {
        let part = match s.kind {
            SourceKind::AssetsDb => sqlite::assets_db(&s.path)?,
            SourceKind::DcimDb => sqlite::dcim_db(&s.path)?,
            SourceKind::Csv => plain::csv(&s.path)?,
            SourceKind::Toml => plain::toml(&s.path)?,
        };
        inv.skipped.extend(part.skipped);
        for d in part.devices {
            if names.insert(d.name.clone()) {
                inv.devices.push(d);
            }
        }
    }
    Ok(inv)
}

/// VelocityCMDB's normalized name when a source has none: lowercase, spaces as `_`.
pub fn normalize(name: &str) -> String {
    name.trim().to_lowercase().replace(' ', "_")
}

/// The SSH platform from the vendor when the inventory does not say.
pub fn infer_platform(vendor: Option<&str>) -> Option<String> {
    let v = vendor?.to_lowercase();
    if v.contains("cisco") {
        Some("cisco_ios".into())
    } else if v.contains("arista") {
        Some("arista_eos".into())
    } else if v.contains("juniper") {
        Some("juniper_junos".into())
    } else {
        None
    }
}
