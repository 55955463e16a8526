//! Finished jobs leave the hot state after retention: their state is
//! purged from KV `outpost_jobs`, a summary stays readable, and a restarted
//! coordinator loads only what is still hot.

use outpost_tests::fleet::{Fleet, FleetOptions, SETTLE, TWO_ZONES};
use outpost_tests::{inspect, wait_until};
use serde_json::json;

#[tokio::test]
async fn finished_jobs_are_archived_and_restart_loads_only_hot_ones() -> anyhow::Result<()> {
    let mut fleet = Fleet::start_with(FleetOptions {
        zones: Some(format!(
            "{TWO_ZONES}[retention]\nhot_jobs = 3\nmin_hot_secs = 0\n"
        )),
        ..FleetOptions::default()
    })
    .await?;
    fleet
        .worker("alpha", "alpha-1", &["--concurrency", "8"])
        .await?;
    let mut ids = Vec::new();
    for _ in 0..12 {
        ids.push(
            fleet
                .api
                .submit_ok(&json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 5, "ms": 0}}))
                .await?,
        );
    }
    for id in &ids {
        // A job may already be archived when it is looked at: GET finds
        // its summary either way.
        let job = fleet.api.wait_finished(id, SETTLE).await?;
        assert_eq!(job["status"], "succeeded", "{job:#}");
    }
    let keys = wait_until("finished jobs leaving the hot state", SETTLE, async || {
        let keys = inspect::kv_keys(&fleet.nats, "outpost_jobs")
            .await
            .map_err(|e| e.to_string())?;
        let jobs = keys.iter().filter(|k| k.starts_with("job.")).count();
        if jobs <= 3 {
            Ok(keys)
        } else {
            Err(format!("{jobs} job entries"))
        }
    })
    .await?;
    // Tasks of evicted jobs went with them: the chunks of 3 jobs at most.
    let chunks = keys.iter().filter(|k| k.starts_with("tasks.")).count();
    assert!(chunks <= 3, "{chunks} task chunks left: {keys:?}");

    // The oldest job is archived: GET still answers, from its summary.
    let first = fleet.api.job(&ids[0]).await?;
    assert_eq!(first["status"], "succeeded", "{first:#}");
    assert_eq!(first["archived"], true, "{first:#}");
    assert_eq!(first["counts"]["succeeded"], 5, "{first:#}");
    let summaries = inspect::kv_keys(&fleet.nats, "outpost_history").await?;
    assert!(summaries.len() >= 9, "{summaries:?}");

    // A restart loads the hot jobs only.
    fleet.restart_coordinator().await?;
    let loaded = fleet
        .coordinator
        .stderr()
        .into_iter()
        .chain(fleet.coordinator.stdout())
        .find(|l| l.contains("job state loaded"))
        .unwrap_or_default();
    let n: usize = loaded
        .split("jobs=")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no job count in {loaded:?}"))?;
    assert!(n <= 3, "restart loaded {n} jobs: {loaded}");
    let job = fleet.api.job(&ids[0]).await?;
    assert_eq!(job["archived"], true, "{job:#}");
    // The CLI reads an archived job too, and says so.
    let out = std::process::Command::new(outpost_tests::fleet_bin("outpost")?)
        .args(["--api", &fleet.api.base, "job", &ids[0]])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        text.contains("succeeded") && text.contains("archived"),
        "{text}"
    );
    // And new work runs as before.
    let id = fleet
        .api
        .submit_ok(&json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 2, "ms": 0}}))
        .await?;
    let job = fleet.api.wait_finished(&id, SETTLE).await?;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    Ok(())
}
