//! Poison devices stay local: an SSH device sending a cursor move to
//! column 9 999 999 999 999 (thousands of them), a 50 MB line without a
//! newline, or output that never ends fails its own task with a clear
//! error class, the worker that ran it stays alive, and the zone's next
//! job succeeds on the same worker. A task whose runs keep ending with
//! their worker killed fails `worker_crashed` after the second such run
//! instead of taking the zone's workers down one after another.

use anyhow::Result;
use outpost_sim::ssh::{DeviceSpec, Fault, Platform, SshSim};
use outpost_tests::api::tasks;
use outpost_tests::collect::{CollectFleet, Cred, Row, job_file};
use outpost_tests::fleet::{Fleet, FleetOptions, SETTLE, two_zones_with};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;

const USER: &str = "netops";
const PASS: &str = "poison-pass-1";

fn device(name: &str, addr: &str, fault: Fault) -> DeviceSpec {
    DeviceSpec {
        fault,
        paging: false,
        ..DeviceSpec::new(
            name,
            addr.parse::<SocketAddr>().expect("address"),
            Platform::Eos,
            USER,
            PASS,
        )
    }
}

/// Waits until job `id` ends; returns its view.
async fn finished(f: &CollectFleet, id: &str) -> Result<Value> {
    outpost_tests::wait_until("the job to finish", Duration::from_secs(180), async || {
        let v = f.fleet.api.job(id).await.map_err(|e| e.to_string())?;
        match v["status"].as_str() {
            Some("succeeded" | "failed" | "cancelled") => Ok(v),
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

fn class_of(view: &Value, device: &str) -> String {
    view["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["params"]["device_name"] == device)
        .map(|t| {
            format!(
                "{}: {}",
                t["error_kind"].as_str().unwrap_or("-"),
                t["error"].as_str().unwrap_or("")
            )
        })
        .unwrap_or_else(|| format!("no task for {device}"))
}

#[tokio::test]
async fn poison_devices_fail_their_task_and_the_worker_lives_on() -> Result<()> {
    let specs = vec![
        device("p-cursor", "127.1.12.1:0", Fault::HugeCursorMove),
        device("p-longline", "127.1.12.2:0", Fault::LongLine),
        device("p-endless", "127.1.12.3:0", Fault::EndlessOutput),
        device("ok", "127.1.12.4:0", Fault::None),
    ];
    let sim = SshSim::start(specs.clone()).await?;
    let bound = sim.addrs();
    let rows: Vec<Row<'_>> = bound
        .iter()
        .map(|(name, addr)| Row {
            name: Box::leak(name.clone().into_boxed_str()),
            ip: Box::leak(addr.ip().to_string().into_boxed_str()),
            port: addr.port(),
            vendor: "arista",
            platform: "arista_eos",
            zone: "",
            legacy: false,
        })
        .collect();
    let dir = tempfile::tempdir()?;
    let creds = [Cred {
        name: "lab",
        username: USER,
        password: PASS,
        enable_secret: None,
        default: true,
    }];
    let zones = two_zones_with("max_deliver = 2");
    let mut f = CollectFleet::start_with_zones(dir.path(), &creds, &rows, &zones).await?;
    // A deprecated flag is ignored: the zone's consumer says 2.
    f.worker("alpha", "w-alpha", &["--max-deliver", "7"])
        .await?;
    let pid = f.fleet.workers[0].pid();

    let poison = serde_json::json!({
        "type": "ssh.collect",
        "params": { "job": job_file("31", "show running-config", Some("p-*"), 5) }
    });
    let id = f.fleet.api.submit_ok(&poison).await?;
    let view = finished(&f, &id).await?;
    assert_eq!(view["status"], "failed", "{view:#}");
    let cursor = class_of(&view, "p-cursor");
    assert!(cursor.starts_with("output_too_large: "), "{cursor}");
    let long = class_of(&view, "p-longline");
    assert!(
        long.starts_with("line_too_long: ") && long.contains("without a newline"),
        "{long}"
    );
    let endless = class_of(&view, "p-endless");
    assert!(
        endless.starts_with("command_timeout: ") && endless.contains("after 2 attempts"),
        "{endless}"
    );
    let w = &mut f.fleet.workers[0];
    assert!(w.is_running(), "the worker died on a poison device");
    assert_eq!(w.pid(), pid);

    let normal = serde_json::json!({
        "type": "ssh.collect",
        "params": { "job": job_file("32", "show running-config", Some("ok"), 10) }
    });
    let id = f.fleet.api.submit_ok(&normal).await?;
    let view = finished(&f, &id).await?;
    assert_eq!(view["status"], "succeeded", "{view:#}");
    let capture = std::fs::read_to_string(f.captures.join("configs/ok.txt"))?;
    assert!(capture.contains("hostname ok"), "{capture}");
    assert!(f.fleet.workers[0].is_running());
    drop(sim);
    Ok(())
}

/// Waits until the only task of job `id` runs on `worker`.
async fn running_on(fleet: &Fleet, id: &str, worker: &str) -> Result<()> {
    fleet
        .api
        .wait_job(id, SETTLE, |j| {
            tasks(j)
                .first()
                .is_some_and(|t| t["status"] == "running" && t["worker_id"] == worker)
        })
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_task_that_kills_two_workers_fails_worker_crashed() -> Result<()> {
    let mut fleet = Fleet::start_with(FleetOptions {
        zones: Some(two_zones_with("ack_wait_secs = 3\nmax_deliver = 10")),
        ..FleetOptions::default()
    })
    .await?;
    let flags: [&str; 0] = [];
    let doc = json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 1, "ms": 600_000}});
    let id = fleet.api.submit_ok(&doc).await?;
    // Two workers in a row die under the task (killed while it runs).
    for victim in ["w-1", "w-2"] {
        let w = fleet.worker("alpha", victim, &flags).await?;
        running_on(&fleet, &id, victim).await?;
        fleet.workers[w].kill9().await?;
    }
    let survivor = fleet.worker("alpha", "w-3", &flags).await?;
    let job = fleet.api.wait_finished(&id, SETTLE).await?;
    assert_eq!(job["status"], "failed", "{job:#}");
    let task = &tasks(&job)[0];
    assert_eq!(task["error_kind"], "worker_crashed", "{job:#}");
    assert!(
        task["error"]
            .as_str()
            .unwrap_or_default()
            .contains("worker gone"),
        "{job:#}"
    );
    assert!(fleet.workers[survivor].is_running());
    // The zone goes on: the next job runs on the third worker.
    let next = json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 2, "ms": 10}});
    let id = fleet.api.submit_ok(&next).await?;
    let job = fleet.api.wait_finished(&id, SETTLE).await?;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    assert!(
        tasks(&job).iter().all(|t| t["worker_id"] == "w-3"),
        "{job:#}"
    );
    Ok(())
}
