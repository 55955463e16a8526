//! Job intake against a real coordinator and nats-server: invalid documents
//! are refused with a message naming the field and leave nothing behind;
//! the bearer token guards the API.

use outpost_proto::layout;
use outpost_tests::fleet::{Fleet, FleetOptions, SETTLE};
use outpost_tests::inspect;
use serde_json::json;

#[tokio::test]
async fn invalid_documents_are_refused_and_nothing_is_written() -> anyhow::Result<()> {
    let fleet = Fleet::start().await?;
    let cases: Vec<(String, u16, &str)> = vec![
        (json!({"type": "net.teleport", "zone": "alpha"}).to_string(), 400, "type"),
        (json!({"zone": "alpha", "params": {"count": 1}}).to_string(), 400, "type"),
        (json!({"type": "diag.sleep", "zone": "gamma", "params": {"count": 1}}).to_string(), 400, "zone"),
        (json!({"type": "diag.sleep", "params": {"count": 1}}).to_string(), 400, "zone"),
        (json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 0}}).to_string(), 400, "params.count"),
        (json!({"type": "net.reach", "targets": ["10.9.9.9:22"]}).to_string(), 400, "targets[0]"),
        (json!({"type": "net.reach", "targets": ["127.1.0.1:22", "127.3.0.1:22"]}).to_string(), 400, "targets[1]"),
        (json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 1}, "schedule_at": "tomorrow"}).to_string(), 400, "schedule_at"),
        (json!({"type": "diag.sleep", "zone": "alpha", "colour": "red"}).to_string(), 400, "colour"),
        (json!({"type": "net.reach", "params": {"timeout_ms": 100}}).to_string(), 400, "targets"),
        (json!({"type": "net.reach", "targets": []}).to_string(), 400, "targets"),
        (json!({"type": "net.reach", "targets": ["127.1.0.1"]}).to_string(), 400, "targets[0]"),
        (json!({"type": "net.reach", "targets": ["127.1.0.1:0"]}).to_string(), 400, "targets[0]"),
        (json!({"type": "net.reach", "targets": ["sw1.fra1:22"]}).to_string(), 400, "targets[0]"),
        (json!({"type": "net.reach", "targets": ["127.1.0.1:22"], "params": {"timeout_ms": 0}}).to_string(), 400, "params.timeout_ms"),
        (json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 100_001}}).to_string(), 400, "params.count"),
        (json!({"type": "diag.sleep", "zone": "alpha", "params": {"ms": 3_600_001}}).to_string(), 400, "params.ms"),
        (json!({"type": "diag.sleep", "zone": "alpha", "params": {"sleep": 1}}).to_string(), 400, "params.sleep"),
        (json!({"type": "diag.sleep", "zone": "alpha", "params": [1]}).to_string(), 400, "params"),
        (json!({"type": "diag.sleep", "zone": "alpha", "targets": ["127.1.0.1:22"]}).to_string(), 400, "targets"),
        (json!({"type": "diag.sleep", "zone": "Alpha"}).to_string(), 400, "zone"),
        (r#"{"type": "diag.sleep", "zone": "alpha""#.to_string(), 400, ""),
        (String::new(), 400, ""),
        ("[]".to_string(), 400, ""),
        ("null".to_string(), 400, ""),
    ];
    for (body, status, field) in &cases {
        let r = fleet.api.post_raw("/api/v1/jobs", body.clone()).await?;
        assert_eq!(r.status, *status, "{body} -> {:?}", r.body);
        let msg = r.body["error"].as_str().unwrap_or_default();
        assert!(!msg.is_empty(), "{body}: no error message in {:?}", r.body);
        if !field.is_empty() {
            let named = r.body["field"].as_str() == Some(field) || msg.contains(field);
            assert!(named, "{body}: error does not name {field:?}: {:?}", r.body);
        }
    }
    // 10 MB body: refused before it is read in full.
    let big = format!(
        r#"{{"type":"diag.sleep","zone":"alpha","params":{{"count":1,"pad":"{}"}}}}"#,
        "x".repeat(10 * 1024 * 1024)
    );
    let r = fleet.api.post_raw("/api/v1/jobs", big).await?;
    assert_eq!(r.status, 413, "{:?}", r.body);

    let jobs = fleet.api.get("/api/v1/jobs").await?;
    assert_eq!(
        jobs.body,
        json!([]),
        "no job may exist after refused submits"
    );
    let metrics = fleet.api.get("/metrics").await?.body;
    let metrics = metrics.as_str().unwrap_or_default();
    let rejected = format!("outpost_jobs_rejected_total {}", cases.len() + 1);
    assert!(
        metrics.lines().any(|l| l == rejected),
        "expected {rejected:?} in {metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l == "outpost_jobs_submitted_total 0"),
        "{metrics}"
    );
    let (keys, msgs) = inspect::stored_state(&fleet.nats).await?;
    assert_eq!(
        (keys, msgs),
        (0, 0),
        "state keys and task messages after refused submits"
    );

    // A valid job is accepted and, with no worker in its zone, waits.
    let id = fleet
        .api
        .submit_ok(&json!({"type": "diag.sleep", "zone": "beta", "params": {"count": 3, "ms": 1}}))
        .await?;
    let job = fleet.api.job(&id).await?;
    assert_eq!(job["status"], "pending", "{job:#}");
    assert_eq!(job["counts"]["pending"], 3, "{job:#}");
    assert_eq!(job["tasks"].as_array().map(Vec::len), Some(3), "{job:#}");
    for t in outpost_tests::api::tasks(&job) {
        assert_eq!(t["status"], "pending", "{t:#}");
        assert_eq!(t["zone"], "beta", "{t:#}");
        assert_eq!(t["attempts"], 0, "{t:#}");
        assert!(t["worker_id"].is_null(), "{t:#}");
    }
    let jobs = fleet.api.list_jobs().await?;
    assert_eq!(jobs.len(), 1, "{jobs:#?}");
    assert_eq!(jobs[0]["id"], id.as_str());
    assert_eq!(jobs[0]["status"], "pending");
    assert_eq!(jobs[0]["type"], "diag.sleep");
    // Its state is in KV, and its three tasks wait in the work queue.
    let mut keys = inspect::kv_keys(&fleet.nats, layout::JOBS_BUCKET).await?;
    keys.sort();
    assert_eq!(
        keys,
        vec![format!("job.{id}"), format!("tasks.{id}.0")],
        "the job and its tasks' one chunk"
    );
    fleet
        .api
        .wait_job(&id, SETTLE, |j| j["dispatched"] == true)
        .await?;
    let (msgs, _) = inspect::stream_state(&fleet.nats, layout::TASKS_STREAM).await?;
    assert_eq!(msgs, 3, "task messages of the pending job");
    let pending = fleet.api.get("/api/v1/jobs?status=pending").await?;
    assert_eq!(
        pending.body.as_array().map(Vec::len),
        Some(1),
        "{pending:?}"
    );
    let running = fleet.api.get("/api/v1/jobs?status=running").await?;
    assert_eq!(running.body, json!([]), "{running:?}");
    let unknown = fleet.api.get("/api/v1/jobs/nope").await?;
    assert_eq!(unknown.status, 404);
    Ok(())
}

