//! A task that runs out of deliveries while no coordinator is running is
//! still failed: the max-deliveries advisory is kept in a stream and
//! applied by the next coordinator.

use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use outpost_tests::fleet::{Fleet, FleetOptions, SETTLE, two_zones_with};
use outpost_tests::{inspect, wait_until};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn task_that_gave_up_while_the_coordinator_was_down_is_failed() -> anyhow::Result<()> {
    // The zone's consumers allow two deliveries with a 1 s ack wait; no
    // worker runs.
    let mut fleet = Fleet::start_with(FleetOptions {
        zones: Some(two_zones_with("ack_wait_secs = 1\nmax_deliver = 2")),
        ..FleetOptions::default()
    })
    .await?;
    let id = fleet
        .api
        .submit_ok(&json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 1, "ms": 0}}))
        .await?;
    // The task is on the work queue before the coordinator goes.
    wait_until(
        "the task published",
        SETTLE,
        async || match inspect::stream_state(&fleet.nats, "OUTPOST_TASKS").await {
            Ok((n, _)) if n >= 1 => Ok(()),
            other => Err(format!("{other:?}")),
        },
    )
    .await?;
    fleet.kill_coordinator().await?;

    // Something takes the task twice and never answers, while no
    // coordinator is there to hear the advisory.
    let js = jetstream::new(fleet.nats.client().await?);
    let c: consumer::PullConsumer = js
        .get_stream("OUTPOST_TASKS")
        .await?
        .get_consumer("alpha_diag-sleep")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for delivery in 1..=2 {
        let mut batch = c
            .fetch()
            .max_messages(1)
            .expires(Duration::from_secs(20))
            .messages()
            .await?;
        let m = batch
            .next()
            .await
            .ok_or_else(|| anyhow::anyhow!("delivery {delivery} did not come"))?
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        assert_eq!(
            m.info().map_err(|e| anyhow::anyhow!("{e}"))?.delivered,
            delivery
        );
    }
    // The server gives up on the message when it would deliver it a
    // third time: that needs a waiting pull.
    let mut more = c
        .fetch()
        .max_messages(1)
        .expires(Duration::from_secs(5))
        .messages()
        .await?;
    if let Some(Ok(m)) = more.next().await {
        anyhow::bail!("a third delivery came: {:?}", m.info().map(|i| i.delivered));
    }
    wait_until(
        "the advisory stored",
        SETTLE,
        async || match inspect::stream_state(&fleet.nats, "OUTPOST_ADVISORIES").await {
            Ok((n, _)) if n >= 1 => Ok(()),
            other => Err(format!("{other:?}")),
        },
    )
    .await?;

    fleet.start_coordinator().await?;
    let job = fleet.api.wait_finished(&id, SETTLE).await?;
    assert_eq!(job["status"], "failed", "{job:#}");
    let tasks = outpost_tests::api::tasks(&job);
    assert_eq!(tasks[0]["error_kind"], "max_deliver", "{job:#}");
    Ok(())
}
