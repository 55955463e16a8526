//! A clustered hub of three NATS nodes: the coordinator keeps `replicas`
//! copies of every stream, bucket and object store (and raises the copies
//! of a layout made on one node), and a job goes on to the end, every task
//! once, when the node leading the tasks stream is killed in the middle.

use anyhow::{Result, bail};
use outpost_proto::{layout, pb};
use outpost_tests::fleet::{SETTLE, START, spawn_coordinator};
use outpost_tests::hub::Hub;
use outpost_tests::inspect;
use outpost_tests::procs::Proc;
use serde_json::json;
use std::ffi::OsStr;
use std::time::Duration;

const TASKS: u64 = 200;

fn config(hub: &Hub, replicas: usize) -> String {
    format!(
        "nats_url = {:?}\n[nats]\ninsecure = true\n[jetstream]\nreplicas = {replicas}\nlease_ttl_secs = 6\npresence_ttl_secs = 6\n[[zone]]\nname = \"alpha\"\ncidrs = [\"127.1.0.0/16\"]\n",
        hub.urls()
    )
}

#[tokio::test]
async fn a_job_goes_on_when_a_hub_node_dies() -> Result<()> {
    let mut hub = Hub::start(3).await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("coordinator.toml");

    // A layout made with one copy, as on a single server...
    std::fs::write(&path, config(&hub, 1))?;
    let (mut coordinator, _) = spawn_coordinator(path.clone(), None, &[]).await?;
    hub.wait_placement(layout::TASKS_STREAM, 1).await?;
    coordinator.kill9().await?;
    // ...gets three once the configuration says so.
    std::fs::write(&path, config(&hub, 3))?;
    let (_coordinator, api) = spawn_coordinator(path, None, &[]).await?;
    for stream in [
        layout::TASKS_STREAM.to_string(),
        layout::EVENTS_STREAM.to_string(),
        format!("KV_{}", layout::JOBS_BUCKET),
        format!("KV_{}", layout::CANCELS_BUCKET),
        format!("OBJ_{}", layout::FIRMWARE_STORE),
    ] {
        hub.wait_placement(&stream, 3).await?;
    }

    let urls = hub.urls();
    let flags = [
        "--zone",
        "alpha",
        "--worker-id",
        "w1",
        "--nats",
        &urls,
        "--nats-insecure",
        "--concurrency",
        "8",
    ];
    let args: Vec<&OsStr> = flags.iter().map(OsStr::new).collect();
    let mut worker = Proc::spawn(
        "w1",
        outpost_tests::fleet_bin("outpost-worker")?,
        &args,
        &[],
    )?;
    worker
        .wait_for_line(|l| l.starts_with("outpost-worker ready"), START)
        .await?;

    let id = api
        .submit_ok(&json!({"type": "diag.sleep", "zone": "alpha",
                           "params": {"count": TASKS, "ms": 40}}))
        .await?;
    // A quarter done, the node leading the tasks stream dies.
    let until = tokio::time::Instant::now() + SETTLE;
    loop {
        let job = api.job(&id).await?;
        if job["counts"]["succeeded"].as_u64().unwrap_or(0) >= TASKS / 4 {
            break;
        }
        if tokio::time::Instant::now() > until {
            bail!("a quarter of the job did not finish: {job:#}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let leader = hub.wait_placement(layout::TASKS_STREAM, 3).await?;
    hub.nodes[leader].kill();

    let job = api.wait_finished(&id, SETTLE * 2).await?;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    assert_eq!(job["counts"]["succeeded"], TASKS, "{job:#}");
    // Reading may meet an election still settling after the kill.
    let events: Vec<pb::Event> = outpost_tests::wait_until(
        "the job's events read back",
        Duration::from_secs(60),
        async || {
            let client = hub.client().await.map_err(|e| format!("{e:#}"))?;
            inspect::events_from(client, &id)
                .await
                .map_err(|e| format!("{e:#}"))
        },
    )
    .await?
    .into_iter()
    .map(|(e, _)| e)
    .collect();
    let results = inspect::results_per_task(&events, pb::Outcome::Succeeded);
    assert_eq!(results.len() as u64, TASKS, "tasks with a success");
    let twice: Vec<_> = results.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        twice.is_empty(),
        "tasks that succeeded more than once: {twice:?}"
    );
    drop(worker);
    Ok(())
}
