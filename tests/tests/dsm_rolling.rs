//! A rolling cluster update from Dell Server Manager: the app's servers
//! linked to its `vcenter_hosts` (govmomi's simulator) and `vcenters` row,
//! the job claimed by the bridge, credentials (the iDRAC set and the
//! vCenter's own login) sealed to the zones, and a cancel in the app in
//! the middle: the host being flashed is finished, the rest never start,
//! and no host is left in maintenance mode.

use anyhow::{Context, Result};
use outpost_sim::redfish::make_image;
use outpost_tests::collect::outpost;
use outpost_tests::fleet::SETTLE;
use outpost_tests::pg::TestDb;
use outpost_tests::rolling::{IDRAC_PASS, Rig, RigOptions, VC_PASS, VC_USER};
use serde_json::json;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The app's data for a fleet of four linked servers in two clusters:
/// its settings, the iDRAC set, the vCenter's row, its hosts and servers;
/// and a firmware repository serving the BIOS image.
async fn setup(net: u8) -> Result<(TestDb, Rig, tokio_postgres::Client, std::net::SocketAddr)> {
    setup_with(net, 0).await
}

/// As [`setup`], the vCenter with `vms` powered-on VMs per cluster.
async fn setup_with(
    net: u8,
    vms: u32,
) -> Result<(TestDb, Rig, tokio_postgres::Client, std::net::SocketAddr)> {
    let db = TestDb::new().await?;
    let (code, out, err) = outpost(&["dsm", "install", "--database-url", &db.url], &[], "").await?;
    anyhow::ensure!(code == 0, "dsm install: {out}{err}");
    let r = Rig::start(RigOptions {
        net,
        dsm_database: Some(db.url.clone()),
        zone_keys: true,
        vms,
        ..RigOptions::default()
    })
    .await?;
    let c = db.client().await?;
    c.execute(
        "INSERT INTO public.activity_settings (encryption_key) VALUES ('ay1yb2xsaW5n')",
        &[],
    )
    .await?;
    c.execute(
        "INSERT INTO public.credential_sets (name, username, password_encrypted, credential_type, is_default)
         VALUES ('idrac-dsm', 'root', public.encrypt_password($1, 'ay1yb2xsaW5n'), 'idrac', true)",
        &[&IDRAC_PASS],
    )
    .await?;
    let vc: Uuid = c
        .query_one(
            "INSERT INTO public.vcenters (name, host, username, password_encrypted, port)
             VALUES ('vc', $1, $2, public.encrypt_password($3, 'ay1yb2xsaW5n'), $4) RETURNING id",
            &[&r.vc.host, &VC_USER, &VC_PASS, &(r.vc.port as i32)],
        )
        .await?
        .get(0);
    for (i, ip) in r.ips.iter().enumerate() {
        let host: Uuid = c
            .query_one(
                "INSERT INTO public.vcenter_hosts (name, cluster, source_vcenter_id)
                 VALUES ($1, $2, $3) RETURNING id",
                &[&r.host_name(i), &r.cluster_of(i), &vc],
            )
            .await?
            .get(0);
        c.execute(
            "INSERT INTO public.servers (ip_address, hostname, vcenter_host_id) VALUES ($1, $2, $3)",
            &[ip, &format!("r650-{}", i + 1), &host],
        )
        .await?;
    }
    let repo = outpost_sim::repo::serve(vec![(
        "/bios.exe".into(),
        make_image("159", "2.19.1", 50_000),
    )])
    .await?;
    Ok((db, r, c, repo))
}

