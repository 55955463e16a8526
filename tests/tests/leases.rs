//! Leases: a worker that freezes (SIGSTOP: a hung VM, a long pause) while
//! it runs tasks loses them to another worker of its zone only once its
//! lease has expired, never while it still holds it; the job ends with
//! every task succeeded once in its state.

use outpost_proto::{layout, pb};
use outpost_tests::api::tasks;
use outpost_tests::fleet::{Fleet, FleetOptions, SETTLE, two_zones_with};
use outpost_tests::inspect;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn frozen_worker_keeps_its_tasks_until_its_lease_expires() -> anyhow::Result<()> {
    let mut fleet = Fleet::start_with(FleetOptions {
        zones: Some(two_zones_with("ack_wait_secs = 3")),
        ..FleetOptions::default()
    })
    .await?;
    let flags = ["--concurrency", "2"];
    let frozen = fleet.worker("alpha", "alpha-1", &flags).await?;
    let id = fleet
        .api
        .submit_ok(
            &json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 2, "ms": 8000}}),
        )
        .await?;
    fleet
        .api
        .wait_job(&id, SETTLE, |j| j["counts"]["running"] == 2)
        .await?;
    // Both runs hold their lease (taken at the first heartbeat).
    let until = tokio::time::Instant::now() + SETTLE;
    loop {
        let leases = inspect::kv_keys(&fleet.nats, layout::LEASES_BUCKET).await?;
        if leases.len() == 2 {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < until,
            "leases not taken: {leases:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    fleet.workers[frozen].freeze()?;
    let frozen_at = outpost_proto::now_ms();
    fleet.worker("alpha", "alpha-2", &flags).await?;
    let job = fleet.api.wait_finished(&id, SETTLE).await?;
    fleet.workers[frozen].thaw()?;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    assert_eq!(job["counts"]["succeeded"], 2, "{job:#}");
    for t in tasks(&job) {
        assert_eq!(t["worker_id"], "alpha-2", "{t:#}");
    }
    // The lease lives 6 s and was renewed at most ~1 s before the freeze:
    // no other run may start before about 5 s have passed (the ack wait
    // alone would hand the task over after 2-3 s).
    let events = inspect::events(&fleet.nats, &id).await?;
    for e in &events {
        if e.worker_id == "alpha-2" && matches!(e.body, Some(pb::event::Body::Started(_))) {
            let after = e.at_ms - frozen_at;
            assert!(
                after >= 4000,
                "{} started on alpha-2 {after} ms after alpha-1 froze, while alpha-1 still held its lease",
                e.task_id
            );
        }
    }
    // The thawed worker must not report a second success of a task that
    // another worker finished: wait until it has nothing in flight.
    fleet
        .api
        .wait_workers(SETTLE, |w| {
            w.iter()
                .any(|w| w["worker_id"] == "alpha-1" && w["in_flight"] == 0)
        })
        .await?;
    let events = inspect::events(&fleet.nats, &id).await?;
    let per_task = inspect::results_per_task(&events, pb::Outcome::Succeeded);
    assert!(
        per_task.values().all(|&n| n == 1),
        "a task was reported succeeded twice: {per_task:?}"
    );
    let job = fleet.api.job(&id).await?;
    for t in tasks(&job) {
        assert_eq!(t["worker_id"], "alpha-2", "{t:#}");
    }
    Ok(())
}
