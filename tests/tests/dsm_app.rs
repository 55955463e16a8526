//! Jobs inserted exactly as the Dell Server Manager app's dialogs and edge
//! functions insert them, run by the bridge against simulated iDRACs, and
//! judged by the rows and `details` keys the app's UI reads. Zone `alpha`
//! has a key pair and its worker's vault holds none of the app's logins:
//! every login comes from the app's own tables, sealed to the zone.

use anyhow::{Context, Result};
use outpost_sim::redfish::Power;
use outpost_tests::dsm::{APP_KEY, PASS, Rig, rig_with};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use uuid::Uuid;

async fn set(r: &Rig, name: &str, password: &str) -> Result<Uuid> {
    Ok(r.c
        .query_one(
            "INSERT INTO public.credential_sets (name, username, password_encrypted, credential_type)
             VALUES ($1, 'root', public.encrypt_password($2, $3), 'idrac') RETURNING id",
            &[&name, &password, &APP_KEY],
        )
        .await?
        .get(0))
}

/// A job as the app's dialogs insert it (straight into `jobs`).
async fn insert_direct(
    r: &Rig,
    job_type: &str,
    scope: Value,
    details: Value,
    sets: &[Uuid],
) -> Result<Uuid> {
    let sets: Option<Vec<Uuid>> = (!sets.is_empty()).then(|| sets.to_vec());
    Ok(r.c
        .query_one(
            "INSERT INTO public.jobs (job_type, status, target_scope, details, credential_set_ids)
             VALUES ($1::text::public.job_type, 'pending', $2, $3, $4) RETURNING id",
            &[&job_type, &scope, &details, &sets],
        )
        .await?
        .get(0))
}

/// A job as the `create-job` edge function inserts it: the job, then a
/// pending `job_tasks` row per `target_scope.server_ids` entry.
async fn create_job(r: &Rig, job_type: &str, scope: Value, details: Value) -> Result<Uuid> {
    let id = insert_direct(r, job_type, scope.clone(), details, &[]).await?;
    for s in scope["server_ids"].as_array().into_iter().flatten() {
        let s = Uuid::parse_str(s.as_str().context("a server id")?)?;
        r.c.execute(
            "INSERT INTO public.job_tasks (job_id, server_id, status) VALUES ($1, $2, 'pending')",
            &[&id, &s],
        )
        .await?;
    }
    Ok(id)
}

async fn server_col(r: &Rig, ip: &str, col: &str) -> Result<Option<String>> {
    Ok(r.c
        .query_one(
            &format!("SELECT {col}::text FROM public.servers WHERE ip_address = $1"),
            &[&ip],
        )
        .await?
        .get(0))
}

fn ip(r: &Rig, i: usize) -> String {
    r.sim.addrs()[i].ip().to_string()
}

