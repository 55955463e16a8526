//! The fleet survives its parts failing: a worker killed mid-task, the
//! NATS server restarted, the coordinator restarted. Every task still ends
//! succeeded, and exactly once.

use outpost_proto::pb;
use outpost_tests::api::tasks;
use outpost_tests::fleet::{Fleet, FleetOptions, SETTLE, two_zones_with};
use outpost_tests::inspect;
use serde_json::{Value, json};
use std::time::Duration;

/// Every task succeeded, and the events stream holds exactly one
/// successful result per task.
async fn assert_each_succeeded_once(fleet: &Fleet, job: &Value, n: usize) -> anyhow::Result<()> {
    assert_eq!(job["status"], "succeeded", "{job:#}");
    assert_eq!(job["counts"]["succeeded"], n, "{job:#}");
    let id = job["id"].as_str().unwrap_or_default();
    let events = inspect::events(&fleet.nats, id).await?;
    let per_task = inspect::results_per_task(&events, pb::Outcome::Succeeded);
    assert_eq!(
        per_task.len(),
        n,
        "tasks with a successful result: {per_task:?}"
    );
    assert!(
        per_task.values().all(|&c| c == 1),
        "a task succeeded more than once: {per_task:?}"
    );
    Ok(())
}

#[tokio::test]
async fn killed_worker_tasks_are_redelivered_and_finish_once() -> anyhow::Result<()> {
    let mut fleet = Fleet::start_with(FleetOptions {
        zones: Some(two_zones_with("ack_wait_secs = 3")),
        ..FleetOptions::default()
    })
    .await?;
    let flags = ["--concurrency", "3"];
    let victim = fleet.worker("alpha", "alpha-1", &flags).await?;
    let id = fleet
        .api
        .submit_ok(
            &json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 6, "ms": 2000}}),
        )
        .await?;
    // Wait until the victim is running tasks, then kill it without warning.
    fleet
        .api
        .wait_job(&id, SETTLE, |j| j["counts"]["running"].as_u64() >= Some(2))
        .await?;
    fleet.worker("alpha", "alpha-2", &flags).await?;
    fleet.workers[victim].kill9().await?;
    let job = fleet.api.wait_finished(&id, SETTLE).await?;
    assert_each_succeeded_once(&fleet, &job, 6).await?;
    let redelivered = tasks(&job)
        .into_iter()
        .filter(|t| t["attempts"].as_u64() > Some(1))
        .count();
    assert!(
        redelivered >= 2,
        "the killed worker's tasks were not redelivered: {job:#}"
    );
    assert!(
        tasks(&job)
            .iter()
            .all(|t| t["worker_id"] == "alpha-2" || t["attempts"] == 1),
        "{job:#}"
    );
    Ok(())
}

#[tokio::test]
async fn nats_restart_mid_run_loses_nothing() -> anyhow::Result<()> {
    let mut fleet = Fleet::start().await?;
    fleet
        .worker("alpha", "alpha-1", &["--concurrency", "4"])
        .await?;
    let id = fleet
        .api
        .submit_ok(
            &json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 24, "ms": 300}}),
        )
        .await?;
    fleet
        .api
        .wait_job(&id, SETTLE, |j| {
            j["counts"]["succeeded"].as_u64() >= Some(4)
        })
        .await?;
    fleet.nats.restart().await?;
    let job = fleet.api.wait_finished(&id, SETTLE).await?;
    assert_each_succeeded_once(&fleet, &job, 24).await?;
    // New work is accepted and runs after the restart too.
    let again = fleet
        .api
        .submit_ok(&json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 3, "ms": 1}}))
        .await?;
    let job = fleet.api.wait_finished(&again, SETTLE).await?;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    Ok(())
}

