//! The coordinator notices what breaks under it: a deleted tasks stream
//! turns `/healthz` unhealthy, naming it, the layout is re-created, and
//! work submitted meanwhile still runs. A SIGTERM drains and exits.

use outpost_tests::fleet::{Fleet, SETTLE};
use outpost_tests::{inspect, wait_until};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn deleted_tasks_stream_is_reported_and_recreated() -> anyhow::Result<()> {
    let mut fleet = Fleet::start().await?;
    fleet.worker("alpha", "alpha-1", &[]).await?;
    let job = json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 3, "ms": 0}});
    let id = fleet.api.submit_ok(&job).await?;
    fleet.api.wait_finished(&id, SETTLE).await?;
    let health = fleet.api.get("/healthz").await?;
    assert_eq!(health.status, 200, "{:?}", health.body);

    inspect::delete_stream(&fleet.nats, "OUTPOST_TASKS").await?;
    let api = &fleet.api;
    let body = wait_until("/healthz naming the missing stream", SETTLE, async || {
        let h = api.get("/healthz").await.map_err(|e| e.to_string())?;
        let text = h.body.to_string();
        if h.status == 503 && text.contains("OUTPOST_TASKS") {
            Ok(text)
        } else {
            Err(format!("{} {text}", h.status))
        }
    })
    .await?;
    assert!(body.contains("missing"), "{body}");
    wait_until("/healthz healthy again", SETTLE, async || {
        let h = api.get("/healthz").await.map_err(|e| e.to_string())?;
        if h.status == 200 {
            Ok(())
        } else {
            Err(h.body.to_string())
        }
    })
    .await?;
    let id = fleet.api.submit_ok(&job).await?;
    let done = fleet.api.wait_finished(&id, SETTLE).await?;
    assert_eq!(done["status"], "succeeded", "{done:#}");
    Ok(())
}

#[tokio::test]
async fn sigterm_drains_and_exits_with_a_follower_attached() -> anyhow::Result<()> {
    let mut fleet = Fleet::start().await?;
    let id = fleet
        .api
        .submit_ok(&json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 1, "ms": 0}}))
        .await?;
    // No worker: the job stays pending, and a follower stays attached.
    let api = fleet.api.clone();
    let follower = tokio::spawn(async move { api.follow(&id, Duration::from_secs(120)).await });
    let metrics = format!("{}/metrics", fleet.api.base);
    wait_until("the follower attached", SETTLE, async || {
        let text = reqwest::get(&metrics)
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        if text.lines().any(|l| l == "outpost_sse_followers 1") {
            Ok(())
        } else {
            Err("no follower yet".to_string())
        }
    })
    .await?;
    fleet.coordinator.term()?;
    let status = fleet.coordinator.wait_exit(Duration::from_secs(30)).await?;
    assert!(status.success(), "coordinator exit: {status:?}");
    follower.abort();
    Ok(())
}
