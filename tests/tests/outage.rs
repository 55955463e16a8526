//! NATS is down for a while: the coordinator says so on `/healthz`, refuses
//! submissions with a clear 503 in bounded time instead of hanging, leaves
//! no half-created job behind once NATS is back, and works again.

use outpost_proto::layout;
use outpost_tests::fleet::{Fleet, SETTLE};
use outpost_tests::inspect;
use serde_json::json;
use std::time::Duration;

/// Polls `/healthz` until it answers `want`.
async fn wait_health(fleet: &Fleet, want: u16) -> anyhow::Result<()> {
    outpost_tests::wait_until(
        &format!("/healthz answering {want}"),
        SETTLE,
        async || match fleet.api.get("/healthz").await.map(|r| r.status) {
            Ok(got) if got == want => Ok(()),
            other => Err(format!("{other:?}")),
        },
    )
    .await
}

#[tokio::test]
async fn submit_while_nats_is_down_fails_cleanly_and_leaves_nothing() -> anyhow::Result<()> {
    let mut fleet = Fleet::start().await?;
    fleet.worker("alpha", "alpha-1", &[]).await?;
    wait_health(&fleet, 200).await?;

    fleet.nats.stop().await?;
    wait_health(&fleet, 503).await?;
    let started = tokio::time::Instant::now();
    // The coordinator gives a submission 10 s to reach the state store;
    // a minute is plenty even on a loaded machine.
    let answer_within = Duration::from_secs(60);
    let r = tokio::time::timeout(
        answer_within,
        fleet.api.submit(
            &json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 20, "ms": 1}}),
        ),
    )
    .await
    .map_err(|_| {
        anyhow::anyhow!("submit with NATS down got no answer within {answer_within:?}")
    })??;
    let took = started.elapsed();
    assert_eq!(
        r.status, 503,
        "submit with NATS down (after {took:?}): {:?}",
        r.body
    );
    assert!(
        !r.body["error"].as_str().unwrap_or_default().is_empty(),
        "{:?}",
        r.body
    );
    // The API stays usable meanwhile: reads come from memory.
    assert_eq!(
        fleet.api.list_jobs().await?,
        Vec::<serde_json::Value>::new()
    );

    fleet.nats.start_again().await?;
    wait_health(&fleet, 200).await?;
    // A job submitted now goes through; once it has, every write the
    // coordinator's client may have buffered during the outage has reached
    // the server too (one connection, in order).
    let id = fleet
        .api
        .submit_ok(&json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 2, "ms": 1}}))
        .await?;
    let job = fleet.api.wait_finished(&id, SETTLE).await?;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    let jobs = fleet.api.list_jobs().await?;
    assert_eq!(
        jobs.len(),
        1,
        "only the job submitted after the outage: {jobs:#?}"
    );

    // Nothing of the refused submission is in KV: only the new job and the
    // chunk holding its two tasks.
    let keys = inspect::kv_keys(&fleet.nats, layout::JOBS_BUCKET).await?;
    assert!(
        keys.iter().all(|k| k.contains(&id)),
        "state of the refused submission was left in KV: {keys:?}"
    );
    assert_eq!(keys.len(), 2, "{keys:?}");
    // ... and a coordinator starting from KV agrees.
    fleet.restart_coordinator().await?;
    let jobs = fleet.api.list_jobs().await?;
    assert_eq!(jobs.len(), 1, "after a restart: {jobs:#?}");
    Ok(())
}

#[tokio::test]
async fn graceful_nats_restart_mid_run_loses_nothing() -> anyhow::Result<()> {
    let mut fleet = Fleet::start().await?;
    fleet
        .worker("alpha", "alpha-1", &["--concurrency", "4"])
        .await?;
    fleet
        .worker("beta", "beta-1", &["--concurrency", "4"])
        .await?;
    let a = fleet
        .api
        .submit_ok(
            &json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 20, "ms": 300}}),
        )
        .await?;
    let b = fleet
        .api
        .submit_ok(
            &json!({"type": "diag.sleep", "zone": "beta", "params": {"count": 20, "ms": 300}}),
        )
        .await?;
    fleet
        .api
        .wait_job(&a, SETTLE, |j| j["counts"]["succeeded"].as_u64() >= Some(4))
        .await?;
    fleet.nats.stop().await?;
    wait_health(&fleet, 503).await?;
    fleet.nats.start_again().await?;
    for id in [&a, &b] {
        let job = fleet.api.wait_finished(id, SETTLE).await?;
        assert_eq!(job["status"], "succeeded", "{job:#}");
        assert_eq!(job["counts"]["succeeded"], 20, "{job:#}");
        let events = inspect::events(&fleet.nats, id).await?;
        let per_task = inspect::results_per_task(&events, outpost_proto::pb::Outcome::Succeeded);
        assert_eq!(per_task.len(), 20, "{per_task:?}");
        assert!(per_task.values().all(|&n| n == 1), "{per_task:?}");
    }
    Ok(())
}
