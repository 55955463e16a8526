//! One trace spans a job: the `traceparent` a caller sends with the
//! submission reaches the job's state, and every event the workers publish
//! carries a span of that same trace (API → dispatch → worker); exported
//! over OTLP/HTTP to a real receiver, the coordinator's and the worker's
//! spans of a Redfish job form one tree from the API call down to each
//! HTTP request to the iDRAC.

use outpost_tests::collect::{CollectFleet, Cred};
use outpost_tests::fleet::{Fleet, SETTLE, TWO_ZONES};
use outpost_tests::{inspect, otlp};
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

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

const IDRAC_PASS: &str = "calvin-traced";

/// The spans from `s` up to its root, by name (`s` first).
fn chain(s: &otlp::Span, by_id: &HashMap<String, otlp::Span>) -> Vec<String> {
    let mut names = vec![s.name.clone()];
    let mut at = s.parent.clone();
    while let Some(p) = by_id.get(&at) {
        names.push(p.name.clone());
        at = p.parent.clone();
        if names.len() > 32 {
            break;
        }
    }
    names
}

#[tokio::test]
async fn a_redfish_job_exports_one_span_tree_from_the_api_to_each_device_request()
-> anyhow::Result<()> {
    let rx = otlp::Receiver::start().await?;
    let dir = tempfile::tempdir()?;
    let creds = [Cred {
        name: "idrac",
        username: "root",
        password: IDRAC_PASS,
        enable_secret: None,
        default: true,
    }];
    let sim =
        outpost_tests::idracs::start(&["127.1.63.1".to_string()], "root", IDRAC_PASS, 630, 0.01)
            .await?;
    let port = sim.addrs()[0].port();
    let mut f = CollectFleet::start_with_env(dir.path(), &creds, &[], TWO_ZONES, rx.env()).await?;
    f.worker_with_env("alpha", "alpha-1", &[], &rx.env())
        .await?;
    let id = f
        .fleet
        .api
        .submit_ok(
            &json!({"type": "redfish.inventory", "targets": ["127.1.63.1"],
                           "params": {"port": port}}),
        )
        .await?;
    let job = f.fleet.api.wait_finished(&id, SETTLE).await?;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    let spans = rx
        .wait(Duration::from_secs(60), |s| {
            s.iter().any(|x| x.name == "submit_job")
                && s.iter().any(|x| x.name == "dispatch")
                && s.iter().filter(|x| x.name == "redfish.request").count() >= 3
                && s.iter().any(|x| x.name == "task.run")
        })
        .await?;
    let api = spans
        .iter()
        .find(|s| s.name == "submit_job" && s.attrs.get("job").is_some_and(|j| *j == id))
        .expect("the API's span of this job");
    assert_eq!(api.service, "outpost-coordinator");
    assert!(api.parent.is_empty(), "the API call is the root: {api:?}");
    let trace = api.trace_id.clone();
    let tp = job["traceparent"].as_str().unwrap_or_default();
    assert!(
        tp.contains(&trace),
        "job document {tp:?} names trace {trace}"
    );
    let ours: Vec<&otlp::Span> = spans.iter().filter(|s| s.trace_id == trace).collect();
    let by_id: HashMap<String, otlp::Span> = ours
        .iter()
        .map(|s| (s.span_id.clone(), (*s).clone()))
        .collect();
    // Planning and dispatch hang off the API call.
    for name in ["plan", "dispatch"] {
        let s = ours.iter().find(|s| s.name == name).expect(name);
        assert_eq!(
            chain(s, &by_id).last().map(String::as_str),
            Some("submit_job"),
            "{s:?}"
        );
    }
    // Every request to the iDRAC: a worker span under task.run, dispatch
    // and the API call, with its method, path and status.
    let requests: Vec<&&otlp::Span> = ours
        .iter()
        .filter(|s| s.name == "redfish.request")
        .collect();
    assert!(
        requests.len() >= 3,
        "login, inventory, logout at least: {requests:?}"
    );
    for r in &requests {
        assert_eq!(r.service, "outpost-worker");
        let c = chain(r, &by_id);
        assert_eq!(
            c,
            ["redfish.request", "task.run", "dispatch", "submit_job"],
            "{r:?}"
        );
        assert!(r.attrs.contains_key("http.request.method"), "{r:?}");
        assert!(r.attrs["url.path"].starts_with("/redfish/v1"), "{r:?}");
        let status: u16 = r.attrs["http.response.status_code"].parse()?;
        assert!((200..300).contains(&status), "{r:?}");
    }
    assert!(
        requests
            .iter()
            .any(|r| r.attrs["url.path"].contains("FirmwareInventory")),
        "{requests:?}"
    );
    // No secret in any span, and every export was well-formed OTLP.
    for s in &spans {
        for v in s.attrs.values() {
            assert!(!v.contains(IDRAC_PASS), "{s:?}");
        }
    }
    assert_eq!(rx.rejected(), 0);
    // Exporting never took a process down (the batch thread panicked on
    // its first export before): both still answer.
    assert!(f.fleet.coordinator.is_running(), "coordinator exited");
    assert!(f.fleet.workers[0].is_running(), "worker exited");
    for p in [&f.fleet.coordinator, &f.fleet.workers[0]] {
        let err = p.stderr().join("\n");
        assert!(!err.contains("panicked"), "{err}");
        // Log lines inside the job name its trace.
        if err.contains("task.run") {
            assert!(err.contains(&format!("trace_id={trace}")), "{err}");
        }
    }
    Ok(())
}