/// Waits until the bridge has polled `n` more times (its heartbeat row
/// counts polls): what it would have claimed, it has claimed by then.
async fn polls(r: &Rig, n: i32) -> Result<()> {
    let count = || async {
        let row = r
            .c
            .query_opt(
                "SELECT poll_count FROM public.executor_heartbeats WHERE executor_id = 'outpost-test'",
                &[],
            )
            .await?;
        Ok::<i32, anyhow::Error>(
            row.map(|r| r.get::<_, Option<i32>>(0).unwrap_or(0))
                .unwrap_or(0),
        )
    };
    let start = count().await?;
    let until = Instant::now() + outpost_tests::fleet::SETTLE;
    while count().await? < start + n {
        anyhow::ensure!(Instant::now() < until, "the bridge stopped polling");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

#[tokio::test]
async fn credential_tests_from_every_dialog_answer_the_way_the_dialogs_read() -> Result<()> {
    let r = rig_with(81, 200, true).await?;
    let right = set(&r, "assigned", PASS).await?;
    let wrong = set(&r, "stale", "not-the-password").await?;
    let ip0 = ip(&r, 0);

    // CredentialTestDialog / AssignCredentialsDialog: an address and a set.
    let id = insert_direct(
        &r,
        "test_credentials",
        json!({"ip_address": ip0}),
        Value::Null,
        &[right],
    )
    .await?;
    let (status, d) = r.wait_status(id, &["completed", "failed"]).await?;
    assert_eq!(status, "completed", "{d:#}");
    assert_eq!(d["success"], true, "{d:#}");
    assert_eq!(d["message"], "Connection successful", "{d:#}");
    assert!(d["idrac_version"].is_string(), "{d:#}");
    assert_eq!(
        server_col(&r, &ip0, "credential_test_status")
            .await?
            .as_deref(),
        Some("valid")
    );

    let id = insert_direct(
        &r,
        "test_credentials",
        json!({"ip_address": ip0}),
        Value::Null,
        &[wrong],
    )
    .await?;
    let (status, d) = r.wait_status(id, &["completed", "failed"]).await?;
    assert_eq!(status, "failed", "{d:#}");
    assert_eq!(d["success"], false, "{d:#}");
    assert_eq!(
        d["message"], "Authentication failed - invalid credentials",
        "{d:#}"
    );
    assert_eq!(
        d["error"], d["message"],
        "useServerActions reads error: {d:#}"
    );
    assert_eq!(
        server_col(&r, &ip0, "credential_test_status")
            .await?
            .as_deref(),
        Some("invalid")
    );

    // AddServerDialog, manual mode: a login typed in, in the row until claimed.
    let id = insert_direct(
        &r,
        "test_credentials",
        json!({"ip_address": ip(&r, 1)}),
        json!({"username": "root", "password": PASS}),
        &[],
    )
    .await?;
    let (status, d) = r
        .wait_status(id, &["running", "completed", "failed"])
        .await?;
    assert!(
        d.get("password").is_none(),
        "the typed password stays in the row ({status}): {d:#}"
    );
    let (status, d) = r.wait_status(id, &["completed", "failed"]).await?;
    assert_eq!(status, "completed", "{d:#}");
    assert_eq!(d["username"], "root", "the app's own keys stay");
    assert!(d.get("password").is_none(), "{d:#}");

    // Nothing to test with: the dialog's message.
    let id = insert_direct(
        &r,
        "test_credentials",
        json!({"ip_address": "127.1.81.200"}),
        json!({}),
        &[],
    )
    .await?;
    let (status, d) = r.wait_status(id, &["completed", "failed"]).await?;
    assert_eq!(status, "failed");
    assert_eq!(d["message"], "No credentials provided", "{d:#}");

    // useServerActions' "Test connection": create-job with server ids; the
    // app's pending row is the one reported, no other is added.
    r.c.execute(
        "UPDATE public.servers SET credential_set_id = $1 WHERE ip_address = $2",
        &[&right, &ip0],
    )
    .await?;
    let id = create_job(
        &r,
        "test_credentials",
        json!({"server_ids": [r.servers[0]]}),
        json!({}),
    )
    .await?;
    let (status, d) = r.wait_status(id, &["completed", "failed"]).await?;
    assert_eq!(status, "completed", "{d:#}");
    let rows = r.rows(id).await?;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0].0.as_str(), rows[0].1),
        ("completed", 100),
        "{rows:?}"
    );
    // The typed password went nowhere else: not in a log line, not in
    // the coordinator's job state.
    let mut logs = r.f.fleet.coordinator.stdout();
    logs.extend(r.f.fleet.coordinator.stderr());
    for w in &r.f.fleet.workers {
        logs.extend(w.stdout());
        logs.extend(w.stderr());
    }
    for l in logs {
        assert!(!l.contains(PASS), "the password is in a log line: {l}");
    }
    for j in r.f.fleet.api.list_jobs().await? {
        let view =
            r.f.fleet
                .api
                .job(j["id"].as_str().context("job id")?)
                .await?;
        assert!(
            !view.to_string().contains(PASS),
            "the password is in job state"
        );
    }
    r.db.drop_db().await;
    Ok(())
}

