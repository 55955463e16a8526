//! The Dell Server Manager bridge through the whole fleet: a coordinator
//! with `[dsm]` pointing at a test database (the app's fixture schema, the
//! trigger installed with `outpost dsm install`), a worker in the iDRACs'
//! zone, simulated iDRACs. Jobs are inserted the way the app inserts them
//! and every assertion reads the app's rows.

use anyhow::{Context, Result};
use outpost_sim::redfish::{Faults, Power, RedfishSim};
use outpost_tests::collect::{CollectFleet, Cred, outpost};
use outpost_tests::fleet::SETTLE;
use outpost_tests::pg::TestDb;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio_postgres::Client;
use uuid::Uuid;

const PASS: &str = "calvin-dsm-bridge";

struct Rig {
    f: CollectFleet,
    sim: RedfishSim,
    db: TestDb,
    c: Client,
    servers: Vec<Uuid>,
    _dir: tempfile::TempDir,
}

async fn rig(net: u8, poll_ms: u64) -> Result<Rig> {
    rig_with(net, poll_ms, false).await
}

/// `sealed`: zone `alpha` has a key pair and its worker's vault does not
/// hold the app's credential, so only a sealed one can log in.
async fn rig_with(net: u8, poll_ms: u64, sealed: bool) -> Result<Rig> {
    let dir = tempfile::tempdir()?;
    let db = TestDb::new().await?;
    let (code, out, err) = outpost(&["dsm", "install", "--database-url", &db.url], &[], "").await?;
    anyhow::ensure!(code == 0, "dsm install: {out}{err}");
    let c = db.client().await?;
    let ips: Vec<String> = (1..=2).map(|i| format!("127.1.{net}.{i}")).collect();
    let sim = outpost_tests::idracs::start(&ips, "root", PASS, 701, 0.005).await?;
    let port = sim.addrs()[0].port();
    // The app's data: a credential set, its servers.
    c.execute(
        "INSERT INTO public.activity_settings (encryption_key) VALUES ('app-key-1')",
        &[],
    )
    .await?;
    c.execute(
        "INSERT INTO public.credential_sets (name, username, password_encrypted, credential_type, is_default)
         VALUES ('idrac-prod', 'root', public.encrypt_password($1, 'app-key-1'), 'idrac', true)",
        &[&PASS],
    )
    .await?;
    let mut servers = Vec::new();
    for a in sim.addrs() {
        let row = c
            .query_one(
                "INSERT INTO public.servers (ip_address) VALUES ($1) RETURNING id",
                &[&a.ip().to_string()],
            )
            .await?;
        servers.push(row.get(0));
    }
    let dsm = format!(
        "[dsm]\ndatabase_url = \"{}\"\nexecutor_id = \"outpost-test\"\npoll_ms = {poll_ms}\nheartbeat_s = 1\nidrac_port = {port}\n",
        db.url
    );
    let key_file = dir.path().join("alpha.key");
    let zones = if sealed {
        let (code, out, err) = outpost(
            &["zone-key", "generate", "--out", &key_file.to_string_lossy()],
            &[],
            "",
        )
        .await?;
        anyhow::ensure!(code == 0, "zone-key generate: {out}{err}");
        format!(
            "{dsm}[[zone]]\nname = \"alpha\"\ncidrs = [\"127.1.0.0/16\"]\n{}",
            out.trim()
        )
    } else {
        format!("{dsm}{}", outpost_tests::fleet::TWO_ZONES)
    };
    let creds = if sealed {
        [Cred {
            name: "decoy",
            username: "nobody",
            password: "not-the-idrac-password",
            enable_secret: None,
            default: true,
        }]
    } else {
        [Cred {
            name: "idrac-prod",
            username: "root",
            password: PASS,
            enable_secret: None,
            default: true,
        }]
    };
    let mut f = CollectFleet::start_with_zones(dir.path(), &creds, &[], &zones).await?;
    let key_arg = key_file.to_string_lossy().into_owned();
    let extra: Vec<&str> = if sealed {
        vec!["--zone-key-file", &key_arg]
    } else {
        vec![]
    };
    f.worker("alpha", "alpha-1", &extra).await?;
    Ok(Rig {
        f,
        sim,
        db,
        c,
        servers,
        _dir: dir,
    })
}

impl Rig {
    async fn insert(&self, job_type: &str, scope: Value, details: Value) -> Result<Uuid> {
        let row = self
            .c
            .query_one(
                "INSERT INTO public.jobs (job_type, target_scope, details)
                 VALUES ($1::text::public.job_type, $2, $3) RETURNING id",
                &[&job_type, &scope, &details],
            )
            .await?;
        Ok(row.get(0))
    }

    async fn job(&self, id: Uuid) -> Result<(String, Value)> {
        let r = self
            .c
            .query_one(
                "SELECT status::text, coalesce(details, '{}') FROM public.jobs WHERE id = $1",
                &[&id],
            )
            .await?;
        Ok((r.get(0), r.get(1)))
    }

    async fn wait_status(&self, id: Uuid, want: &[&str]) -> Result<(String, Value)> {
        let until = Instant::now() + SETTLE;
        loop {
            let (s, d) = self.job(id).await?;
            if want.contains(&s.as_str()) {
                return Ok((s, d));
            }
            anyhow::ensure!(Instant::now() < until, "job {id} stayed {s}: {d:#}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// (status, progress, log, started, completed) of each row of a job.
    async fn rows(&self, id: Uuid) -> Result<Vec<(String, i32, String, bool, bool)>> {
        Ok(self
            .c
            .query(
                "SELECT status::text, progress, coalesce(log, ''), started_at IS NOT NULL,
                        completed_at IS NOT NULL
                   FROM public.job_tasks WHERE job_id = $1 ORDER BY created_at",
                &[&id],
            )
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
            .collect())
    }
}

#[tokio::test]
async fn jobs_from_the_app_run_and_report_back_the_way_its_ui_reads_them() -> Result<()> {
    // A long fallback poll: only the trigger's notification can be this fast.
    let r = rig(91, 60_000).await?;
    let untouched = r.insert("vcenter_sync", json!({}), json!({})).await?;

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
    assert_eq!(details["progress_pct"], 100, "{details:#}");
    assert!(
        details["console_log"]
            .as_array()
            .is_some_and(|l| !l.is_empty()),
        "{details:#}"
    );
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
                "SELECT service_tag, discovery_job_id FROM public.servers WHERE ip_address = $1",
                &[&a.ip().to_string()],
            )
            .await?;
        assert_eq!(
            row.get::<_, Option<String>>(0).as_deref(),
            Some(d.spec.service_tag.as_str())
        );
        assert_eq!(row.get::<_, Option<Uuid>>(1), Some(scan));
    }
    assert_eq!(r.rows(scan).await?.len(), 1, "one row for the whole scan");

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