/// Worker `task.run` spans of job `id` among `spans`, and the failed
/// tasks the coordinator recorded for it.
fn task_spans<'a>(spans: &'a [otlp::Span], id: &str) -> (Vec<&'a otlp::Span>, Vec<&'a otlp::Span>) {
    let of_job =
        |s: &&otlp::Span| s.name == "task.run" && s.attrs.get("job").is_some_and(|j| j == id);
    (
        spans
            .iter()
            .filter(of_job)
            .filter(|s| s.service == "outpost-worker")
            .collect(),
        spans
            .iter()
            .filter(of_job)
            .filter(|s| s.service == "outpost-coordinator")
            .collect(),
    )
}

#[tokio::test]
async fn a_big_job_traces_its_first_tasks_and_every_failure() -> anyhow::Result<()> {
    let rx = otlp::Receiver::start().await?;
    let mut env = rx.env();
    env.push(("OUTPOST_TRACE_TASKS_FIRST".into(), "4".into()));
    env.push(("OUTPOST_TRACE_TASKS_RATIO".into(), "0".into()));
    let mut fleet = Fleet::start_with(outpost_tests::fleet::FleetOptions {
        envs: env,
        ..Default::default()
    })
    .await?;
    let worker_env: Vec<(String, String)> = rx.env();
    let worker_env: Vec<(&str, &str)> = worker_env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    fleet
        .worker_env("alpha", "alpha-1", &["--concurrency", "16"], &worker_env)
        .await?;

    // 40 tasks that succeed: the first 4 are traced, no other.
    let ok = fleet
        .api
        .submit_ok(
            &json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 40, "ms": 1}}),
        )
        .await?;
    // 12 that fail: the first 4 traced by the worker, the other 8 put
    // into the trace by the coordinator from their results.
    let bad = fleet
        .api
        .submit_ok(&json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 12, "ms": 1, "fail": true}}))
        .await?;
    for id in [&ok, &bad] {
        fleet.api.wait_finished(id, SETTLE).await?;
    }
    let spans = rx
        .wait(Duration::from_secs(60), |s| {
            let (w_ok, _) = task_spans(s, &ok);
            let (w_bad, c_bad) = task_spans(s, &bad);
            w_ok.len() >= 4 && w_bad.len() >= 4 && c_bad.len() >= 8
        })
        .await?;
    // Spans trickle in batches: give stragglers a moment to show they are none.
    let spans = rx
        .wait(Duration::from_secs(3), |s| s.len() > spans.len())
        .await
        .unwrap_or(spans);
    let (w_ok, c_ok) = task_spans(&spans, &ok);
    assert_eq!(w_ok.len(), 4, "{w_ok:#?}");
    assert!(c_ok.is_empty(), "{c_ok:#?}");
    let (w_bad, c_bad) = task_spans(&spans, &bad);
    assert_eq!(w_bad.len(), 4, "{w_bad:#?}");
    assert_eq!(c_bad.len(), 8, "{c_bad:#?}");
    let doc = fleet.api.job(&bad).await?;
    let trace = doc["traceparent"]
        .as_str()
        .and_then(|t| t.split('-').nth(1))
        .unwrap_or_default()
        .to_string();
    let traced: std::collections::BTreeSet<&String> =
        w_bad.iter().map(|s| &s.attrs["task"]).collect();
    for s in &c_bad {
        assert_eq!(s.trace_id, trace, "{s:?}");
        assert!(!s.parent.is_empty(), "{s:?}");
        assert_eq!(s.attrs["error_kind"], "requested", "{s:?}");
        assert!(!traced.contains(&s.attrs["task"]), "recorded twice: {s:?}");
    }
    // No untraced task leaked a span of its own (a root of a new trace).
    let roots: Vec<&otlp::Span> = spans
        .iter()
        .filter(|s| s.service == "outpost-worker" && s.parent.is_empty())
        .collect();
    assert!(roots.is_empty(), "{roots:#?}");
    assert_eq!(rx.rejected(), 0);
    Ok(())
}