#[tokio::test]
async fn token_guards_the_api_but_not_health() -> anyhow::Result<()> {
    let fleet = Fleet::start_with_token(Some("s3cret-token")).await?;
    let mut anonymous = fleet.api.clone();
    anonymous.token = None;
    let r = anonymous.get("/api/v1/jobs").await?;
    assert_eq!(r.status, 401, "{:?}", r.body);
    let mut wrong = fleet.api.clone();
    wrong.token = Some("guess".into());
    assert_eq!(wrong.get("/api/v1/jobs").await?.status, 401);
    assert_eq!(
        wrong
            .submit(&json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 1}}))
            .await?
            .status,
        401
    );
    assert_eq!(anonymous.get("/healthz").await?.status, 200);
    let id = fleet
        .api
        .submit_ok(&json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": 1}}))
        .await?;
    for path in [
        format!("/api/v1/jobs/{id}"),
        format!("/api/v1/jobs/{id}/events"),
        "/api/v1/workers".to_string(),
        "/metrics".to_string(),
    ] {
        let r = anonymous.get(&path).await?;
        assert_eq!(r.status, 401, "GET {path} without a token: {:?}", r.body);
        assert!(
            r.body["error"]
                .as_str()
                .is_some_and(|e| e.contains("token")),
            "{path}: {:?}",
            r.body
        );
    }
    let r = anonymous.cancel(&id).await?;
    assert_eq!(r.status, 401, "cancel without a token: {:?}", r.body);
    assert_eq!(fleet.api.job(&id).await?["cancel_requested"], false);
    // The scheme must be Bearer, and the token must match exactly.
    for header in [
        "s3cret-token",
        "Basic s3cret-token",
        "Bearer s3cret-toke",
        "Bearer s3cret-token2",
    ] {
        let r = reqwest::Client::new()
            .get(format!("{}/api/v1/jobs", fleet.api.base))
            .header("authorization", header)
            .send()
            .await?;
        assert_eq!(r.status(), 401, "Authorization: {header}");
    }
    assert_eq!(fleet.api.cancel(&id).await?.status, 202);
    assert_eq!(fleet.api.get("/api/v1/jobs").await?.status, 200);
    let metrics = fleet.api.get("/metrics").await?;
    assert_eq!(metrics.status, 200);
    let text = metrics.body.as_str().unwrap_or_default().to_string();
    assert!(text.contains("# TYPE"), "not Prometheus text: {text}");
    // The token never shows up in the coordinator's output.
    let logs = [fleet.coordinator.stdout(), fleet.coordinator.stderr()].concat();
    assert!(
        logs.iter().all(|l| !l.contains("s3cret-token")),
        "token leaked into logs"
    );
    Ok(())
}

