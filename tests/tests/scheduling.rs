//! `schedule_at`: a time in the past runs at once, a job cancelled before
//! its time never reaches a worker, and a coordinator restarted while a
//! job waits still starts it on time.

use outpost_proto::layout;
use outpost_tests::api::tasks;
use outpost_tests::fleet::{Fleet, SETTLE};
use outpost_tests::inspect;
use serde_json::{Value, json};

fn in_secs(s: i64) -> (chrono::DateTime<chrono::Utc>, String) {
    let at = chrono::Utc::now() + chrono::Duration::seconds(s);
    (at, at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

fn assert_started_after(job: &Value, at: chrono::DateTime<chrono::Utc>) -> anyhow::Result<()> {
    let started = job["started_at"].as_str().unwrap_or_default();
    let started = chrono::DateTime::parse_from_rfc3339(started)
        .map_err(|e| anyhow::anyhow!("job started_at {started:?}: {e}; {job:#}"))?;
    assert!(
        started >= at,
        "job started at {started}, before {at}: {job:#}"
    );
    for t in tasks(job) {
        let s = chrono::DateTime::parse_from_rfc3339(t["started_at"].as_str().unwrap_or_default())?;
        assert!(s >= at, "task started at {s}, before {at}: {t:#}");
    }
    Ok(())
}

#[tokio::test]
async fn schedule_in_the_past_runs_at_once() -> anyhow::Result<()> {
    let mut fleet = Fleet::start().await?;
    fleet.worker("alpha", "alpha-1", &[]).await?;
    let id = fleet
        .api
        .submit_ok(&json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 2, "ms": 1}, "schedule_at": "2001-02-03T04:05:06Z"}))
        .await?;
    let job = fleet.api.wait_finished(&id, SETTLE).await?;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    assert_eq!(job["schedule_at"], "2001-02-03T04:05:06.000Z", "{job:#}");
    Ok(())
}

#[tokio::test]
async fn job_cancelled_before_its_time_never_runs() -> anyhow::Result<()> {
    let mut fleet = Fleet::start().await?;
    fleet.worker("alpha", "alpha-1", &[]).await?;
    let (_, first_at) = in_secs(6);
    let early = fleet
        .api
        .submit_ok(&json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 3, "ms": 1}, "schedule_at": first_at}))
        .await?;
    let r = fleet.api.cancel(&early).await?;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let job = fleet.api.job(&early).await?;
    assert_eq!(job["status"], "cancelled", "{job:#}");
    assert_eq!(job["counts"]["cancelled"], 3, "{job:#}");
    // A later job is due after the cancelled one: once it has run, the
    // scheduler has passed the cancelled job's time.
    let (later_at, later_s) = in_secs(7);
    let later = fleet
        .api
        .submit_ok(&json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 2, "ms": 1}, "schedule_at": later_s}))
        .await?;
    let job = fleet.api.wait_finished(&later, SETTLE).await?;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    assert_started_after(&job, later_at)?;
    let job = fleet.api.job(&early).await?;
    assert_eq!(job["status"], "cancelled", "{job:#}");
    for t in tasks(&job) {
        assert_eq!(t["status"], "cancelled", "{t:#}");
        assert_eq!(t["attempts"], 0, "{t:#}");
        assert!(t["worker_id"].is_null(), "{t:#}");
    }
    assert_eq!(job["dispatched"], false, "{job:#}");
    // Only the later job's two tasks ever entered the work queue.
    let (_, last_seq) = inspect::stream_state(&fleet.nats, layout::TASKS_STREAM).await?;
    assert_eq!(last_seq, 2, "task messages ever published");
    Ok(())
}

#[tokio::test]
async fn coordinator_restart_keeps_scheduled_jobs() -> anyhow::Result<()> {
    let mut fleet = Fleet::start().await?;
    fleet.worker("alpha", "alpha-1", &[]).await?;
    let (at, at_s) = in_secs(5);
    let id = fleet
        .api
        .submit_ok(&json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 3, "ms": 1}, "schedule_at": at_s}))
        .await?;
    fleet.restart_coordinator().await?;
    let job = fleet.api.job(&id).await?;
    if chrono::Utc::now() < at {
        assert_eq!(job["status"], "pending", "{job:#}");
    }
    let job = fleet.api.wait_finished(&id, SETTLE).await?;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    assert_started_after(&job, at)?;
    Ok(())
}
