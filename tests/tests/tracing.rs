//! One trace spans a job: the `traceparent` a caller sends with the
//! submission reaches the job's state, and every event the workers publish
//! carries a span of that same trace (API → dispatch → worker).

use outpost_tests::fleet::{Fleet, SETTLE};
use outpost_tests::inspect;
use serde_json::json;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

#[tokio::test]
async fn traceparent_travels_from_the_api_to_the_worker_events() -> anyhow::Result<()> {
    let mut fleet = Fleet::start().await?;
    fleet.worker("alpha", "alpha-1", &[]).await?;
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/jobs", fleet.api.base))
        .header("traceparent", format!("00-{TRACE_ID}-00f067aa0ba902b7-01"))
        .json(&json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 2, "ms": 1}}))
        .send()
        .await?;
    assert_eq!(resp.status(), 201);
    let job: serde_json::Value = resp.json().await?;
    let id = job["id"].as_str().unwrap_or_default().to_string();
    let tp = job["traceparent"].as_str().unwrap_or_default();
    assert!(tp.contains(TRACE_ID), "job traceparent {tp:?}");
    let done = fleet.api.wait_finished(&id, SETTLE).await?;
    assert_eq!(done["status"], "succeeded");
    let events = inspect::events_with_trace(&fleet.nats, &id).await?;
    // Quick tasks publish their result only; it says when they started.
    assert_eq!(events.len(), 2, "one result for each of two tasks");
    for (ev, _) in &events {
        match &ev.body {
            Some(outpost_proto::pb::event::Body::Result(r)) => {
                assert!(r.started_at_ms > 0 && r.started_at_ms <= ev.at_ms, "{ev:?}")
            }
            other => panic!("not a result: {other:?}"),
        }
    }
    for (ev, tp) in &events {
        let tp = tp.as_deref().unwrap_or_default();
        assert!(tp.contains(TRACE_ID), "event {ev:?} has traceparent {tp:?}");
        // The worker's own span, not the caller's.
        assert!(!tp.contains("00f067aa0ba902b7"), "{tp}");
    }
    Ok(())
}