#[tokio::test]
async fn wrongly_typed_fields_are_named() -> anyhow::Result<()> {
    let fleet = Fleet::start().await?;
    let cases = [
        (json!({"type": 5, "zone": "alpha"}), "type"),
        (json!({"type": "diag.sleep", "zone": 7}), "zone"),
        (
            json!({"type": "net.reach", "targets": "127.1.0.1:22"}),
            "targets",
        ),
        (json!({"type": "net.reach", "targets": [22]}), "targets"),
        (
            json!({"type": "diag.sleep", "zone": "alpha", "schedule_at": 5}),
            "schedule_at",
        ),
        (
            json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": "many"}}),
            "params.count",
        ),
        (
            json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": -1}}),
            "params.count",
        ),
    ];
    let mut unnamed = Vec::new();
    for (doc, field) in &cases {
        let r = fleet.api.submit(doc).await?;
        assert_eq!(r.status, 400, "{doc} -> {:?}", r.body);
        let msg = r.body["error"].as_str().unwrap_or_default();
        let named = r.body["field"]
            .as_str()
            .is_some_and(|f| f.starts_with(field))
            || msg.contains(&format!("`{field}`"));
        if !named {
            unnamed.push(format!("{doc} -> {}", r.body));
        }
    }
    assert!(
        unnamed.is_empty(),
        "errors that do not name the wrongly typed field:\n{}",
        unnamed.join("\n")
    );
    let (keys, msgs) = inspect::stored_state(&fleet.nats).await?;
    assert_eq!((keys, msgs), (0, 0));
    Ok(())
}

#[tokio::test]
async fn address_in_two_zones_is_refused_naming_both() -> anyhow::Result<()> {
    let fleet = Fleet::start_with(FleetOptions {
        zones: Some(
            r#"[[zone]]
name = "alpha"
cidrs = ["127.1.0.0/16"]
[[zone]]
name = "lab"
cidrs = ["127.1.5.0/24"]
"#
            .into(),
        ),
        ..FleetOptions::default()
    })
    .await?;
    let r = fleet
        .api
        .submit(&json!({"type": "net.reach", "targets": ["127.1.0.1:22", "127.1.5.9:22"]}))
        .await?;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(r.body["field"], "targets[1]", "{:?}", r.body);
    let msg = r.body["error"].as_str().unwrap_or_default();
    assert!(
        msg.contains("127.1.5.9") && msg.contains("alpha") && msg.contains("lab"),
        "{msg}"
    );
    let (keys, msgs) = inspect::stored_state(&fleet.nats).await?;
    assert_eq!((keys, msgs), (0, 0), "nothing written for the refused job");
    // Naming the zone settles it; an address of the overlap alone is fine
    // in the zone the job names.
    let id = fleet
        .api
        .submit_ok(&json!({"type": "net.reach", "zone": "lab", "targets": ["127.1.5.9:22"]}))
        .await?;
    let job = fleet.api.job(&id).await?;
    assert_eq!(job["tasks"][0]["zone"], "lab", "{job:#}");
    Ok(())
}

#[tokio::test]
async fn unknown_things_get_clear_answers() -> anyhow::Result<()> {
    let fleet = Fleet::start().await?;
    for (method, path, status) in [
        ("GET", "/api/v1/jobs/nope", 404),
        ("GET", "/api/v1/jobs/nope/events", 404),
        ("POST", "/api/v1/jobs/nope/cancel", 404),
        ("GET", "/api/v1/nothing", 404),
        ("GET", "/api/v1/jobs?status=bogus", 400),
        ("GET", "/api/v1/jobs?limit=many", 400),
    ] {
        let r = if method == "GET" {
            fleet.api.get(path).await?
        } else {
            fleet.api.post_raw(path, "").await?
        };
        assert_eq!(r.status, status, "{method} {path}: {:?}", r.body);
        assert!(
            r.body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{method} {path}: {:?}",
            r.body
        );
    }
    let r = fleet.api.get("/api/v1/jobs?status=bogus").await?;
    assert!(
        r.body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("bogus"),
        "{:?}",
        r.body
    );
    let health = fleet.api.get("/healthz").await?;
    assert_eq!(health.status, 200);
    assert_eq!(health.body["status"], "ok", "{:?}", health.body);
    Ok(())
}

/// Under systemd the token comes as a credential file
/// (`OUTPOST_API_TOKEN_FILE`), not through the environment.
#[tokio::test]
async fn the_token_can_come_from_a_file() -> anyhow::Result<()> {
    let mut fleet = Fleet::start().await?;
    fleet.kill_coordinator().await?;
    let file = fleet.dir.path().join("api-token");
    std::fs::write(&file, "from-a-file\n")?;
    let path = file.to_str().expect("utf-8 path");
    let (_coordinator, api) = outpost_tests::fleet::spawn_coordinator(
        fleet.dir.path().join("coordinator.toml"),
        None,
        &[("OUTPOST_API_TOKEN_FILE", path)],
    )
    .await?;
    assert_eq!(api.get("/api/v1/jobs").await?.status, 401);
    let mut holder = api.clone();
    holder.token = Some("from-a-file".into());
    assert_eq!(holder.get("/api/v1/jobs").await?.status, 200);
    Ok(())
}
