//! The DSM bridge's database side against a real PostgreSQL: each test
//! creates its own database with the fixture schema of the app
//! (tests/fixtures/dsm_schema.sql) and inserts jobs the way the app does.
//! Atomic claims under two racing claimers, types and schedules left
//! alone, the NOTIFY trigger, the heartbeat row.
//!
//! The server: `OUTPOST_PG_URL` (see `outpost_tests::pg`).

use outpost_coordinator::dsm::{SUPPORTED, access, claim, db, heartbeat, install};
use outpost_tests::pg::TestDb;
use std::collections::HashSet;
use std::time::Duration;
use tokio_postgres::Client;
use uuid::Uuid;

async fn fresh() -> (TestDb, Client) {
    let t = TestDb::new().await.expect("test database");
    let c = t.client().await.unwrap();
    (t, c)
}

async fn insert_job(c: &Client, job_type: &str, schedule_in_s: Option<i64>) -> Uuid {
    let row = c
        .query_one(
            "INSERT INTO public.jobs (job_type, target_scope, details, schedule_at)
             VALUES ($1::text::public.job_type, '{\"server_ids\": []}', '{\"action\": \"On\"}',
                     CASE WHEN $2::bigint IS NULL THEN NULL ELSE now() + make_interval(secs => $2::bigint) END)
             RETURNING id",
            &[&job_type, &schedule_in_s],
        )
        .await
        .unwrap();
    row.get(0)
}

