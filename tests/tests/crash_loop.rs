//! Job state survives a coordinator killed at any instant: rounds of a
//! 300-task job with `kill -9` of the coordinator at a random point, then a
//! restart; every job must end `succeeded` with counts equal to what the
//! events stream holds. The same with the NATS server killed as well.

use outpost_proto::pb;
use outpost_tests::fleet::{Fleet, SETTLE};
use outpost_tests::inspect;
use serde_json::{Value, json};
use std::time::Duration;

const TASKS: usize = 300;

/// A result event's attempt, number and worker.
type Run<'a> = (u32, u32, &'a str);

async fn check_converged(fleet: &Fleet, id: &str, round: usize, at_ms: u64) -> anyhow::Result<()> {
    let job: Value = fleet.api.wait_finished(id, SETTLE).await.map_err(|e| {
        anyhow::anyhow!("round {round} (kill at {at_ms} ms): job {id} did not finish: {e}")
    })?;
    let events = inspect::events(&fleet.nats, id).await?;
    let succeeded = inspect::results_per_task(&events, pb::Outcome::Succeeded);
    assert_eq!(
        job["status"], "succeeded",
        "round {round} (kill at {at_ms} ms): {}",
        job["counts"]
    );
    assert_eq!(
        job["counts"]["succeeded"].as_u64(),
        Some(succeeded.len() as u64),
        "round {round} (kill at {at_ms} ms): counts differ from the events stream: {}",
        job["counts"]
    );
    assert_eq!(succeeded.len(), TASKS, "round {round}");
    // (task, its results as (attempt, seq, worker)) for each task that succeeded twice.
    let twice: Vec<(&String, Vec<Run>)> = succeeded
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(task, _)| {
            let runs = events
                .iter()
                .filter(|e| {
                    &e.task_id == task && matches!(e.body, Some(pb::event::Body::Result(_)))
                })
                .map(|e| (e.attempt, e.seq, e.worker_id.as_str()))
                .collect();
            (task, runs)
        })
        .collect();
    assert!(
        twice.is_empty(),
        "round {round} (kill at {at_ms} ms): tasks succeeded twice (attempt, seq, worker): {twice:?}"
    );
    Ok(())
}

fn job() -> Value {
    json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": TASKS, "ms": 0}})
}

/// 20 rounds: submit, wait a random 0–500 ms, `kill -9` the coordinator
/// (and NATS too when `with_nats`, a third of that later), start it
/// again; then every job must have converged.
async fn kill_rounds(with_nats: bool) -> anyhow::Result<()> {
    let mut fleet = Fleet::start().await?;
    fleet
        .worker("alpha", "alpha-1", &["--concurrency", "16"])
        .await?;
    let mut jobs = Vec::new();
    // Spread over 0–500 ms, so the kills land in submission, dispatch,
    // relay and state writes.
    for (round, at_ms) in outpost_tests::chaos::kill_points(20, 0, 500)
        .into_iter()
        .enumerate()
    {
        let id = fleet.api.submit_ok(&job()).await?;
        tokio::time::sleep(Duration::from_millis(at_ms)).await;
        fleet.kill_coordinator().await?;
        if with_nats {
            // NATS dies too, at a point of its own in the middle of the run.
            tokio::time::sleep(Duration::from_millis(at_ms / 3)).await;
            fleet.nats.restart().await?;
        }
        fleet.start_coordinator().await?;
        jobs.push((round, at_ms, id));
    }
    for (round, at_ms, id) in &jobs {
        check_converged(&fleet, id, *round, *at_ms).await?;
    }
    Ok(())
}

#[tokio::test]
async fn coordinator_killed_at_random_points_converges() -> anyhow::Result<()> {
    kill_rounds(false).await
}

#[tokio::test]
async fn coordinator_and_nats_killed_converge() -> anyhow::Result<()> {
    kill_rounds(true).await
}
