//! `ssh.collect` against the network-device simulator: every fault with its
//! error class, legacy algorithms only when the device is marked legacy,
//! big paged configs, enable mode, a job across two zones, `--dry-run`,
//! `--limit`, `run-jobs` exit codes, odd device names made safe capture
//! names, and a job file's leading `enable` taken as the enable step.

use anyhow::Result;
use outpost_sim::ssh::{DeviceSpec, Fault, Platform, SshSim};
use outpost_tests::collect::{CollectFleet, Cred, Row, job_file};
use serde_json::Value;
use std::net::SocketAddr;

const USER: &str = "netops";
const PASS: &str = "sim-pass-1";
const ENABLE: &str = "sim-enable-1";

fn device(name: &str, addr: &str, platform: Platform, fault: Fault) -> DeviceSpec {
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
        fault,
    }
}

fn creds() -> Vec<Cred<'static>> {
    vec![Cred {
        name: "lab",
        username: USER,
        password: PASS,
        enable_secret: Some(ENABLE),
        default: true,
    }]
}

fn platform_name(p: &DeviceSpec) -> &'static str {
    match p.platform {
        Platform::Ios => "cisco_ios",
        Platform::Eos => "arista_eos",
        Platform::Junos => "juniper_junos",
    }
}

fn vendor(p: &DeviceSpec) -> &'static str {
    match p.platform {
        Platform::Ios => "cisco",
        Platform::Eos => "arista",
        Platform::Junos => "juniper",
    }
}

fn rows<'a>(
    sim: &'a [(String, SocketAddr)],
    specs: &'a [DeviceSpec],
    legacy: &[&str],
) -> Vec<Row<'a>> {
    specs
        .iter()
        .map(|s| {
            let addr = sim
                .iter()
                .find(|(n, _)| *n == s.name)
                .map(|(_, a)| *a)
                .expect("device bound");
            Row {
                name: &s.name,
                ip: Box::leak(addr.ip().to_string().into_boxed_str()),
                port: addr.port(),
                vendor: vendor(s),
                platform: platform_name(s),
                zone: "",
                legacy: legacy.contains(&s.name.as_str()),
            }
        })
        .collect()
}

