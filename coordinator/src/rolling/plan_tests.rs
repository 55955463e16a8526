//! Unit tests of `plan.rs`.
use super::*;
use crate::config::ZoneConfig;

/// `a` (defaults), `b` (no pinning, legacy TLS, 2 Redfish operations at once) for
/// the iDRACs, `v` for the vCenter.
fn zones() -> Zones {
    let mut b = ZoneConfig::new("b", vec!["127.0.2.0/24".parse().unwrap()]);
    b.redfish_tls_pinning = false;
    b.redfish_legacy_tls = true;
    b.redfish_max_concurrent = 2;
    Zones::new(&[
        ZoneConfig::new("a", vec!["127.0.1.0/24".parse().unwrap()]),
        b,
        ZoneConfig::new("v", vec!["127.0.3.0/24".parse().unwrap()]),
    ])
}

/// Two linked servers in two clusters and one unlinked.
fn good() -> Value {
    json!({"type": "rolling_update", "params": {
        "vcenter": {"address": "127.0.3.10", "credential": "vc"},
        "idrac": {"credential": "idrac", "port": 8443, "retry_s": 30},
        "firmware": {"component": "BIOS", "version": "2.1", "image": "bios.exe", "stall_s": 600},
        "max_parallel": 2,
        "min_healthy_hosts": 1,
        "clusters": {"c2": {"max_parallel": 1, "min_healthy_hosts": 2}},
        "servers": [
            {"idrac": "127.0.1.1", "name": "one", "vcenter_host": "esx1", "cluster": "c1"},
            {"idrac": "127.0.2.2:9443", "vcenter_host": "esx2", "cluster": "c2"},
            {"idrac": "127.0.1.3"}
        ]
    }})
}

fn doc(v: &Value) -> JobDoc {
    JobDoc::from_json(v.to_string().as_bytes()).unwrap()
}

/// `good()` changed by `f`, planned.
fn planned(f: impl FnOnce(&mut Value)) -> Result<Rollout, PlanError> {
    let mut v = good();
    f(&mut v);
    plan(&doc(&v), &zones())
}

fn params(v: &mut Value) -> &mut Map<String, Value> {
    v["params"].as_object_mut().unwrap()
}

fn firmware(v: &mut Value) -> &mut Map<String, Value> {
    v["params"]["firmware"].as_object_mut().unwrap()
}

#[test]
fn a_good_document_places_every_step_in_its_zone() {
    let r = planned(|_| {}).unwrap();
    assert_eq!(r.hosts.len(), 3);

    let one = &r.hosts[0];
    assert_eq!(one.name, "one");
    assert_eq!(one.cluster, "c1");
    assert_eq!(one.idrac.zone, "a");
    assert_eq!(one.idrac.target, "127.0.1.1");
    assert_eq!(
        one.idrac.params,
        json!({"port": 8443, "tls_pinning": true, "zone_limit": 8, "legacy_tls": false,
               "credential": "idrac", "retry_s": 30})
    );
    let vc = one.vcenter.as_ref().expect("linked");
    assert_eq!(vc.zone, "v");
    assert_eq!(vc.target, "127.0.3.10");
    assert_eq!(
        vc.params,
        json!({"port": 443, "tls_pinning": true, "credential": "vc"})
    );
    assert_eq!(one.vcenter_host.as_deref(), Some("esx1"));

    // Zone b: its own pinning and limit; the port given with the address.
    let two = &r.hosts[1];
    assert_eq!(two.name, "127.0.2.2", "named after its address");
    assert_eq!(two.cluster, "c2");
    assert_eq!(two.idrac.zone, "b");
    assert_eq!(two.idrac.target, "127.0.2.2");
    assert_eq!(two.idrac.params["port"], 9443);
    assert_eq!(two.idrac.params["tls_pinning"], false);
    assert_eq!(two.idrac.params["zone_limit"], 2);
    assert_eq!(two.idrac.params["legacy_tls"], true, "zone b opted in");
    assert_eq!(two.idrac.params["credential"], "idrac");
    assert_eq!(two.vcenter.as_ref().unwrap().zone, "v");

    // Not linked: no vCenter, grouped as standalone.
    let three = &r.hosts[2];
    assert_eq!(three.cluster, STANDALONE);
    assert_eq!(three.idrac.zone, "a");
    assert_eq!(three.vcenter, None);
    assert_eq!(three.vcenter_host, None);

    // Rules: the job's, overridden per cluster.
    let rule = |m, h| Rule {
        max_parallel: m,
        min_healthy_hosts: h,
    };
    assert_eq!(r.clusters.len(), 3);
    assert_eq!(r.clusters["c1"], rule(2, 1));
    assert_eq!(r.clusters["c2"], rule(1, 2));
    assert_eq!(r.clusters[STANDALONE], rule(2, 1));

    assert_eq!(r.firmware["component"], "BIOS");
    assert_eq!(r.firmware["stall_s"], 600);
    assert!(!r.continue_on_failure);
    assert_eq!(r.maintenance_timeout_s, 3600);
    assert_eq!(r.reconnect_timeout_s, 1800);
    assert!(!r.evacuate_powered_off);

    // The plan is stored as the job's params and read back.
    let back: Rollout = serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
    assert_eq!(back, r);
}