#[tokio::test]
async fn each_server_logs_in_with_the_login_the_app_would_choose() -> Result<()> {
    let r = rig_with(82, 200, true).await?;
    // The default set is stale: only the app's resolution order finds the
    // right login for each server.
    r.c.execute(
        "UPDATE public.credential_sets SET password_encrypted = public.encrypt_password('stale', $1)
          WHERE name = 'idrac-prod'",
        &[&APP_KEY],
    )
    .await?;
    let assigned = set(&r, "assigned", PASS).await?;
    let ranged = set(&r, "by-range", PASS).await?;
    let decoy = set(&r, "decoy-range", "wrong").await?;
    r.c.execute(
        "INSERT INTO public.credential_ip_ranges (credential_set_id, ip_range, priority)
         VALUES ($1, '127.1.82.0/24', 10), ($2, '127.1.82.1-127.1.82.9', 50)",
        &[&ranged, &decoy],
    )
    .await?;
    r.c.execute(
        "UPDATE public.servers SET credential_set_id = $1 WHERE id = $2",
        &[&assigned, &r.servers[0]],
    )
    .await?;
    // PowerControlDialog's insert: no job_tasks.
    let id = insert_direct(
        &r,
        "power_action",
        json!({"type": "specific", "server_ids": r.servers}),
        json!({"action": "ForceOff"}),
        &[],
    )
    .await?;
    let (status, d) = r.wait_status(id, &["completed", "failed"]).await?;
    assert_eq!(status, "completed", "{d:#}");
    assert_eq!(d["action"], "ForceOff");
    assert_eq!(d["success_count"], 2, "{d:#}");
    for a in r.sim.addrs() {
        assert_eq!(r.sim.device(a).context("device")?.lock().power, Power::Off);
    }
    let rows = r.rows(id).await?;
    assert_eq!(
        rows.len(),
        2,
        "a row per server, as the app's executor keeps: {rows:?}"
    );

    // The server's own login comes before its discoverer and the ranges.
    r.c.execute(
        "UPDATE public.servers SET idrac_username = 'root',
                idrac_password_encrypted = public.encrypt_password($1, $2),
                discovered_by_credential_set_id = $3
          WHERE id = $4",
        &[&PASS, &APP_KEY, &decoy, &r.servers[1]],
    )
    .await?;
    let id = create_job(
        &r,
        "power_action",
        json!({"type": "specific", "server_ids": [r.servers[1]]}),
        json!({"action": "On"}),
    )
    .await?;
    let (status, d) = r.wait_status(id, &["completed", "failed"]).await?;
    assert_eq!(status, "completed", "{d:#}");
    assert_eq!(
        server_col(&r, &ip(&r, 1), "power_state").await?.as_deref(),
        Some("On")
    );
    // Without it, the discoverer (wrong here) comes before the ranges.
    r.c.execute(
        "UPDATE public.servers SET idrac_username = NULL, idrac_password_encrypted = NULL WHERE id = $1",
        &[&r.servers[1]],
    )
    .await?;
    let id = create_job(
        &r,
        "power_action",
        json!({"server_ids": [r.servers[1]]}),
        json!({"action": "ForceOff"}),
    )
    .await?;
    let (status, d) = r.wait_status(id, &["completed", "failed"]).await?;
    assert_eq!(status, "failed", "{d:#}");
    let e = d["error"].as_str().context("details.error")?;
    assert!(e.contains(&ip(&r, 1)), "{e}");
    let rows = r.rows(id).await?;
    assert_eq!(rows[0].0, "failed", "{rows:?}");
    r.db.drop_db().await;
    Ok(())
}