#[tokio::test]
async fn a_cancelled_rolling_update_from_the_app_leaves_no_host_in_maintenance() -> Result<()> {
    let (db, r, c, repo) = setup(96).await?;
    // ServerUpdateWizard's job: the cluster by name in `cluster_id`, the
    // firmware from the app's library (its BIOS package).
    c.execute(
        "INSERT INTO public.firmware_packages (filename, file_size_bytes, served_url, component_type,
                dell_version, applicable_models, upload_status)
         VALUES ('BIOS_2.19.1.EXE', 50000, $1, 'BIOS', '2.19.1', '{}', 'completed')",
        &[&format!("http://{repo}/bios.exe")],
    )
    .await?;
    let job: Uuid = c
        .query_one(
            "INSERT INTO public.jobs (job_type, status, target_scope, details) VALUES
             ('rolling_cluster_update', 'pending', $1, $2) RETURNING id",
            &[
                &json!({"cluster_id": "DC0_C0"}),
                &json!({"cluster_id": "DC0_C0", "firmware_source": "local_repository",
                        "component_filter": ["BIOS"], "auto_select_latest": true,
                        "backup_scp": false, "preflight_mode": "strict", "max_parallel": 1,
                        "verify_after_each": true, "continue_on_failure": false,
                        "min_healthy_hosts": 3}),
            ],
        )
        .await?
        .get(0);
    // Cancel in the app while the second host is being flashed.
    let until = Instant::now() + SETTLE;
    loop {
        let now = rows(&c, job).await?;
        if now
            .get(1)
            .is_some_and(|x| x.0 == "running" && x.1.starts_with("updating firmware"))
        {
            break;
        }
        anyhow::ensure!(Instant::now() < until, "r650-2 never flashed: {now:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    c.execute(
        "UPDATE public.jobs SET status = 'cancelled' WHERE id = $1",
        &[&job],
    )
    .await?;
    let until = Instant::now() + SETTLE * 2;
    let done = loop {
        let now = rows(&c, job).await?;
        if now.len() == 4
            && now
                .iter()
                .all(|x| matches!(x.0.as_str(), "completed" | "failed" | "cancelled"))
        {
            break now;
        }
        anyhow::ensure!(Instant::now() < until, "rows never ended: {now:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(r.in_maintenance().await?.is_empty(), "{done:?}");
    assert_eq!(done[0].0, "completed", "{done:?}");
    assert_eq!(
        done[1].0, "completed",
        "the host under way was finished: {done:?}"
    );
    assert_eq!(
        (done[2].0.as_str(), done[3].0.as_str()),
        ("cancelled", "cancelled"),
        "{done:?}"
    );
    assert_eq!(r.bios(0), "2.19.1");
    assert_eq!(r.bios(1), "2.19.1");
    assert_ne!(r.bios(2), "2.19.1");
    assert_eq!(status_of(&c, job).await?, "cancelled");
    let peak = r.peak();
    assert_eq!(peak.get("DC0_C0"), Some(&1), "{peak:?}");
    assert_eq!(
        peak.get("DC0_C1"),
        None,
        "cluster B was not in the job: {peak:?}"
    );
    // The passwords went sealed: neither is in the coordinator's job state.
    let jobs = r.f.fleet.api.list_jobs().await?;
    let state = serde_json::to_string(&jobs)?;
    let id = jobs[0]["id"].as_str().unwrap_or_default();
    let view = r.f.fleet.api.job(id).await?.to_string();
    for secret in [IDRAC_PASS, VC_PASS] {
        assert!(!state.contains(secret) && !view.contains(secret));
    }
    db.drop_db().await;
    Ok(())
}

/// ClusterUpdateWizard's job (manual source: `firmware_updates[].image_uri`)
/// and the app's graceful cancel, which changes only `details`: the host
/// under way goes through to the end, no other starts, and the job ends
/// `cancelled` saying how far it got.
#[tokio::test]
async fn a_graceful_cancel_from_the_app_finishes_the_host_under_way_then_stops() -> Result<()> {
    let (db, r, c, repo) = setup(97).await?;
    let job: Uuid = c
        .query_one(
            "INSERT INTO public.jobs (job_type, status, target_scope, details) VALUES
             ('rolling_cluster_update', 'pending', $1, $2) RETURNING id",
            &[
                &json!({"type": "cluster", "cluster_name": "DC0_C0"}),
                &json!({"backup_scp": true, "min_healthy_hosts": 3, "max_parallel": 1,
                        "verify_after_each": true, "continue_on_failure": false,
                        "auto_power_off_enabled": false, "firmware_source": "manual",
                        "firmware_updates": [{"component": "BIOS", "version": "2.19.1",
                                              "image_uri": format!("http://{repo}/bios.exe"),
                                              "reboot_required": true}]}),
            ],
        )
        .await?
        .get(0);
    let until = Instant::now() + SETTLE;
    loop {
        let now = rows(&c, job).await?;
        if now
            .first()
            .is_some_and(|x| x.0 == "running" && x.1.starts_with("updating firmware"))
        {
            break;
        }
        anyhow::ensure!(Instant::now() < until, "r650-1 never flashed: {now:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // CancelJobDialog's graceful option: details only, status unchanged.
    c.execute(
        "UPDATE public.jobs SET details = details || jsonb_build_object('graceful_cancel', true,
                'graceful_cancel_requested_at', now()::text)
          WHERE id = $1",
        &[&job],
    )
    .await?;
    let (status, details) = ended(&c, job).await?;
    assert_eq!(status, "cancelled", "{details:#}");
    assert_eq!(details["graceful_cancel"], true, "{details:#}");
    assert_eq!(details["hosts_completed"], 1, "{details:#}");
    let results = &details["workflow_results"];
    assert_eq!(results["hosts_updated"], 1, "{details:#}");
    let done = rows(&c, job).await?;
    assert_eq!(results["total_hosts"], done.len(), "{details:#}");
    assert_eq!(
        done[0].0, "completed",
        "the host under way was finished: {done:?}"
    );
    assert!(
        done[1..].iter().all(|x| x.0 == "cancelled"),
        "no other host started: {done:?}"
    );
    assert_eq!(r.bios(0), "2.19.1");
    assert_ne!(r.bios(1), "2.19.1");
    assert!(r.in_maintenance().await?.is_empty(), "{done:?}");
    db.drop_db().await;
    Ok(())
}

/// VCenterManagementDialog's "Sync" (create-job with the vCenter's id):
/// the app's vCenter tables hold what govmomi's simulator holds, the hosts
/// the app knew by name keep their rows, and a server whose service tag
/// is a host's serial number is linked both ways at the next sync. The
/// vCenter holds more VMs than one result message carries: the inventory
/// travels through the zone's captures store.
#[tokio::test]
async fn a_vcenter_sync_from_the_app_fills_its_vcenter_tables() -> Result<()> {
    let (db, r, c, _repo) = setup_with(98, VMS_PER_CLUSTER).await?;
    let vc: Uuid = c
        .query_one("SELECT id FROM public.vcenters", &[])
        .await?
        .get(0);
    let (status, details) = vcenter_sync(&c, vc).await?;
    assert_eq!(status, "completed", "{details:#}");
    let inv = r.vc.inventory().await.map_err(anyhow::Error::msg)?;
    let count = |sql: &str| {
        let sql = sql.to_string();
        let c = &c;
        async move { Ok::<i64, anyhow::Error>(c.query_one(&sql, &[&vc]).await?.get(0)) }
    };
    assert_eq!(
        count("SELECT count(*) FROM public.vcenter_hosts WHERE source_vcenter_id = $1").await?,
        inv.hosts.len() as i64
    );
    assert_eq!(
        count("SELECT count(*) FROM public.vcenter_clusters WHERE source_vcenter_id = $1").await?,
        inv.clusters.len() as i64
    );
    assert_eq!(
        count("SELECT count(*) FROM public.vcenter_vms WHERE source_vcenter_id = $1").await?,
        inv.vms.len() as i64
    );
    assert_eq!(
        count("SELECT count(*) FROM public.vcenter_datastores WHERE source_vcenter_id = $1")
            .await?,
        inv.datastores.len() as i64
    );
    assert!(
        count("SELECT count(*) FROM public.vcenter_datastore_hosts WHERE source_vcenter_id = $1")
            .await?
            > 0
    );
    // The hosts the app knew by name were kept, not doubled.
    assert_eq!(count("SELECT count(*) FROM public.vcenter_hosts WHERE source_vcenter_id = $1 AND vcenter_id IS NULL").await?, 0);
    assert_eq!(count("SELECT count(*) FROM public.servers s JOIN public.vcenter_hosts h ON h.id = s.vcenter_host_id WHERE h.source_vcenter_id = $1").await?, r.ips.len() as i64);
    assert!(
        inv.vms.len() >= 2 * VMS_PER_CLUSTER as usize,
        "{}",
        inv.vms.len()
    );
    stored_inventory_is_served(&r, inv.vms.len()).await?;
    assert_eq!(details["total_vcenters"], 1, "{details:#}");
    assert_eq!(details["vcenters_synced"], 1, "{details:#}");
    assert_eq!(details["hosts"], inv.hosts.len(), "{details:#}");
    assert_eq!(
        details["vcenter_results"][0]["status"], "success",
        "{details:#}"
    );
    let row = c
        .query_one(
            "SELECT last_sync_status, last_sync IS NOT NULL FROM public.vcenters WHERE id = $1",
            &[&vc],
        )
        .await?;
    assert_eq!(
        (
            row.get::<_, Option<String>>(0).as_deref(),
            row.get::<_, bool>(1)
        ),
        (Some("success"), true)
    );

    // A server the app discovered, unlinked, whose service tag a host
    // reports: linked on both sides by the next sync.
    let (host, serial): (Uuid, Option<String>) = {
        let row = c
            .query_one(
                "SELECT min(id::text)::uuid, serial_number FROM public.vcenter_hosts
                  WHERE source_vcenter_id = $1 AND serial_number IS NOT NULL
                  GROUP BY serial_number HAVING count(*) = 1 ORDER BY serial_number LIMIT 1",
                &[&vc],
            )
            .await?;
        (row.get(0), row.get(1))
    };
    let serial = serial.context("a host with a serial number of its own")?;
    // (The host forgets its serial number meanwhile: the app's own link
    // trigger would otherwise link, or fail, the server's insert.)
    c.execute(
        "UPDATE public.vcenter_hosts SET server_id = NULL, serial_number = NULL WHERE id = $1",
        &[&host],
    )
    .await?;
    c.execute(
        "UPDATE public.servers SET vcenter_host_id = NULL WHERE vcenter_host_id = $1",
        &[&host],
    )
    .await?;
    let server: Uuid = c
        .query_one(
            "INSERT INTO public.servers (ip_address, service_tag) VALUES ('10.77.0.1', $1) RETURNING id",
            &[&serial],
        )
        .await?
        .get(0);
    let (status, details) = vcenter_sync(&c, vc).await?;
    assert_eq!(status, "completed", "{details:#}");
    let row = c
        .query_one(
            "SELECT s.vcenter_host_id, h.server_id FROM public.servers s, public.vcenter_hosts h
              WHERE s.id = $1 AND h.id = $2",
            &[&server, &host],
        )
        .await?;
    assert_eq!(row.get::<_, Option<Uuid>>(0), Some(host));
    assert_eq!(row.get::<_, Option<Uuid>>(1), Some(server));

    // Servers.tsx's safety check of a synced cluster (its four hosts are
    // up: one can go), and of one no vCenter holds.
    let job: Uuid = c
        .query_one(
            "INSERT INTO public.jobs (job_type, status, target_scope, details)
             VALUES ('cluster_safety_check', 'pending', '{}', $1) RETURNING id",
            &[
                &json!({"cluster_name": "DC0_C0", "min_required_hosts": 2, "check_drs": true,
                      "check_ha": true}),
            ],
        )
        .await?
        .get(0);
    let (status, details) = ended(&c, job).await?;
    assert_eq!(status, "completed", "{details:#}");
    assert_eq!(details["safe_to_proceed"], true, "{details:#}");
    assert_eq!(details["total_hosts"], 4, "{details:#}");
    assert_eq!(details["healthy_hosts"], 4, "{details:#}");
    let row = c
        .query_one(
            "SELECT cluster_id, total_hosts, healthy_hosts, min_required_hosts, safe_to_proceed
               FROM public.cluster_safety_checks WHERE job_id = $1",
            &[&job],
        )
        .await?;
    assert_eq!(row.get::<_, String>(0), "DC0_C0");
    assert_eq!(
        (
            row.get::<_, i32>(1),
            row.get::<_, i32>(2),
            row.get::<_, i32>(3),
            row.get::<_, bool>(4)
        ),
        (4, 4, 2, true)
    );
    let job: Uuid = c
        .query_one(
            "INSERT INTO public.jobs (job_type, status, target_scope, details)
             VALUES ('cluster_safety_check', 'pending', '{}', '{\"cluster_name\": \"nowhere\"}')
             RETURNING id",
            &[],
        )
        .await?
        .get(0);
    let (status, details) = ended(&c, job).await?;
    assert_eq!(status, "failed", "{details:#}");
    assert!(
        details["error"]
            .as_str()
            .is_some_and(|e| e.contains("nowhere")),
        "{details:#}"
    );
    db.drop_db().await;
    Ok(())
}

/// ClusterUpdateWizard with the Dell online catalog source and its
/// default filter, all components: the catalog (UTF-16, as Dell writes
/// it) read from the job's `dell_catalog_url` (a mirror on this host), the
/// newest package of each component for the servers' model chosen from it
/// (BIOS 2.19.1 after 2.9.0, the NIC, the iDRAC), and the iDRACs fetching
/// them from the catalog's base location, every component of a host in
/// its one maintenance window; components the catalog has nothing for are
/// named in the console; the second cluster rolls to the end.
#[tokio::test]
async fn a_rolling_update_from_the_dell_catalog_installs_every_newest_package() -> Result<()> {
    let (db, r, c, _repo) = setup(95).await?;
    // The mirror: its address is in the catalog it serves.
    let mirror = outpost_sim::repo::serve_for(|addr| {
        let catalog = format!(
            r#"<?xml version="1.0" encoding="utf-16"?>
<Manifest baseLocation="{addr}" baseLocationAccessProtocols="HTTP" version="1">
  <SoftwareComponent path="F1/BIOS_2.9.0.EXE" vendorVersion="2.9.0">
    <Name><Display lang="en">Dell PowerEdge R650 BIOS</Display></Name>
    <ComponentType value="BIOS"/><SupportedDevices><Device componentID="159"/></SupportedDevices>
    <SupportedSystems><Brand><Model systemID="0A25"><Display>R650</Display></Model></Brand></SupportedSystems>
  </SoftwareComponent>
  <SoftwareComponent path="F2/BIOS_2.19.1.EXE" vendorVersion="2.19.1">
    <Name><Display lang="en"><![CDATA[Dell PowerEdge R650 BIOS]]></Display></Name>
    <ComponentType value="BIOS"/><SupportedDevices><Device componentID="159"/></SupportedDevices>
    <SupportedSystems><Brand><Model systemID="0A25"><Display>R650</Display></Model></Brand></SupportedSystems>
  </SoftwareComponent>
  <SoftwareComponent path="F3/Network_Firmware_22.0.9.EXE" vendorVersion="22.0.9">
    <Name><Display lang="en">Broadcom NetXtreme-E Family Ethernet Firmware</Display></Name>
    <ComponentType value="FRMW"/><SupportedDevices><Device componentID="108255"/></SupportedDevices>
    <SupportedSystems><Brand><Model systemID="0A25"><Display>R650</Display></Model></Brand></SupportedSystems>
  </SoftwareComponent>
  <SoftwareComponent path="F4/iDRAC_7.10.30.00.EXE" vendorVersion="7.10.30.00">
    <Name><Display lang="en">iDRAC9 with Lifecycle Controller</Display></Name>
    <ComponentType value="FRMW"/><SupportedDevices><Device componentID="25227"/></SupportedDevices>
    <SupportedSystems><Brand><Model systemID="0A25"><Display>R650</Display></Model></Brand></SupportedSystems>
  </SoftwareComponent>
</Manifest>"#
        );
        let mut utf16 = vec![0xFF, 0xFE];
        for u in catalog.encode_utf16() {
            utf16.extend_from_slice(&u.to_le_bytes());
        }
        vec![
            ("/catalog/Catalog.xml".into(), utf16),
            ("/F2/BIOS_2.19.1.EXE".into(), make_image("159", "2.19.1", 50_000)),
            (
                "/F3/Network_Firmware_22.0.9.EXE".into(),
                make_image("108255", "22.0.9", 50_000),
            ),
            (
                "/F4/iDRAC_7.10.30.00.EXE".into(),
                make_image("25227", "7.10.30.00", 50_000),
            ),
        ]
    })
    .await?;
    let job: Uuid = c
        .query_one(
            "INSERT INTO public.jobs (job_type, status, target_scope, details) VALUES
             ('rolling_cluster_update', 'pending', $1, $2) RETURNING id",
            &[
                &json!({"type": "cluster", "cluster_name": "DC0_C1"}),
                &json!({"backup_scp": true, "min_healthy_hosts": 2, "max_parallel": 2,
                        "verify_after_each": true, "continue_on_failure": false,
                        "firmware_source": "dell_online_catalog",
                        "dell_catalog_url": format!("http://{mirror}/catalog/Catalog.xml"),
                        "component_filter": ["all"], "auto_select_latest": true}),
            ],
        )
        .await?
        .get(0);
    let (status, details) = ended(&c, job).await?;
    assert_eq!(status, "completed", "{details:#}");
    let hosts = details["workflow_results"]["total_hosts"]
        .as_u64()
        .unwrap_or(0);
    assert!(hosts > 0, "{details:#}");
    assert_eq!(
        details["workflow_results"]["hosts_updated"], hosts,
        "{details:#}"
    );
    for i in 0..r.ips.len() {
        let d = r.device(i);
        let (nic, idrac) = (d.component_version("108255"), d.component_version("25227"));
        if r.cluster_of(i) == "DC0_C1" {
            assert_eq!(r.bios(i), "2.19.1", "host {i}");
            assert_eq!(nic.as_deref(), Some("22.0.9"), "host {i}");
            assert_eq!(idrac.as_deref(), Some("7.10.30.00"), "host {i}");
        } else {
            assert_ne!(r.bios(i), "2.19.1", "host {i} is not in the cluster");
            assert_ne!(
                nic.as_deref(),
                Some("22.0.9"),
                "host {i} is not in the cluster"
            );
        }
    }
    assert!(r.in_maintenance().await?.is_empty());
    // One maintenance window per host: each entered once.
    let jobs = r.f.fleet.api.list_jobs().await?;
    let id = jobs[0]["id"].as_str().unwrap_or_default();
    let view = r.f.fleet.api.job(id).await?;
    let enters = serde_json::to_string(&view)?.matches("-enter\"").count();
    assert_eq!(enters as u64, hosts, "{view:#}");
    let console = details["console_log"].to_string();
    for missing in ["RAID skipped", "PSU skipped"] {
        assert!(console.contains(missing), "{missing}: {console}");
    }
    db.drop_db().await;
    Ok(())
}

/// WorkflowJobDialog's "prepare host for update": the server's vCenter
/// host goes into maintenance mode, the app's host row and workflow steps
/// say so.
#[tokio::test]
async fn preparing_a_host_from_the_app_puts_it_into_maintenance_mode() -> Result<()> {
    let (db, r, c, _repo) = setup(99).await?;
    let row = c
        .query_one(
            "SELECT s.id, s.vcenter_host_id FROM public.servers s WHERE s.hostname = 'r650-1'",
            &[],
        )
        .await?;
    let (server, host): (Uuid, Uuid) = (row.get(0), row.get(1));
    let job: Uuid = c
        .query_one(
            "INSERT INTO public.jobs (job_type, status, target_scope, details)
             VALUES ('prepare_host_for_update', 'pending', $1, $2) RETURNING id",
            &[
                &json!({"server_ids": [server]}),
                &json!({"notes": "", "server_id": server, "vcenter_host_id": host,
                        "backup_scp": false, "maintenance_timeout": 600}),
            ],
        )
        .await?
        .get(0);
    let (status, details) = ended(&c, job).await?;
    assert_eq!(status, "completed", "{details:#}");
    assert_eq!(details["ready_for_update"], true, "{details:#}");
    assert_eq!(
        details["workflow_results"]["steps_completed"],
        json!(["validate_server", "enter_maintenance"]),
        "{details:#}"
    );
    assert_eq!(r.in_maintenance().await?, vec![r.host_name(0)]);
    let m: bool = c
        .query_one(
            "SELECT maintenance_mode FROM public.vcenter_hosts WHERE id = $1",
            &[&host],
        )
        .await?
        .get(0);
    assert!(m);
    let steps: Vec<(i32, String)> = c
        .query(
            "SELECT step_number, step_status FROM public.workflow_executions WHERE job_id = $1
              ORDER BY step_number",
            &[&job],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        steps,
        vec![(1, "completed".to_string()), (2, "completed".to_string())]
    );
    db.drop_db().await;
    Ok(())
}

/// VMs per cluster of the vCenter synced: together, an inventory larger
/// than a result message carries (`InventoryParams::INLINE_BYTES`).
const VMS_PER_CLUSTER: u32 = 800;

/// The Outpost job that read the vCenter: its result names the stored
/// inventory and sums it up, and the API serves the whole of it, matching
/// the SHA-256 the result reports.
async fn stored_inventory_is_served(r: &Rig, vms: usize) -> Result<()> {
    let api = &r.f.fleet.api;
    let list = api.get("/api/v1/jobs?type=vcenter.inventory").await?.body;
    let id = list[0]["id"]
        .as_str()
        .with_context(|| format!("no vcenter.inventory job: {list:#}"))?
        .to_string();
    let job = api.job(&id).await?;
    let task = &job["tasks"][0];
    let out = &task["output"];
    assert_eq!(out["counts"]["vms"], vms, "{out:#}");
    assert!(out["vms"].is_null(), "the VMs travelled inline: {out:#}");
    let stored = &out["stored"];
    assert!(
        stored["bytes"].as_u64().unwrap_or(0)
            > outpost_kinds::vcenter::InventoryParams::INLINE_BYTES,
        "{out:#}"
    );
    let (status, body) = api
        .get_bytes(&format!(
            "/api/v1/jobs/{id}/tasks/{}/capture",
            task["id"].as_str().unwrap_or("")
        ))
        .await?;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        outpost_kinds::stored::sha256_hex(&body),
        stored["sha256"].as_str().unwrap_or(""),
        "the served inventory is not the stored one"
    );
    let whole =
        outpost_kinds::vcenter::InventoryOutput::from_value(&serde_json::from_slice(&body)?)
            .context("the served inventory")?;
    assert_eq!(whole.vms.map(|v| v.len()), Some(vms));
    Ok(())
}

/// A sync of a vCenter too large for one result message while the
/// coordinator is killed (-9) again and again at random points: between
/// the claim, the Outpost job, the worker storing the inventory, the
/// result and the bridge reading it back and writing the app's tables.
/// Whatever the kill points, each of three syncs ends `completed` with
/// every VM in the app's table, once.
#[tokio::test]
async fn a_large_vcenter_sync_converges_whatever_the_coordinator_is_killed_at() -> Result<()> {
    let (db, mut r, c, _repo) = setup_with(79, VMS_PER_CLUSTER).await?;
    let vc: Uuid = c
        .query_one("SELECT id FROM public.vcenters", &[])
        .await?
        .get(0);
    let inv = r.vc.inventory().await.map_err(anyhow::Error::msg)?;
    // Three syncs, each killed at its own random points until it ends.
    for sync in 0..3 {
        let id = insert_vcenter_sync(&c, vc).await?;
        for (round, at) in outpost_tests::chaos::kill_points(6, 50, 700)
            .into_iter()
            .enumerate()
        {
            tokio::time::sleep(Duration::from_millis(at)).await;
            let status = status_of(&c, id).await?;
            if status != "running" && status != "pending" {
                println!("sync {sync}, round {round}: the sync had ended");
                break;
            }
            r.f.fleet.kill_coordinator().await?;
            println!("sync {sync}, round {round}: coordinator killed at +{at} ms ({status})");
            r.f.fleet.start_coordinator().await?;
        }
        let (status, details) = ended(&c, id).await?;
        assert_eq!(status, "completed", "sync {sync}: {details:#}");
        let vms: i64 = c
            .query_one(
                "SELECT count(*) FROM public.vcenter_vms WHERE source_vcenter_id = $1",
                &[&vc],
            )
            .await?
            .get(0);
        assert_eq!(vms, inv.vms.len() as i64, "sync {sync}: {details:#}");
        assert_eq!(details["vms"], inv.vms.len(), "sync {sync}: {details:#}");
    }
    db.drop_db().await;
    Ok(())
}

/// Inserts a `vcenter_sync` of `vc` as the app's dialog does and waits for its end.
async fn vcenter_sync(c: &tokio_postgres::Client, vc: Uuid) -> Result<(String, serde_json::Value)> {
    let id = insert_vcenter_sync(c, vc).await?;
    ended(c, id).await
}

/// Inserts a `vcenter_sync` of `vc` as the app's dialog does.
async fn insert_vcenter_sync(c: &tokio_postgres::Client, vc: Uuid) -> Result<Uuid> {
    let id: Uuid = c
        .query_one(
            "INSERT INTO public.jobs (job_type, status, target_scope, details)
             VALUES ('vcenter_sync', 'pending', $1, $2) RETURNING id",
            &[
                &json!({"vcenter_ids": [vc]}),
                &json!({"vcenter_id": vc, "vcenter_name": "vc"}),
            ],
        )
        .await?
        .get(0);
    Ok(id)
}

/// The app's status of `job` now.
async fn status_of(c: &tokio_postgres::Client, job: Uuid) -> Result<String> {
    Ok(c.query_one(
        "SELECT status::text FROM public.jobs WHERE id = $1",
        &[&job],
    )
    .await?
    .get(0))
}

/// The status and details `job` ended with (waits while it is pending or running).
async fn ended(c: &tokio_postgres::Client, job: Uuid) -> Result<(String, serde_json::Value)> {
    let until = Instant::now() + SETTLE * 2;
    loop {
        let row = c
            .query_one(
                "SELECT status::text, details FROM public.jobs WHERE id = $1",
                &[&job],
            )
            .await?;
        let (status, details): (String, serde_json::Value) = (row.get(0), row.get(1));
        if status != "running" && status != "pending" {
            return Ok((status, details));
        }
        anyhow::ensure!(Instant::now() < until, "job {job} never ended: {details:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// (status, log, server host name) of each row of `job`, by host name.
async fn rows(c: &tokio_postgres::Client, job: Uuid) -> Result<Vec<(String, String, String)>> {
    let r = c
        .query(
            "SELECT t.status::text, coalesce(t.log, ''), s.hostname
               FROM public.job_tasks t JOIN public.servers s ON s.id = t.server_id
              WHERE t.job_id = $1 ORDER BY s.hostname",
            &[&job],
        )
        .await?;
    Ok(r.iter().map(|x| (x.get(0), x.get(1), x.get(2))).collect())
}
