//! Unit tests of `map.rs` and `map_rolling.rs`: each shape the app's
//! dialogs and wizards write, mapped onto the Outpost job it runs as.
use super::*;
use crate::dsm::creds::ServerCreds;

fn claimed(job_type: &str, scope: Value, details: Value, sets: Vec<Uuid>) -> Claimed {
    Claimed {
        id: Uuid::now_v7(),
        job_type: job_type.into(),
        target_scope: scope,
        details,
        credential_set_ids: sets,
    }
}

struct Fx {
    servers: Vec<ServerRow>,
    sets: Vec<SetRow>,
    idrac: Uuid,
    esxi: Uuid,
    own: Uuid,
}

fn fx() -> Fx {
    let idrac = Uuid::now_v7();
    let esxi = Uuid::now_v7();
    let own = Uuid::now_v7();
    let sets = vec![
        SetRow {
            id: idrac,
            name: "idrac-prod".into(),
            priority: 10,
            kind: "idrac".into(),
            is_default: false,
            ranges: vec![("10.0.0.0/24".into(), 5)],
        },
        SetRow {
            id: esxi,
            name: "esxi-root".into(),
            priority: 5,
            kind: "esxi".into(),
            is_default: false,
            ranges: vec![],
        },
    ];
    let server = |ip: &str, id: Uuid, vc: bool, creds: ServerCreds| ServerRow {
        id,
        ip: ip.into(),
        name: Some(format!("r-{ip}")),
        model: None,
        service_tag: None,
        creds,
        legacy_tls: false,
        vcenter: vc.then(|| ("esx1.lab".into(), Some("Prod".into()), "vc.lab".into(), 443)),
        vcenter_host_id: None,
    };
    Fx {
        servers: vec![
            server("10.0.0.1", Uuid::now_v7(), true, ServerCreds::default()),
            server(
                "10.0.9.2",
                own,
                false,
                ServerCreds {
                    own_login: true,
                    ..ServerCreds::default()
                },
            ),
        ],
        sets,
        idrac,
        esxi,
        own,
    }
}

fn lookup(f: &Fx, target: Target) -> Lookup {
    Lookup {
        target,
        servers: f.servers.clone(),
        missing: Vec::new(),
        sets: f.sets.clone(),
        vcenters: Vec::new(),
        clusters: Vec::new(),
        packages: Vec::new(),
    }
}

fn ids(f: &Fx) -> Target {
    Target::Servers(f.servers.iter().map(|s| s.id).collect())
}

#[test]
fn per_server_jobs_log_in_to_each_server_as_the_app_would() {
    let f = fx();
    let c = claimed(
        "power_action",
        json!({"type": "specific"}),
        json!({"action": "GracefulRestart"}),
        vec![],
    );
    let m = map(&c, &lookup(&f, ids(&f)), 8443).unwrap();
    assert_eq!(m.doc.job_type, "redfish.power");
    assert_eq!(m.doc.targets.clone().unwrap(), vec!["10.0.0.1", "10.0.9.2"]);
    let p = m.doc.params.clone().unwrap();
    assert_eq!(p["reset_type"], "GracefulRestart");
    assert_eq!(p["port"], 8443);
    // The first by its range, the second by its own login.
    assert_eq!(m.logins[0].credential.as_deref(), Some("idrac-prod"));
    assert_eq!(
        m.logins[1].credential,
        Some(crate::dsm::creds::server_credential(f.own))
    );
    assert_eq!(m.secrets.sets, vec![f.idrac]);
    assert_eq!(m.secrets.servers, vec![f.own]);
    assert_eq!(m.rows.len(), 2);
    assert_eq!(m.rows[1].source, RowSource::Target("10.0.9.2".into()));
    // The app's default action is On; a wrong one is named.
    let c = claimed("power_action", json!({}), json!({}), vec![]);
    let m = map(&c, &lookup(&f, ids(&f)), 443).unwrap();
    assert_eq!(m.doc.params.unwrap()["reset_type"], "On");
    let c = claimed(
        "power_action",
        json!({}),
        json!({"action": "Explode"}),
        vec![],
    );
    let e = map(&c, &lookup(&f, ids(&f)), 443).unwrap_err();
    assert!(e.contains("details.action"), "{e}");
}