#[tokio::test]
async fn discovery_writes_servers_as_the_app_does_and_follows_a_moved_idrac() -> Result<()> {
    let r = rig_with(83, 200, true).await?;
    let d0 = r.sim.device(r.sim.addrs()[0]).context("device")?;
    let tag0 = d0.spec.service_tag.clone();
    // The app knew the first iDRAC at an older address.
    r.c.execute("DELETE FROM public.servers WHERE id = $1", &[&r.servers[0]])
        .await?;
    let moved: Uuid = r
        .c
        .query_one(
            "INSERT INTO public.servers (ip_address, service_tag, hostname) VALUES ('10.99.0.7', $1, 'db-01')
             RETURNING id",
            &[&tag0],
        )
        .await?
        .get(0);
    // DiscoveryScanDialog via create-job: several entries make an ip_list.
    let id = insert_direct(
        &r,
        "discovery_scan",
        json!({"ip_list": ["127.1.83.0/30", "127.1.83.9"]}),
        json!({"scan_type": "redfish", "credential_set_ids": [], "fetch_options": {"firmware": true}}),
        &[],
    )
    .await?;
    let (status, d) = r.wait_status(id, &["completed", "failed"]).await?;
    assert_eq!(status, "completed", "{d:#}");
    assert_eq!(d["scanned_ips"], 3, "{d:#}");
    assert_eq!(d["discovered_count"], 2, "{d:#}");
    assert_eq!(
        d["fetch_options"]["firmware"], true,
        "the app's keys stay: {d:#}"
    );
    let row =
        r.c.query_one(
            "SELECT ip_address, hostname, idrac_hostname FROM public.servers WHERE id = $1",
            &[&moved],
        )
        .await?;
    assert_eq!(
        row.get::<_, String>(0),
        ip(&r, 0),
        "the row follows its service tag"
    );
    assert_eq!(
        row.get::<_, Option<String>>(1).as_deref(),
        Some("db-01"),
        "the operator's name stays"
    );
    assert!(row.get::<_, Option<String>>(2).is_some());
    let n: i64 =
        r.c.query_one("SELECT count(*) FROM public.servers", &[])
            .await?
            .get(0);
    assert_eq!(n, 2, "no second row for a moved iDRAC");

    // A scan with a set every iDRAC refuses: they are marked as the app
    // marks them, and the job says how many.
    let stale = set(&r, "stale", "nope").await?;
    let id = insert_direct(
        &r,
        "discovery_scan",
        json!({"ip_range": "127.1.83.0/30"}),
        json!({}),
        &[stale],
    )
    .await?;
    let (status, d) = r.wait_status(id, &["completed", "failed"]).await?;
    assert_eq!(status, "completed", "{d:#}");
    assert_eq!(d["auth_failures"], 2, "{d:#}");
    assert_eq!(
        d["auth_failure_ips"].as_array().map(Vec::len),
        Some(2),
        "{d:#}"
    );
    for i in 0..2 {
        assert_eq!(
            server_col(&r, &ip(&r, i), "connection_status")
                .await?
                .as_deref(),
            Some("offline")
        );
        assert_eq!(
            server_col(&r, &ip(&r, i), "credential_test_status")
                .await?
                .as_deref(),
            Some("invalid")
        );
    }
    r.db.drop_db().await;
    Ok(())
}

#[tokio::test]
async fn the_pause_switch_holds_idrac_jobs_and_sub_jobs_are_never_claimed_alone() -> Result<()> {
    let r = rig_with(84, 100, true).await?;
    r.c.execute(
        "UPDATE public.activity_settings SET pause_idrac_operations = true",
        &[],
    )
    .await?;
    let held = create_job(
        &r,
        "power_action",
        json!({"server_ids": [r.servers[0]]}),
        json!({"action": "ForceOff"}),
    )
    .await?;
    // full_server_update as create-job writes it: the parent, then its
    // component sub-jobs.
    let parent = create_job(
        &r,
        "full_server_update",
        json!({"server_ids": [r.servers[1]]}),
        json!({}),
    )
    .await?;
    let child: Uuid = r
        .c
        .query_one(
            "INSERT INTO public.jobs (job_type, status, target_scope, details, parent_job_id, component_order)
             VALUES ('firmware_update', 'pending', $1, $2, $3, 1) RETURNING id",
            &[&json!({"server_ids": [r.servers[1]]}), &json!({"component": "iDRAC", "version": "latest", "apply_time": "OnReset"}), &parent],
        )
        .await?
        .get(0);
    polls(&r, 25).await?;
    assert_eq!(r.job(held).await?.0, "pending", "claimed while paused");
    assert_eq!(
        r.job(child).await?.0,
        "pending",
        "a sub-job was claimed on its own"
    );
    assert_eq!(r.job(parent).await?.0, "pending");
    r.c.execute(
        "UPDATE public.activity_settings SET pause_idrac_operations = false",
        &[],
    )
    .await?;
    let (status, d) = r.wait_status(held, &["completed", "failed"]).await?;
    assert_eq!(status, "completed", "{d:#}");
    // The parent runs its sub-job (no package in the library: skipped).
    let (status, d) = r.wait_status(parent, &["completed", "failed"]).await?;
    assert_eq!(status, "completed", "{d:#}");
    let (status, d) = r.job(child).await?;
    assert_eq!(
        (status.as_str(), &d["skipped"]),
        ("completed", &json!(true)),
        "{d:#}"
    );
    r.db.drop_db().await;
    Ok(())
}

