//! Two coordinators on one NATS deployment: one leads (holds the leader
//! lease and runs the engine), the other stands by and forwards the API to
//! it. Killing the leader (`kill -9`, at random points, several times in a
//! row) hands the lease to the standby within 5 s, and the job finishes
//! with every task succeeded once and counts equal to the events. A leader
//! frozen past its lease (a long pause) writes nothing once it wakes up,
//! and exits.

use anyhow::{Context, Result, bail};
use outpost_proto::pb;
use outpost_tests::api::Api;
use outpost_tests::fleet::{Fleet, SETTLE, spawn_standby};
use outpost_tests::inspect;
use serde_json::json;
use std::time::Duration;
use tokio::time::Instant;

const TASKS: u64 = 240;

/// How long after the leader's death the standby must lead (the issue's
/// bound; the lease lapses 3 s after the last renewal).
const TAKEOVER: Duration = Duration::from_secs(5);

fn seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(7)
        | 1
}

fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// Waits until `api`'s job has at least `n` succeeded tasks.
async fn wait_succeeded(api: &Api, id: &str, n: u64) -> Result<()> {
    let until = Instant::now() + SETTLE;
    loop {
        let job = api.job(id).await?;
        if job["counts"]["succeeded"].as_u64().unwrap_or(0) >= n {
            return Ok(());
        }
        if Instant::now() > until {
            bail!("{n} tasks did not succeed: {job:#}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Checks that the job ended with every task succeeded exactly once and
/// counts equal to the events stream.
async fn check_once(fleet: &Fleet, api: &Api, id: &str) -> Result<()> {
    let job = api.wait_finished(id, SETTLE).await?;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    let events = inspect::events(&fleet.nats, id).await?;
    let results = inspect::results_per_task(&events, pb::Outcome::Succeeded);
    assert_eq!(results.len() as u64, TASKS, "tasks with a success event");
    assert_eq!(
        job["counts"]["succeeded"].as_u64(),
        Some(results.len() as u64),
        "counts differ from the events: {}",
        job["counts"]
    );
    let twice: Vec<_> = results.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "tasks that ran more than once: {twice:?}");
    Ok(())
}

#[tokio::test]
async fn a_standby_forwards_and_takes_over_a_killed_leader_every_time() -> Result<()> {
    let mut fleet = Fleet::start().await?;
    let config = fleet.dir.path().join("coordinator.toml");
    fleet.worker("alpha", "w1", &["--concurrency", "8"]).await?;
    let (mut standby, standby_api) = spawn_standby(config.clone(), None).await?;

    // The standby says who leads, and forwards the API to it.
    let health = standby_api.get("/healthz").await?;
    assert_eq!(health.status, 200, "{:?}", health.body);
    let health = health.body;
    assert_eq!(health["role"], "standby", "{health:#}");
    assert!(health["leader"]["id"].is_string(), "{health:#}");
    let id = standby_api
        .submit_ok(&json!({"type": "diag.sleep", "zone": "alpha",
                           "params": {"count": TASKS, "ms": 25}}))
        .await?;
    assert_eq!(fleet.api.job(&id).await?["id"], id.as_str());
    assert_eq!(standby_api.job(&id).await?["id"], id.as_str());
    let leader_metrics = fleet.api.get("/metrics").await?.body.to_string();
    let standby_metrics = standby_api.get("/metrics").await?.body.to_string();
    assert!(
        standby_metrics.contains("outpost_coordinator_leader 0"),
        "{standby_metrics}"
    );
    assert!(
        leader_metrics.contains("outpost_coordinator_leader 1"),
        "{leader_metrics}"
    );

    // Kill whichever leads, at a random point of the job, three times;
    // each time the killed one comes back as the standby.
    let mut x = seed();
    let mut standby_api = standby_api;
    for round in 0..3u64 {
        let at = TASKS * (round + 1) / 5 + next(&mut x) % (TASKS / 8);
        wait_succeeded(&fleet.api, &id, at).await?;
        fleet.coordinator.kill9().await?;
        let killed = Instant::now();
        standby
            .wait_for_line(|l| l.starts_with("outpost-coordinator leads"), SETTLE)
            .await
            .with_context(|| format!("round {round}: the standby never took the lease"))?;
        let took = killed.elapsed();
        standby
            .wait_for_line(|l| l.contains("listening on http://"), SETTLE)
            .await?;
        let serving = killed.elapsed();
        println!(
            "round {round}: killed the leader at {at} tasks; the standby led after {took:?}, served after {serving:?}"
        );
        assert!(
            took <= TAKEOVER,
            "round {round}: the standby took {took:?} to lead (bound {TAKEOVER:?})"
        );
        // The standby leads now; the killed one comes back as the standby.
        std::mem::swap(&mut fleet.coordinator, &mut standby);
        std::mem::swap(&mut fleet.api, &mut standby_api);
        (standby, standby_api) = spawn_standby(config.clone(), None).await?;
        assert_eq!(standby_api.job(&id).await?["id"], id.as_str());
    }
    check_once(&fleet, &standby_api, &id).await?;
    drop(standby);
    Ok(())
}

#[tokio::test]
async fn a_frozen_leader_writes_nothing_when_it_wakes_and_exits() -> Result<()> {
    let mut fleet = Fleet::start().await?;
    let config = fleet.dir.path().join("coordinator.toml");
    fleet.worker("alpha", "w1", &["--concurrency", "8"]).await?;
    let (mut standby, standby_api) = spawn_standby(config, None).await?;
    let id = fleet
        .api
        .submit_ok(&json!({"type": "diag.sleep", "zone": "alpha",
                           "params": {"count": TASKS, "ms": 25}}))
        .await?;
    wait_succeeded(&fleet.api, &id, TASKS / 3).await?;
    // A long pause (a hung VM): the lease lapses and the standby leads.
    fleet.coordinator.freeze()?;
    standby
        .wait_for_line(|l| l.starts_with("outpost-coordinator leads"), SETTLE)
        .await?;
    standby
        .wait_for_line(|l| l.contains("listening on http://"), SETTLE)
        .await?;
    // Woken, the old leader finds its lease gone and exits with an error.
    fleet.coordinator.thaw()?;
    let status = fleet.coordinator.wait_exit(SETTLE).await?;
    assert!(!status.success(), "the deposed leader exited with {status}");
    let stderr = fleet.coordinator.stderr().join("\n");
    assert!(
        stderr.contains("lost the leader lease"),
        "the deposed leader did not say why it stopped: {stderr}"
    );
    assert!(
        !stderr.contains("panicked"),
        "the deposed leader panicked: {stderr}"
    );
    check_once(&fleet, &standby_api, &id).await?;
    Ok(())
}

#[tokio::test]
async fn a_standby_is_no_open_proxy() -> Result<()> {
    let token = "ha-test-token-0123456789";
    let fleet = Fleet::start_with_token(Some(token)).await?;
    let config = fleet.dir.path().join("coordinator.toml");
    let (_standby, standby_api) = spawn_standby(config, Some(token)).await?;
    let base = standby_api.base.clone();
    let http = reqwest::Client::new();
    // Without the token the standby answers 401 itself.
    let r = http.get(format!("{base}/api/v1/jobs")).send().await?;
    assert_eq!(r.status().as_u16(), 401, "{:?}", r.text().await?);
    // A wrong token too.
    let r = http
        .get(format!("{base}/api/v1/jobs"))
        .bearer_auth("not-the-token")
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 401);
    // With it, the leader answers through the standby.
    let r = http
        .get(format!("{base}/api/v1/jobs"))
        .bearer_auth(token)
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 200, "{:?}", r.text().await?);
    // A request that claims to come from another standby is not
    // forwarded again (no loops between two confused standbys).
    let r = http
        .get(format!("{base}/api/v1/jobs"))
        .bearer_auth(token)
        .header("x-outpost-forwarded-by", "someone")
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 503);
    Ok(())
}
