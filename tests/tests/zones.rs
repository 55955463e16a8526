//! Tasks go only to the workers of their zone; `net.reach` reports latency
//! or why an address cannot be reached; failures and retries end in the
//! state a user expects; the live event stream ends with the job.

use futures::StreamExt;
use outpost_tests::api::tasks;
use outpost_tests::fleet::{Fleet, SETTLE};
use serde_json::json;

#[tokio::test]
async fn jobs_run_only_on_their_zones_workers() -> anyhow::Result<()> {
    let mut fleet = Fleet::start().await?;
    fleet.worker("alpha", "alpha-1", &[]).await?;
    fleet.worker("alpha", "alpha-2", &[]).await?;
    fleet.worker("beta", "beta-1", &[]).await?;
    let a = fleet
        .api
        .submit_ok(
            &json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 12, "ms": 50}}),
        )
        .await?;
    let b = fleet
        .api
        .submit_ok(&json!({"type": "diag.sleep", "zone": "beta", "params": {"count": 6, "ms": 50}}))
        .await?;
    for (id, zone, n) in [(&a, "alpha", 12), (&b, "beta", 6)] {
        let job = fleet.api.wait_finished(id, SETTLE).await?;
        assert_eq!(job["status"], "succeeded", "{job:#}");
        assert_eq!(job["counts"]["succeeded"], n, "{job:#}");
        for t in tasks(&job) {
            let worker = t["worker_id"].as_str().unwrap_or_default();
            assert!(
                worker.starts_with(zone),
                "task of {zone} ran on {worker}: {t:#}"
            );
            assert_eq!(t["zone"], zone);
        }
    }
    let workers = fleet.api.get("/api/v1/workers").await?.body;
    let ids: Vec<&str> = workers
        .as_array()
        .map(|w| w.iter().filter_map(|w| w["worker_id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ids, ["alpha-1", "alpha-2", "beta-1"], "{workers:#}");
    Ok(())
}

#[tokio::test]
async fn net_reach_reports_latency_or_the_reason() -> anyhow::Result<()> {
    let mut fleet = Fleet::start().await?;
    fleet.worker("alpha", "alpha-1", &[]).await?;
    fleet.worker("beta", "beta-1", &[]).await?;
    let open = tokio::net::TcpListener::bind("127.1.0.9:0").await?;
    let port = open.local_addr()?.port();
    let id = fleet
        .api
        .submit_ok(&json!({"type": "net.reach", "targets": [format!("127.1.0.9:{port}"), format!("127.2.0.9:{port}")]}))
        .await?;
    let job = fleet.api.wait_finished(&id, SETTLE).await?;
    assert_eq!(job["status"], "failed", "one target refuses: {job:#}");
    let ts = tasks(&job);
    let ok = ts
        .iter()
        .find(|t| t["target"] == "127.1.0.9")
        .expect("alpha task");
    assert_eq!(ok["status"], "succeeded", "{ok:#}");
    assert_eq!(ok["zone"], "alpha");
    assert!(ok["output"]["latency_ms"].as_f64().is_some(), "{ok:#}");
    let refused = ts
        .iter()
        .find(|t| t["target"] == "127.2.0.9")
        .expect("beta task");
    assert_eq!(refused["status"], "failed", "{refused:#}");
    assert_eq!(refused["zone"], "beta");
    assert_eq!(refused["error_kind"], "refused", "{refused:#}");
    assert_eq!(refused["worker_id"], "beta-1");
    Ok(())
}

#[tokio::test]
async fn retryable_failures_retry_and_permanent_ones_fail() -> anyhow::Result<()> {
    let mut fleet = Fleet::start().await?;
    fleet
        .worker("alpha", "alpha-1", &["--retry-base-ms", "100"])
        .await?;
    let flaky = fleet
        .api
        .submit_ok(&json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 3, "ms": 1, "transient_failures": 2}}))
        .await?;
    let broken = fleet
        .api
        .submit_ok(&json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 2, "ms": 1, "fail": true}}))
        .await?;
    let hopeless = fleet
        .api
        .submit_ok(&json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 1, "ms": 1, "transient_failures": 50}}))
        .await?;
    let job = fleet.api.wait_finished(&flaky, SETTLE).await?;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    for t in tasks(&job) {
        assert_eq!(
            t["attempts"], 3,
            "two transient failures then success: {t:#}"
        );
    }
    let job = fleet.api.wait_finished(&broken, SETTLE).await?;
    assert_eq!(job["status"], "failed", "{job:#}");
    for t in tasks(&job) {
        assert_eq!(
            t["attempts"], 1,
            "a permanent failure is not retried: {t:#}"
        );
        assert_eq!(t["error_kind"], "requested");
    }
    let job = fleet.api.wait_finished(&hopeless, SETTLE).await?;
    assert_eq!(job["status"], "failed", "{job:#}");
    let t = &tasks(&job)[0];
    assert_eq!(t["attempts"], 5, "max_deliver caps attempts: {t:#}");
    assert!(
        t["error"]
            .as_str()
            .unwrap_or_default()
            .contains("gave up after 5"),
        "{t:#}"
    );
    Ok(())
}

#[tokio::test]
async fn event_stream_is_live_and_ends_with_the_job() -> anyhow::Result<()> {
    let mut fleet = Fleet::start().await?;
    fleet.worker("alpha", "alpha-1", &[]).await?;
    let id = fleet
        .api
        .submit_ok(
            &json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 4, "ms": 300}}),
        )
        .await?;
    let resp = reqwest::get(format!("{}/api/v1/jobs/{id}/events", fleet.api.base)).await?;
    assert_eq!(resp.status(), 200);
    let mut body = resp.bytes_stream();
    let mut text = String::new();
    let read = tokio::time::timeout(SETTLE, async {
        while let Some(chunk) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk?));
        }
        anyhow::Ok(())
    })
    .await;
    assert!(read.is_ok(), "event stream did not end: {text}");
    let started = text.matches("\"type\":\"started\"").count();
    let results = text.matches("\"type\":\"result\"").count();
    assert_eq!((started, results), (4, 4), "{text}");
    assert!(text.contains("event: end"), "{text}");
    let end = text.split("event: end").nth(1).unwrap_or_default();
    assert!(end.contains("\"status\":\"succeeded\""), "{end}");
    Ok(())
}
