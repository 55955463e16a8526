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

#[tokio::test]
async fn a_zone_without_workers_keeps_its_tasks_while_other_zones_run() -> anyhow::Result<()> {
    let mut fleet = Fleet::start().await?;
    fleet.worker("alpha", "alpha-1", &[]).await?;
    fleet.worker("alpha", "alpha-2", &[]).await?;
    let b = fleet
        .api
        .submit_ok(&json!({"type": "diag.sleep", "zone": "beta", "params": {"count": 4, "ms": 1}}))
        .await?;
    let a = fleet
        .api
        .submit_ok(&json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 8, "ms": 1}}))
        .await?;
    let job = fleet.api.wait_finished(&a, SETTLE).await?;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    // Idle alpha workers never touch beta's tasks.
    let job = fleet.api.job(&b).await?;
    assert_eq!(job["status"], "pending", "{job:#}");
    for t in tasks(&job) {
        assert_eq!(t["status"], "pending", "{t:#}");
        assert_eq!(t["attempts"], 0, "{t:#}");
        assert!(t["worker_id"].is_null(), "{t:#}");
    }
    // The first beta worker takes them all.
    fleet.worker("beta", "beta-1", &[]).await?;
    let job = fleet.api.wait_finished(&b, SETTLE).await?;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    for t in tasks(&job) {
        assert_eq!(t["worker_id"], "beta-1", "{t:#}");
        assert_eq!(t["attempts"], 1, "{t:#}");
    }
    Ok(())
}

#[tokio::test]
async fn workers_only_take_their_kinds() -> anyhow::Result<()> {
    let mut fleet = Fleet::start().await?;
    fleet
        .worker("alpha", "sleeper", &["--kinds", "diag.sleep"])
        .await?;
    assert!(
        fleet.workers[0]
            .stdout()
            .iter()
            .any(|l| l == "outpost-worker ready zone=alpha worker=sleeper kinds=diag.sleep"),
        "{:?}",
        fleet.workers[0].stdout()
    );
    let open = tokio::net::TcpListener::bind("127.1.0.7:0").await?;
    let port = open.local_addr()?.port();
    let reach = fleet
        .api
        .submit_ok(&json!({"type": "net.reach", "targets": [format!("127.1.0.7:{port}")]}))
        .await?;
    let sleep = fleet
        .api
        .submit_ok(&json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 3, "ms": 1}}))
        .await?;
    let job = fleet.api.wait_finished(&sleep, SETTLE).await?;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    let job = fleet.api.job(&reach).await?;
    assert_eq!(
        job["status"], "pending",
        "a diag.sleep-only worker took net.reach: {job:#}"
    );
    fleet
        .worker("alpha", "reacher", &["--kinds", "net.reach"])
        .await?;
    let job = fleet.api.wait_finished(&reach, SETTLE).await?;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    assert_eq!(job["tasks"][0]["worker_id"], "reacher", "{job:#}");
    let workers = fleet.api.workers().await?;
    let kinds: Vec<(String, Vec<String>)> = workers
        .iter()
        .map(|w| {
            (
                w["worker_id"].as_str().unwrap_or_default().to_string(),
                serde_json::from_value(w["kinds"].clone()).unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("reacher".to_string(), vec!["net.reach".to_string()]),
            ("sleeper".to_string(), vec!["diag.sleep".to_string()]),
        ],
        "{workers:#?}"
    );
    Ok(())
}

#[tokio::test]
async fn worker_presence_shows_capacity_and_goes_away() -> anyhow::Result<()> {
    let mut fleet = Fleet::start().await?;
    let calm = fleet
        .worker("alpha", "alpha-calm", &["--concurrency", "3"])
        .await?;
    let doomed = fleet
        .worker("beta", "beta-doomed", &["--concurrency", "5"])
        .await?;
    let workers = fleet.api.wait_workers(SETTLE, |w| w.len() == 2).await?;
    for (w, zone, capacity) in [(&workers[0], "alpha", 3), (&workers[1], "beta", 5)] {
        assert_eq!(w["zone"], zone, "{w:#}");
        assert_eq!(w["capacity"], capacity, "{w:#}");
        assert_eq!(w["in_flight"], 0, "{w:#}");
        assert_eq!(w["draining"], false, "{w:#}");
    }
    // Tasks in flight show up in the worker's presence.
    let id = fleet
        .api
        .submit_ok(
            &json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 3, "ms": 60000}}),
        )
        .await?;
    fleet
        .api
        .wait_workers(SETTLE, |w| {
            w.iter()
                .any(|w| w["worker_id"] == "alpha-calm" && w["in_flight"] == 3)
        })
        .await?;
    assert_eq!(fleet.api.cancel(&id).await?.status, 202);
    fleet
        .api
        .wait_workers(SETTLE, |w| {
            w.iter()
                .any(|w| w["worker_id"] == "alpha-calm" && w["in_flight"] == 0)
        })
        .await?;
    // A clean exit removes the presence at once; a killed worker's expires
    // with the bucket's TTL (6 s here).
    fleet.workers[calm].term()?;
    let status = fleet.workers[calm].wait_exit(SETTLE).await?;
    assert!(status.success(), "{status}");
    let left = fleet.api.workers().await?;
    assert!(
        left.iter().all(|w| w["worker_id"] != "alpha-calm"),
        "presence of a stopped worker remains: {left:#?}"
    );
    fleet.workers[doomed].kill9().await?;
    fleet.api.wait_workers(SETTLE, |w| w.is_empty()).await?;
    Ok(())
}

#[tokio::test]
async fn event_stream_of_a_finished_job_replays_it_and_ends() -> anyhow::Result<()> {
    let mut fleet = Fleet::start().await?;
    fleet.worker("alpha", "alpha-1", &[]).await?;
    let id = fleet
        .api
        .submit_ok(&json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 3, "ms": 1}}))
        .await?;
    let job = fleet.api.wait_finished(&id, SETTLE).await?;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    let text = fleet.api.follow(&id, SETTLE).await?;
    let events = outpost_tests::api::sse_events(&text);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"job"), "{text}");
    assert_eq!(names.last(), Some(&"end"), "{text}");
    assert_eq!(
        events.last().map(|(_, d)| &d["status"]),
        Some(&json!("succeeded"))
    );
    let task_events: Vec<&serde_json::Value> = events
        .iter()
        .filter(|(n, _)| n == "task")
        .map(|(_, d)| d)
        .collect();
    for t in tasks(&job) {
        let id = t["id"].as_str().unwrap_or_default();
        let kinds: Vec<&str> = task_events
            .iter()
            .filter(|e| e["task_id"] == id)
            .filter_map(|e| e["type"].as_str())
            .collect();
        // A task this quick says when it started in its result: one event.
        assert_eq!(kinds, vec!["result"], "events of {id}: {kinds:?}");
        let result = task_events
            .iter()
            .find(|e| e["task_id"] == id && e["type"] == "result")
            .expect("result event");
        assert_eq!(result["outcome"], "succeeded", "{result:#}");
        assert_eq!(result["worker_id"], "alpha-1", "{result:#}");
    }
    Ok(())
}