/// The tasks of the newest job, by device name.
async fn tasks_by_device(f: &CollectFleet) -> Result<Vec<(String, Value)>> {
    let jobs = f.fleet.api.list_jobs().await?;
    let view = f
        .fleet
        .api
        .job(jobs[0]["id"].as_str().unwrap_or_default())
        .await?;
    Ok(view["tasks"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|t| {
            (
                t["params"]["device_name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                t,
            )
        })
        .collect())
}

#[tokio::test]
async fn every_fault_has_its_error_class() -> Result<()> {
    let specs = vec![
        device("ok-ios", "127.1.5.1:0", Platform::Ios, Fault::None),
        device("badpw", "127.1.5.2:0", Platform::Ios, Fault::WrongPassword),
        device("noprompt", "127.1.5.3:0", Platform::Eos, Fault::NoPrompt),
        device("hang", "127.1.5.4:0", Platform::Ios, Fault::HangMidOutput),
        device(
            "drop",
            "127.1.5.5:0",
            Platform::Ios,
            Fault::DisconnectMidOutput,
        ),
        DeviceSpec {
            legacy_only: true,
            ..device("old-unmarked", "127.1.5.6:0", Platform::Ios, Fault::None)
        },
        DeviceSpec {
            legacy_only: true,
            ..device("old-marked", "127.1.5.7:0", Platform::Ios, Fault::None)
        },
        DeviceSpec {
            config_bytes: 2 * 1024 * 1024,
            ..device("big", "127.1.5.8:0", Platform::Eos, Fault::None)
        },
        DeviceSpec {
            legacy_only: true,
            ..device("old-platform", "127.1.5.12:0", Platform::Ios, Fault::None)
        },
        DeviceSpec {
            enable_secret: Some("another-secret".into()),
            ..device("badenable", "127.1.5.10:0", Platform::Ios, Fault::None)
        },
    ];
    let sim = SshSim::start(specs.clone()).await?;
    let bound = sim.addrs();
    let dir = tempfile::tempdir()?;
    let mut r = rows(&bound, &specs, &["old-marked"]);
    // A second legacy device marked through its platform instead.
    r.retain(|row| row.name != "old-platform");
    let old2 = bound
        .iter()
        .find(|(n, _)| n == "old-platform")
        .map(|(_, a)| *a)
        .expect("bound");
    r.push(Row {
        name: "old-platform",
        ip: "127.1.5.12",
        port: old2.port(),
        vendor: "cisco",
        platform: "cisco_ios_legacy",
        zone: "",
        legacy: false,
    });
    // Nothing listens here: refused.
    let closed = std::net::TcpListener::bind("127.1.5.9:0")?.local_addr()?;
    // Accepts TCP but never speaks SSH: the handshake times out.
    let silent = tokio::net::TcpListener::bind("127.1.5.11:0").await?;
    let silent_port = silent.local_addr()?.port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    r.push(Row {
        name: "silent",
        ip: "127.1.5.11",
        port: silent_port,
        vendor: "cisco",
        platform: "cisco_ios",
        zone: "",
        legacy: false,
    });
    r.push(Row {
        name: "closed",
        ip: "127.1.5.9",
        port: closed.port(),
        vendor: "cisco",
        platform: "cisco_ios",
        zone: "",
        legacy: false,
    });
    let zones = outpost_tests::fleet::two_zones_with("max_deliver = 2");
    let mut f = CollectFleet::start_with_zones(dir.path(), &creds(), &r, &zones).await?;
    f.worker("alpha", "w-alpha", &[]).await?;
    let job = dir.path().join("job.json");
    std::fs::write(
        &job,
        job_file("7", "terminal length 0,show running-config", None, 4).to_string(),
    )?;
    let j = job.to_string_lossy().into_owned();
    let (code, out, err) = f.outpost(&["run-job", "--job", &j, "-y"], "").await?;
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("Results: 4 success, 8 failed"), "{out}");
    let tasks = tasks_by_device(&f).await?;
    let kind = |name: &str| -> String {
        tasks
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t["error_kind"].as_str().unwrap_or("-").to_string())
            .unwrap_or_else(|| format!("no task for {name}"))
    };
    assert_eq!(kind("ok-ios"), "-");
    assert_eq!(kind("old-marked"), "-");
    assert_eq!(kind("old-platform"), "-");
    assert_eq!(kind("big"), "-");
    assert_eq!(kind("badpw"), "auth");
    assert_eq!(kind("badenable"), "auth");
    assert_eq!(kind("noprompt"), "prompt_not_found");
    assert_eq!(kind("hang"), "command_timeout");
    assert_eq!(kind("drop"), "disconnected");
    assert_eq!(kind("old-unmarked"), "key_exchange");
    assert_eq!(kind("closed"), "refused");
    assert_eq!(kind("silent"), "timeout");
    let big = std::fs::read_to_string(f.collections().join("configs/big.txt"))?;
    assert!(
        big.len() > 2_000_000,
        "big config truncated: {} bytes",
        big.len()
    );
    assert!(
        !big.contains("--More--"),
        "pager marker left in the capture"
    );
    let ios = std::fs::read_to_string(f.collections().join("configs/ok-ios.txt"))?;
    assert!(ios.contains("hostname ok-ios"), "{ios}");
    assert!(
        !ios.contains("Invalid input"),
        "enable mode not entered: {ios}"
    );
    assert!(!ios.contains(PASS) && !ios.contains(ENABLE));
    assert!(!out.contains(PASS) && !out.contains(ENABLE) && !err.contains(PASS));
    Ok(())
}

