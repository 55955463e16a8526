//! A big job's tasks come in pages: the job document carries the counts
//! and the first page, `/api/v1/jobs/{id}/tasks` the rest, every task
//! exactly once, also while the job runs; against a real fleet.

use anyhow::Result;
use outpost_tests::fleet::{Fleet, SETTLE};
use serde_json::{Value, json};
use std::collections::HashSet;

const TASKS: usize = 3000;

/// Walks every page with `query` added; returns the task ids in order.
async fn walk(fleet: &Fleet, id: &str, query: &str) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let q = match &after {
            Some(a) => format!("{query}&after={a}"),
            None => query.to_string(),
        };
        let page = fleet.api.task_page(id, &q).await?;
        for t in page["tasks"].as_array().cloned().unwrap_or_default() {
            ids.push(t["id"].as_str().unwrap_or_default().to_string());
        }
        match page["next"].as_str() {
            Some(n) => after = Some(n.to_string()),
            None => return Ok(ids),
        }
        anyhow::ensure!(
            ids.len() <= 2 * TASKS,
            "the walk does not end: {} ids",
            ids.len()
        );
    }
}

fn assert_complete(ids: &[String], what: &str) {
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "{what}: duplicates");
    assert_eq!(ids.len(), TASKS, "{what}: gaps");
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "{what}: not in id order"
    );
}

#[tokio::test]
async fn a_big_job_is_paged_completely_without_duplicates() -> Result<()> {
    let mut fleet = Fleet::start().await?;
    fleet.worker("alpha", "alpha-1", &[]).await?;
    let id = fleet
        .api
        .submit_ok(
            &json!({"type": "diag.sleep", "zone": "alpha", "params": {"count": TASKS, "ms": 0}}),
        )
        .await?;
    // While it runs: the document holds the counts and the first page only.
    let raw = fleet.api.get(&format!("/api/v1/jobs/{id}")).await?;
    assert_eq!(raw.status, 200);
    let doc = raw.body;
    let counts: u64 = ["pending", "running", "succeeded", "failed", "cancelled"]
        .iter()
        .map(|s| doc["counts"][s].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(counts, TASKS as u64, "{:#}", doc["counts"]);
    assert_eq!(doc["tasks"].as_array().map(Vec::len), Some(100));
    assert!(doc["tasks_next"].is_string(), "{:#}", doc["tasks_next"]);
    assert!(
        doc.to_string().len() < 200_000,
        "the document is {} bytes",
        doc.to_string().len()
    );
    assert_complete(
        &walk(&fleet, &id, "limit=1000").await?,
        "walk while running",
    );

    let done = fleet.api.wait_finished(&id, SETTLE).await?;
    assert_eq!(done["status"], "succeeded");
    assert_complete(&walk(&fleet, &id, "limit=333").await?, "walk of 333");
    assert_complete(
        &walk(&fleet, &id, "limit=1000&status=succeeded").await?,
        "succeeded only",
    );
    let failed = fleet.api.task_page(&id, "status=failed").await?;
    assert_eq!(failed, json!({"tasks": [], "next": null}));
    // The harness's `job` gathers every page.
    assert_eq!(done["tasks"].as_array().map(Vec::len), Some(TASKS));

    for (query, status) in [
        ("limit=0", 400),
        ("limit=1001", 400),
        ("status=done", 400),
        ("colour=red", 400),
    ] {
        let r = fleet
            .api
            .get(&format!("/api/v1/jobs/{id}/tasks?{query}"))
            .await?;
        assert_eq!(r.status, status, "{query}: {:?}", r.body);
        assert!(r.body["error"].is_string(), "{query}: {:?}", r.body);
    }
    let r = fleet.api.get("/api/v1/jobs/nope/tasks").await?;
    assert_eq!(r.status, 404);

    // A small job fits the document: no next page.
    let small = fleet
        .api
        .submit_ok(&json!({"type": "diag.sleep", "zone": "beta", "params": {"count": 3}}))
        .await?;
    let doc = fleet.api.job_document(&small).await?;
    assert_eq!(doc["tasks"].as_array().map(Vec::len), Some(3));
    assert_eq!(doc["tasks_next"], Value::Null);
    Ok(())
}
