//! A rolling-update rig for tests and the benchmark: simulated iDRACs on
//! `127.1.<net>.x` linked to the ESXi hosts of govmomi's vCenter simulator
//! (`esx-<cluster letter><n>.lab` in clusters `DC0_C0`, `DC0_C1`, ...), a
//! fleet with a worker in the iDRACs' zone (`dc`) and one in the vCenter's
//! zone (`mgmt`), the BIOS image in `outpost_firmware`, and a watcher that
//! keeps the most hosts each cluster ever had in maintenance mode.
//!
//! The link between the two simulators is what the real hardware does: when
//! a server powers off for its reboot, its ESXi host drops out of vCenter,
//! and it connects again `reconnect_lag_ms` after the server is back on
//! (ESXi booting up to its vCenter agent).

use crate::collect::{CollectFleet, Cred};
use crate::fleet::SETTLE;
use anyhow::Result;
use outpost_sim::redfish::{Device, RedfishSim, make_image};
use outpost_sim::vcsim::{VcSim, VcSimOptions};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const IDRAC_PASS: &str = "calvin-rolling";
pub const VC_USER: &str = "administrator@vsphere.local";
pub const VC_PASS: &str = "vc-rolling-secret";
pub const IMAGE: &str = "bios-2.19.1.exe";

pub fn creds() -> Vec<Cred<'static>> {
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

/// How big and how fast.
#[derive(Debug, Clone)]
pub struct RigOptions {
    /// Third octet of the iDRACs' addresses (distinct per test).
    pub net: u8,
    pub clusters: usize,
    pub hosts_per_cluster: usize,
    /// Device time scale of the iDRACs (0.004: a 60 s apply takes 0.24 s).
    pub scale: f64,
    pub worker_concurrency: u32,
    /// How long after power-on a rebooted host connects to vCenter again.
    pub reconnect_lag_ms: u64,
    /// A Dell Server Manager database for the coordinator's bridge.
    pub dsm_database: Option<String>,
    /// Give both zones key pairs (credentials from the bridge are sealed).
    pub zone_keys: bool,
    /// More tables of the coordinator's configuration, after the zones
    /// (`[[notify]]` channels).
    pub extra_tables: Option<String>,
    /// Powered-on VMs per cluster in the simulated vCenter.
    pub vms: u32,
}

impl Default for RigOptions {
    fn default() -> Self {
        RigOptions {
            net: 70,
            clusters: 2,
            hosts_per_cluster: 4,
            scale: 0.004,
            worker_concurrency: 8,
            reconnect_lag_ms: 300,
            dsm_database: None,
            zone_keys: false,
            extra_tables: None,
            vms: 0,
        }
    }
}

pub struct Rig {
    pub f: CollectFleet,
    pub sim: RedfishSim,
    pub vc: Arc<VcSim>,
    pub ips: Vec<String>,
    pub port: u16,
    pub opts: RigOptions,
    peak: Arc<Mutex<BTreeMap<String, usize>>>,
    /// Hosts the link saw drop out of vCenter (their servers rebooted).
    rebooted: Arc<Mutex<std::collections::BTreeSet<String>>>,
    _dir: tempfile::TempDir,
}

impl Rig {
    /// The vCenter name of host `i` (cluster-major order).
    pub fn host_name(&self, i: usize) -> String {
        host_name(i, self.opts.hosts_per_cluster)
    }

    pub fn cluster_of(&self, i: usize) -> String {
        format!("DC0_C{}", i / self.opts.hosts_per_cluster)
    }

