//! Prometheus metrics of a live fleet: a worker serving `/metrics`
//! (`--metrics-listen`) and the coordinator's `/metrics`, scraped after a
//! real Redfish job. Every metric a Grafana dashboard in
//! `deploy/grafana/dashboards` queries is on one of the two pages, the
//! pages are well-formed text exposition, and the job shows up where an
//! operator looks: task duration by zone, kind and outcome, Redfish
//! requests by method and status, capacity, the queue per zone and kind.

use anyhow::{Context, Result};
use outpost_tests::collect::{CollectFleet, Cred};
use outpost_tests::fleet::SETTLE;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const PASS: &str = "calvin-metrics";

/// Metric names the dashboards query.
fn dashboard_metrics() -> Result<Vec<(String, String)>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana/dashboards");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir)? {
        let path = e?.path();
        let d: Value = serde_json::from_slice(&std::fs::read(&path)?)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        let mut exprs = Vec::new();
        for p in d["panels"].as_array().context("panels")? {
            for t in p["targets"].as_array().context("targets")? {
                exprs.push(t["expr"].as_str().context("expr")?.to_string());
            }
        }
        for v in d["templating"]["list"].as_array().into_iter().flatten() {
            exprs.push(v["definition"].as_str().unwrap_or_default().to_string());
        }
        for x in exprs {
            let mut rest = x.as_str();
            while let Some(i) = rest.find("outpost_") {
                let name: String = rest[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                rest = &rest[i + name.len()..];
                let file = path.file_name().unwrap().to_string_lossy().into_owned();
                out.push((file, name));
            }
        }
    }
    anyhow::ensure!(out.len() > 20, "dashboards query too little: {out:?}");
    Ok(out)
}

/// The families a page declares (`# TYPE name kind`), checking that
/// every sample line is `name{labels} value`.
fn families(page: &str) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for line in page.lines() {
        if let Some(t) = line.strip_prefix("# TYPE ") {
            names.push(t.split(' ').next().unwrap_or_default().to_string());
        } else if !line.starts_with('#') && !line.is_empty() {
            let (series, value) = line.rsplit_once(' ').context("no value")?;
            anyhow::ensure!(
                value.parse::<f64>().is_ok() || value == "+Inf",
                "bad value in {line:?}"
            );
            let name = series.split('{').next().unwrap_or_default();
            anyhow::ensure!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "bad name in {line:?}"
            );
            anyhow::ensure!(
                !series.contains('{') || series.ends_with('}'),
                "bad labels in {line:?}"
            );
        }
    }
    Ok(names)
}

/// The value of the first sample of `name` whose labels hold every one of `labels`.
fn sample(page: &str, name: &str, labels: &[&str]) -> Option<f64> {
    page.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find(|l| labels.iter().all(|x| l.contains(x)))
        .and_then(|l| l.rsplit_once(' '))
        .and_then(|(_, v)| v.parse().ok())
}

async fn scrape(url: &str) -> Result<String> {
    let r = reqwest::get(url).await?;
    anyhow::ensure!(r.status() == 200, "{url}: {}", r.status());
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    anyhow::ensure!(ct.starts_with("text/plain"), "{url}: {ct}");
    Ok(r.text().await?)
}

#[tokio::test]
async fn dashboards_query_what_a_live_coordinator_and_worker_expose() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let creds = [Cred {
        name: "idrac",
        username: "root",
        password: PASS,
        enable_secret: None,
        default: true,
    }];
    let sim =
        outpost_tests::idracs::start(&["127.1.66.1".to_string()], "root", PASS, 660, 0.01).await?;
    let port = sim.addrs()[0].port();
    let mut f = CollectFleet::start(dir.path(), &creds, &[]).await?;
    f.worker("alpha", "alpha-1", &["--metrics-listen", "127.0.0.1:0"])
        .await?;
    let line = f.fleet.workers[0]
        .stdout()
        .into_iter()
        .find_map(|l| {
            l.strip_prefix("outpost-worker metrics on ")
                .map(str::to_string)
        })
        .context("the worker names its metrics address")?;
    let id = f
        .fleet
        .api
        .submit_ok(
            &json!({"type": "redfish.inventory", "targets": ["127.1.66.1"],
                           "params": {"port": port}}),
        )
        .await?;
    let job = f.fleet.api.wait_finished(&id, SETTLE).await?;
    assert_eq!(job["status"], "succeeded", "{job:#}");

    let worker = scrape(&line).await?;
    let coord_url = format!("{}/metrics", f.fleet.api.base);
    // The queue gauges are read from the consumers every few seconds.
    let until = Instant::now() + SETTLE;
    let coordinator = loop {
        let page = scrape(&coord_url).await?;
        if sample(
            &page,
            "outpost_queue_pending_tasks",
            &["zone=\"alpha\"", "kind=\"redfish.inventory\""],
        )
        .is_some()
        {
            break page;
        }
        anyhow::ensure!(Instant::now() < until, "no queue gauges: {page}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut known = families(&worker)?;
    known.extend(families(&coordinator)?);
    for (file, name) in dashboard_metrics()? {
        let base = ["_bucket", "_count", "_sum"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .filter(|b| known.iter().any(|k| k == b))
            .unwrap_or(&name);
        assert!(
            known.iter().any(|k| k == base),
            "{file} queries {name}, which neither page has"
        );
    }
    // What the job did is on the worker's page.
    let done = sample(
        &worker,
        "outpost_task_duration_seconds_count",
        &[
            "zone=\"alpha\"",
            "kind=\"redfish.inventory\"",
            "outcome=\"succeeded\"",
        ],
    );
    assert_eq!(done, Some(1.0), "{worker}");
    let gets = sample(
        &worker,
        "outpost_redfish_request_duration_seconds_count",
        &["method=\"GET\"", "status=\"200\""],
    )
    .unwrap_or(0.0);
    assert!(gets >= 2.0, "{worker}");
    assert!(
        sample(&worker, "outpost_worker_capacity", &["worker=\"alpha-1\""]).unwrap_or(0.0) >= 1.0,
        "{worker}"
    );
    assert_eq!(
        sample(
            &worker,
            "outpost_worker_tasks_in_flight",
            &["worker=\"alpha-1\""]
        ),
        Some(0.0)
    );
    assert!(!worker.contains(PASS) && !coordinator.contains(PASS));
    Ok(())
}
