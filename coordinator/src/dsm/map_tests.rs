//! Unit tests of `map.rs`.
use super::*;

fn claimed(job_type: &str, scope: Value, details: Value, sets: Vec<Uuid>) -> Claimed {
    Claimed {
        id: Uuid::now_v7(),
        job_type: job_type.into(),
        target_scope: scope,
        details,
        credential_set_ids: sets,
    }
}

fn lookup() -> (Lookup, Vec<Uuid>, Uuid, Uuid) {
    let mut l = Lookup::default();
    let s1 = Uuid::now_v7();
    let s2 = Uuid::now_v7();
    l.servers.insert(
        s1,
        ServerRow {
            id: s1,
            ip: "10.0.0.1".into(),
            name: Some("r1".into()),
            vcenter: Some(("esx1.lab".into(), Some("Prod".into()), "vc.lab".into(), 443)),
        },
    );
    l.servers.insert(
        s2,
        ServerRow {
            id: s2,
            ip: "10.0.0.2".into(),
            name: None,
            vcenter: None,
        },
    );
    l.by_cluster.insert("Prod".into(), vec![s1]);
    let idrac = Uuid::now_v7();
    let esxi = Uuid::now_v7();
    l.creds.insert(
        idrac,
        CredRow {
            id: idrac,
            name: "idrac-prod".into(),
            priority: 10,
            ranges: vec!["10.0.0.0/24".into()],
            kind: "idrac".into(),
        },
    );
    l.creds.insert(
        esxi,
        CredRow {
            id: esxi,
            name: "esxi-root".into(),
            priority: 5,
            ranges: vec![],
            kind: "esxi".into(),
        },
    );
    (l, vec![s1, s2], idrac, esxi)
}

#[test]
fn per_server_jobs_have_a_row_per_server_and_the_idrac_credential() {
    let (l, servers, idrac, esxi) = lookup();
    let c = claimed(
        "power_action",
        json!({"server_ids": servers}),
        json!({"action": "GracefulRestart"}),
        vec![esxi, idrac],
    );
    let m = map(&c, &l, 8443).unwrap();
    assert_eq!(m.doc.job_type, "redfish.power");
    assert_eq!(
        m.doc.targets.as_deref(),
        Some(&["10.0.0.1".to_string(), "10.0.0.2".to_string()][..])
    );
    let p = m.doc.params.unwrap();
    assert_eq!(p["reset_type"], "GracefulRestart");
    assert_eq!(p["port"], 8443);
    assert_eq!(
        p["credential"], "idrac-prod",
        "the iDRAC set, not the ESXi one"
    );
    assert_eq!(m.rows.len(), 2);
    assert_eq!(m.rows[1].source, RowSource::Target("10.0.0.2".into()));
    assert_eq!(m.rows[1].server_id, Some(servers[1]));

    let c = claimed(
        "firmware_update",
        json!({"server_ids": [servers[0]]}),
        json!({"firmware_uri": "http://repo/bios.exe", "version": "2.1"}),
        vec![idrac],
    );
    let p = map(&c, &l, 443).unwrap().doc.params.unwrap();
    assert_eq!(p["component"], "BIOS", "the app's default component");
    assert_eq!(p["apply_time"], "Immediate");
    assert_eq!(p["image_uri"], "http://repo/bios.exe");
    assert_eq!(
        map(
            &claimed(
                "firmware_inventory_scan",
                json!({"server_ids": [servers[1]]}),
                json!({}),
                vec![]
            ),
            &l,
            443
        )
        .unwrap()
        .doc
        .job_type,
        "redfish.inventory"
    );
}