#[tokio::test]
async fn job_spans_two_zones_and_dry_run_limit_work() -> Result<()> {
    let specs = vec![
        device("a1", "127.1.6.1:0", Platform::Ios, Fault::None),
        device("a2", "127.1.6.2:0", Platform::Eos, Fault::None),
        device("b1", "127.2.6.1:0", Platform::Junos, Fault::None),
    ];
    let sim = SshSim::start(specs.clone()).await?;
    let bound = sim.addrs();
    let dir = tempfile::tempdir()?;
    let r = rows(&bound, &specs, &[]);
    let mut f = CollectFleet::start(dir.path(), &creds(), &r).await?;
    f.worker("alpha", "w-alpha", &[]).await?;
    f.worker("beta", "w-beta", &[]).await?;
    let job = dir.path().join("job.json");
    let mut doc = job_file("9", "show version", None, 10);
    doc["colour"] = Value::String("red".into());
    std::fs::write(&job, doc.to_string())?;
    let j = job.to_string_lossy().into_owned();

    let (code, out, _) = f
        .outpost(&["run-job", "--job", &j, "--dry-run"], "")
        .await?;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Found 3 matching devices"), "{out}");
    assert!(
        out.contains("Note: colour: unknown field, ignored"),
        "unknown field not reported: {out}"
    );
    assert!(
        f.fleet.api.list_jobs().await?.is_empty(),
        "a dry run created a job"
    );

    let (code, out, _) = f
        .outpost(&["run-job", "--job", &j, "--limit", "1", "-y"], "")
        .await?;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("[1/1] ✓"), "{out}");
    assert_eq!(tasks_by_device(&f).await?.len(), 1);

    let (code, out, err) = f.outpost(&["run-job", "--job", &j, "-y"], "").await?;
    assert_eq!(code, 0, "{out}\n{err}");
    let tasks = tasks_by_device(&f).await?;
    let worker_of = |n: &str| {
        tasks
            .iter()
            .find(|(d, _)| d == n)
            .map(|(_, t)| t["worker_id"].clone())
    };
    assert_eq!(worker_of("a1"), Some(Value::from("w-alpha")));
    assert_eq!(worker_of("b1"), Some(Value::from("w-beta")));
    let junos = std::fs::read_to_string(f.collections().join("configs/b1.txt"))?;
    assert!(junos.contains("b1"), "{junos}");
    Ok(())
}

#[tokio::test]
async fn run_jobs_summary_and_exit_code() -> Result<()> {
    let specs = vec![
        device("s1", "127.1.7.1:0", Platform::Ios, Fault::None),
        device("s2", "127.1.7.2:0", Platform::Ios, Fault::WrongPassword),
    ];
    let sim = SshSim::start(specs.clone()).await?;
    let bound = sim.addrs();
    let dir = tempfile::tempdir()?;
    let r = rows(&bound, &specs, &[]);
    let mut f = CollectFleet::start(dir.path(), &creds(), &r).await?;
    f.worker("alpha", "w-alpha", &[]).await?;
    let jobs = dir.path().join("jobs");
    std::fs::create_dir_all(&jobs)?;
    std::fs::write(
        jobs.join("job_1_good.json"),
        job_file("1", "show version", Some("s1"), 10).to_string(),
    )?;
    std::fs::write(
        jobs.join("job_2_bad.json"),
        job_file("2", "show version", Some("s2"), 10).to_string(),
    )?;
    let d = jobs.to_string_lossy().into_owned();
    let (code, out, err) = f.outpost(&["run-jobs", "--jobs-dir", &d, "-y"], "").await?;
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("Jobs to run (2):"), "{out}");
    assert!(out.contains("Jobs: 1/2 successful"), "{out}");
    assert!(out.contains("Devices: 1 success, 1 failed"), "{out}");
    assert!(out.contains("✓ 1: 1/1 devices"), "{out}");

    let glob = format!("{}/job_1_*.json", jobs.display());
    let (code, out, _) = f
        .outpost(&["run-jobs", "--jobs", &glob, "-y", "-q"], "")
        .await?;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Jobs: 1/1 successful"), "{out}");
    Ok(())
}

