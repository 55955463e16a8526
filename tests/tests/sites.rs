//! Sites behind leaf nodes: each site's workers connect to their own leaf
//! `nats-server` (JetStream in the site's domain), joined to the hub by a
//! link the test cuts. Cut for 30 s while 200 of a site's tasks run and
//! 200 more wait at the site: they all run, their events wait at the site
//! and reach the hub after the heal, a job submitted meanwhile waits at the
//! hub, the other site never stops, and every task succeeds exactly once.

use anyhow::{Result, bail};
use outpost_proto::{layout, pb};
use outpost_tests::api::Api;
use outpost_tests::fleet::{SETTLE, START, spawn_coordinator};
use outpost_tests::inspect;
use outpost_tests::procs::Proc;
use outpost_tests::sites::Sites;
use serde_json::{Value, json};
use std::ffi::OsStr;
use std::time::Duration;
use tokio::time::Instant;

const PARTITION: Duration = Duration::from_secs(30);

/// A coordinator for `sites` with the `[[zone]]` tables `zones`, once it
/// has made every site's consumers.
async fn coordinator_for(sites: &Sites, zones: &str) -> Result<(tempfile::TempDir, Proc, Api)> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("coordinator.toml");
    std::fs::write(&path, format!("{}{zones}", sites.config_toml()))?;
    let (coordinator, api) = spawn_coordinator(path, None, &[]).await?;
    for site in &sites.sites {
        for zone in &site.zones {
            wait_site_layout(sites, &site.name, zone).await?;
        }
    }
    Ok((dir, coordinator, api))
}

/// Waits until the coordinator made `site`'s consumers of `zone`.
async fn wait_site_layout(sites: &Sites, site: &str, zone: &str) -> Result<()> {
    let client = sites.hub.client().await?;
    let consumer = layout::consumer_name(zone, "diag.sleep")?;
    outpost_tests::wait_until(
        &format!("site {site}'s layout"),
        Duration::from_secs(90),
        async || {
            let js = async_nats::jetstream::with_domain(client.clone(), site);
            let stream = js
                .get_stream(layout::TASKS_STREAM)
                .await
                .map_err(|e| e.to_string())?;
            stream
                .get_consumer::<async_nats::jetstream::consumer::pull::Config>(&consumer)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        },
    )
    .await
}

async fn site_worker(sites: &Sites, site: &str, zone: &str, concurrency: &str) -> Result<Proc> {
    let url = sites.site(site).leaf.url();
    let id = format!("w-{zone}");
    let flags = [
        "--zone",
        zone,
        "--worker-id",
        &id,
        "--nats",
        &url,
        "--nats-insecure",
        "--concurrency",
        concurrency,
    ];
    let args: Vec<&OsStr> = flags.iter().map(OsStr::new).collect();
    let mut w = Proc::spawn(&id, outpost_tests::fleet_bin("outpost-worker")?, &args, &[])?;
    w.wait_for_line(|l| l.starts_with("outpost-worker ready"), START)
        .await?;
    Ok(w)
}

fn count(job: &Value, what: &str) -> u64 {
    job["counts"][what].as_u64().unwrap_or(0)
}

