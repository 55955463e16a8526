//! Job documents as `POST /api/v1/jobs` receives them: parsed, validated
//! and planned against two zones, a small device inventory and a server
//! list (so `ssh.collect`, `redfish.*` and `rolling_update` all plan).
#![no_main]
use outpost_coordinator::collect::inventory::{InventorySource, SourceKind};
use outpost_coordinator::config::ZoneConfig;
use outpost_coordinator::plan::{JobDoc, plan_full};
use outpost_coordinator::rolling::servers::ServerSource;
use outpost_coordinator::zones::Zones;
use std::sync::OnceLock;

struct Fixture {
    zones: Zones,
    inventory: Vec<InventorySource>,
    servers: Vec<ServerSource>,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let inv = dir.path().join("devices.csv");
        std::fs::write(
            &inv,
            "name,management_ip,vendor,site,role\n\
             sw1.fra1,10.1.0.11,cisco,fra1,access\n\
             sw2.fra1,10.1.0.12,arista,fra1,core\n\
             r1.ams1,10.2.0.1,juniper,ams1,edge\n",
        )
        .expect("inventory written");
        let servers = dir.path().join("servers.csv");
        std::fs::write(
            &servers,
            "name,idrac,vcenter_host,cluster\n\
             esx1,10.1.1.1,esx1.lab,c1\n\
             esx2,10.1.1.2,esx2.lab,c1\n",
        )
        .expect("servers written");
        let zones = Zones::new(&[
            ZoneConfig::new("a", vec!["10.1.0.0/16".parse().expect("a CIDR")]),
            ZoneConfig::new("b", vec!["10.2.0.0/16".parse().expect("a CIDR")]),
        ]);
        Fixture {
            zones,
            inventory: vec![InventorySource {
                kind: SourceKind::Csv,
                path: inv,
            }],
            servers: vec![ServerSource { path: servers }],
            _dir: dir,
        }
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(doc) = JobDoc::from_json(data) else {
        return;
    };
    let f = fixture();
    let id = "0190a1b2c3d4e5f60718293a4b5c6d7e";
    let _ = plan_full(&doc, &f.zones, &f.inventory, &f.servers, id);
});