#[tokio::test]
async fn odd_device_names_get_safe_capture_names_and_every_device_is_collected() -> Result<()> {
    let specs = vec![
        device("odd", "127.1.8.1:0", Platform::Ios, Fault::None),
        device("evil", "127.1.8.2:0", Platform::Ios, Fault::None),
        device("plain", "127.1.8.3:0", Platform::Ios, Fault::None),
        device("normal", "127.1.8.4:0", Platform::Eos, Fault::None),
    ];
    let sim = SshSim::start(specs.clone()).await?;
    let bound = sim.addrs();
    let dir = tempfile::tempdir()?;
    let mut r = rows(&bound, &specs, &[]);
    // Inventory names: a space and a slash; one that would leave the
    // capture directory; one that already is the first one's safe name.
    for (row, name) in r
        .iter_mut()
        .zip(["core sw/1", "../evil", "core_sw_1", "sw2"])
    {
        row.name = name;
    }
    let mut f = CollectFleet::start(dir.path(), &creds(), &r).await?;
    f.worker("alpha", "w-alpha", &[]).await?;
    let job = dir.path().join("job.json");
    std::fs::write(
        &job,
        job_file("3", "terminal length 0,show running-config", None, 10).to_string(),
    )?;
    let j = job.to_string_lossy().into_owned();

    let (code, out, err) = f
        .outpost(&["run-job", "--job", &j, "--dry-run"], "")
        .await?;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("Found 4 matching devices"), "{out}");
    for (device, file) in [
        ("core sw/1", "configs/core_sw_1_2.txt"),
        ("../evil", "configs/___evil.txt"),
    ] {
        let note = format!("device {device:?} is saved as {file:?}");
        assert!(out.contains(&note), "rename not reported ({note}): {out}");
    }
    assert!(!out.contains("\"core_sw_1\" is saved"), "{out}");

    let (code, out, err) = f.outpost(&["run-job", "--job", &j, "-y"], "").await?;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("Results: 4 success, 0 failed"), "{out}");
    for (file, host) in [
        ("core_sw_1_2.txt", "odd"),
        ("___evil.txt", "evil"),
        ("core_sw_1.txt", "plain"),
        ("sw2.txt", "normal"),
    ] {
        let text = std::fs::read_to_string(f.collections().join("configs").join(file))?;
        assert!(
            text.contains(host),
            "{file} is not {host}'s capture: {text}"
        );
    }
    let mut written: Vec<String> = std::fs::read_dir(f.collections().join("configs"))?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    written.sort();
    assert_eq!(
        written,
        ["___evil.txt", "core_sw_1.txt", "core_sw_1_2.txt", "sw2.txt"]
    );
    assert!(
        !dir.path().join("evil").exists()
            && !f.collections().join("evil").exists()
            && !f.home.join(".vcollector/evil").exists()
    );
    let jobs = f.fleet.api.list_jobs().await?;
    let view = f
        .fleet
        .api
        .job(jobs[0]["id"].as_str().unwrap_or_default())
        .await?;
    let renamed = view["params"]["renamed"].clone();
    assert_eq!(
        renamed,
        serde_json::json!([
            { "device": "../evil", "file": "configs/___evil.txt" },
            { "device": "core sw/1", "file": "configs/core_sw_1_2.txt" },
        ]),
        "{view}"
    );

    // The pattern is the operator's: one that leaves the directory is
    // still refused, and nothing is created.
    let before = f.fleet.api.list_jobs().await?.len();
    let mut doc = job_file("4", "show version", None, 5);
    doc["storage"]["filename_pattern"] = Value::String("../../{device_name}".into());
    std::fs::write(&job, doc.to_string())?;
    let (code, out, err) = f.outpost(&["run-job", "--job", &j, "-y"], "").await?;
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        format!("{out}{err}").contains("filename_pattern"),
        "{out}{err}"
    );
    assert_eq!(
        f.fleet.api.list_jobs().await?.len(),
        before,
        "a refused job was created"
    );
    Ok(())
}