/// "Check for Updates" as the app's scan dialog starts it: the scan row,
/// the job naming it, the scan set running by the UI. The scan ends with
/// a row per host and the summary the UI reads, also when a host fails.
#[tokio::test]
async fn an_update_availability_scan_ends_with_a_row_per_host_and_its_summary() -> Result<()> {
    let r = rig_with(85, 200, true).await?;
    let stale = set(&r, "stale", "nope").await?;
    r.c.execute(
        "UPDATE public.servers SET credential_set_id = $1 WHERE id = $2",
        &[&stale, &r.servers[1]],
    )
    .await?;
    let scan: Uuid = r
        .c
        .query_one(
            "INSERT INTO public.update_availability_scans (scan_type, target_name, target_server_ids,
                    firmware_source, status)
             VALUES ('servers', 'two servers', $1, 'local_repository', 'pending') RETURNING id",
            &[&r.servers],
        )
        .await?
        .get(0);
    let id = insert_direct(
        &r,
        "firmware_inventory_scan",
        json!({"scan_id": scan, "scan_type": "servers", "server_ids": r.servers,
               "firmware_source": "local_repository"}),
        json!({"scan_id": scan, "target_name": "two servers", "is_update_availability_check": true}),
        &[],
    )
    .await?;
    r.c.execute(
        "UPDATE public.update_availability_scans SET status = 'running', started_at = now() WHERE id = $1",
        &[&scan],
    )
    .await?;
    let (status, d) = r.wait_status(id, &["completed", "failed"]).await?;
    assert_eq!(status, "failed", "one host refused the login: {d:#}");
    let row = r
        .c
        .query_one(
            "SELECT status, summary, completed_at IS NOT NULL FROM public.update_availability_scans WHERE id = $1",
            &[&scan],
        )
        .await?;
    assert_eq!(
        row.get::<_, String>(0),
        "completed",
        "the scan ends, not stays running"
    );
    let summary: Value = row.get(1);
    assert_eq!(summary["hostsScanned"], 2, "{summary:#}");
    assert_eq!(summary["hostsFailed"], 1, "{summary:#}");
    assert!(row.get::<_, bool>(2));
    let rows =
        r.c.query(
            "SELECT scan_status, total_components, blockers FROM public.update_availability_results
              WHERE scan_id = $1 ORDER BY scan_status",
            &[&scan],
        )
        .await?;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].get::<_, String>(0), "completed");
    assert!(rows[0].get::<_, i32>(1) > 0);
    assert_eq!(rows[1].get::<_, String>(0), "failed");
    assert_eq!(rows[1].get::<_, Value>(2)[0]["type"], "authentication");
    let n: i64 =
        r.c.query_one(
            "SELECT count(*) FROM public.server_firmware_inventory WHERE server_id = $1",
            &[&r.servers[0]],
        )
        .await?
        .get(0);
    assert!(n > 0);
    r.db.drop_db().await;
    Ok(())
}

