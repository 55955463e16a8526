//! The relay is idempotent: a coordinator that replays the whole events
//! stream from its first message (its durable consumer deleted) ends with
//! exactly the job state it had, and jobs in flight still finish once.

use outpost_proto::{layout, pb};
use outpost_tests::api::tasks;
use outpost_tests::fleet::{Fleet, SETTLE};
use outpost_tests::inspect;
use serde_json::{Value, json};

/// Waits until the coordinator's relay has applied every stored event.
async fn wait_relay_caught_up(fleet: &Fleet) -> anyhow::Result<()> {
    outpost_tests::wait_until("the relay catching up", SETTLE, async || {
        match inspect::consumer_backlog(&fleet.nats, layout::EVENTS_STREAM, layout::RELAY_CONSUMER)
            .await
        {
            Ok((0, 0)) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

#[tokio::test]
async fn replaying_the_events_stream_changes_nothing() -> anyhow::Result<()> {
    let mut fleet = Fleet::start().await?;
    fleet
        .worker(
            "alpha",
            "alpha-1",
            &["--retry-base-ms", "50", "--concurrency", "2"],
        )
        .await?;
    fleet.worker("beta", "beta-1", &[]).await?;
    let open = tokio::net::TcpListener::bind("127.1.0.3:0").await?;
    let port = open.local_addr()?.port();
    // Finished jobs of every flavour: succeeded after retries, failed,
    // one target refused, cancelled.
    let mut finished = Vec::new();
    for doc in [
        json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 3, "ms": 1, "transient_failures": 1}}),
        json!({"type": "diag.sleep", "zone": "beta", "params": {"count": 2, "ms": 1, "fail": true}}),
        json!({"type": "net.reach", "targets": [format!("127.1.0.3:{port}"), format!("127.2.0.3:{port}")]}),
    ] {
        let id = fleet.api.submit_ok(&doc).await?;
        fleet.api.wait_finished(&id, SETTLE).await?;
        finished.push(id);
    }
    let cancelled = fleet
        .api
        .submit_ok(
            &json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 2, "ms": 60000}}),
        )
        .await?;
    fleet
        .api
        .wait_job(&cancelled, SETTLE, |j| j["counts"]["running"] == 2)
        .await?;
    fleet.api.cancel(&cancelled).await?;
    fleet.api.wait_finished(&cancelled, SETTLE).await?;
    finished.push(cancelled);
    wait_relay_caught_up(&fleet).await?;
    let mut before = Vec::new();
    for id in &finished {
        before.push(fleet.api.job(id).await?);
    }

    // A job in flight while the coordinator goes away.
    let running = fleet
        .api
        .submit_ok(
            &json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 12, "ms": 400}}),
        )
        .await?;
    fleet
        .api
        .wait_job(&running, SETTLE, |j| {
            j["counts"]["succeeded"].as_u64() >= Some(3)
        })
        .await?;
    fleet.kill_coordinator().await?;
    inspect::delete_consumer(&fleet.nats, layout::EVENTS_STREAM, layout::RELAY_CONSUMER).await?;
    fleet.start_coordinator().await?;

    let job = fleet.api.wait_finished(&running, SETTLE).await?;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    assert_eq!(job["counts"]["succeeded"], 12, "{job:#}");
    let events = inspect::events(&fleet.nats, &running).await?;
    let per_task = inspect::results_per_task(&events, pb::Outcome::Succeeded);
    assert!(
        per_task.len() == 12 && per_task.values().all(|&n| n == 1),
        "{per_task:?}"
    );
    wait_relay_caught_up(&fleet).await?;
    // The new coordinator did read the stream from its start.
    let (stored, _) = inspect::stream_state(&fleet.nats, layout::EVENTS_STREAM).await?;
    let metrics = fleet.api.get("/metrics").await?.body;
    let relayed: u64 = metrics
        .as_str()
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("outpost_events_relayed_total "))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        relayed >= stored,
        "the restarted coordinator relayed {relayed} of {stored} stored events"
    );
    for (id, old) in finished.iter().zip(&before) {
        let now = fleet.api.job(id).await?;
        assert_eq!(
            strip_order(&now),
            strip_order(old),
            "job {id} changed when its events were replayed"
        );
    }
    Ok(())
}

/// The job with its tasks sorted by id, so that comparisons ignore order.
fn strip_order(job: &Value) -> Value {
    let mut j = job.clone();
    let mut ts = tasks(job);
    ts.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    j["tasks"] = Value::Array(ts);
    j
}