#[test]
fn scans_take_ranges_lists_or_servers_with_scoped_credentials() {
    let (l, servers, idrac, _) = lookup();
    let m = map(
        &claimed(
            "discovery_scan",
            json!({"ip_range": "10.0.0.0/24"}),
            json!({}),
            vec![idrac],
        ),
        &l,
        443,
    )
    .unwrap();
    assert_eq!(
        m.doc.targets.as_deref(),
        Some(&["10.0.0.0/24".to_string()][..])
    );
    assert_eq!(
        m.rows,
        vec![RowPlan {
            server_id: None,
            source: RowSource::Whole
        }]
    );
    let p = m.doc.params.unwrap();
    assert_eq!(p["credentials"][0]["name"], "idrac-prod");
    assert_eq!(p["credentials"][0]["ranges"][0], "10.0.0.0/24");
    let m = map(
        &claimed(
            "discovery_scan",
            json!({"ip_list": ["10.0.0.7", "10.0.0.8"]}),
            json!({}),
            vec![],
        ),
        &l,
        443,
    )
    .unwrap();
    assert_eq!(m.doc.targets.unwrap().len(), 2);
    let m = map(
        &claimed(
            "discovery_scan",
            json!({"server_ids": servers}),
            json!({}),
            vec![],
        ),
        &l,
        443,
    )
    .unwrap();
    assert_eq!(m.doc.targets.unwrap(), vec!["10.0.0.1", "10.0.0.2"]);
}

#[test]
fn rolling_updates_link_hosts_and_refuse_what_they_cannot_do() {
    let (l, servers, idrac, _) = lookup();
    let d = json!({"max_parallel": 2, "min_healthy_hosts": 1, "continue_on_failure": true,
                   "maintenance_timeout": 900,
                   "firmware_updates": [{"component": "BIOS", "version": "2.1", "firmware_uri": "http://r/b.exe"}]});
    let m = map(
        &claimed(
            "rolling_cluster_update",
            json!({"type": "cluster", "cluster_name": "Prod"}),
            d.clone(),
            vec![idrac],
        ),
        &l,
        443,
    )
    .unwrap();
    assert_eq!(m.doc.job_type, "rolling_update");
    let p = m.doc.params.unwrap();
    assert_eq!(p["servers"][0]["vcenter_host"], "esx1.lab");
    assert_eq!(p["servers"][0]["cluster"], "Prod");
    assert_eq!(p["vcenter"]["address"], "vc.lab");
    assert_eq!(p["vcenter"]["credential"], "vcenter-vc.lab");
    assert_eq!(p["idrac"]["credential"], "idrac-prod");
    assert_eq!(p["max_parallel"], 2);
    assert_eq!(p["maintenance_timeout_s"], 900);
    assert_eq!(
        m.rows,
        vec![RowPlan {
            server_id: Some(servers[0]),
            source: RowSource::Host(0)
        }]
    );

    let mut two = d.clone();
    two["firmware_updates"] = json!([d["firmware_updates"][0], d["firmware_updates"][0]]);
    let e = map(
        &claimed(
            "rolling_cluster_update",
            json!({"type": "servers", "server_ids": servers}),
            two,
            vec![],
        ),
        &l,
        443,
    )
    .unwrap_err();
    assert!(e.contains("one component"), "{e}");
    let e = map(
        &claimed(
            "rolling_cluster_update",
            json!({"type": "cluster", "cluster_name": "Nope"}),
            d.clone(),
            vec![],
        ),
        &l,
        443,
    )
    .unwrap_err();
    assert!(e.contains("Nope"), "{e}");
    let e = map(
        &claimed(
            "rolling_cluster_update",
            json!({"type": "group", "group_id": "g"}),
            d,
            vec![],
        ),
        &l,
        443,
    )
    .unwrap_err();
    assert!(e.contains("group"), "{e}");
    let e = map(
        &claimed(
            "power_action",
            json!({"server_ids": ["not-a-uuid"]}),
            json!({"action": "On"}),
            vec![],
        ),
        &l,
        443,
    )
    .unwrap_err();
    assert!(e.contains("not a server id"), "{e}");
    let e = map(
        &claimed(
            "power_action",
            json!({"server_ids": servers}),
            json!({}),
            vec![],
        ),
        &l,
        443,
    )
    .unwrap_err();
    assert!(e.contains("details.action"), "{e}");
    let e = map(
        &claimed("scp_export", json!({}), json!({}), vec![]),
        &l,
        443,
    )
    .unwrap_err();
    assert!(e.contains("not run by Outpost"), "{e}");
}
