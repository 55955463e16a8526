//! `outpost run-job` as a VelocityCollector user expects it, through the
//! whole fleet: captures under the job file's `storage.base_path` (`~`
//! from `HOME`, a relative path from where the CLI runs, the default
//! `~/.vcollector/collections`), the API's jobs still under the
//! coordinator's `capture_dir`; the credential from `--credential`, then
//! `credentials.credential_set`, then the vault default, an unknown one
//! refused before anything runs; a zone without a worker said at submit
//! and while waiting, `--wait-timeout` giving up with exit code 1, and a
//! run without it going on once a worker of the zone arrives.

use anyhow::Result;
use outpost_sim::ssh::{DeviceSpec, Fault, Platform, SshSim};
use outpost_tests::collect::{CollectFleet, Cred, Row, job_file};
use outpost_tests::fleet_bin;
use outpost_tests::procs::Proc;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

const USER: &str = "netops";
const PASS: &str = "sim-pass-1";
const ENABLE: &str = "sim-enable-1";

fn device(name: &str, addr: &str, platform: Platform) -> DeviceSpec {
    DeviceSpec {
        name: name.to_string(),
        listen: addr.parse::<SocketAddr>().expect("address"),
        platform,
        username: USER.to_string(),
        password: PASS.to_string(),
        enable_secret: Some(ENABLE.to_string()),
        latency_ms: 5,
        config_bytes: 4096,
        paging: true,
        legacy_only: false,
        host_key_seed: 7,
        fault: Fault::None,
    }
}

fn rows(sim: &SshSim) -> Vec<Row<'static>> {
    sim.addrs()
        .into_iter()
        .map(|(name, addr)| Row {
            name: Box::leak(name.into_boxed_str()),
            ip: Box::leak(addr.ip().to_string().into_boxed_str()),
            port: addr.port(),
            vendor: "cisco",
            platform: "cisco_ios",
            zone: "",
            legacy: false,
        })
        .collect()
}

fn lab() -> Vec<Cred<'static>> {
    vec![Cred {
        name: "lab",
        username: USER,
        password: PASS,
        enable_secret: Some(ENABLE),
        default: true,
    }]
}

fn write_job(path: &Path, doc: &Value) -> Result<String> {
    std::fs::write(path, doc.to_string())?;
    Ok(path.to_string_lossy().into_owned())
}

fn sha_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The newest job's view.
async fn newest_job(f: &CollectFleet) -> Result<Value> {
    let jobs = f.fleet.api.list_jobs().await?;
    f.fleet
        .api
        .job(jobs[0]["id"].as_str().unwrap_or_default())
        .await
}

#[tokio::test]
async fn captures_go_where_the_job_file_says() -> Result<()> {
    let sim = SshSim::start(vec![
        device("d1", "127.1.12.1:0", Platform::Ios),
        device("d2", "127.1.12.2:0", Platform::Eos),
    ])
    .await?;
    let dir = tempfile::tempdir()?;
    let mut f = CollectFleet::start(dir.path(), &lab(), &rows(&sim)).await?;
    f.worker("alpha", "w-alpha", &[]).await?;
    let job = dir.path().join("job.json");

    // `~` is the runner's home.
    let mut doc = job_file("21", "terminal length 0,show running-config", None, 10);
    doc["storage"]["base_path"] = "~/netcaps".into();
    let j = write_job(&job, &doc)?;
    let (code, out, err) = f.outpost(&["run-job", "--job", &j, "-y"], "").await?;
    assert_eq!(code, 0, "{out}\n{err}");
    let configs = f.home.join("netcaps/configs");
    assert!(
        out.contains(&format!("Output dir: {}\n", configs.display())),
        "{out}"
    );
    assert!(out.contains("Saved 2 captures:\n"), "{out}");
    assert!(out.contains("  - d1: d1.txt ("), "{out}");
    let addr1 = sim.addrs()[0].1.ip().to_string();
    assert!(
        out.contains(&format!("✓ d1 ({addr1}) - ")),
        "progress lines name the device: {out}"
    );
    // Each file is the worker's capture, byte for byte.
    let view = newest_job(&f).await?;
    for t in view["tasks"].as_array().into_iter().flatten() {
        let name = t["params"]["device_name"].as_str().unwrap_or_default();
        let body = std::fs::read(configs.join(format!("{name}.txt")))?;
        assert_eq!(
            Some(sha_hex(&body).as_str()),
            t["output"]["sha256"].as_str(),
            "{name}"
        );
        assert!(String::from_utf8_lossy(&body).contains(&format!("hostname {name}")));
    }
    assert!(
        !f.captures.join("configs").exists(),
        "the coordinator wrote a run-job capture into its capture_dir"
    );

    // A relative base_path starts where the CLI runs.
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work)?;
    doc["storage"]["base_path"] = "rel/caps".into();
    let j = write_job(&job, &doc)?;
    let (code, out, err) = f
        .outpost_in(Some(&work), &["run-job", "--job", &j, "-y"], "")
        .await?;
    assert_eq!(code, 0, "{out}\n{err}");
    let text = std::fs::read_to_string(work.join("rel/caps/configs/d2.txt"))?;
    assert!(text.contains("hostname d2"), "{text}");
    assert!(!f.home.join("rel").exists() && !dir.path().join("rel").exists());

    // No base_path: VelocityCollector's ~/.vcollector/collections.
    let doc = job_file("22", "show running-config", Some("d1"), 10);
    let j = write_job(&job, &doc)?;
    let (code, out, err) = f.outpost(&["run-job", "--job", &j, "-y"], "").await?;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(f.collections().join("configs/d1.txt").exists(), "{out}");

    // --no-save writes nothing and prints no captures block.
    std::fs::remove_dir_all(f.collections())?;
    let (code, out, err) = f
        .outpost(&["run-job", "--job", &j, "-y", "--no-save"], "")
        .await?;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        !out.contains("Saved") && !out.contains("captures saved"),
        "{out}"
    );
    assert!(!f.collections().exists());

    // A job submitted through the API keeps the coordinator's capture_dir;
    // its base_path is a notice.
    let mut doc = job_file("23", "show running-config", Some("d2"), 10);
    doc["storage"]["base_path"] = "~/api-caps".into();
    let id = f
        .fleet
        .api
        .submit_ok(&serde_json::json!({ "type": "ssh.collect", "params": { "job": doc } }))
        .await?;
    let view = f
        .fleet
        .api
        .wait_finished(&id, Duration::from_secs(120))
        .await?;
    assert_eq!(view["status"], "succeeded", "{view:#}");
    assert!(f.captures.join("configs/d2.txt").exists());
    assert!(!f.home.join("api-caps").exists());
    assert!(
        view["params"]["notices"]
            .to_string()
            .contains("storage.base_path: used by `outpost run-job`"),
        "{view:#}"
    );
    Ok(())
}

