//! Stored state the coordinator cannot make sense of ends a job with a
//! clear reason; it never stops the engine nor leaves the job open.

use async_nats::jetstream;
use outpost_tests::api::tasks;
use outpost_tests::fleet::{Fleet, SETTLE};
use serde_json::{Value, json};

#[tokio::test]
async fn a_rollout_with_an_unreadable_plan_fails_naming_it() -> anyhow::Result<()> {
    let mut fleet = Fleet::start().await?;
    let id = fleet
        .api
        .submit_ok(&json!({"type": "diag.sleep", "zone": "alpha", "schedule_at": "2099-01-01T00:00:00Z", "params": {"count": 1, "ms": 0}}))
        .await?;
    fleet.kill_coordinator().await?;
    // Turn it into a rolling update whose plan is garbage, its one step done.
    let js = jetstream::new(fleet.nats.client().await?);
    let kv = js.get_key_value("outpost_jobs").await?;
    let key = format!("job.{id}");
    let mut job: Value = serde_json::from_slice(&kv.get(&key).await?.expect("job entry"))?;
    job["type"] = json!("rolling_update");
    job["open"] = json!(true);
    job["dispatched"] = json!(true);
    job["params"] = json!({"hosts": "not a plan"});
    kv.put(&key, serde_json::to_vec(&job)?.into()).await?;
    let mut keys = kv.keys().await?;
    use futures::StreamExt;
    while let Some(k) = keys.next().await {
        let k = k?;
        if k.starts_with(&format!("tasks.{id}.")) {
            let mut chunk: Value = serde_json::from_slice(&kv.get(&k).await?.expect("chunk"))?;
            // A chunk is a head with its tasks (older ones a plain array).
            let tasks = match chunk.get_mut("tasks") {
                Some(t) => t,
                None => &mut chunk,
            };
            for t in tasks.as_array_mut().into_iter().flatten() {
                t["status"] = json!("succeeded");
            }
            kv.put(&k, serde_json::to_vec(&chunk)?.into()).await?;
        }
    }
    fleet.start_coordinator().await?;
    let job = fleet.api.wait_finished(&id, SETTLE).await?;
    assert_eq!(job["status"], "failed", "{job:#}");
    assert!(
        tasks(&job)
            .iter()
            .any(|t| t["error_kind"] == "plan_invalid"),
        "{job:#}"
    );
    // The engine goes on: new work is taken.
    let again = fleet
        .api
        .submit(&json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 1, "ms": 0}}))
        .await?;
    assert_eq!(again.status, 201, "{:?}", again.body);
    Ok(())
}

/// The job and its chunks are written in one round at submission; a
/// coordinator killed in that round may leave the job without some of its
/// chunks. Such a job was never answered: the next coordinator leaves it
/// out instead of running part of it, and keeps the whole ones.
#[tokio::test]
async fn a_job_missing_a_chunk_of_its_submission_is_left_out() -> anyhow::Result<()> {
    let mut fleet = Fleet::start().await?;
    let later = |count: usize| {
        json!({"type": "diag.sleep", "zone": "alpha", "schedule_at": "2099-01-01T00:00:00Z",
               "params": {"count": count, "ms": 0}})
    };
    let cut = fleet.api.submit_ok(&later(200)).await?;
    let whole = fleet.api.submit_ok(&later(200)).await?;
    fleet.kill_coordinator().await?;
    let js = jetstream::new(fleet.nats.client().await?);
    let kv = js.get_key_value("outpost_jobs").await?;
    let job: Value = serde_json::from_slice(&kv.get(format!("job.{cut}")).await?.expect("job"))?;
    assert_eq!(job["task_chunks"], 4, "{job:#}");
    kv.purge(format!("tasks.{cut}.2")).await?;
    fleet.start_coordinator().await?;
    assert_eq!(
        fleet
            .api
            .get(&format!("/api/v1/jobs/{whole}"))
            .await?
            .status,
        200
    );
    assert_eq!(
        fleet.api.get(&format!("/api/v1/jobs/{cut}")).await?.status,
        404
    );
    let listed = fleet.api.list_jobs().await?;
    assert!(listed.iter().all(|j| j["id"] != cut.as_str()), "{listed:?}");
    Ok(())
}
