//! The Dell Server Manager bridge through the whole fleet: a coordinator
//! with `[dsm]` pointing at a test database (the app's fixture schema, the
//! trigger installed with `outpost dsm install`), a worker in the iDRACs'
//! zone, simulated iDRACs. Jobs are inserted the way the app inserts them
//! and every assertion reads the app's rows.

use anyhow::{Context, Result};
use outpost_sim::redfish::{Faults, Power};
use outpost_tests::collect::{CollectFleet, outpost};
use outpost_tests::dsm::{PASS, rig, rig_with};
use outpost_tests::fleet::SETTLE;
use outpost_tests::pg::TestDb;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use uuid::Uuid;

#[tokio::test]
async fn jobs_from_the_app_run_and_report_back_the_way_its_ui_reads_them() -> Result<()> {
    // A long fallback poll: only the trigger's notification can be this fast.
    let r = rig(91, 60_000).await?;
    let untouched = r.insert("esxi_upgrade", json!({}), json!({})).await?;

    // power_action on both servers, with a key the app wrote itself.
    let t0 = Instant::now();
    let id = r
        .insert(
            "power_action",
            json!({"server_ids": r.servers}),
            json!({"action": "ForceOff", "requested_by": "ui"}),
        )
        .await?;
    r.wait_status(id, &["running", "completed"]).await?;
    println!("pickup: {:?}", t0.elapsed());
    let (status, details) = r.wait_status(id, &["completed", "failed"]).await?;
    assert_eq!(status, "completed", "{details:#}");
    assert_eq!(
        details["requested_by"], "ui",
        "the app's keys stay: {details:#}"
    );
    assert_eq!(details["action"], "ForceOff");
    assert_eq!(details["progress_percent"], 100, "{details:#}");
    assert_eq!(details["success_count"], 2, "{details:#}");
    assert_eq!(details["failed_count"], 0, "{details:#}");
    // Every console line in the one form the app's console view shows.
    let log = details["console_log"].as_array().context("console_log")?;
    assert!(!log.is_empty(), "{details:#}");
    for l in log {
        let l = l.as_str().context("a console line")?;
        let b = l.as_bytes();
        assert!(
            b.len() > 12
                && b[0] == b'['
                && b[3] == b':'
                && b[6] == b':'
                && &l[9..11] == "] "
                && ["[INFO] ", "[WARN] ", "[ERROR] ", "[DEBUG] "]
                    .iter()
                    .any(|p| l[11..].starts_with(p)),
            "{l:?} is not [HH:MM:SS] [LEVEL] message"
        );
    }
    // The servers' power state follows.
    let states: Vec<Option<String>> =
        r.c.query(
            "SELECT power_state FROM public.servers ORDER BY ip_address",
            &[],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(states, vec![Some("Off".to_string()); 2]);
    let rows = r.rows(id).await?;
    assert_eq!(rows.len(), 2, "one row per server: {rows:?}");
    for (s, p, _log, started, done) in &rows {
        assert_eq!(
            (s.as_str(), *p, *started, *done),
            ("completed", 100, true, true),
            "{rows:?}"
        );
    }
    for a in r.sim.addrs() {
        assert_eq!(r.sim.device(a).unwrap().lock().power, Power::Off);
    }
    let times: (bool, bool) = {
        let row = r
            .c
            .query_one(
                "SELECT started_at IS NOT NULL, completed_at >= started_at FROM public.jobs WHERE id = $1",
                &[&id],
            )
            .await?;
        (row.get(0), row.get(1))
    };
    assert_eq!(times, (true, true));

    // A discovery of the /30 holding both iDRACs fills `servers`.
    let scan = r
        .insert(
            "discovery_scan",
            json!({"ip_range": "127.1.91.0/30"}),
            json!({"scan_type": "redfish"}),
        )
        .await?;
    let (status, details) = r.wait_status(scan, &["completed", "failed"]).await?;
    assert_eq!(status, "completed", "{details:#}");
    // A /30 has two host addresses (network and broadcast are not probed).
    assert_eq!(details["ips_total"], 2, "{details:#}");
    assert_eq!(details["ips_processed"], 2, "{details:#}");
    assert_eq!(details["discovered_count"], 2, "{details:#}");
    for a in r.sim.addrs() {
        let d = r.sim.device(a).unwrap();
        let row =
            r.c.query_one(
                "SELECT service_tag, discovery_job_id, credential_test_status, connection_status,
                        cpu_count, memory_gb, redfish_version, product_name,
                        discovered_by_credential_set_id IS NOT NULL, credential_last_tested IS NOT NULL
                   FROM public.servers WHERE ip_address = $1",
                &[&a.ip().to_string()],
            )
            .await?;
        assert_eq!(
            row.get::<_, Option<String>>(0).as_deref(),
            Some(d.spec.service_tag.as_str())
        );
        assert_eq!(row.get::<_, Option<Uuid>>(1), Some(scan));
        assert_eq!(row.get::<_, Option<String>>(2).as_deref(), Some("valid"));
        assert_eq!(row.get::<_, Option<String>>(3).as_deref(), Some("online"));
        assert_eq!(row.get::<_, Option<i32>>(4), Some(2));
        assert_eq!(row.get::<_, Option<i32>>(5), Some(512));
        assert_eq!(row.get::<_, Option<String>>(6).as_deref(), Some("1.17.0"));
        assert_eq!(
            row.get::<_, Option<String>>(7).as_deref(),
            Some(d.spec.model.as_str())
        );
        assert!(row.get::<_, bool>(8) && row.get::<_, bool>(9));
    }
    assert_eq!(details["scanned_ips"], 2, "{details:#}");
    assert_eq!(details["auth_failures"], 0, "{details:#}");
    assert_eq!(details["current_stage"], "complete", "{details:#}");
    assert!(
        r.rows(scan).await?.is_empty(),
        "the app keeps no rows for a scan"
    );

    // A scheduled job starts at its time, not before (the fallback poll is
    // a minute here: the bridge wakes for it).
    let later: Uuid =
        r.c.query_one(
            "INSERT INTO public.jobs (job_type, target_scope, details, schedule_at)
             VALUES ('power_action', $1, '{\"action\": \"On\"}', now() + interval '2 seconds')
             RETURNING id",
            &[&json!({"server_ids": [r.servers[0]]})],
        )
        .await?
        .get(0);
    let (status, details) = r.wait_status(later, &["completed", "failed"]).await?;
    assert_eq!(status, "completed", "{details:#}");
    let on_time: bool =
        r.c.query_one(
            "SELECT started_at >= schedule_at FROM public.jobs WHERE id = $1",
            &[&later],
        )
        .await?
        .get(0);
    assert!(on_time, "started before its schedule_at");

    // Another executor's job type is left alone; the heartbeat is there.
    assert_eq!(r.job(untouched).await?.0, "pending");
    let beats: i64 =
        r.c.query_one(
            "SELECT count(*) FROM public.executor_heartbeats WHERE executor_id = 'outpost-test'
               AND last_seen_at > now() - interval '1 minute'",
            &[],
        )
        .await?
        .get(0);
    assert_eq!(beats, 1);
    r.db.drop_db().await;
    Ok(())
}

#[tokio::test]
async fn a_cancel_in_the_app_stops_the_job_and_a_restart_resumes_owned_jobs() -> Result<()> {
    let mut r = rig(92, 200).await?;
    // A host that ignores graceful shutdowns keeps the job running.
    let a0 = r.sim.addrs()[0];
    r.sim.device(a0).unwrap().set_faults(Faults {
        graceful_ignored: true,
        ..Faults::default()
    });
    let id = r
        .insert(
            "power_action",
            json!({"server_ids": [r.servers[0]]}),
            json!({"action": "GracefulShutdown"}),
        )
        .await?;
    r.wait_status(id, &["running"]).await?;
    // Wait until the worker is on it, then cancel in the app.
    let until = Instant::now() + SETTLE;
    while r.rows(id).await?.first().map(|x| x.0.clone()) != Some("running".into()) {
        anyhow::ensure!(Instant::now() < until, "row never running");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    r.c.execute(
        "UPDATE public.jobs SET status = 'cancelled' WHERE id = $1",
        &[&id],
    )
    .await?;
    let until = Instant::now() + SETTLE;
    loop {
        let rows = r.rows(id).await?;
        if rows.first().is_some_and(|x| x.0 == "cancelled") {
            break;
        }
        anyhow::ensure!(Instant::now() < until, "row not cancelled: {rows:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(r.job(id).await?.0, "cancelled", "the app's cancel stays");

    // Restart: a job claimed before the coordinator died is finished by
    // the next one, which does not claim it again.
    let slow = r.sim.addrs()[1];
    r.sim.device(slow).unwrap().set_faults(Faults {
        slow_ms: 400,
        ..Faults::default()
    });
    let id = r
        .insert(
            "firmware_inventory_scan",
            json!({"server_ids": [r.servers[1]]}),
            json!({}),
        )
        .await?;
    r.wait_status(id, &["running"]).await?;
    r.f.fleet.kill_coordinator().await?;
    // And one it claimed in its last instant, before recording that it
    // owns it: the claim marks the job with the executor's id.
    let orphan = r
        .insert(
            "firmware_inventory_scan",
            json!({"server_ids": [r.servers[0]]}),
            json!({}),
        )
        .await?;
    let claimed = outpost_coordinator::dsm::claim::claim_one(
        &r.c,
        outpost_coordinator::dsm::SUPPORTED,
        "outpost-test",
    )
    .await?
    .context("the orphan claimed")?;
    assert_eq!(claimed.id, orphan);
    r.f.fleet.start_coordinator().await?;
    let (status, details) = r.wait_status(orphan, &["completed", "failed"]).await?;
    assert_eq!(status, "completed", "the orphan was started: {details:#}");
    assert_eq!(r.rows(orphan).await?.len(), 1);
    // The inventory is one collection in the app's firmware table.
    let n: i64 =
        r.c.query_one(
            "SELECT count(DISTINCT collected_at) * 1000 + count(*) FROM public.server_firmware_inventory
              WHERE server_id = $1 AND job_id = $2 AND version <> ''",
            &[&r.servers[0], &orphan],
        )
        .await?
        .get(0);
    assert!(n > 1000 && n < 2000, "one collection of components: {n}");
    let (status, details) = r.wait_status(id, &["completed", "failed"]).await?;
    assert_eq!(status, "completed", "{details:#}");
    let rows = r.rows(id).await?;
    assert_eq!(rows.len(), 1, "claimed once: {rows:?}");
    assert_eq!(rows[0].0, "completed");
    let jobs = r.f.fleet.api.list_jobs().await?;
    let inv: Vec<&Value> = jobs
        .iter()
        .filter(|j| j["type"] == "redfish.inventory")
        .collect();
    assert_eq!(inv.len(), 2, "one Outpost job per DSM job: {jobs:#?}");
    r.db.drop_db().await;
    Ok(())
}

#[tokio::test]
async fn a_job_outpost_cannot_run_is_failed_with_the_reason() -> Result<()> {
    let r = rig(93, 200).await?;
    let id = r
        .insert(
            "power_action",
            json!({"server_ids": [Uuid::now_v7().to_string()]}),
            json!({"action": "On"}),
        )
        .await?;
    let (status, details) = r.wait_status(id, &["failed", "completed"]).await?;
    assert_eq!(status, "failed");
    assert!(
        details["error"]
            .as_str()
            .context("error")?
            .contains("does not exist"),
        "{details:#}"
    );
    r.db.drop_db().await;
    Ok(())
}

/// The app's schema drifts under the bridge: a NULL where Outpost reads a
/// value, a column of another type. Each job that meets it fails with the
/// table and column named; the bridge goes on with the next job.
#[tokio::test]
async fn a_row_the_bridge_cannot_read_fails_its_job_and_the_bridge_goes_on() -> Result<()> {
    let r = rig(96, 200).await?;
    // A server row without an address (the app dropped the NOT NULL).
    r.c.batch_execute("ALTER TABLE public.servers ALTER COLUMN ip_address DROP NOT NULL")
        .await?;
    let bare: Uuid =
        r.c.query_one(
            "INSERT INTO public.servers (hostname) VALUES ('no-address') RETURNING id",
            &[],
        )
        .await?
        .get(0);
    let id = r
        .insert(
            "power_action",
            json!({"server_ids": [bare]}),
            json!({"action": "ForceOff"}),
        )
        .await?;
    let (status, details) = r.wait_status(id, &["failed", "completed"]).await?;
    assert_eq!(status, "failed", "{details:#}");
    let error = details["error"].as_str().context("details.error")?;
    assert!(
        error.contains("servers.ip_address")
            && error.contains(&bare.to_string())
            && error.contains("NULL"),
        "{error}"
    );

    // A migration turns the job's own credential_set_ids into text[].
    r.c.batch_execute(
        "ALTER TABLE public.jobs ALTER COLUMN credential_set_ids TYPE text[] \
         USING credential_set_ids::text[]",
    )
    .await?;
    let id = r
        .insert(
            "power_action",
            json!({"server_ids": r.servers}),
            json!({"action": "ForceOff"}),
        )
        .await?;
    let (status, details) = r.wait_status(id, &["failed", "completed"]).await?;
    assert_eq!(status, "failed", "{details:#}");
    let error = details["error"].as_str().context("details.error")?;
    assert!(
        error.contains("jobs.credential_set_ids")
            && error.contains(&id.to_string())
            && error.contains("_text"),
        "{error}"
    );

    // The schema back as the app ships it: the next job runs.
    r.c.batch_execute(
        "ALTER TABLE public.jobs ALTER COLUMN credential_set_ids TYPE uuid[] \
         USING credential_set_ids::uuid[]",
    )
    .await?;
    let id = r
        .insert(
            "power_action",
            json!({"server_ids": r.servers}),
            json!({"action": "ForceOff"}),
        )
        .await?;
    let (status, details) = r.wait_status(id, &["failed", "completed"]).await?;
    assert_eq!(status, "completed", "{details:#}");
    for a in r.sim.addrs() {
        assert_eq!(
            r.sim.device(a).context("a device")?.lock().power,
            Power::Off
        );
    }
    r.db.drop_db().await;
    Ok(())
}

#[tokio::test]
async fn credentials_are_sealed_to_the_zone_and_no_secret_shows_anywhere() -> Result<()> {
    let r = rig_with(94, 200, true).await?;
    // Everything that crosses NATS from now on.
    let nc = r.f.fleet.nats.client().await?;
    let mut all = nc.subscribe(">").await?;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let sink = seen.clone();
    tokio::spawn(async move {
        use futures::StreamExt;
        while let Some(m) = all.next().await {
            let mut s = sink.lock().unwrap();
            s.extend_from_slice(m.subject.as_bytes());
            if let Some(h) = &m.headers {
                s.extend_from_slice(format!("{h:?}").as_bytes());
            }
            s.extend_from_slice(&m.payload);
        }
    });
    let id = r
        .insert(
            "power_action",
            json!({"server_ids": r.servers}),
            json!({"action": "ForceOff"}),
        )
        .await?;
    let (status, details) = r.wait_status(id, &["completed", "failed"]).await?;
    assert_eq!(
        status, "completed",
        "the sealed credential logged in: {details:#}"
    );
    for a in r.sim.addrs() {
        assert_eq!(r.sim.device(a).unwrap().lock().power, Power::Off);
    }
    // The worker's vault has no such credential: the login came sealed.
    let job = r.f.fleet.api.list_jobs().await?;
    let view =
        r.f.fleet
            .api
            .job(job[0]["id"].as_str().context("job id")?)
            .await?;
    let t = &outpost_tests::api::tasks(&view)[0];
    let sealed = &t["params"]["sealed_credentials"]["idrac-prod"];
    assert_eq!(sealed["username"], "root", "{t:#}");
    assert!(
        sealed["password"].as_str().is_some_and(|p| p.len() > 40),
        "{t:#}"
    );
    nc.flush().await?;

    let secret = PASS.as_bytes();
    let has = |hay: &[u8]| hay.windows(secret.len()).any(|w| w == secret);
    let traffic = seen.lock().unwrap().clone();
    assert!(
        traffic.len() > 1000,
        "the capture saw the job's traffic ({} bytes)",
        traffic.len()
    );
    assert!(!has(&traffic), "the password crossed NATS");
    assert!(
        !has(view.to_string().as_bytes()),
        "the password is in job state"
    );
    let rows =
        r.c.query(
            "SELECT coalesce(details::text, '') FROM public.jobs
             UNION ALL SELECT coalesce(log, '') FROM public.job_tasks
             UNION ALL SELECT row_to_json(s)::text FROM public.servers s
             UNION ALL SELECT row_to_json(h)::text FROM public.executor_heartbeats h",
            &[],
        )
        .await?;
    for row in rows {
        let text: String = row.get(0);
        assert!(!has(text.as_bytes()), "the password is in a row: {text}");
    }
    let mut logs = r.f.fleet.coordinator.stdout();
    logs.extend(r.f.fleet.coordinator.stderr());
    for w in &r.f.fleet.workers {
        logs.extend(w.stdout());
        logs.extend(w.stderr());
    }
    assert!(!logs.is_empty());
    for l in logs {
        assert!(!has(l.as_bytes()), "the password is in a log line: {l}");
    }
    r.db.drop_db().await;
    Ok(())
}

#[tokio::test]
async fn two_coordinators_sharing_the_database_claim_each_job_once() -> Result<()> {
    let db = TestDb::new().await?;
    let c = db.client().await?;
    let (code, out, err) = outpost(&["dsm", "install", "--database-url", &db.url], &[], "").await?;
    anyhow::ensure!(code == 0, "dsm install: {out}{err}");
    let server: Uuid = c
        .query_one(
            "INSERT INTO public.servers (ip_address) VALUES ('127.1.95.1') RETURNING id",
            &[],
        )
        .await?
        .get(0);
    let mut fleets = Vec::new();
    let mut dirs = Vec::new();
    for n in 0..2 {
        let dir = tempfile::tempdir()?;
        let zones = format!(
            "[dsm]\ndatabase_url = \"{}\"\nexecutor_id = \"outpost-{n}\"\npoll_ms = 200\n{}",
            db.url,
            outpost_tests::fleet::TWO_ZONES
        );
        fleets.push(CollectFleet::start_with_zones(dir.path(), &[], &[], &zones).await?);
        dirs.push(dir);
    }
    // 200 jobs at once, as a burst from the app; no worker runs them, so
    // each stays with the coordinator that claimed it.
    c.execute(
        "INSERT INTO public.jobs (job_type, target_scope, details)
         SELECT 'power_action', jsonb_build_object('server_ids', jsonb_build_array($1::text)),
                '{\"action\": \"On\"}'
           FROM generate_series(1, 200)",
        &[&server.to_string()],
    )
    .await?;
    let until = Instant::now() + SETTLE;
    loop {
        let pending: i64 = c
            .query_one(
                "SELECT count(*) FROM public.jobs WHERE status = 'pending'",
                &[],
            )
            .await?
            .get(0);
        if pending == 0 {
            break;
        }
        anyhow::ensure!(Instant::now() < until, "{pending} jobs never claimed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Each job has exactly one owner: one Outpost job, one job_tasks row.
    let until = Instant::now() + SETTLE;
    let counts = loop {
        let mut counts = Vec::new();
        for f in &fleets {
            counts.push(f.fleet.api.list_jobs().await?.len());
        }
        let rows: i64 = c
            .query_one("SELECT count(*) FROM public.job_tasks", &[])
            .await?
            .get(0);
        if counts.iter().sum::<usize>() >= 200 && rows >= 200 {
            break counts;
        }
        anyhow::ensure!(Instant::now() < until, "jobs {counts:?}, rows {rows}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(counts.iter().sum::<usize>(), 200, "{counts:?}");
    assert!(
        counts.iter().all(|n| *n > 0),
        "both coordinators claimed: {counts:?}"
    );
    let doubled: i64 = c
        .query_one(
            "SELECT count(*) FROM (SELECT job_id FROM public.job_tasks GROUP BY job_id HAVING count(*) > 1) d",
            &[],
        )
        .await?
        .get(0);
    assert_eq!(doubled, 0, "a job was claimed twice");
    println!("claims per coordinator: {counts:?}");
    db.drop_db().await;
    Ok(())
}