#[tokio::test]
async fn the_credential_comes_from_the_flag_then_the_job_file_then_the_default() -> Result<()> {
    let sim = SshSim::start(vec![device("c1", "127.1.13.1:0", Platform::Ios)]).await?;
    let dir = tempfile::tempdir()?;
    let creds = [
        Cred {
            name: "good",
            username: USER,
            password: PASS,
            enable_secret: Some(ENABLE),
            default: false,
        },
        // The default, with a password the device refuses.
        Cred {
            name: "stale",
            username: USER,
            password: "not-the-password",
            enable_secret: None,
            default: true,
        },
    ];
    let mut f = CollectFleet::start(dir.path(), &creds, &rows(&sim)).await?;
    f.worker("alpha", "w-alpha", &[]).await?;
    let job = dir.path().join("job.json");
    let run = |args: &'static [&'static str]| {
        let j = job.to_string_lossy().into_owned();
        let f = &f;
        async move {
            let mut all = vec!["run-job", "--job", j.as_str(), "-y"];
            all.extend_from_slice(args);
            f.outpost(&all, "").await
        }
    };

    // Nothing named: the vault's default.
    let mut doc = job_file("31", "show running-config", None, 10);
    write_job(&job, &doc)?;
    let (code, out, err) = run(&[]).await?;
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("Results: 0 success, 1 failed"), "{out}");
    assert!(
        out.contains(" - auth: authentication as \"netops\""),
        "{out}"
    );

    // The job file's credentials.credential_set.
    doc["credentials"] = serde_json::json!({ "credential_set": "good" });
    write_job(&job, &doc)?;
    let (code, out, err) = run(&[]).await?;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("Credential: good (from credentials.credential_set)"),
        "{out}"
    );
    assert!(
        out.contains("Using credentials: good (user: netops)"),
        "{out}"
    );

    // --credential wins over the job file.
    doc["credentials"] = serde_json::json!({ "credential_set": "stale" });
    write_job(&job, &doc)?;
    let (code, out, err) = run(&["--credential", "good"]).await?;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("Credential: good (from --credential)"),
        "{out}"
    );
    assert!(
        out.contains("Using credentials: good (user: netops)"),
        "{out}"
    );

    // An unknown name is refused before the run (the coordinator's plan
    // already refuses it), naming what the zone has; no job is created.
    let jobs_before = f.fleet.api.list_jobs().await?.len();
    let refused = |err: &str| {
        err.contains(
            "zone \"alpha\": worker w-alpha has no credential \"nope\"; it has: good, stale",
        )
    };
    for args in [
        &["--credential", "nope"][..],
        &["--credential", "nope", "--dry-run"][..],
    ] {
        let (code, out, err) = run(args).await?;
        assert_ne!(code, 0, "{out}\n{err}");
        assert!(refused(&err), "{err}");
        assert!(!out.contains("Executing"), "{out}");
    }
    doc["credentials"] = serde_json::json!({ "credential_set": "nope" });
    write_job(&job, &doc)?;
    let (code, out, err) = run(&[]).await?;
    assert_ne!(code, 0, "{out}\n{err}");
    assert!(refused(&err), "{err}");
    assert_eq!(
        f.fleet.api.list_jobs().await?.len(),
        jobs_before,
        "a refused run created a job"
    );

    // Through the API the coordinator refuses it at submit, from the
    // names the zone's workers report, and creates no job.
    let api_job = dir.path().join("api.json");
    std::fs::write(
        &api_job,
        serde_json::json!({ "type": "ssh.collect", "params": { "job": doc } }).to_string(),
    )?;
    let (code, out, err) = f
        .outpost(&["submit", &api_job.to_string_lossy()], "")
        .await?;
    assert_ne!(code, 0, "{out}\n{err}");
    assert!(
        err.contains(
            "zone \"alpha\": worker w-alpha has no credential \"nope\"; it has: good, stale"
        ),
        "{out}\n{err}"
    );
    assert_eq!(f.fleet.api.list_jobs().await?.len(), jobs_before);
    Ok(())
}