#[test]
fn several_components_roll_in_one_maintenance_window() {
    let r = planned(|v| {
        params(v).insert(
            "firmware".into(),
            json!({"updates": [
                {"component": "BIOS", "version": "2.1", "image": "bios.exe"},
                {"component": "NIC", "version": "22.1", "image_uri": "https://repo/nic.exe"},
            ], "stall_s": 600}),
        );
    })
    .unwrap();
    // One firmware step per host carries every component, in order.
    assert_eq!(r.firmware["updates"][1]["component"], "NIC");
    assert_eq!(r.firmware["stall_s"], 600);
}

#[test]
fn targets_are_unlinked_servers_and_the_job_zone_places_them() {
    let v = json!({"type": "rolling_update", "zone": "b",
        "targets": ["127.0.2.5", "127.0.2.6:8443"],
        "params": {"firmware": {"component": "BIOS", "version": "2.1",
                                "image_uri": "https://repo/bios.exe"}}});
    // The job's zone holds only its own addresses: one of zone a's is refused.
    let mut outside = v.clone();
    outside["targets"][1] = json!("127.0.1.6");
    let e = plan(&doc(&outside), &zones()).unwrap_err().to_string();
    assert!(e.contains("outside zone \"b\""), "{e}");
    let r = plan(&doc(&v), &zones()).unwrap();
    assert_eq!(r.hosts.len(), 2);
    for h in &r.hosts {
        assert_eq!(h.cluster, STANDALONE);
        assert_eq!(h.idrac.zone, "b");
        assert_eq!(h.idrac.params["tls_pinning"], false);
        assert!(h.vcenter.is_none());
    }
    assert_eq!(r.hosts[0].idrac.params["port"], 443);
    assert_eq!(r.hosts[1].idrac.params["port"], 8443);
    assert_eq!(
        r.clusters[STANDALONE],
        Rule {
            max_parallel: 1,
            min_healthy_hosts: 0
        }
    );
}