#[test]
fn a_missing_server_is_named() {
    let f = fx();
    let mut l = lookup(&f, ids(&f));
    let gone = Uuid::now_v7();
    l.missing.push(gone);
    let c = claimed("power_action", json!({}), json!({}), vec![]);
    assert!(map(&c, &l, 443).unwrap_err().contains(&gone.to_string()));
}

#[test]
fn credential_tests_take_every_shape_of_the_app() {
    let f = fx();
    // The credential dialog: an address and the set to test.
    let c = claimed(
        "test_credentials",
        json!({"ip_address": "10.9.9.9"}),
        json!({}),
        vec![f.esxi],
    );
    let mut l = lookup(&f, Target::Address("10.9.9.9".into()));
    l.servers.clear();
    let m = map(&c, &l, 443).unwrap();
    assert_eq!(m.doc.job_type, "redfish.inventory");
    assert_eq!(m.doc.targets.clone().unwrap(), vec!["10.9.9.9"]);
    assert_eq!(m.logins[0].credential.as_deref(), Some("esxi-root"));
    assert_eq!(m.secrets.sets, vec![f.esxi]);
    // The add-server dialog: a login typed in.
    let c = claimed(
        "test_credentials",
        json!({"ip_address": "10.9.9.9"}),
        json!({"username": "root", "password": "calvin"}),
        vec![],
    );
    let m = map(&c, &l, 443).unwrap();
    let inline = m.secrets.inline.as_ref().unwrap();
    assert_eq!(inline.username, "root");
    assert_eq!(inline.password.as_str(), "calvin");
    assert_eq!(
        m.logins[0].credential.as_deref(),
        Some(inline.name.as_str())
    );
    assert!(!format!("{inline:?}").contains("calvin"));
    // Nothing to test with.
    let c = claimed(
        "test_credentials",
        json!({"ip_address": "10.9.9.9"}),
        json!({}),
        vec![],
    );
    assert_eq!(map(&c, &l, 443).unwrap_err(), "No credentials provided");
    // The refresh button: servers by id, each with its own login.
    let c = claimed(
        "test_credentials",
        json!({"server_ids": []}),
        json!({}),
        vec![],
    );
    let m = map(&c, &lookup(&f, ids(&f)), 443).unwrap();
    assert_eq!(m.logins.len(), 2);
    assert_eq!(m.rows.len(), 2);
}

#[test]
fn scans_take_ranges_lists_or_servers_with_the_apps_set_order() {
    let f = fx();
    let c = claimed(
        "discovery_scan",
        json!({"ip_list": ["10.0.0.0/30", "10.0.1.1-10.0.1.4"]}),
        json!({"credential_set_ids": [f.esxi.to_string()]}),
        vec![],
    );
    let l = lookup(
        &f,
        Target::Ranges(vec!["10.0.0.0/30".into(), "10.0.1.1-10.0.1.4".into()]),
    );
    let m = map(&c, &l, 443).unwrap();
    assert_eq!(m.doc.job_type, "redfish.discover");
    assert_eq!(m.doc.targets.clone().unwrap().len(), 2);
    let p = m.doc.params.clone().unwrap();
    // Range sets (by range priority) before the job's own sets.
    assert_eq!(p["credentials"][0]["name"], "idrac-prod");
    assert_eq!(p["credentials"][0]["ranges"][0], "10.0.0.0/24");
    assert_eq!(p["credentials"][0]["priority"], 5);
    assert_eq!(p["credentials"][1]["name"], "esxi-root");
    assert!(m.secrets.sets.contains(&f.idrac) && m.secrets.sets.contains(&f.esxi));
    assert!(m.rows.is_empty(), "the app writes no job_tasks for a scan");
    // A refresh of known servers tries each one's own login first.
    let c = claimed(
        "discovery_scan",
        json!({"server_ids": []}),
        json!({}),
        vec![],
    );
    let m = map(&c, &lookup(&f, ids(&f)), 443).unwrap();
    assert_eq!(m.doc.targets.clone().unwrap(), vec!["10.0.0.1", "10.0.9.2"]);
    let p = m.doc.params.unwrap();
    assert_eq!(p["credentials"][1]["ranges"][0], "10.0.9.2");
    // A set that is gone is named.
    let gone = Uuid::now_v7();
    let c = claimed(
        "discovery_scan",
        json!({"ip_range": "10.0.0.1"}),
        json!({}),
        vec![gone],
    );
    let l = lookup(&f, Target::Ranges(vec!["10.0.0.1".into()]));
    assert!(map(&c, &l, 443).unwrap_err().contains(&gone.to_string()));
}

