//! A site as `outpost site init` makes it: its leaf nats-server joins the
//! hub over TLS with the site's own password, its workers connect to the
//! leaf over TLS with their zone's identity, and a job runs there. The
//! hub's leaf port speaks TLS only, and a leaf with a wrong password is
//! refused.

use anyhow::Result;
use outpost_nats::setup::{SiteSpec, init_site};
use outpost_proto::pb;
use outpost_tests::fleet::{SETTLE, START, spawn_coordinator};
use outpost_tests::inspect;
use outpost_tests::nats::{NatsServer, free_port};
use outpost_tests::procs::Proc;
use outpost_tests::sites::Link;
use serde_json::json;
use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

/// Whether the hub reaches JetStream domain `domain` (a joined leaf).
async fn reaches(hub: &NatsServer, domain: &str) -> Result<bool> {
    let js = async_nats::jetstream::with_domain(hub.client().await?, domain);
    Ok(matches!(
        tokio::time::timeout(Duration::from_secs(2), js.query_account()).await,
        Ok(Ok(_))
    ))
}

#[tokio::test]
async fn a_site_from_site_init_runs_jobs_and_the_hub_admits_only_it() -> Result<()> {
    let leaf_port = free_port()?;
    let mut hub = NatsServer::secure_unstarted(&["a1"], |spec| {
        spec.domain = Some("hub".into());
        spec.leaf_listen = Some(format!("127.0.0.1:{leaf_port}"));
    })?;
    let bundle = hub.bundle().expect("a secure hub").to_path_buf();
    let link = Link::start(leaf_port).await?;
    let site_port = free_port()?;
    let store = tempfile::tempdir()?;
    let spec = SiteSpec {
        name: "s1".into(),
        zones: vec!["a1".into()],
        hub: vec![format!("127.0.0.1:{}", link.port)],
        server_names: vec!["127.0.0.1".into()],
        listen: format!("127.0.0.1:{site_port}"),
        store_dir: store.path().join("leaf"),
    };
    let report = init_site(&bundle, &spec)?;
    assert!(report.hub_restart);
    // The site's conf carries its password: the owner alone reads it.
    let conf = report.dir.join("nats-server.conf");
    assert_eq!(
        std::fs::metadata(&conf)?.permissions().mode() & 0o777,
        0o600
    );
    let hub_conf = std::fs::read_to_string(bundle.join("nats-server.conf"))?;
    let password = std::fs::read_to_string(report.dir.join("leaf.pass"))?;
    assert!(
        !hub_conf.contains(password.trim()),
        "the hub's conf holds the site's password in clear"
    );
    // Re-running changes nothing the hub would need to restart for.
    let again = init_site(&bundle, &spec)?;
    assert!(!again.hub_restart, "a re-run changed the hub's conf");
    // nats-server itself accepts both confs as written (no deprecated keys).
    for conf_file in [bundle.join("nats-server.conf"), conf.clone()] {
        let out = std::process::Command::new(outpost_tests::nats::server_bin()?)
            .arg("-t")
            .arg("-c")
            .arg(&conf_file)
            .output()?;
        assert!(
            out.status.success(),
            "nats-server -t {}: {}{}",
            conf_file.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    hub.start_now().await?;
    let mut leaf = NatsServer::from_conf(report.dir.clone(), site_port)?;
    leaf.launch_now()?;
    outpost_tests::wait_until(
        "the site joined",
        Duration::from_secs(60),
        async || match reaches(&hub, "s1").await {
            Ok(true) => Ok(()),
            other => Err(format!("{other:?}")),
        },
    )
    .await?;

    // The coordinator keeps the site's layout; a worker at the site runs a job.
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("coordinator.toml");
    std::fs::write(
        &path,
        format!(
            "nats_url = {:?}\n{}[jetstream]\ndomain = \"hub\"\n[[site]]\nname = \"s1\"\nzones = [\"a1\"]\n[[zone]]\nname = \"a1\"\ncidrs = []\n",
            hub.url(),
            hub.coordinator_toml()
        ),
    )?;
    let (_coordinator, api) = spawn_coordinator(path, None, &[]).await?;
    let args = leaf.worker_args("a1");
    let mut flags: Vec<&OsStr> = ["--zone", "a1", "--worker-id", "w-a1"]
        .iter()
        .map(OsStr::new)
        .collect();
    flags.extend(args.iter().map(OsStr::new));
    let mut worker = None;
    // The worker binds to the site's consumers, which the coordinator makes
    // once the site answers.
    for _ in 0..60 {
        let mut w = Proc::spawn(
            "w-a1",
            outpost_tests::fleet_bin("outpost-worker")?,
            &flags,
            &[],
        )?;
        if w.wait_for_line(|l| l.starts_with("outpost-worker ready"), START)
            .await
            .is_ok()
        {
            worker = Some(w);
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let _worker = worker.ok_or_else(|| anyhow::anyhow!("the site's worker never started"))?;
    let id = api
        .submit_ok(&json!({"type": "diag.sleep", "zone": "a1", "params": {"count": 20, "ms": 10}}))
        .await?;
    let job = api.wait_finished(&id, SETTLE).await?;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    let events: Vec<pb::Event> = inspect::events_from(hub.client().await?, &id)
        .await?
        .into_iter()
        .map(|(e, _)| e)
        .collect();
    assert_eq!(
        inspect::results_per_task(&events, pb::Outcome::Succeeded).len(),
        20
    );
    // `GET /api/v1/sites` says the link is up.
    let sites = api.get("/api/v1/sites").await?;
    assert_eq!(sites.status, 200, "{:?}", sites.body);
    assert_eq!(sites.body["sites"][0]["name"], "s1", "{:?}", sites.body);
    assert_eq!(sites.body["sites"][0]["up"], true, "{:?}", sites.body);

    // The hub's leaf port speaks TLS only.
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", leaf_port)).await?;
    let mut info = vec![0u8; 4096];
    let n = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::AsyncReadExt::read(&mut tcp, &mut info),
    )
    .await??;
    let info = String::from_utf8_lossy(&info[..n]).to_string();
    assert!(
        info.starts_with("INFO ") && info.contains("\"tls_required\":true"),
        "{info}"
    );

    // A leaf with the site's user and another password is refused: the
    // hub never reaches its domain.
    let site_conf = std::fs::read_to_string(&conf)?;
    let rogue_dir = tempfile::tempdir()?;
    let port = free_port()?;
    let forged = site_conf
        .replace(password.trim(), "not-the-password")
        .replace("domain: \"s1\"", "domain: \"rogue\"")
        .replace(
            &format!("127.0.0.1:{site_port}"),
            &format!("127.0.0.1:{port}"),
        )
        .replace(
            &store.path().join("leaf").display().to_string(),
            &rogue_dir.path().join("store").display().to_string(),
        );
    std::fs::write(rogue_dir.path().join("nats-server.conf"), forged)?;
    let mut rogue = NatsServer::from_conf(rogue_dir.path().to_path_buf(), port)?;
    rogue.launch_now()?;
    outpost_tests::wait_until(
        "the hub refusing the forged leaf",
        Duration::from_secs(30),
        async || {
            let hub_log = hub.log();
            if hub_log.contains("Authorization Violation")
                || rogue.log().contains("Authorization Violation")
            {
                Ok(())
            } else {
                Err("no refusal yet".to_string())
            }
        },
    )
    .await?;
    assert!(
        rogue.is_running(),
        "the forged leaf did not run: {}",
        rogue.log()
    );
    assert!(
        !reaches(&hub, "rogue").await?,
        "the hub admitted a leaf with a wrong password"
    );
    Ok(())
}
