//! The SQLite inventories of the tools Outpost replaces, read-only:
//! VelocityCMDB's `assets.db` through its view `v_device_status` (name,
//! normalized_name, site_code, vendor_name, role_name, management_ip,
//! model) and VelocityCollector's `dcim.db` through `v_device_detail`
//! (over `dcim_device`). Columns are looked up by name, tolerating the
//! spellings of different versions; a device without a management address
//! is skipped and reported.

use super::{Device, Inventory, InventoryError, infer_platform, normalize, read_err};
use rusqlite::{Connection, OpenFlags, types::ValueRef};
use std::path::Path;

/// A row as (lowercased column name, text value) pairs.
type Row = Vec<(String, Option<String>)>;

fn open(path: &Path) -> Result<Connection, InventoryError> {
    if !path.is_file() {
        return Err(read_err(path, "no such file"));
    }
    Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| read_err(path, format!("cannot open as SQLite: {e}")))
}

fn has_relation(c: &Connection, name: &str) -> Result<bool, rusqlite::Error> {
    c.query_row(
        "SELECT count(*) FROM sqlite_master WHERE name = ?1 AND type IN ('table','view')",
        [name],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

/// Reads every row of `relation` as (column → text) maps.
fn rows(c: &Connection, path: &Path, relation: &str) -> Result<Vec<Row>, InventoryError> {
    let mut st = c
        .prepare(&format!("SELECT * FROM \"{relation}\""))
        .map_err(|e| read_err(path, format!("cannot read {relation}: {e}")))?;
    // rusqlite's column names panic on a name that is not UTF-8: read the
    // names as values instead (same order as `SELECT *`).
    let bad = |e: rusqlite::Error| read_err(path, format!("cannot read {relation}: {e}"));
    let mut info = c
        .prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")
        .map_err(bad)?;
    let names: Vec<String> = info
        .query_map([relation], |r| {
            Ok(match r.get_ref(0)? {
                ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8_lossy(t).to_lowercase(),
                _ => String::new(),
            })
        })
        .map_err(bad)?
        .collect::<Result<_, _>>()
        .map_err(bad)?;
    if names.len() != st.column_count() {
        return Err(read_err(
            path,
            format!("cannot read {relation}: its columns cannot be named"),
        ));
    }
    let mut out = Vec::new();
    let mut q = st
        .query([])
        .map_err(|e| read_err(path, format!("cannot read {relation}: {e}")))?;
    while let Some(r) = q
        .next()
        .map_err(|e| read_err(path, format!("cannot read {relation}: {e}")))?
    {
        let mut row = Vec::with_capacity(names.len());
        for (i, n) in names.iter().enumerate() {
            let v = match r.get_ref(i) {
                Ok(ValueRef::Null) | Err(_) => None,
                Ok(ValueRef::Integer(x)) => Some(x.to_string()),
                Ok(ValueRef::Real(x)) => Some(x.to_string()),
                Ok(ValueRef::Text(t)) | Ok(ValueRef::Blob(t)) => {
                    Some(String::from_utf8_lossy(t).trim().to_string())
                }
            };
            row.push((n.clone(), v.filter(|s| !s.is_empty())));
        }
        out.push(row);
    }
    Ok(out)
}

fn pick(row: &[(String, Option<String>)], names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| {
        row.iter()
            .find(|(k, _)| k == n)
            .and_then(|(_, v)| v.clone())
    })
}

/// Strips a prefix length (`10.0.0.1/24` → `10.0.0.1`) as DCIM tools store them.
fn address(v: Option<String>) -> Option<String> {
    v.map(|s| s.split('/').next().unwrap_or_default().trim().to_string())
        .filter(|s| !s.is_empty())
}

fn to_devices(
    path: &Path,
    rows: Vec<Row>,
    ip_cols: &[&str],
    site_cols: &[&str],
    vendor_cols: &[&str],
    role_cols: &[&str],
    model_cols: &[&str],
) -> Result<Inventory, InventoryError> {
    let mut inv = Inventory::default();
    for row in rows {
        let Some(name) = pick(&row, &["name", "device_name"]) else {
            inv.skipped
                .push(format!("{}: a row without a name", path.display()));
            continue;
        };
        let Some(ip) = address(pick(&row, ip_cols)) else {
            inv.skipped.push(format!("{name}: no management address"));
            continue;
        };
        let vendor = pick(&row, vendor_cols);
        let port = pick(&row, &["ssh_port", "port"])
            .and_then(|p| p.parse::<u16>().ok())
            .filter(|p| *p > 0);
        inv.devices.push(Device {
            id: pick(&row, &["id", "device_id"]).unwrap_or_else(|| name.clone()),
            normalized_name: pick(&row, &["normalized_name"]).unwrap_or_else(|| normalize(&name)),
            management_ip: ip,
            port,
            site: pick(&row, site_cols),
            platform: pick(
                &row,
                &[
                    "platform",
                    "netmiko_platform",
                    "platform_slug",
                    "platform_name",
                ],
            )
            .or_else(|| infer_platform(vendor.as_deref())),
            vendor,
            role: pick(&row, role_cols),
            model: pick(&row, model_cols),
            zone: pick(&row, &["zone", "outpost_zone"]),
            legacy: pick(&row, &["legacy", "legacy_ssh"])
                .is_some_and(|v| matches!(v.to_lowercase().as_str(), "1" | "true" | "yes")),
            name,
        });
    }
    Ok(inv)
}

/// VelocityCMDB `assets.db`.
pub fn assets_db(path: &Path) -> Result<Inventory, InventoryError> {
    let c = open(path)?;
    let view = has_relation(&c, "v_device_status")
        .map_err(|e| read_err(path, format!("not a SQLite database: {e}")))?;
    let relation = if view {
        "v_device_status"
    } else if has_relation(&c, "devices").unwrap_or(false) {
        "devices"
    } else {
        return Err(read_err(
            path,
            "neither the view v_device_status nor the table devices exists: is this VelocityCMDB's assets.db?",
        ));
    };
    let rows = rows(&c, path, relation)?;
    to_devices(
        path,
        rows,
        &["management_ip", "ip_address", "primary_ip"],
        &["site_code", "site"],
        &["vendor_name", "vendor"],
        &["role_name", "role"],
        &["model"],
    )
}

/// VelocityCollector `dcim.db`.
pub fn dcim_db(path: &Path) -> Result<Inventory, InventoryError> {
    let c = open(path)?;
    let view = has_relation(&c, "v_device_detail")
        .map_err(|e| read_err(path, format!("not a SQLite database: {e}")))?;
    let relation = if view {
        "v_device_detail"
    } else if has_relation(&c, "dcim_device").unwrap_or(false) {
        "dcim_device"
    } else {
        return Err(read_err(
            path,
            "neither the view v_device_detail nor the table dcim_device exists: is this VelocityCollector's dcim.db?",
        ));
    };
    let rows = rows(&c, path, relation)?;
    to_devices(
        path,
        rows,
        &["primary_ip4", "primary_ip", "management_ip", "ip_address"],
        &["site_slug", "site_code", "site_name", "site"],
        &["manufacturer_name", "manufacturer", "vendor_name", "vendor"],
        &["role_name", "role", "device_role"],
        &["device_type_model", "model", "device_type"],
    )
}