#[test]
fn firmware_updates_need_an_image_and_its_version() {
    let f = fx();
    let c = claimed(
        "firmware_update",
        json!({}),
        json!({"image_uri": "http://repo/bios.exe", "version": "2.19.1"}),
        vec![],
    );
    let m = map(&c, &lookup(&f, ids(&f)), 443).unwrap();
    let p = m.doc.params.unwrap();
    assert_eq!(p["component"], "BIOS", "the app's default component");
    assert_eq!(
        p["apply_time"], "Immediate",
        "applied and checked, as the app's executor does"
    );
    assert_eq!(p["image_uri"], "http://repo/bios.exe");
    // A full update's sub-job names no image: refused, saying why.
    let c = claimed(
        "firmware_update",
        json!({}),
        json!({"component": "iDRAC", "version": "latest", "apply_time": "OnReset"}),
        vec![],
    );
    let e = map(&c, &lookup(&f, ids(&f)), 443).unwrap_err();
    assert!(e.contains("firmware_uri"), "{e}");
}

#[test]
fn rolling_updates_from_both_wizards() {
    let f = fx();
    let one = json!([{"component": "BIOS", "version": "2.19.1",
                      "image_uri": "http://repo/bios.exe", "reboot_required": true}]);
    // ClusterUpdateWizard, manual source.
    let c = claimed(
        "rolling_cluster_update",
        json!({"type": "cluster", "cluster_name": "Prod"}),
        json!({"firmware_source": "manual", "firmware_updates": one, "max_parallel": 2,
               "min_healthy_hosts": 2, "maintenance_timeout": 900, "backup_scp": true}),
        vec![],
    );
    let m = map(&c, &lookup(&f, Target::Cluster("Prod".into())), 443).unwrap();
    assert_eq!(m.doc.job_type, "rolling_update");
    let p = m.doc.params.clone().unwrap();
    assert_eq!(p["servers"][0]["vcenter_host"], "esx1.lab");
    assert_eq!(p["servers"][0]["cluster"], "Prod");
    assert_eq!(p["vcenter"]["address"], "vc.lab");
    assert_eq!(p["vcenter"]["credential"], "vcenter-vc.lab");
    assert_eq!(p["firmware"]["image_uri"], "http://repo/bios.exe");
    assert_eq!(p["max_parallel"], 2);
    assert_eq!(p["min_healthy_hosts"], 2);
    assert_eq!(p["maintenance_timeout_s"], 900);
    assert_eq!(m.secrets.vcenters, vec!["vc.lab".to_string()]);
    assert_eq!(m.logins[0].credential.as_deref(), Some("idrac-prod"));
    assert_eq!(
        m.rows.iter().map(|r| r.source.clone()).collect::<Vec<_>>(),
        vec![RowSource::Host(0), RowSource::Host(1)]
    );
    // ServerUpdateWizard: firmware_uri as older jobs wrote it.
    let c = claimed(
        "rolling_cluster_update",
        json!({"server_group_id": Uuid::now_v7().to_string()}),
        json!({"firmware_updates": [{"component": "iDRAC", "version": "7.10",
                                     "firmware_uri": "http://repo/idrac.exe"}]}),
        vec![],
    );
    let m = map(&c, &lookup(&f, Target::Group(Uuid::now_v7())), 443).unwrap();
    assert_eq!(m.doc.params.unwrap()["firmware"]["component"], "iDRAC");
    // Catalog and library sources name no image: refused, saying why.
    let c = claimed(
        "rolling_cluster_update",
        json!({"type": "cluster", "cluster_name": "Prod"}),
        json!({"firmware_source": "dell_online_catalog", "component_filter": ["all"]}),
        vec![],
    );
    // (with no package found by the lookup)
    let e = map(&c, &lookup(&f, Target::Cluster("Prod".into())), 443).unwrap_err();
    assert!(e.contains("dell_online_catalog"), "{e}");
    // The firmware library: the one component's newest package.
    let c = claimed(
        "rolling_cluster_update",
        json!({"type": "cluster", "cluster_name": "Prod"}),
        json!({"firmware_source": "local_repository", "component_filter": ["BIOS"]}),
        vec![],
    );
    let mut l = lookup(&f, Target::Cluster("Prod".into()));
    l.packages = vec![(
        "BIOS".into(),
        Ok(("2.19.1".into(), "http://lib/bios.exe".into())),
    )];
    let p = map(&c, &l, 443).unwrap().doc.params.unwrap();
    assert_eq!(
        p["firmware"],
        json!({"component": "BIOS", "version": "2.19.1",
                                     "image_uri": "http://lib/bios.exe"})
    );
    // All components (the wizard's default filter): each one's newest
    // package, in Dell's order (iDRAC before BIOS), one window per host;
    // one with no package is left out with a note.
    l.packages.push((
        "iDRAC".into(),
        Ok(("7.1".into(), "http://lib/idrac.exe".into())),
    ));
    l.packages
        .push(("PSU".into(), Err("no PSU package for R650".into())));
    let m = map(&c, &l, 443).unwrap();
    let p = m.doc.params.unwrap();
    assert_eq!(
        p["firmware"],
        json!({"updates": [
            {"component": "iDRAC", "version": "7.1", "image_uri": "http://lib/idrac.exe"},
            {"component": "BIOS", "version": "2.19.1", "image_uri": "http://lib/bios.exe"},
        ]})
    );
    assert_eq!(m.notes, ["PSU skipped: no PSU package for R650"]);
    l.packages = vec![(
        "NIC".into(),
        Err("no NIC package in the firmware library for these servers".into()),
    )];
    let e = map(&c, &l, 443).unwrap_err();
    assert!(e.contains("no NIC package"), "{e}");
    let two = json!([{"version": "1", "image_uri": "u"}, {"version": "2", "image_uri": "v"}]);
    let c = claimed(
        "rolling_cluster_update",
        json!({"type": "cluster", "cluster_name": "Prod"}),
        json!({"firmware_updates": two}),
        vec![],
    );
    let p = map(&c, &lookup(&f, Target::Cluster("Prod".into())), 443)
        .unwrap()
        .doc
        .params
        .unwrap();
    assert_eq!(p["firmware"]["updates"][1]["image_uri"], "v");
    let mut l = lookup(&f, Target::Cluster("Nope".into()));
    l.servers.clear();
    let e = map(&c, &l, 443).unwrap_err();
    assert!(e.contains("Nope"), "{e}");
}

#[test]
fn other_types_are_not_ours() {
    let f = fx();
    let c = claimed("esxi_upgrade", json!({}), json!({}), vec![]);
    let e = map(&c, &lookup(&f, ids(&f)), 443).unwrap_err();
    assert!(e.contains("not run by Outpost"), "{e}");
}
