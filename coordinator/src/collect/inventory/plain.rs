//! Plain inventories for small setups: a CSV file with a header row
//! (`name,management_ip` required; `port,vendor,role,site,model,platform,
//! zone,legacy` optional) or a TOML file of `[[device]]` tables.

use super::{Device, Inventory, InventoryError, infer_platform, normalize, read_err};
use serde::Deserialize;
use std::path::Path;

const COLUMNS: &[&str] = &[
    "name",
    "management_ip",
    "port",
    "vendor",
    "role",
    "site",
    "model",
    "platform",
    "zone",
    "legacy",
];

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "" | "false" | "no" | "0" => Some(false),
        "true" | "yes" | "1" => Some(true),
        _ => None,
    }
}

fn opt(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

pub fn csv(path: &Path) -> Result<Inventory, InventoryError> {
    let mut rd = ::csv::ReaderBuilder::new()
        .trim(::csv::Trim::All)
        .from_path(path)
        .map_err(|e| read_err(path, e.to_string()))?;
    let headers = rd
        .headers()
        .map_err(|e| read_err(path, e.to_string()))?
        .clone();
    for h in headers.iter() {
        if !COLUMNS.contains(&h) {
            return Err(read_err(
                path,
                format!("unknown column {h:?}; known: {}", COLUMNS.join(",")),
            ));
        }
    }
    for need in ["name", "management_ip"] {
        if !headers.iter().any(|h| h == need) {
            return Err(read_err(path, format!("missing column {need:?}")));
        }
    }
    let col = |r: &::csv::StringRecord, name: &str| -> String {
        headers
            .iter()
            .position(|h| h == name)
            .and_then(|i| r.get(i))
            .unwrap_or_default()
            .to_string()
    };
    let mut inv = Inventory::default();
    for (i, rec) in rd.records().enumerate() {
        let line = i + 2;
        let rec = rec.map_err(|e| read_err(path, format!("line {line}: {e}")))?;
        let name = col(&rec, "name");
        if name.is_empty() {
            return Err(read_err(
                path,
                format!("line {line}: column \"name\" is empty"),
            ));
        }
        let ip = col(&rec, "management_ip");
        if ip.is_empty() {
            inv.skipped.push(format!("{name}: no management_ip"));
            continue;
        }
        let port = match opt(&col(&rec, "port")) {
            None => None,
            Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                read_err(
                    path,
                    format!("line {line}: column \"port\": {p:?} is not a port"),
                )
            })?),
        };
        let legacy = parse_bool(&col(&rec, "legacy")).ok_or_else(|| {
            read_err(
                path,
                format!("line {line}: column \"legacy\": use true/false"),
            )
        })?;
        let vendor = opt(&col(&rec, "vendor"));
        inv.devices.push(Device {
            id: name.clone(),
            normalized_name: normalize(&name),
            name,
            management_ip: ip,
            port,
            site: opt(&col(&rec, "site")),
            platform: opt(&col(&rec, "platform")).or_else(|| infer_platform(vendor.as_deref())),
            vendor,
            role: opt(&col(&rec, "role")),
            model: opt(&col(&rec, "model")),
            zone: opt(&col(&rec, "zone")),
            legacy,
        });
    }
    Ok(inv)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlFile {
    #[serde(default)]
    device: Vec<TomlDevice>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlDevice {
    name: String,
    management_ip: String,
    port: Option<u16>,
    vendor: Option<String>,
    role: Option<String>,
    site: Option<String>,
    model: Option<String>,
    platform: Option<String>,
    zone: Option<String>,
    #[serde(default)]
    legacy: bool,
}

pub fn toml(path: &Path) -> Result<Inventory, InventoryError> {
    let text = std::fs::read_to_string(path).map_err(|e| read_err(path, e.to_string()))?;
    let file: TomlFile = ::toml::from_str(&text).map_err(|e| read_err(path, e.to_string()))?;
    let mut inv = Inventory::default();
    for d in file.device {
        inv.devices.push(Device {
            id: d.name.clone(),
            normalized_name: normalize(&d.name),
            platform: d.platform.or_else(|| infer_platform(d.vendor.as_deref())),
            name: d.name,
            management_ip: d.management_ip,
            port: d.port,
            site: d.site,
            vendor: d.vendor,
            role: d.role,
            model: d.model,
            zone: d.zone,
            legacy: d.legacy,
        });
    }
    Ok(inv)
}