    pub async fn start(opts: RigOptions) -> Result<Rig> {
        let dir = tempfile::tempdir()?;
        let n = opts.clusters * opts.hosts_per_cluster;
        let ips: Vec<String> = (1..=n).map(|i| format!("127.1.{}.{i}", opts.net)).collect();
        let sim = crate::idracs::start(&ips, "root", IDRAC_PASS, 900, opts.scale).await?;
        let port = sim.addrs()[0].port();
        let vc = Arc::new(
            VcSim::start(VcSimOptions {
                clusters: opts.clusters as u32,
                hosts_per_cluster: opts.hosts_per_cluster as u32,
                username: VC_USER.into(),
                password: VC_PASS.into(),
                names: (0..n)
                    .map(|i| host_name(i, opts.hosts_per_cluster))
                    .collect(),
                enter_ms: 50,
                vms: opts.vms,
                ..VcSimOptions::default()
            })
            .await
            .map_err(anyhow::Error::msg)?,
        );
        let mut zones = String::new();
        if let Some(url) = &opts.dsm_database {
            zones.push_str(&format!(
                "[dsm]\ndatabase_url = \"{url}\"\npoll_ms = 200\nheartbeat_s = 1\nidrac_port = {port}\n"
            ));
        }
        let mut key_args: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (zone, cidr) in [("dc", "127.1.0.0/16"), ("mgmt", "127.0.0.1/32")] {
            zones.push_str(&format!(
                "[[zone]]\nname = \"{zone}\"\ncidrs = [\"{cidr}\"]\n"
            ));
            if opts.zone_keys {
                let file = dir.path().join(format!("{zone}.key"));
                let f = file.to_string_lossy().into_owned();
                let (code, out, err) =
                    crate::collect::outpost(&["zone-key", "generate", "--out", &f], &[], "")
                        .await?;
                anyhow::ensure!(code == 0, "zone-key generate: {out}{err}");
                zones.push_str(out.trim());
                zones.push('\n');
                key_args.insert(zone, vec!["--zone-key-file".into(), f]);
            }
        }
        if let Some(t) = &opts.extra_tables {
            zones.push_str(t);
        }
        let mut f = CollectFleet::start_with_zones(dir.path(), &creds(), &[], &zones).await?;
        let client = f.fleet.nats.client().await?;
        let js = async_nats::jetstream::new(client);
        let store = js
            .get_object_store(outpost_proto::layout::FIRMWARE_STORE)
            .await?;
        store
            .put(
                IMAGE,
                &mut std::io::Cursor::new(make_image("159", "2.19.1", 50_000)),
            )
            .await?;
        let c = opts.worker_concurrency.to_string();
        for (zone, id) in [("dc", "dc-1"), ("mgmt", "mgmt-1")] {
            let mut args = vec!["--concurrency", c.as_str()];
            if let Some(k) = key_args.get(zone) {
                args.extend(k.iter().map(String::as_str));
            }
            f.worker(zone, id, &args).await?;
        }

        let peak = Arc::new(Mutex::new(BTreeMap::new()));
        let (p, v) = (peak.clone(), vc.clone());
        tokio::spawn(async move {
            while let Ok(hosts) = v.hosts().await {
                let mut now: BTreeMap<String, usize> = BTreeMap::new();
                for h in hosts.iter().filter(|h| h.in_maintenance) {
                    *now.entry(h.cluster.clone()).or_default() += 1;
                }
                {
                    let mut p = p.lock().unwrap_or_else(|e| e.into_inner());
                    for (c, n) in now {
                        let e = p.entry(c).or_insert(0);
                        *e = (*e).max(n);
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        let rebooted = Arc::new(Mutex::new(std::collections::BTreeSet::new()));
        let devices: Vec<(Arc<Device>, String)> = sim
            .addrs()
            .into_iter()
            .enumerate()
            .filter_map(|(i, a)| {
                sim.device(a)
                    .map(|d| (d.clone(), host_name(i, opts.hosts_per_cluster)))
            })
            .collect();
        tokio::spawn(link(
            devices,
            vc.clone(),
            rebooted.clone(),
            opts.reconnect_lag_ms,
        ));
        Ok(Rig {
            f,
            sim,
            vc,
            ips,
            port,
            opts,
            peak,
            rebooted,
            _dir: dir,
        })
    }

    /// A rolling_update job over every server; `extra` overrides params.
    pub fn job(&self, extra: Value) -> Value {
        let servers: Vec<Value> = self
            .ips
            .iter()
            .enumerate()
            .map(|(i, ip)| {
                json!({"idrac": ip, "name": format!("r650-{}", i + 1),
                       "vcenter_host": self.host_name(i), "cluster": self.cluster_of(i)})
            })
            .collect();
        let mut params = json!({
            "servers": servers,
            "vcenter": {"address": self.vc.host, "port": self.vc.port, "credential": "vcenter"},
            "idrac": {"port": self.port, "credential": "idrac", "retry_s": 30},
            "firmware": {"component": "BIOS", "version": "2.19.1", "image": IMAGE,
                         "poll_ms": 30, "stall_s": 30, "graceful_s": 5, "reboot_s": 60},
            "max_parallel": 1,
            "min_healthy_hosts": 3,
            "maintenance_timeout_s": 60,
            "reconnect_timeout_s": 60,
        });
        if let Some(m) = extra.as_object() {
            for (k, v) in m {
                params[k] = v.clone();
            }
        }
        json!({"type": "rolling_update", "params": params})
    }

    pub fn device(&self, i: usize) -> Arc<Device> {
        let a = self.sim.addrs()[i];
        self.sim.device(a).expect("device").clone()
    }

    /// The BIOS version host `i` runs.
    pub fn bios(&self, i: usize) -> String {
        self.device(i).component_version("159").unwrap_or_default()
    }

    /// Hosts in maintenance mode now, by name.
    pub async fn in_maintenance(&self) -> Result<Vec<String>> {
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

    /// Hosts that dropped out of vCenter while their server rebooted.
    pub fn rebooted(&self) -> Vec<String> {
        self.rebooted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// Most hosts each cluster had in maintenance at once so far.
    pub fn peak(&self) -> BTreeMap<String, usize> {
        self.peak.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits until the job satisfies `pred`.
    pub async fn wait_rollout(
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

/// Follows each server's power: off → its host disconnects from vCenter;
/// on again → it reconnects after `lag_ms`.
async fn link(
    devices: Vec<(Arc<Device>, String)>,
    vc: Arc<VcSim>,
    rebooted: Arc<Mutex<std::collections::BTreeSet<String>>>,
    lag_ms: u64,
) {
    use outpost_sim::redfish::Power;
    // Per host: None = connected; Some(None) = away; Some(Some(t)) = on since t.
    let mut away: Vec<Option<Option<tokio::time::Instant>>> = vec![None; devices.len()];
    loop {
        for (i, (d, name)) in devices.iter().enumerate() {
            let on = d.lock().power == Power::On;
            match (away[i], on) {
                (None, false) => {
                    if vc.disconnect(name).await.is_err() {
                        return;
                    }
                    rebooted
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(name.clone());
                    away[i] = Some(None);
                }
                (Some(None), true) => away[i] = Some(Some(tokio::time::Instant::now())),
                (Some(Some(_)), false) => away[i] = Some(None),
                (Some(Some(since)), true) if since.elapsed() >= Duration::from_millis(lag_ms) => {
                    if vc.connect(name).await.is_err() {
                        return;
                    }
                    away[i] = None;
                }
                _ => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn host_name(i: usize, per: usize) -> String {
    let c = (b'a' + (i / per) as u8) as char;
    format!("esx-{c}{}.lab", i % per + 1)
}

/// Each host's entry in a rolling job's progress.
pub fn hosts(job: &Value) -> Vec<Value> {
    job["rollout"]["hosts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The state of host `name` in a rolling job's progress.
pub fn state_of(job: &Value, name: &str) -> String {
    hosts(job)
        .iter()
        .find(|h| h["name"] == name)
        .map(|h| h["state"].as_str().unwrap_or("").to_string())
        .unwrap_or_default()
}
