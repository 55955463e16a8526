//! Jobs the Dell Server Manager app wrote (a `jobs` row as JSON:
//! `job_type`, `target_scope`, `details`, `credential_set_ids`): mapped
//! onto an Outpost job against fixed servers, a cluster and credential
//! sets, then planned the way the bridge plans it.
#![no_main]
use outpost_coordinator::config::ZoneConfig;
use outpost_coordinator::dsm::claim::Claimed;
use outpost_coordinator::dsm::creds::{ServerCreds, SetRow};
use outpost_coordinator::dsm::lookup::{Lookup, ServerRow};
use outpost_coordinator::dsm::map::map;
use outpost_coordinator::dsm::target;
use outpost_coordinator::plan::plan_full;
use outpost_coordinator::zones::Zones;
use serde_json::Value;
use std::sync::OnceLock;
use uuid::Uuid;

fn id(n: u128) -> Uuid {
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | n)
}

/// Three servers (two linked to hosts of cluster c1), one range set.
fn fixture() -> &'static (Vec<ServerRow>, Vec<SetRow>, Zones) {
    static L: OnceLock<(Vec<ServerRow>, Vec<SetRow>, Zones)> = OnceLock::new();
    L.get_or_init(|| {
        let servers = (1..=3u128)
            .map(|i| ServerRow {
                id: id(i),
                ip: format!("10.1.1.{i}"),
                name: Some(format!("esx{i}")),
                model: None,
                service_tag: None,
                creds: ServerCreds {
                    own_login: i == 2,
                    ..ServerCreds::default()
                },
                legacy_tls: i == 3,
                vcenter: (i < 3).then(|| {
                    (
                        format!("esx{i}.lab"),
                        Some("c1".to_string()),
                        "vc.lab".to_string(),
                        443,
                    )
                }),
                vcenter_host_id: None,
            })
            .collect();
        let sets = vec![SetRow {
            id: id(10),
            name: "idrac-prod".into(),
            priority: 10,
            kind: "idrac".into(),
            is_default: true,
            ranges: vec![("10.1.0.0/16".into(), 5)],
        }];
        let zones = Zones::new(&[ZoneConfig::new(
            "a",
            vec!["10.1.0.0/16".parse().expect("a CIDR")],
        )]);
        (servers, sets, zones)
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
    let (servers, sets, zones) = fixture();
    let Ok(t) = target::parse(&c.target_scope, &c.details) else {
        return;
    };
    let l = Lookup {
        target: t,
        servers: servers.clone(),
        missing: Vec::new(),
        sets: sets.clone(),
        vcenters: vec![outpost_coordinator::dsm::owned::VcenterRef {
            id: id(20),
            name: "vc".into(),
            host: "10.1.2.3".into(),
            port: 443,
        }],
        clusters: vec!["c1".into()],
        packages: vec![("BIOS".into(), Ok(("2.1".into(), "http://10.1.1.200/b.exe".into())))],
    };
    let Ok(m) = map(&c, &l, 443) else { return };
    let _ = plan_full(&m.doc, zones, &[], &[], "0190a1b2c3d4e5f60718293a4b5c6d7e");
});