#[tokio::test]
async fn a_zone_without_worker_is_said_and_wait_timeout_gives_up() -> Result<()> {
    let sim = SshSim::start(vec![
        device("a1", "127.1.14.1:0", Platform::Ios),
        device("b1", "127.2.14.1:0", Platform::Ios),
    ])
    .await?;
    let dir = tempfile::tempdir()?;
    let mut f = CollectFleet::start(dir.path(), &lab(), &rows(&sim)).await?;
    f.worker("alpha", "w-alpha", &[]).await?;
    let job = dir.path().join("job.json");
    let j = write_job(&job, &job_file("41", "show running-config", None, 10))?;
    let b1 = sim.addrs()[1].1.ip().to_string();

    // Said when planning.
    let (code, out, err) = f
        .outpost(&["run-job", "--job", &j, "--dry-run"], "")
        .await?;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("Warning: no live worker serves zone \"beta\" for ssh.collect: its 1 device will wait until one starts (start one, or pass --wait-timeout SECS to give up)"),
        "{out}"
    );

    // Said at submit and while waiting; the timeout cancels the job.
    let t0 = Instant::now();
    let (code, out, err) = f
        .outpost(&["run-job", "--job", &j, "-y", "--wait-timeout", "7"], "")
        .await?;
    let took = t0.elapsed();
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        out.contains("(the run gives up after --wait-timeout 7s)"),
        "{out}"
    );
    assert!(
        out.contains("  Waiting: no live worker serves zone \"beta\" for ssh.collect"),
        "nothing said while waiting: {out}"
    );
    assert!(
        out.contains(
            "  Giving up: --wait-timeout 7s passed with 1 device not collected; cancelling job "
        ),
        "{out}"
    );
    assert!(out.contains("Results: 1 success, 1 failed"), "{out}");
    assert!(
        out.contains(&format!(
            "  - b1 ({b1}): cancelled: cancelled before it started; not collected within --wait-timeout 7s; no live worker served zone \"beta\""
        )),
        "{out}"
    );
    assert!(out.contains("Saved 1 captures:"), "{out}");
    assert!(took < Duration::from_secs(60), "took {took:?}");
    let view = newest_job(&f).await?;
    assert_eq!(view["status"], "cancelled", "{view:#}");

    // Nothing collected: no captures header over nothing.
    let only_b = dir.path().join("b.json");
    let jb = write_job(
        &only_b,
        &job_file("42", "show running-config", Some("b1"), 10),
    )?;
    let (code, out, err) = f
        .outpost(&["run-job", "--job", &jb, "-y", "--wait-timeout", "2"], "")
        .await?;
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("No captures saved."), "{out}");
    // Gone before the first check while waiting: the reason still names the zone.
    assert!(
        out.contains("not collected within --wait-timeout 2s; no live worker served zone \"beta\""),
        "{out}"
    );
    assert!(!out.contains("Saved 0"), "{out}");

    // Without a timeout the run waits, says so, and goes on when a worker
    // of the zone arrives.
    let home = f.home.to_string_lossy().into_owned();
    let mut cli = Proc::spawn(
        "run-job",
        fleet_bin("outpost")?,
        &["run-job", "--job", jb.as_str(), "-y"].map(OsStr::new),
        &[("OUTPOST_API", &f.fleet.api.base), ("HOME", &home)],
    )?;
    cli.wait_for_line(
        |l| l.starts_with("  Waiting: no live worker serves zone \"beta\""),
        Duration::from_secs(60),
    )
    .await?;
    f.worker("beta", "w-beta", &[]).await?;
    let status = cli.wait_exit(Duration::from_secs(120)).await?;
    let out = cli.stdout().join("\n");
    assert_eq!(status.code(), Some(0), "{out}");
    assert!(
        out.contains("  Zone \"beta\" is served now (w-beta)"),
        "{out}"
    );
    assert!(out.contains("Results: 1 success, 0 failed"), "{out}");
    assert!(f.collections().join("configs/b1.txt").exists(), "{out}");
    Ok(())
}
