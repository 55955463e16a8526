//! Rolling updates through the whole fleet: simulated iDRACs linked to the
//! ESXi hosts of govmomi's vCenter simulator (two clusters of four),
//! workers in the iDRACs' zone and in the vCenter's zone. A watcher reads
//! the simulator's hosts all along and keeps the most hosts each cluster
//! ever had in maintenance mode, so every test asserts the cluster rule
//! held at every moment, and where the hosts ended.

use anyhow::{Context, Result};
use outpost_sim::redfish::{Faults, Stats};
use outpost_tests::api::tasks;
use outpost_tests::fleet::SETTLE;
use outpost_tests::rolling::{Rig, RigOptions, hosts, state_of};
use serde_json::{Value, json};

async fn rig(net: u8) -> Result<Rig> {
    Rig::start(RigOptions {
        net,
        ..RigOptions::default()
    })
    .await
}

#[tokio::test]
async fn a_failure_stops_new_hosts_and_leaves_only_the_mid_flash_host_in_maintenance() -> Result<()>
{
    let r = rig(71).await?;
    // r650-2 (esx-a2) fails its firmware job.
    r.device(1).set_faults(Faults {
        fail_job: true,
        ..Faults::default()
    });
    let id = r.f.fleet.api.submit_ok(&r.job(json!({}))).await?;
    let job = r.f.fleet.api.wait_finished(&id, SETTLE * 2).await?;
    assert_eq!(job["status"], "failed", "{job:#}");
    assert_eq!(job["open"], Value::Null, "the workflow closed: {job:#}");
    let a2 = hosts(&job)
        .into_iter()
        .find(|h| h["name"] == "r650-2")
        .context("r650-2")?;
    assert_eq!(a2["state"], "failed", "{a2:#}");
    assert_eq!(a2["left_in_maintenance"], true, "{a2:#}");
    assert!(
        a2["note"].as_str().unwrap_or("").contains("mid-flash"),
        "{a2:#}"
    );
    assert_eq!(state_of(&job, "r650-1"), "succeeded", "{job:#}");
    assert_eq!(r.bios(0), "2.19.1");
    // No new host started after the failure: the rest of cluster A never ran.
    for n in ["r650-3", "r650-4"] {
        assert_eq!(state_of(&job, n), "stopped", "{n}: {job:#}");
    }
    for i in [2, 3] {
        assert_eq!(
            Stats::get(&r.device(i).stats.uploads),
            0,
            "host {i} untouched"
        );
    }
    // Only the host whose flash failed is still in maintenance mode.
    assert_eq!(r.in_maintenance().await?, vec!["esx-a2.lab".to_string()]);
    for (c, n) in r.peak() {
        assert!(n <= 1, "cluster {c} had {n} hosts in maintenance at once");
    }
    // The failed task says why.
    let flash = tasks(&job)
        .into_iter()
        .find(|t| t["id"].as_str().unwrap_or("").ends_with("-h0001-flash"))
        .context("flash task of r650-2")?;
    assert_eq!(flash["error_kind"], "job_failed", "{flash:#}");

    // The operator takes the host out of maintenance by hand.
    let id = r
        .f
        .fleet
        .api
        .submit_ok(&json!({"type": "vcenter.maintenance", "targets": [r.vc.host],
            "params": {"action": "exit", "host": "esx-a2.lab", "port": r.vc.port, "credential": "vcenter"}}))
        .await?;
    let exit = r.f.fleet.api.wait_finished(&id, SETTLE).await?;
    assert_eq!(exit["status"], "succeeded", "{exit:#}");
    assert!(r.in_maintenance().await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn continue_on_failure_rolls_every_other_host_within_min_healthy() -> Result<()> {
    let r = rig(72).await?;
    r.device(5).set_faults(Faults {
        fail_job: true,
        ..Faults::default()
    });
    let id =
        r.f.fleet
            .api
            .submit_ok(&r.job(json!({"continue_on_failure": true, "min_healthy_hosts": 2})))
            .await?;
    // Both clusters are under way at once.
    r.wait_rollout(&id, "both clusters running", |j| {
        let h = hosts(j);
        let running = |c: &str| {
            h.iter()
                .any(|x| x["cluster"] == c && x["state"] == "running")
        };
        running("DC0_C0") && running("DC0_C1")
    })
    .await?;
    let job = r.f.fleet.api.wait_finished(&id, SETTLE * 2).await?;
    assert_eq!(job["status"], "failed", "{job:#}");
    for (i, h) in hosts(&job).iter().enumerate() {
        if i == 5 {
            assert_eq!(h["state"], "failed", "{h:#}");
            assert_eq!(h["left_in_maintenance"], true, "{h:#}");
        } else {
            assert_eq!(h["state"], "succeeded", "{h:#}");
            assert_eq!(r.bios(i), "2.19.1", "host {i}");
        }
    }
    assert_eq!(r.in_maintenance().await?, vec!["esx-b2.lab".to_string()]);
    // Cluster B kept its rule with a host stuck in maintenance: at most 2
    // of 4 out (min_healthy_hosts 2), and max_parallel 1 under way.
    let peak = r.peak();
    assert!(peak.get("DC0_C0").copied().unwrap_or(0) <= 1, "{peak:?}");
    assert!(peak.get("DC0_C1").copied().unwrap_or(0) <= 2, "{peak:?}");
    Ok(())
}

#[tokio::test]
async fn min_healthy_hosts_refuses_to_take_a_host_out_when_one_is_stuck() -> Result<()> {
    let r = rig(73).await?;
    r.device(0).set_faults(Faults {
        fail_job: true,
        ..Faults::default()
    });
    let id =
        r.f.fleet
            .api
            .submit_ok(&r.job(json!({"continue_on_failure": true, "min_healthy_hosts": 3})))
            .await?;
    let job = r.f.fleet.api.wait_finished(&id, SETTLE * 2).await?;
    assert_eq!(job["status"], "failed", "{job:#}");
    // esx-a1 is stuck: 3 of 4 in service is the floor, so no other host of
    // cluster A may enter; cluster B rolls.
    for i in 1..4 {
        let h = &hosts(&job)[i];
        assert_eq!(h["state"], "failed", "{h:#}");
        assert!(
            h["note"]
                .as_str()
                .unwrap_or("")
                .contains("min_healthy_hosts"),
            "{h:#}"
        );
        assert_ne!(r.bios(i), "2.19.1", "host {i} was not updated");
        assert_eq!(Stats::get(&r.device(i).stats.uploads), 0);
    }
    for i in 4..8 {
        assert_eq!(hosts(&job)[i]["state"], "succeeded");
    }
    assert_eq!(r.in_maintenance().await?, vec!["esx-a1.lab".to_string()]);
    for (c, n) in r.peak() {
        assert!(n <= 1, "cluster {c} had {n} hosts in maintenance at once");
    }
    // The refusals reach followers: each is a result on the events stream.
    let events = outpost_tests::inspect::events(&r.f.fleet.nats, &id).await?;
    let refusals = events
        .iter()
        .filter(|e| e.worker_id == "coordinator")
        .filter(|e| {
            matches!(&e.body, Some(outpost_proto::pb::event::Body::Result(res)) if res.error_kind == "min_healthy")
        })
        .count();
    assert_eq!(refusals, 3, "refused steps published as events");
    Ok(())
}

#[tokio::test]
async fn a_cancel_in_the_middle_leaves_no_host_in_maintenance() -> Result<()> {
    let r = rig(74).await?;
    let id = r.f.fleet.api.submit_ok(&r.job(json!({}))).await?;
    // Cancel while the second host of cluster A is being flashed.
    r.wait_rollout(&id, "r650-2 updating", |j| {
        hosts(j)
            .iter()
            .any(|h| h["name"] == "r650-2" && h["step"] == "updating firmware")
    })
    .await?;
    let reply = r.f.fleet.api.cancel(&id).await?;
    assert!(reply.status < 300, "{:?}", reply.body);
    let job = r.f.fleet.api.wait_finished(&id, SETTLE * 2).await?;
    assert_eq!(job["status"], "cancelled", "{job:#}");
    assert!(
        r.in_maintenance().await?.is_empty(),
        "hosts left in maintenance: {job:#}"
    );
    // The host under way was finished, not abandoned mid-flash.
    assert_eq!(state_of(&job, "r650-2"), "succeeded", "{job:#}");
    assert_eq!(r.bios(1), "2.19.1");
    for n in ["r650-3", "r650-4"] {
        assert_eq!(state_of(&job, n), "stopped", "{n}: {job:#}");
    }
    for h in hosts(&job) {
        assert_eq!(h["left_in_maintenance"], false, "{h:#}");
    }
    for (c, n) in r.peak() {
        assert!(n <= 1, "cluster {c} had {n} hosts in maintenance at once");
    }
    Ok(())
}

#[tokio::test]
async fn a_coordinator_restart_in_the_middle_resumes_the_rollout() -> Result<()> {
    let mut r = rig(75).await?;
    let id = r.f.fleet.api.submit_ok(&r.job(json!({}))).await?;
    r.wait_rollout(&id, "two hosts done", |j| {
        hosts(j)
            .iter()
            .filter(|h| h["state"] == "succeeded")
            .count()
            >= 2
    })
    .await?;
    r.f.fleet.kill_coordinator().await?;
    r.f.fleet.start_coordinator().await?;
    let job = r.f.fleet.api.wait_finished(&id, SETTLE * 2).await?;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    for i in 0..8 {
        assert_eq!(r.bios(i), "2.19.1", "host {i}");
        assert_eq!(
            Stats::get(&r.device(i).stats.uploads),
            1,
            "host {i} flashed once"
        );
    }
    assert!(r.in_maintenance().await?.is_empty());
    // Every server rebooted and its host dropped out of vCenter: the
    // rollout waited for each to connect again before leaving maintenance.
    assert_eq!(r.rebooted().len(), 8, "{:?}", r.rebooted());
    // The watcher saw each cluster's hosts in maintenance, one at a time.
    let peak = r.peak();
    assert_eq!(peak.get("DC0_C0"), Some(&1), "{peak:?}");
    assert_eq!(peak.get("DC0_C1"), Some(&1), "{peak:?}");
    Ok(())
}
