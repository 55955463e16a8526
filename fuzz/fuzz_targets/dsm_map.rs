//! Jobs the Dell Server Manager app wrote (a `jobs` row as JSON:
//! `job_type`, `target_scope`, `details`, `credential_set_ids`): mapped
//! onto an Outpost job against fixed servers, a cluster and credential
//! sets, then planned the way the bridge plans it.
#![no_main]
use outpost_coordinator::config::ZoneConfig;
use outpost_coordinator::dsm::claim::Claimed;
use outpost_coordinator::dsm::map::{CredRow, Lookup, ServerRow, map};
use outpost_coordinator::plan::plan_full;
use outpost_coordinator::zones::Zones;
use serde_json::Value;
use std::sync::OnceLock;
use uuid::Uuid;

fn id(n: u128) -> Uuid {
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | n)
}

fn lookup() -> &'static (Lookup, Zones) {
    static L: OnceLock<(Lookup, Zones)> = OnceLock::new();
    L.get_or_init(|| {
        let mut l = Lookup::default();
        for i in 1..=3u128 {
            let vcenter = (i < 3).then(|| {
                (
                    format!("esx{i}.lab"),
                    Some("c1".to_string()),
                    "vc.lab".to_string(),
                    443,
                )
            });
            l.servers.insert(
                id(i),
                ServerRow {
                    id: id(i),
                    ip: format!("10.1.1.{i}"),
                    name: Some(format!("esx{i}")),
                    vcenter,
                },
            );
        }
        l.by_cluster.insert("c1".into(), vec![id(1), id(2)]);
        l.creds.insert(
            id(10),
            CredRow {
                id: id(10),
                name: "idrac-prod".into(),
                priority: 10,
                ranges: vec!["10.1.0.0/16".into()],
                kind: "idrac".into(),
            },
        );
        let zones = Zones::new(&[ZoneConfig::new(
            "a",
            vec!["10.1.0.0/16".parse().expect("a CIDR")],
        )]);
        (l, zones)
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(row) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let c = Claimed {
        id: id(99),
        job_type: row["job_type"].as_str().unwrap_or_default().to_string(),
        target_scope: row["target_scope"].clone(),
        details: row["details"].clone(),
        credential_set_ids: row["credential_set_ids"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().and_then(|s| Uuid::parse_str(s).ok()))
            .collect(),
    };
    let (l, zones) = lookup();
    let Ok(m) = map(&c, l, 443) else { return };
    let _ = plan_full(&m.doc, zones, &[], &[], "0190a1b2c3d4e5f60718293a4b5c6d7e");
});