#[tokio::test]
async fn a_leading_enable_is_the_enable_step_not_a_command() -> Result<()> {
    let specs = vec![
        device("ios", "127.1.9.1:0", Platform::Ios, Fault::None),
        device("generic", "127.1.9.2:0", Platform::Ios, Fault::None),
        device("jun", "127.1.9.3:0", Platform::Junos, Fault::None),
    ];
    let sim = SshSim::start(specs.clone()).await?;
    let bound = sim.addrs();
    let dir = tempfile::tempdir()?;
    let mut r = rows(&bound, &specs, &[]);
    // A device whose platform says nothing about enable: the job's
    // leading `enable` is what enters it.
    for row in r.iter_mut().filter(|row| row.name == "generic") {
        row.vendor = "generic";
        row.platform = "";
    }
    let mut f = CollectFleet::start(dir.path(), &creds(), &r).await?;
    f.worker("alpha", "w-alpha", &[]).await?;
    let job = dir.path().join("job.json");
    let j = job.to_string_lossy().into_owned();
    for (id, commands, pattern) in [
        ("5", "enable,terminal length 0,show running-config", "*i*"),
        ("6", "enable,show configuration | no-more", "jun"),
    ] {
        std::fs::write(&job, job_file(id, commands, Some(pattern), 10).to_string())?;
        let (code, out, err) = f.outpost(&["run-job", "--job", &j, "-y"], "").await?;
        assert_eq!(code, 0, "job {id}: {out}\n{err}");
    }
    for (name, host) in [
        ("ios", "hostname ios"),
        ("generic", "hostname generic"),
        ("jun", "jun"),
    ] {
        let text = std::fs::read_to_string(f.collections().join(format!("configs/{name}.txt")))?;
        assert!(text.contains(host), "{name}: {text}");
        let first = text
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default();
        for error in [
            "Invalid input",
            "unknown command",
            "privileged mode required",
            "Password",
            "Access denied",
        ] {
            assert!(
                !text.contains(error),
                "{name}: {error:?} in the capture: {text}"
            );
        }
        assert!(
            !first.trim_end().ends_with("enable"),
            "{name}: enable echoed: {text}"
        );
        assert!(
            !text.contains(ENABLE),
            "{name}: enable secret in the capture"
        );
    }
    Ok(())
}

#[tokio::test]
async fn strict_host_keys_refuse_unknown_devices_and_the_output_cap_holds() -> Result<()> {
    let specs = vec![
        DeviceSpec {
            config_bytes: 512 * 1024,
            ..device("cap", "127.1.9.1:0", Platform::Ios, Fault::None)
        },
        device("strict", "127.2.9.1:0", Platform::Eos, Fault::None),
    ];
    let sim = SshSim::start(specs.clone()).await?;
    let bound = sim.addrs();
    let dir = tempfile::tempdir()?;
    let r = rows(&bound, &specs, &[]);
    let mut f = CollectFleet::start(dir.path(), &creds(), &r).await?;
    f.worker("alpha", "w-alpha", &[]).await?;
    f.worker("beta", "w-beta", &["--host-keys", "strict"])
        .await?;
    let doc = serde_json::json!({
        "type": "ssh.collect",
        "params": {
            "job": job_file("11", "terminal length 0,show running-config", None, 10),
            "max_output_bytes": 100_000
        }
    });
    let id = f.fleet.api.submit_ok(&doc).await?;
    let view = outpost_tests::wait_until(
        "the job to finish",
        std::time::Duration::from_secs(120),
        async || {
            let v = f.fleet.api.job(&id).await.map_err(|e| e.to_string())?;
            match v["status"].as_str() {
                Some("succeeded" | "failed" | "cancelled") => Ok(v),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await?;
    let kind = |name: &str| -> String {
        view["tasks"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["params"]["device_name"] == name)
            .map(|t| {
                format!(
                    "{}/{}",
                    t["error_kind"].as_str().unwrap_or("-"),
                    t["attempts"]
                )
            })
            .unwrap_or_default()
    };
    assert_eq!(kind("cap"), "output_too_large/1", "{view}");
    assert_eq!(kind("strict"), "host_key_unknown/1", "{view}");
    assert!(
        !f.captures.join("configs/cap.txt").exists(),
        "a capture over the cap was written"
    );
    Ok(())
}