async fn status(c: &Client, id: Uuid) -> String {
    c.query_one("SELECT status::text FROM public.jobs WHERE id = $1", &[&id])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn two_racing_claimers_take_each_job_once_and_leave_the_rest() {
    let (t, c) = fresh().await;
    let mut supported = HashSet::new();
    // A full update is claimed with its sub-jobs (create-job writes them
    // right after the parent): one without any waits, below.
    let types: Vec<&str> = SUPPORTED
        .iter()
        .copied()
        .filter(|t| *t != "full_server_update")
        .collect();
    for i in 0..200 {
        let ty = types[i % types.len()];
        supported.insert(insert_job(&c, ty, None).await);
    }
    let mut others = Vec::new();
    for ty in [
        "esxi_upgrade",
        "scp_export",
        "bios_config_read",
        "idrac_network_read",
        "full_server_update",
    ] {
        for _ in 0..5 {
            others.push(insert_job(&c, ty, None).await);
        }
    }
    let later = insert_job(&c, "power_action", Some(3600)).await;

    let claimer = |client: Client| async move {
        let mut got = Vec::new();
        while let Some(j) = claim::claim_one(&client, SUPPORTED, "outpost-test")
            .await
            .unwrap()
        {
            got.push(j.id);
        }
        got
    };
    let (a, b) = tokio::join!(
        tokio::spawn(claimer(t.client().await.unwrap())),
        tokio::spawn(claimer(t.client().await.unwrap()))
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(
        !a.is_empty() && !b.is_empty(),
        "both claimers raced: {} / {}",
        a.len(),
        b.len()
    );
    let mut all: Vec<Uuid> = a.iter().chain(b.iter()).copied().collect();
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n, "a job was claimed twice");
    assert_eq!(all.into_iter().collect::<HashSet<_>>(), supported);
    for id in &supported {
        assert_eq!(status(&c, *id).await, "running");
    }
    let started: i64 = c
        .query_one(
            "SELECT count(*) FROM public.jobs WHERE status = 'running' AND started_at IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(started, 200);
    for id in others {
        assert_eq!(
            status(&c, id).await,
            "pending",
            "unsupported types are left alone"
        );
    }
    assert_eq!(status(&c, later).await, "pending", "not yet due");
    t.drop_db().await;
}

#[tokio::test]
async fn a_scheduled_job_is_claimed_once_due_and_priority_goes_first() {
    let (t, c) = fresh().await;
    let soon = insert_job(&c, "power_action", Some(2)).await;
    assert_eq!(
        claim::claim_one(&c, SUPPORTED, "outpost-test")
            .await
            .unwrap(),
        None
    );
    let due = claim::next_due(&c, SUPPORTED)
        .await
        .unwrap()
        .expect("a scheduled job");
    assert!(due > chrono::Utc::now());
    let until = tokio::time::Instant::now() + Duration::from_secs(30);
    let got = loop {
        if let Some(j) = claim::claim_one(&c, SUPPORTED, "outpost-test")
            .await
            .unwrap()
        {
            break j;
        }
        assert!(tokio::time::Instant::now() < until, "never claimed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(got.id, soon);
    assert!(chrono::Utc::now() >= due, "claimed before its schedule_at");
    assert_eq!(got.details["action"], "On");

    let normal = insert_job(&c, "power_action", None).await;
    let urgent = insert_job(&c, "power_action", None).await;
    c.execute(
        "UPDATE public.jobs SET priority = 'critical' WHERE id = $1",
        &[&urgent],
    )
    .await
    .unwrap();
    assert_eq!(
        claim::claim_one(&c, SUPPORTED, "outpost-test")
            .await
            .unwrap()
            .unwrap()
            .id,
        urgent
    );
    assert_eq!(
        claim::claim_one(&c, SUPPORTED, "outpost-test")
            .await
            .unwrap()
            .unwrap()
            .id,
        normal
    );
    t.drop_db().await;
}

#[tokio::test]
async fn the_trigger_notifies_new_jobs_and_status_changes() {
    let (t, c) = fresh().await;
    install::install(&c).await.unwrap();
    install::install(&c).await.expect("install is idempotent");
    assert!(install::installed(&c).await.unwrap());
    let (listener, mut notices) = db::connect(&t.url, &db::Tls::default()).await.unwrap();
    listener
        .batch_execute(&format!("LISTEN {}", install::CHANNEL))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let id = insert_job(&c, "discovery_scan", None).await;
    let n = tokio::time::timeout(Duration::from_secs(10), notices.recv())
        .await
        .expect("a notification")
        .unwrap();
    println!("insert → notification: {:?}", started.elapsed());
    let v: serde_json::Value = serde_json::from_str(&n.payload).unwrap();
    assert_eq!(v["id"], id.to_string());
    assert_eq!(v["status"], "pending");
    assert_eq!(v["job_type"], "discovery_scan");
    c.execute(
        "UPDATE public.jobs SET status = 'cancelled' WHERE id = $1",
        &[&id],
    )
    .await
    .unwrap();
    let n = tokio::time::timeout(Duration::from_secs(10), notices.recv())
        .await
        .expect("a notification")
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&n.payload).unwrap();
    assert_eq!(v["status"], "cancelled");
    t.drop_db().await;
}

#[tokio::test]
async fn the_heartbeat_row_is_one_per_executor_and_kept_fresh() {
    let (t, c) = fresh().await;
    let mut b = heartbeat::Beat {
        executor_id: "outpost-test".into(),
        ..Default::default()
    };
    heartbeat::beat(&c, &b, true).await.unwrap();
    let first: chrono::DateTime<chrono::Utc> = c
        .query_one("SELECT last_seen_at FROM public.executor_heartbeats", &[])
        .await
        .unwrap()
        .get(0);
    b.polls = 7;
    b.jobs_processed = 3;
    heartbeat::beat(&c, &b, false).await.unwrap();
    let rows = c
        .query(
            "SELECT poll_count, jobs_processed, last_seen_at, capabilities FROM public.executor_heartbeats",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, i32>(0), 7);
    assert_eq!(rows[0].get::<_, i32>(1), 3);
    assert!(rows[0].get::<_, chrono::DateTime<chrono::Utc>>(2) >= first);
    let caps: serde_json::Value = rows[0].get(3);
    assert_eq!(
        caps["job_types"].as_array().map(Vec::len),
        Some(SUPPORTED.len())
    );
    t.drop_db().await;
}

#[tokio::test]
async fn sslmode_require_connects_over_tls_and_checks_the_certificate() {
    let (t, c) = fresh().await;
    let ssl: String = c.query_one("SHOW ssl", &[]).await.unwrap().get(0);
    assert_eq!(
        ssl, "on",
        "the test server must have TLS on (Debian's default, snakeoil certificate)"
    );
    let cert_file: String = c.query_one("SHOW ssl_cert_file", &[]).await.unwrap().get(0);
    // The server's self-signed certificate names `localhost`.
    let url = format!(
        "{} sslmode=require",
        t.url.replace("127.0.0.1", "localhost")
    );
    let on_tls = |client: tokio_postgres::Client| async move {
        client
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .unwrap()
            .get::<_, bool>(0)
    };
    let trusted = db::Tls {
        ca_file: Some(cert_file.into()),
        verify: true,
    };
    let (client, _) = db::connect(&url, &trusted)
        .await
        .expect("TLS with the server's CA");
    assert!(on_tls(client).await);
    // The system's CAs do not vouch for a self-signed certificate.
    let Err(e) = db::connect(&url, &db::Tls::default()).await else {
        panic!("a self-signed certificate was accepted");
    };
    let msg = e.to_string();
    assert!(
        msg.contains("certificate") || msg.contains("UnknownIssuer"),
        "{msg}"
    );
    assert!(!msg.contains("password="), "{msg}");
    let (client, _) = db::connect(
        &url,
        &db::Tls {
            ca_file: None,
            verify: false,
        },
    )
    .await
    .expect("encrypt-only when asked");
    assert!(on_tls(client).await);
    t.drop_db().await;
}

/// The app's tables have row-level security: a role that is neither a
/// superuser nor `BYPASSRLS` nor let through by a policy sees no job and
/// gets no error. The bridge's start-up check names that, and what to do;
/// `outpost dsm install` says what it lacks.
#[tokio::test]
async fn a_role_that_row_level_security_blinds_is_refused_with_the_reason() {
    let (t, c) = fresh().await;
    let role = format!("outpost_rls_{}", Uuid::now_v7().simple());
    c.batch_execute(&format!(
        "CREATE ROLE {role} LOGIN;
         GRANT USAGE ON SCHEMA public TO {role};
         GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO {role};"
    ))
    .await
    .unwrap();
    let job = insert_job(&c, "power_action", None).await;
    let url = format!(
        "{} dbname={} user={role}",
        outpost_tests::pg::server_url(),
        t.name
    );
    let (rc, _) = db::connect(&url, &db::Tls::default()).await.unwrap();
    // What the bridge would meet: nothing to claim, and no error.
    let none = claim::claim_one(&rc, SUPPORTED, "outpost-rls")
        .await
        .unwrap();
    assert!(none.is_none(), "the role saw a job through RLS");
    let problems = access::check(&rc).await.unwrap();
    let text = problems.join("\n");
    assert!(
        text.contains("row-level security hides rows of public.jobs") && text.contains("BYPASSRLS"),
        "{text}"
    );
    let install = access::check_install(&rc).await.unwrap().join("\n");
    assert!(install.contains("does not own public.jobs"), "{install}");
    let (code, out, err) =
        outpost_tests::collect::outpost(&["dsm", "install", "--database-url", &url], &[], "")
            .await
            .unwrap();
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("does not own public.jobs"), "{err}");

    // With BYPASSRLS the same role passes and claims.
    c.batch_execute(&format!("ALTER ROLE {role} BYPASSRLS"))
        .await
        .unwrap();
    let (rc, _) = db::connect(&url, &db::Tls::default()).await.unwrap();
    assert_eq!(access::check(&rc).await.unwrap(), Vec::<String>::new());
    let got = claim::claim_one(&rc, SUPPORTED, "outpost-rls")
        .await
        .unwrap();
    assert_eq!(got.map(|j| j.id), Some(job));
    drop(rc);
    t.drop_db().await;
    let _ = c
        .batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role}"))
        .await;
}