#[test]
fn bad_documents_are_refused_naming_the_field() {
    type Edit = Box<dyn FnOnce(&mut Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "params.firmware",
            Box::new(|v| {
                params(v).remove("firmware");
            }),
        ),
        (
            "params.firmware.apply_time",
            Box::new(|v| {
                firmware(v).insert("apply_time".into(), json!("OnReset"));
            }),
        ),
        (
            "params.firmware.colour",
            Box::new(|v| {
                firmware(v).insert("colour".into(), json!("red"));
            }),
        ),
        (
            "params.firmware.component",
            Box::new(|v| {
                firmware(v).remove("component");
            }),
        ),
        (
            "params.firmware.version",
            Box::new(|v| {
                firmware(v).insert("version".into(), json!(" "));
            }),
        ),
        (
            "params.firmware.image_uri",
            Box::new(|v| {
                firmware(v).remove("image");
            }),
        ),
        (
            "params.firmware.image_uri",
            Box::new(|v| {
                firmware(v).remove("image");
                firmware(v).insert("image_uri".into(), json!("ftp://repo/bios.exe"));
            }),
        ),
        (
            "params.firmware.image",
            Box::new(|v| {
                firmware(v).insert("image_uri".into(), json!("https://repo/bios.exe"));
            }),
        ),
        (
            "params.firmware.stall_s",
            Box::new(|v| {
                firmware(v).insert("stall_s".into(), json!(0));
            }),
        ),
        (
            "params.firmware.updates[1].image_uri",
            Box::new(|v| {
                params(v).insert(
                    "firmware".into(),
                    json!({"updates": [
                        {"component": "BIOS", "version": "2.1", "image": "bios.exe"},
                        {"component": "NIC", "version": "22.1"},
                    ]}),
                );
            }),
        ),
        (
            "params.max_parallel",
            Box::new(|v| {
                params(v).insert("max_parallel".into(), json!(0));
            }),
        ),
        (
            "params.colour",
            Box::new(|v| {
                params(v).insert("colour".into(), json!("red"));
            }),
        ),
        (
            "params.servers[0].vcenter_host",
            Box::new(|v| {
                params(v).remove("vcenter");
            }),
        ),
        (
            "params.servers[1].cluster",
            Box::new(|v| {
                v["params"]["servers"][1]
                    .as_object_mut()
                    .unwrap()
                    .remove("cluster");
            }),
        ),
        (
            "params.servers[1].vcenter_host",
            Box::new(|v| v["params"]["servers"][1]["vcenter_host"] = json!("esx1")),
        ),
        (
            "params.servers[1].vcenter_host",
            Box::new(|v| v["params"]["servers"][1]["vcenter_host"] = json!("ESX1")),
        ),
        (
            "params.servers[2].idrac",
            Box::new(|v| v["params"]["servers"][2]["idrac"] = json!("127.0.1.1")),
        ),
        (
            "params.servers[2].idrac",
            Box::new(|v| v["params"]["servers"][2]["idrac"] = json!("127.0.1.1:8443")),
        ),
        (
            "params.servers[2].idrac",
            Box::new(|v| v["params"]["servers"][2]["idrac"] = json!("10.9.9.9")),
        ),
        (
            "params.servers[2].idrac",
            Box::new(|v| v["params"]["servers"][2]["idrac"] = json!("idrac3")),
        ),
        (
            "params.servers[2].idrac",
            Box::new(|v| {
                v["params"]["servers"][2]
                    .as_object_mut()
                    .unwrap()
                    .remove("idrac");
            }),
        ),
        (
            "params.vcenter.zone",
            Box::new(|v| v["params"]["vcenter"]["address"] = json!("10.9.9.9")),
        ),
        (
            "params.vcenter.zone",
            Box::new(|v| v["params"]["vcenter"]["address"] = json!("vc.lab")),
        ),
        (
            "params.clusters.c9",
            Box::new(|v| v["params"]["clusters"]["c9"] = json!({"max_parallel": 2})),
        ),
        (
            "params.clusters.c1.max_parallel",
            Box::new(|v| v["params"]["clusters"]["c1"] = json!({"max_parallel": 0})),
        ),
        ("targets", Box::new(|v| v["targets"] = json!(["127.0.1.9"]))),
        (
            "params.servers",
            Box::new(|v| v["params"]["servers"] = json!([])),
        ),
    ];
    for (field, edit) in cases {
        let mut v = good();
        edit(&mut v);
        match plan(&doc(&v), &zones()) {
            Ok(_) => panic!("{v}: accepted, expected a refusal of {field}"),
            Err(e) => assert_eq!(e.field, field, "{v}: {e:?}"),
        }
    }
}

#[test]
fn cluster_and_group_select_servers_of_the_server_inventory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("servers.csv");
    std::fs::write(
        &path,
        "name,idrac,vcenter_host,cluster,groups\n\
         r1,127.0.1.1,esx1,Prod,gpu\n\
         r2,127.0.1.2,esx2,Prod,\n\
         r3,127.0.2.3,esx3,Test,gpu;lab\n\
         r4,127.0.1.4,,,lab\n",
    )
    .unwrap();
    let sources = [super::super::servers::ServerSource { path }];
    let with = |sel: Value| {
        let mut v = good();
        let p = params(&mut v);
        p.remove("servers");
        p.remove("clusters");
        for (k, x) in sel.as_object().unwrap() {
            p.insert(k.clone(), x.clone());
        }
        plan_from(&doc(&v), &zones(), &sources)
    };
    let r = with(json!({"cluster": "Prod"})).unwrap();
    let names: Vec<&str> = r.hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["r1", "r2"]);
    assert_eq!(r.hosts[0].vcenter_host.as_deref(), Some("esx1"));
    assert_eq!(r.hosts[0].cluster, "Prod");

    let r = with(json!({"group": "lab"})).unwrap();
    let names: Vec<&str> = r.hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["r3", "r4"]);
    assert_eq!(r.hosts[0].idrac.zone, "b");
    assert_eq!(r.hosts[1].cluster, STANDALONE, "r4 is not linked");

    let e = with(json!({"cluster": "Nope"})).unwrap_err();
    assert_eq!(e.field, "params.cluster", "{e:?}");
    let e = with(json!({"cluster": "Prod", "group": "lab"})).unwrap_err();
    assert_eq!(e.field, "params.servers", "{e:?}");
    let mut v = good();
    params(&mut v).remove("servers");
    params(&mut v).insert("group".into(), json!("gpu"));
    let e = plan(&doc(&v), &zones()).unwrap_err();
    assert_eq!(e.field, "params.group", "{e:?}");
    assert!(e.message.contains("[[servers]]"), "{e:?}");
}