#[tokio::test]
async fn coordinator_restart_mid_run_jobs_continue() -> anyhow::Result<()> {
    let mut fleet = Fleet::start().await?;
    fleet
        .worker("alpha", "alpha-1", &["--concurrency", "4"])
        .await?;
    let id = fleet
        .api
        .submit_ok(
            &json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 20, "ms": 300}}),
        )
        .await?;
    fleet
        .api
        .wait_job(&id, SETTLE, |j| {
            j["counts"]["succeeded"].as_u64() >= Some(4)
        })
        .await?;
    fleet.restart_coordinator().await?;
    let job = fleet.api.wait_finished(&id, SETTLE).await?;
    assert_each_succeeded_once(&fleet, &job, 20).await?;
    Ok(())
}

#[tokio::test]
async fn cancel_stops_queued_and_running_tasks() -> anyhow::Result<()> {
    let mut fleet = Fleet::start().await?;
    fleet
        .worker("alpha", "alpha-1", &["--concurrency", "2"])
        .await?;
    let id = fleet
        .api
        .submit_ok(
            &json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 10, "ms": 60000}}),
        )
        .await?;
    fleet
        .api
        .wait_job(&id, SETTLE, |j| j["counts"]["running"] == 2)
        .await?;
    let r = fleet.api.cancel(&id).await?;
    assert_eq!(r.status, 202, "{:?}", r.body);
    // Running tasks stop long before their 60 s sleep would end.
    let job = fleet
        .api
        .wait_finished(&id, Duration::from_secs(30))
        .await?;
    assert_eq!(job["status"], "cancelled", "{job:#}");
    assert_eq!(job["counts"]["cancelled"], 10, "{job:#}");
    let ran = tasks(&job)
        .iter()
        .filter(|t| !t["worker_id"].is_null())
        .count();
    assert_eq!(ran, 2, "only the two running tasks ever started: {job:#}");
    // The worker is free again for new work.
    let next = fleet
        .api
        .submit_ok(&json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 2, "ms": 1}}))
        .await?;
    assert_eq!(
        fleet.api.wait_finished(&next, SETTLE).await?["status"],
        "succeeded"
    );
    Ok(())
}

#[tokio::test]
async fn scheduled_job_waits_for_its_time() -> anyhow::Result<()> {
    let mut fleet = Fleet::start().await?;
    fleet.worker("alpha", "alpha-1", &[]).await?;
    let at = chrono::Utc::now() + chrono::Duration::seconds(3);
    let at_s = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let id = fleet
        .api
        .submit_ok(&json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 2, "ms": 1}, "schedule_at": at_s}))
        .await?;
    let job = fleet.api.job(&id).await?;
    assert_eq!(job["status"], "pending", "{job:#}");
    let job = fleet.api.wait_finished(&id, SETTLE).await?;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    for t in tasks(&job) {
        let started =
            chrono::DateTime::parse_from_rfc3339(t["started_at"].as_str().unwrap_or_default())?;
        assert!(
            started >= at,
            "task started at {started} before its schedule {at}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn sigterm_drains_running_tasks_and_exits_cleanly() -> anyhow::Result<()> {
    let mut fleet = Fleet::start().await?;
    let w = fleet
        .worker("alpha", "alpha-1", &["--concurrency", "2"])
        .await?;
    let id = fleet
        .api
        .submit_ok(
            &json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 4, "ms": 1500}}),
        )
        .await?;
    fleet
        .api
        .wait_job(&id, SETTLE, |j| j["counts"]["running"] == 2)
        .await?;
    fleet.workers[w].term()?;
    let status = fleet.workers[w].wait_exit(SETTLE).await?;
    assert!(status.success(), "worker exit: {status}");
    // The two running tasks finished during the drain; the two queued ones were not taken.
    let job = fleet.api.job(&id).await?;
    assert_eq!(job["counts"]["succeeded"], 2, "{job:#}");
    assert_eq!(job["counts"]["pending"], 2, "{job:#}");
    // Another worker picks the rest up.
    fleet.worker("alpha", "alpha-2", &[]).await?;
    let job = fleet.api.wait_finished(&id, SETTLE).await?;
    assert_each_succeeded_once(&fleet, &job, 4).await?;
    Ok(())
}
