//! Inventories built as the tools Outpost replaces keep them: VelocityCMDB's
//! `assets.db` (tables and the view `v_device_status`) and VelocityCollector's
//! `dcim.db` (`dcim_device` and the view `v_device_detail`), plus CSV and
//! TOML; then the seed's filters over them.

use outpost_coordinator::collect::filter::{DeviceFilter, select};
use outpost_coordinator::collect::inventory::{InventorySource, SourceKind, load};
use rusqlite::Connection;
use std::path::Path;

fn assets_db(path: &Path) {
    let c = Connection::open(path).unwrap();
    c.execute_batch(
        r#"
        CREATE TABLE sites (id INTEGER PRIMARY KEY, code TEXT NOT NULL, name TEXT);
        CREATE TABLE vendors (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
        CREATE TABLE device_roles (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
        CREATE TABLE devices (
            id INTEGER PRIMARY KEY, name TEXT NOT NULL, normalized_name TEXT,
            site_id INTEGER REFERENCES sites(id), vendor_id INTEGER REFERENCES vendors(id),
            role_id INTEGER REFERENCES device_roles(id), management_ip TEXT, model TEXT);
        CREATE VIEW v_device_status AS
            SELECT d.id, d.name, d.normalized_name, s.code AS site_code, v.name AS vendor_name,
                   r.name AS role_name, d.management_ip, d.model
            FROM devices d LEFT JOIN sites s ON s.id = d.site_id
            LEFT JOIN vendors v ON v.id = d.vendor_id LEFT JOIN device_roles r ON r.id = d.role_id;
        INSERT INTO sites VALUES (1, 'fra1', 'Frankfurt'), (2, 'ams2', 'Amsterdam');
        INSERT INTO vendors VALUES (1, 'Cisco Systems'), (2, 'Arista Networks');
        INSERT INTO device_roles VALUES (1, 'Access Switch'), (2, 'Core');
        INSERT INTO devices VALUES
            (41, 'eng-leaf-1', 'eng-leaf-1', 1, 1, 1, '172.16.11.41', 'C9300-48P'),
            (42, 'eng-leaf-2', 'eng-leaf-2', 1, 1, 1, '172.16.11.42', 'C9300-48P'),
            (43, 'Core 1', 'core_1', 2, 2, 2, '172.16.12.1', 'DCS-7280'),
            (44, 'spare', 'spare', 1, 1, 1, NULL, 'C9300-48P');
        "#,
    )
    .unwrap();
}

fn dcim_db(path: &Path) {
    let c = Connection::open(path).unwrap();
    c.execute_batch(
        r#"
        CREATE TABLE dcim_device (
            id INTEGER PRIMARY KEY, name TEXT NOT NULL, primary_ip4 TEXT, site_slug TEXT,
            manufacturer_name TEXT, role_name TEXT, platform_slug TEXT, device_type_model TEXT);
        CREATE VIEW v_device_detail AS SELECT * FROM dcim_device;
        INSERT INTO dcim_device VALUES
            (7, 'edge-1', '10.9.0.1/24', 'ams2', 'Juniper Networks', 'Edge Router', 'juniper_junos', 'MX204'),
            (8, 'eng-leaf-1', '10.9.0.2/24', 'fra1', 'Cisco', 'Access', 'cisco_ios', 'C9300');
        "#,
    )
    .unwrap();
}

#[test]
fn assets_and_dcim_dbs_load_and_filter_like_the_seed() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("assets.db");
    let d = dir.path().join("dcim.db");
    assets_db(&a);
    dcim_db(&d);
    let inv = load(&[
        InventorySource {
            kind: SourceKind::AssetsDb,
            path: a,
        },
        InventorySource {
            kind: SourceKind::DcimDb,
            path: d,
        },
    ])
    .unwrap();
    // eng-leaf-1 is in both: the first source wins; `spare` has no address.
    assert_eq!(inv.len(), 4);
    assert!(
        inv.skipped.iter().any(|s| s.starts_with("spare")),
        "{:?}",
        inv.skipped
    );
    let leaf = inv.devices.iter().find(|d| d.name == "eng-leaf-1").unwrap();
    assert_eq!(leaf.management_ip, "172.16.11.41");
    assert_eq!(leaf.id, "41");
    assert_eq!(leaf.platform.as_deref(), Some("cisco_ios"));
    let edge = inv.devices.iter().find(|d| d.name == "edge-1").unwrap();
    assert_eq!(edge.management_ip, "10.9.0.1");
    assert_eq!(edge.site.as_deref(), Some("ams2"));
    assert_eq!(edge.model.as_deref(), Some("MX204"));

    let names = |f: DeviceFilter| -> Vec<String> {
        select(&inv, &f).iter().map(|d| d.name.clone()).collect()
    };
    assert_eq!(
        names(DeviceFilter {
            vendor: Some("CISCO".into()),
            ..Default::default()
        }),
        ["eng-leaf-1", "eng-leaf-2"]
    );
    assert_eq!(
        names(DeviceFilter {
            site: Some("ams2".into()),
            ..Default::default()
        }),
        ["Core 1", "edge-1"]
    );
    assert_eq!(
        names(DeviceFilter {
            role: Some("router".into()),
            ..Default::default()
        }),
        ["edge-1"]
    );
    assert_eq!(
        names(DeviceFilter {
            name_pattern: Some("eng-*".into()),
            ..Default::default()
        }),
        ["eng-leaf-1", "eng-leaf-2"]
    );
}

#[test]
fn broken_inventories_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let not_db = dir.path().join("assets.db");
    std::fs::write(&not_db, "this is not sqlite").unwrap();
    let e = load(&[InventorySource {
        kind: SourceKind::AssetsDb,
        path: not_db,
    }])
    .unwrap_err()
    .to_string();
    assert!(e.contains("assets.db"), "{e}");
    let csv = dir.path().join("inv.csv");
    std::fs::write(&csv, "name,management_ip,colour\nsw1,10.0.0.1,red\n").unwrap();
    let e = load(&[InventorySource {
        kind: SourceKind::Csv,
        path: csv.clone(),
    }])
    .unwrap_err()
    .to_string();
    assert!(e.contains("colour"), "{e}");
    std::fs::write(&csv, "name,management_ip,port\nsw1,10.0.0.1,99999\n").unwrap();
    let e = load(&[InventorySource {
        kind: SourceKind::Csv,
        path: csv,
    }])
    .unwrap_err()
    .to_string();
    assert!(e.contains("line 2") && e.contains("port"), "{e}");
    let toml = dir.path().join("inv.toml");
    std::fs::write(
        &toml,
        "[[device]]\nname = \"r1\"\nmanagement_ip = \"10.1.1.1\"\nzone = \"beta\"\nlegacy = true\n",
    )
    .unwrap();
    let inv = load(&[InventorySource {
        kind: SourceKind::Toml,
        path: toml,
    }])
    .unwrap();
    assert_eq!(inv.devices[0].zone.as_deref(), Some("beta"));
    assert!(inv.devices[0].legacy);
}