/// Every task of `id` succeeded exactly once, and the job's counts are
/// what the hub's events stream holds.
async fn check_once(sites: &Sites, api: &Api, id: &str, tasks: usize) -> Result<()> {
    let job = api.wait_finished(id, SETTLE * 2).await?;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    let events = inspect::events_from(sites.hub.client().await?, id)
        .await?
        .into_iter()
        .map(|(e, _)| e)
        .collect::<Vec<pb::Event>>();
    let results = inspect::results_per_task(&events, pb::Outcome::Succeeded);
    assert_eq!(results.len(), tasks, "tasks with a success event");
    let twice: Vec<_> = results.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        twice.is_empty(),
        "tasks that succeeded more than once: {twice:?}"
    );
    assert_eq!(count(&job, "succeeded"), tasks as u64, "{}", job["counts"]);
    // One start per task: nothing ran twice, not even to fail.
    let mut starts = std::collections::BTreeMap::new();
    for e in &events {
        if let Some(pb::event::Body::Started(_)) = &e.body {
            *starts.entry(e.task_id.clone()).or_insert(0) += 1;
        }
    }
    let restarted: Vec<_> = starts.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        restarted.is_empty(),
        "tasks started more than once: {restarted:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_partitioned_site_loses_and_doubles_nothing() -> Result<()> {
    let sites = Sites::start(&[("s1", &["a1"]), ("s2", &["b1"])]).await?;
    let zones = "[[zone]]\nname = \"a1\"\ncidrs = []\n[[zone]]\nname = \"b1\"\ncidrs = []\n";
    let (_dir, _coordinator, api) = coordinator_for(&sites, zones).await?;
    let _w1 = site_worker(&sites, "s1", "a1", "200").await?;
    let _w2 = site_worker(&sites, "s2", "b1", "50").await?;

    // 400 tasks of 15 s at a site that runs 200 at once.
    let big = api
        .submit_ok(&json!({"type": "diag.sleep", "zone": "a1",
                           "params": {"count": 400, "ms": 15000}}))
        .await?;
    let until = Instant::now() + SETTLE;
    loop {
        let job = api.job(&big).await?;
        if count(&job, "running") >= 200 {
            break;
        }
        if Instant::now() > until {
            bail!("200 tasks did not start: {}", job["counts"]);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let s1 = sites.site("s1");
    s1.link.partition();
    let cut = Instant::now();
    let before = api.job(&big).await?;
    assert_eq!(
        (count(&before, "running"), count(&before, "succeeded")),
        (200, 0),
        "not 200 running and 200 waiting at the cut: {}",
        before["counts"]
    );

    // Meanwhile: a job for the cut site waits at the hub, and the other
    // site goes on.
    let waiting = api
        .submit_ok(&json!({"type": "diag.sleep", "zone": "a1",
                           "params": {"count": 50, "ms": 10}}))
        .await?;
    let other = api
        .submit_ok(&json!({"type": "diag.sleep", "zone": "b1",
                           "params": {"count": 100, "ms": 100}}))
        .await?;
    let done = api.wait_finished(&other, PARTITION).await?;
    assert_eq!(
        done["status"], "succeeded",
        "the other site stopped: {done:#}"
    );
    assert!(
        cut.elapsed() < PARTITION,
        "the other site took the whole partition"
    );
    tokio::time::sleep(PARTITION.saturating_sub(cut.elapsed())).await;
    let during_big = api.job(&big).await?;
    let during_waiting = api.job(&waiting).await?;
    println!(
        "before the cut: {}; after {PARTITION:?} cut: {}; the job submitted meanwhile: {}",
        before["counts"], during_big["counts"], during_waiting["counts"]
    );
    assert_eq!(
        count(&during_waiting, "succeeded") + count(&during_waiting, "running"),
        0,
        "a job submitted during the partition ran at the cut site: {}",
        during_waiting["counts"]
    );
    assert!(
        count(&during_big, "succeeded") < 400,
        "the cut site's results reached the hub through the partition: {}",
        during_big["counts"]
    );
    s1.link.heal();
    let healed = Instant::now();
    check_once(&sites, &api, &big, 400).await?;
    println!(
        "backlog reached the hub {:?} after the heal",
        healed.elapsed()
    );
    check_once(&sites, &api, &waiting, 50).await?;
    check_once(&sites, &api, &other, 100).await?;
    Ok(())
}

#[tokio::test]
async fn a_task_that_gives_up_at_a_cut_off_site_fails_after_the_heal() -> Result<()> {
    use async_nats::jetstream::{self, consumer};
    use futures::StreamExt;
    let sites = Sites::start(&[("s1", &["a1"])]).await?;
    let (_dir, _coordinator, api) = coordinator_for(
        &sites,
        "[[zone]]\nname = \"a1\"\ncidrs = []\nack_wait_secs = 1\nmax_deliver = 2\n",
    )
    .await?;
    let id = api
        .submit_ok(&json!({"type": "diag.sleep", "zone": "a1", "params": {"count": 1, "ms": 0}}))
        .await?;
    // The task reaches the site; then the site is cut off, and something
    // there takes it twice without answering.
    let site_js = jetstream::new(sites.site("s1").leaf.client().await?);
    outpost_tests::wait_until("the task at the site", SETTLE, async || {
        let mut s = site_js
            .get_stream(layout::TASKS_STREAM)
            .await
            .map_err(|e| e.to_string())?;
        let n = s.info().await.map_err(|e| e.to_string())?.state.messages;
        if n >= 1 {
            Ok(())
        } else {
            Err(format!("{n} messages"))
        }
    })
    .await?;
    sites.site("s1").link.partition();
    let consumer: consumer::PullConsumer = site_js
        .get_stream(layout::TASKS_STREAM)
        .await?
        .get_consumer("a1_diag-sleep")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for delivery in 1..=3u64 {
        let mut batch = consumer
            .fetch()
            .max_messages(1)
            .expires(Duration::from_secs(5))
            .messages()
            .await?;
        let got = batch.next().await;
        match (delivery, got) {
            (1 | 2, Some(Ok(m))) => {
                assert_eq!(
                    m.info().map_err(|e| anyhow::anyhow!("{e}"))?.delivered,
                    delivery as i64
                );
            }
            (3, None) => {}
            (d, other) => bail!(
                "delivery {d}: {:?}",
                other.map(|m| m.map(|m| m.subject.clone()))
            ),
        }
    }
    let during = api.job(&id).await?;
    assert_ne!(
        during["status"], "failed",
        "the hub heard of the give-up through the cut"
    );
    sites.site("s1").link.heal();
    let job = api.wait_finished(&id, SETTLE).await?;
    assert_eq!(job["status"], "failed", "{job:#}");
    assert_eq!(
        outpost_tests::api::tasks(&job)[0]["error_kind"],
        "max_deliver",
        "{job:#}"
    );
    Ok(())
}

#[tokio::test]
async fn an_operators_pin_for_a_site_zone_is_the_one_its_workers_check() -> Result<()> {
    let sites = Sites::start(&[("s1", &["a1"])]).await?;
    let (_dir, _coordinator, api) = coordinator_for(
        &sites,
        "[[zone]]\nname = \"a1\"\ncidrs = [\"127.51.0.0/16\"]\n",
    )
    .await?;
    // A worker at the site pinned the iDRAC on first use, in the site's bucket.
    let key = layout::pin_key("a1", "redfish", "127.51.0.10", 443)?;
    let site_js = async_nats::jetstream::new(sites.site("s1").leaf.client().await?);
    let site_pins = site_js.get_key_value(layout::PINS_BUCKET).await?;
    let old = "aa".repeat(32);
    site_pins
        .put(
            &key,
            serde_json::to_vec(
                &json!({"address": "127.51.0.10", "port": 443, "zone": "a1", "cert_sha256": old}),
            )?
            .into(),
        )
        .await?;
    // The operator accepts the new certificate: the site's pin changes,
    // and the hub's bucket (no worker of a1 reads it) stays empty.
    let new = "bb".repeat(32);
    let r = api
        .put(
            "/api/v1/inventory/redfish/127.51.0.10/pin?port=443",
            &json!({"sha256": new}),
        )
        .await?;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["previous_sha256"], old.as_str(), "{:?}", r.body);
    let stored: serde_json::Value = serde_json::from_slice(
        &site_pins
            .get(&key)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no pin at the site"))?,
    )?;
    assert_eq!(stored["cert_sha256"], new.as_str());
    let hub_pins = async_nats::jetstream::new(sites.hub.client().await?)
        .get_key_value(layout::PINS_BUCKET)
        .await?;
    assert!(
        hub_pins.get(&key).await?.is_none(),
        "the pin went to the hub's bucket"
    );
    // Cut off, the site's pins cannot change: the answer says why.
    sites.site("s1").link.partition();
    let r = api
        .put(
            "/api/v1/inventory/redfish/127.51.0.10/pin?port=443",
            &json!({"sha256": old}),
        )
        .await?;
    assert_eq!(r.status, 503, "{:?}", r.body);
    assert!(r.body.to_string().contains("s1"), "{:?}", r.body);
    sites.site("s1").link.heal();
    Ok(())
}
