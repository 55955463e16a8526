//! Rolling updates through the whole fleet: simulated iDRACs linked to the
//! ESXi hosts of govmomi's vCenter simulator (two clusters of four),
//! workers in the iDRACs' zone and in the vCenter's zone. A watcher reads
//! the simulator's hosts all along and keeps the most hosts each cluster
//! ever had in maintenance mode, so every test asserts the cluster rule
//! held at every moment, and where the hosts ended.

use anyhow::{Context, Result};
use outpost_sim::redfish::{Faults, IdracSpec, RedfishSim, Stats, make_image};
use outpost_sim::vcsim::{VcSim, VcSimOptions};
use outpost_tests::api::tasks;
use outpost_tests::collect::{CollectFleet, Cred};
use outpost_tests::fleet::SETTLE;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const IDRAC_PASS: &str = "calvin-rolling";
const VC_USER: &str = "administrator@vsphere.local";
const VC_PASS: &str = "vc-rolling-secret";
const ZONES: &str = r#"[[zone]]
name = "dc"
cidrs = ["127.1.0.0/16"]
[[zone]]
name = "mgmt"
cidrs = ["127.0.0.1/32"]
"#;

fn creds() -> Vec<Cred<'static>> {
    vec![
        Cred {
            name: "idrac",
            username: "root",
            password: IDRAC_PASS,
            enable_secret: None,
            default: true,
        },
        Cred {
            name: "vcenter",
            username: VC_USER,
            password: VC_PASS,
            enable_secret: None,
            default: false,
        },
    ]
}

fn host_name(i: usize) -> String {
    let c = if i < 4 { 'a' } else { 'b' };
    format!("esx-{c}{}.lab", i % 4 + 1)
}

/// Everything one rolling test needs.
struct Rig {
    f: CollectFleet,
    sim: RedfishSim,
    vc: Arc<VcSim>,
    ips: Vec<String>,
    port: u16,
    /// Most hosts each cluster had in maintenance at once, as watched.
    peak: Arc<Mutex<BTreeMap<String, usize>>>,
    _dir: tempfile::TempDir,
}

async fn rig(net: u8) -> Result<Rig> {
    let dir = tempfile::tempdir()?;
    let ips: Vec<String> = (1..=8).map(|i| format!("127.1.{net}.{i}")).collect();
    let mut port = 0;
    let mut specs = Vec::new();
    for (i, ip) in ips.iter().enumerate() {
        let mut s = IdracSpec::new(
            format!("{ip}:{port}").parse()?,
            "root",
            IDRAC_PASS,
            900 + i as u64,
        );
        s.timings.scale = 0.004;
        if port == 0 {
            let probe = RedfishSim::start(vec![s.clone()]).await?;
            port = probe.addrs()[0].port();
            probe.stop().await;
            s.listen = format!("{ip}:{port}").parse()?;
        }
        specs.push(s);
    }
    let sim = RedfishSim::start(specs).await?;
    let vc = Arc::new(
        VcSim::start(VcSimOptions {
            clusters: 2,
            hosts_per_cluster: 4,
            username: VC_USER.into(),
            password: VC_PASS.into(),
            names: (0..8).map(host_name).collect(),
            enter_ms: 50,
            ..VcSimOptions::default()
        })
        .await
        .map_err(anyhow::Error::msg)?,
    );
    let mut f = CollectFleet::start_with_zones(dir.path(), &creds(), &[], ZONES).await?;
    let image = make_image("159", "2.19.1", 50_000);
    let client = async_nats::connect(f.fleet.nats.url()).await?;
    let js = async_nats::jetstream::new(client);
    let store = js
        .get_object_store(outpost_proto::names::FIRMWARE_STORE)
        .await?;
    store
        .put("bios-2.19.1.exe", &mut std::io::Cursor::new(image))
        .await?;
    f.worker("dc", "dc-1", &["--concurrency", "8"]).await?;
    f.worker("mgmt", "mgmt-1", &["--concurrency", "8"]).await?;

    let peak = Arc::new(Mutex::new(BTreeMap::new()));
    let (p, v) = (peak.clone(), vc.clone());
    tokio::spawn(async move {
        loop {
            let Ok(hosts) = v.hosts().await else { return };
            let mut now: BTreeMap<String, usize> = BTreeMap::new();
            for h in hosts.iter().filter(|h| h.in_maintenance) {
                *now.entry(h.cluster.clone()).or_default() += 1;
            }
            {
                let mut p = p.lock().unwrap();
                for (c, n) in now {
                    let e = p.entry(c).or_insert(0);
                    *e = (*e).max(n);
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    Ok(Rig {
        f,
        sim,
        vc,
        ips,
        port,
        peak,
        _dir: dir,
    })
}

impl Rig {
    fn job(&self, extra: Value) -> Value {
        let servers: Vec<Value> = self
            .ips
            .iter()
            .enumerate()
            .map(|(i, ip)| {
                json!({"idrac": ip, "name": format!("r650-{}", i + 1),
                       "vcenter_host": host_name(i),
                       "cluster": if i < 4 { "DC0_C0" } else { "DC0_C1" }})
            })
            .collect();
        let mut params = json!({
            "servers": servers,
            "vcenter": {"address": self.vc.host, "port": self.vc.port, "credential": "vcenter"},
            "idrac": {"port": self.port, "credential": "idrac", "retry_s": 30},
            "firmware": {"component": "BIOS", "version": "2.19.1", "image": "bios-2.19.1.exe",
                         "poll_ms": 30, "stall_s": 30, "graceful_s": 5, "reboot_s": 60},
            "max_parallel": 1,
            "min_healthy_hosts": 3,
            "maintenance_timeout_s": 60,
            "reconnect_timeout_s": 60,
        });
        for (k, v) in extra.as_object().unwrap() {
            params[k] = v.clone();
        }
        json!({"type": "rolling_update", "params": params})
    }

    fn device(&self, i: usize) -> Arc<outpost_sim::redfish::Device> {
        let a = self.sim.addrs()[i];
        self.sim.device(a).unwrap().clone()
    }

    fn bios(&self, i: usize) -> String {
        self.device(i).component_version("159").unwrap_or_default()
    }

    async fn in_maintenance(&self) -> Result<Vec<String>> {
        Ok(self
            .vc
            .hosts()
            .await
            .map_err(anyhow::Error::msg)?
            .into_iter()
            .filter(|h| h.in_maintenance)
            .map(|h| h.name)
            .collect())
    }

    fn peak(&self) -> BTreeMap<String, usize> {
        self.peak.lock().unwrap().clone()
    }

    /// Waits until the rollout reports `pred` true.
    async fn wait_rollout(
        &self,
        id: &str,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Result<Value> {
        let until = tokio::time::Instant::now() + SETTLE;
        loop {
            let job = self.f.fleet.api.job(id).await?;
            if pred(&job) {
                return Ok(job);
            }
            anyhow::ensure!(tokio::time::Instant::now() < until, "{what}: {job:#}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn hosts(job: &Value) -> Vec<Value> {
    job["rollout"]["hosts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn state_of(job: &Value, name: &str) -> String {
    hosts(job)
        .iter()
        .find(|h| h["name"] == name)
        .map(|h| h["state"].as_str().unwrap_or("").to_string())
        .unwrap_or_default()
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
    // The watcher saw each cluster's hosts in maintenance, one at a time.
    let peak = r.peak();
    assert_eq!(peak.get("DC0_C0"), Some(&1), "{peak:?}");
    assert_eq!(peak.get("DC0_C1"), Some(&1), "{peak:?}");
    Ok(())
}