/// ServerHealthDialog's health check and WorkflowJobDialog's
/// verification, as those dialogs insert them.
#[tokio::test]
async fn health_checks_and_verifications_write_what_the_app_reads() -> Result<()> {
    let r = rig_with(86, 200, true).await?;
    let id = insert_direct(
        &r,
        "health_check",
        json!({"type": "specific", "server_ids": r.servers}),
        Value::Null,
        &[],
    )
    .await?;
    let (status, d) = r.wait_status(id, &["completed", "failed"]).await?;
    assert_eq!(status, "completed", "{d:#}");
    assert_eq!(d["success_count"], 2, "{d:#}");
    for s in &r.servers {
        let row = r
            .c
            .query_one(
                "SELECT h.overall_health, h.power_state, s.overall_health, s.last_health_check IS NOT NULL
                   FROM public.server_health h JOIN public.servers s ON s.id = h.server_id
                  WHERE h.server_id = $1",
                &[s],
            )
            .await?;
        assert_eq!(row.get::<_, Option<String>>(0).as_deref(), Some("OK"));
        assert_eq!(row.get::<_, Option<String>>(1).as_deref(), Some("On"));
        assert_eq!(row.get::<_, Option<String>>(2).as_deref(), Some("OK"));
        assert!(row.get::<_, bool>(3));
    }

    // The version the iDRAC reports for its BIOS, then one it does not.
    let bios = {
        let d = r.sim.device(r.sim.addrs()[0]).context("device")?;
        let s = d.lock();
        s.components
            .iter()
            .find(|c| c.id == "159")
            .map(|c| c.version.clone())
            .context("a BIOS")?
    };
    for (want, ok) in [(bios.as_str(), true), ("0.0.1", false)] {
        let id = insert_direct(
            &r,
            "verify_host_after_update",
            json!({"server_ids": [r.servers[0]]}),
            json!({"notes": "", "server_id": r.servers[0], "vcenter_host_id": null,
                   "expected_firmware_versions": {"BIOS": want}}),
            &[],
        )
        .await?;
        let (status, d) = r.wait_status(id, &["completed", "failed"]).await?;
        let w = &d["workflow_results"];
        if ok {
            assert_eq!(status, "completed", "{d:#}");
            assert_eq!(w["checks_passed"][0], format!("BIOS: {bios}"), "{d:#}");
        } else {
            assert_eq!(status, "failed", "{d:#}");
            assert_eq!(
                w["checks_failed"][0],
                format!("BIOS: expected 0.0.1, found {bios}"),
                "{d:#}"
            );
            assert!(
                d["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("expected 0.0.1")),
                "{d:#}"
            );
        }
    }
    r.db.drop_db().await;
    Ok(())
}

/// A full server update as `create-job` writes it (the parent, then six
/// component sub-jobs asking for the latest version, no image): the
/// sub-jobs run in component order with the newest package of the app's
/// firmware library (by version, not by text: 2.19.1 after 2.9.0), and a
/// component the library has none for is skipped, saying so.
#[tokio::test]
async fn a_full_server_update_runs_its_sub_jobs_in_order_from_the_firmware_library() -> Result<()> {
    let r = rig_with(87, 200, true).await?;
    let repo = outpost_sim::repo::serve(vec![(
        "/bios.exe".into(),
        outpost_sim::redfish::make_image("159", "2.19.1", 50_000),
    )])
    .await?;
    r.c.execute(
        "INSERT INTO public.firmware_packages (filename, file_size_bytes, served_url, component_type,
                dell_version, applicable_models, upload_status)
         VALUES ('BIOS_2.19.1.EXE', 50000, $1, 'BIOS', '2.19.1', '{}', 'completed'),
                ('BIOS_2.9.0.EXE', 50000, $2, 'BIOS', '2.9.0', '{}', 'completed'),
                ('BIOS_9.9.9.EXE', 50000, $2, 'BIOS', '9.9.9', '{}', 'uploading')",
        &[&format!("http://{repo}/bios.exe"), &format!("http://{repo}/missing.exe")],
    )
    .await?;
    let parent = create_job(
        &r,
        "full_server_update",
        json!({"server_ids": r.servers}),
        json!({}),
    )
    .await?;
    // The six sub-jobs in one insert, as create-job writes them.
    let children: Vec<Uuid> = r
        .c
        .query(
            "INSERT INTO public.jobs (job_type, status, target_scope, details, parent_job_id,
                    component_order)
             SELECT 'firmware_update', 'pending', $1,
                    jsonb_build_object('component', c, 'version', 'latest', 'apply_time', 'OnReset'),
                    $2, n::int
               FROM unnest(ARRAY['iDRAC', 'BIOS', 'CPLD', 'RAID', 'NIC', 'Backplane'])
                    WITH ORDINALITY AS x(c, n)
             RETURNING id",
            &[&json!({"server_ids": r.servers}), &parent],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(children.len(), 6);
    let until = Instant::now() + outpost_tests::fleet::SETTLE * 2;
    let (status, d) = loop {
        let (s, d) = r.job(parent).await?;
        if s == "completed" || s == "failed" {
            break (s, d);
        }
        anyhow::ensure!(Instant::now() < until, "the full update stayed {s}: {d:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status, "completed", "{d:#}");
    assert_eq!(d["total_components"], 6, "{d:#}");
    assert_eq!(d["progress_percent"], 100, "{d:#}");
    let (s, bios) = r.job(children[1]).await?;
    assert_eq!(s, "completed", "{bios:#}");
    assert!(bios.get("skipped").is_none(), "{bios:#}");
    assert_eq!(bios["version_after"], "2.19.1", "{bios:#}");
    let (s, idrac) = r.job(children[0]).await?;
    assert_eq!(s, "completed", "{idrac:#}");
    assert_eq!(idrac["skipped"], true, "{idrac:#}");
    assert!(
        idrac["message"]
            .as_str()
            .is_some_and(|m| m.contains("iDRAC")),
        "{idrac:#}"
    );
    // In component order: the BIOS started after the iDRAC sub-job ended.
    let ordered: bool =
        r.c.query_one(
            "SELECT b.started_at >= i.completed_at FROM public.jobs b, public.jobs i
              WHERE b.id = $1 AND i.id = $2",
            &[&children[1], &children[0]],
        )
        .await?
        .get(0);
    assert!(ordered);
    for a in r.sim.addrs() {
        let d = r.sim.device(a).context("device")?;
        let s = d.lock();
        let v = s
            .components
            .iter()
            .find(|c| c.id == "159")
            .map(|c| c.version.clone());
        assert_eq!(v.as_deref(), Some("2.19.1"));
    }
    r.db.drop_db().await;
    Ok(())
}

/// AddServerDialog's first discovery of the server it just added, with a
/// login typed into the dialog (`details.manual_credentials`): that login
/// is the one that works, and it leaves the job's row at once.
#[tokio::test]
async fn an_added_server_is_discovered_with_the_login_typed_into_the_dialog() -> Result<()> {
    let r = rig_with(89, 200, true).await?;
    r.c.execute(
        "UPDATE public.credential_sets SET password_encrypted = public.encrypt_password('stale', $1)",
        &[&APP_KEY],
    )
    .await?;
    let id = insert_direct(
        &r,
        "discovery_scan",
        json!({"server_ids": [r.servers[0]]}),
        json!({"manual_credentials": {"username": "root", "password": PASS},
               "fetch_options": {"firmware": true, "health": true, "bios": true}}),
        &[],
    )
    .await?;
    let (status, d) = r.wait_status(id, &["completed", "failed"]).await?;
    assert_eq!(status, "completed", "{d:#}");
    assert_eq!(d["discovered_count"], 1, "{d:#}");
    assert!(d["manual_credentials"].get("password").is_none(), "{d:#}");
    assert_eq!(d["manual_credentials"]["username"], "root");
    assert_eq!(
        server_col(&r, &ip(&r, 0), "credential_test_status")
            .await?
            .as_deref(),
        Some("valid")
    );
    r.db.drop_db().await;
    Ok(())
}

/// A rolling update from the Dell catalog waits for its catalog off the
/// bridge's loop: while the catalog's server holds its answer (as an
/// internet download can for minutes), a power action from the app is
/// claimed and finishes; when the catalog answers 404, the waiting job
/// fails naming it.
#[tokio::test]
async fn a_slow_dell_catalog_holds_only_its_own_job() -> Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let r = rig_with(90, 50, true).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (release, held) = tokio::sync::watch::channel(false);
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let seen = asked.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let (mut held, seen) = (held.clone(), seen.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut n = 0;
                while n < buf.len() && !buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf[n..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => n += k,
                    }
                }
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = held.wait_for(|go| *go).await;
                let _ = s
                    .write_all(
                        b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    )
                    .await;
            });
        }
    });
    let rolling = insert_direct(
        &r,
        "rolling_cluster_update",
        json!({"server_ids": r.servers}),
        json!({"firmware_source": "dell_online_catalog", "component_filter": ["all"],
               "dell_catalog_url": format!("http://{addr}/catalog/Catalog.xml"),
               "max_parallel": 1}),
        &[],
    )
    .await?;
    let until = Instant::now() + Duration::from_secs(60);
    while asked.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        anyhow::ensure!(Instant::now() < until, "the catalog was never asked for");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let power = insert_direct(
        &r,
        "power_action",
        json!({"type": "specific", "server_ids": [r.servers[0]]}),
        json!({"action": "ForceOff"}),
        &[],
    )
    .await?;
    let (status, d) = r.wait_status(power, &["completed", "failed"]).await?;
    assert_eq!(status, "completed", "{d:#}");
    let (status, d) = r.job(rolling).await?;
    assert_eq!(status, "running", "still waiting for its catalog: {d:#}");
    release.send(true)?;
    let (status, d) = r.wait_status(rolling, &["completed", "failed"]).await?;
    assert_eq!(status, "failed", "{d:#}");
    let e = d["error"].as_str().context("details.error")?;
    assert!(e.contains("Catalog.xml") && e.contains("404"), "{e}");
    r.db.drop_db().await;
    Ok(())
}
