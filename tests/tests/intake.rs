//! Job intake against a real coordinator and nats-server: invalid documents
//! are refused with a message naming the field and leave nothing behind;
//! the bearer token guards the API.

use outpost_tests::fleet::Fleet;
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
        (r#"{"type": "diag.sleep", "zone": "alpha""#.to_string(), 400, ""),
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
    let (keys, msgs) = inspect::stored_state(&fleet.nats.url()).await?;
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
    assert_eq!(job["status"], "pending");
    assert_eq!(job["counts"]["pending"], 3);
    assert_eq!(job["tasks"].as_array().map(Vec::len), Some(3));
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
