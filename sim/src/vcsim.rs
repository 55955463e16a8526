//! A handle on `outpost-vcsim` (sim/vcsim: govmomi's vCenter simulator
//! with maintenance-mode behaviour), for tests and benchmarks: starts the
//! program on loopback, reads its ready line, and drives its control API
//! (disconnect or reconnect a host, expire every session, read the hosts
//! or the whole inventory as the model holds it).
//! The binary comes from `OUTPOST_VCSIM_BIN` (`.ci/run` builds it with
//! `sim/vcsim/build.sh`).

use serde::Deserialize;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

/// How the simulated vCenter is laid out.
#[derive(Debug, Clone)]
pub struct VcSimOptions {
    pub clusters: u32,
    pub hosts_per_cluster: u32,
    pub standalone: u32,
    /// Powered-on VMs per cluster.
    pub vms: u32,
    pub username: String,
    pub password: String,
    /// New names of the cluster hosts, cluster by cluster (clusters are
    /// `DC0_C0`, `DC0_C1`, ...).
    pub names: Vec<String>,
    /// Clusters with DRS turned off.
    pub drs_off: Vec<String>,
    /// How long entering maintenance mode takes.
    pub enter_ms: u64,
    /// SOAP methods answered late: (method, ms).
    pub method_delays: Vec<(String, u64)>,
    /// A 1024-bit RSA certificate instead of a P-256 one, as govmomi's own
    /// simulator and old appliances have.
    pub weak_key: bool,
}

impl Default for VcSimOptions {
    fn default() -> Self {
        VcSimOptions {
            clusters: 2,
            hosts_per_cluster: 4,
            standalone: 0,
            vms: 0,
            username: "administrator@vsphere.local".into(),
            password: "vcsim-pass".into(),
            names: Vec::new(),
            drs_off: Vec::new(),
            enter_ms: 0,
            method_delays: Vec::new(),
            weak_key: false,
        }
    }
}

/// A host as the control API reports it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct SimHost {
    pub name: String,
    pub moid: String,
    pub cluster: String,
    pub connection_state: String,
    pub in_maintenance: bool,
    pub powered_on_vms: u32,
}

/// The model's objects as the control API reports them (read from the
/// simulator's own state, not through the vSphere API).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct SimInventory {
    #[serde(default)]
    pub clusters: Vec<SimCluster>,
    #[serde(default)]
    pub hosts: Vec<SimInvHost>,
    #[serde(default)]
    pub vms: Vec<SimVm>,
    #[serde(default)]
    pub datastores: Vec<SimDatastore>,
    #[serde(default)]
    pub networks: Vec<SimNetwork>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct SimCluster {
    pub moid: String,
    pub name: String,
    pub hosts: u32,
    pub drs_enabled: bool,
    pub total_cpu_mhz: u64,
    pub total_memory_bytes: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct SimInvHost {
    pub moid: String,
    pub name: String,
    /// Empty for a standalone host.
    pub cluster: String,
    pub connection_state: String,
    pub power_state: String,
    pub esxi_version: String,
    pub esxi_build: String,
    pub vendor: String,
    pub model: String,
    pub uuid: String,
    pub service_tag: String,
    pub cpu_cores: u32,
    pub memory_bytes: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct SimVm {
    pub moid: String,
    pub name: String,
    pub host: String,
    pub power_state: String,
    pub guest_os: String,
    pub cpu_count: u32,
    pub memory_mb: u64,
    pub uuid: String,
    pub is_template: bool,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct SimDatastore {
    pub moid: String,
    pub name: String,
    #[serde(rename = "type")]
    pub ds_type: String,
    pub capacity_bytes: u64,
    pub free_bytes: u64,
    pub hosts: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct SimNetwork {
    pub moid: String,
    pub name: String,
    #[serde(rename = "type")]
    pub net_type: String,
}

/// A running simulated vCenter; stopped on drop.
pub struct VcSim {
    child: Child,
    _stdin: ChildStdin,
    /// `https://127.0.0.1:PORT/sdk`
    pub url: String,
    pub host: String,
    pub port: u16,
    control: String,
    http: reqwest::Client,
}

/// A plain-HTTP client for the control API (its TLS trusts nothing).
fn control_client() -> Result<reqwest::Client, String> {
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())
}

fn binary() -> Result<PathBuf, String> {
    std::env::var_os("OUTPOST_VCSIM_BIN")
        .map(PathBuf::from)
        .ok_or_else(|| {
            "OUTPOST_VCSIM_BIN is not set: build the simulator with \
             `bash sim/vcsim/build.sh DIR` (.ci/run does) and point it at DIR/outpost-vcsim"
                .to_string()
        })
}

impl VcSim {
    pub async fn start(o: VcSimOptions) -> Result<VcSim, String> {
        let bin = binary()?;
        let mut cmd = Command::new(&bin);
        cmd.arg("-clusters")
            .arg(o.clusters.to_string())
            .arg("-hosts")
            .arg(o.hosts_per_cluster.to_string())
            .arg("-standalone")
            .arg(o.standalone.to_string())
            .arg("-vms")
            .arg(o.vms.to_string())
            .arg("-username")
            .arg(&o.username)
            .arg("-password")
            .arg(&o.password)
            .arg("-enter-ms")
            .arg(o.enter_ms.to_string());
        if !o.names.is_empty() {
            cmd.arg("-names").arg(o.names.join(","));
        }
        if !o.drs_off.is_empty() {
            cmd.arg("-drs-off").arg(o.drs_off.join(","));
        }
        if o.weak_key {
            cmd.arg("-weak-key");
        }
        if !o.method_delays.is_empty() {
            let d: Vec<String> = o
                .method_delays
                .iter()
                .map(|(m, ms)| format!("{m}={ms}"))
                .collect();
            cmd.arg("-method-delay").arg(d.join(","));
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("starting {}: {e}", bin.display()))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .map_err(|_| "outpost-vcsim did not get ready within 60 s".to_string())?
            .map_err(|e| e.to_string())?
            .ok_or("outpost-vcsim exited before it was ready")?;
        let field = |k: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(k))
                .map(str::to_string)
                .ok_or_else(|| format!("no {k} in {line:?}"))
        };
        let url = field("url=")?;
        let control = field("control=")?;
        let authority = url
            .strip_prefix("https://")
            .and_then(|r| r.split('/').next())
            .ok_or_else(|| format!("unexpected url {url}"))?;
        let (host, port) = authority
            .rsplit_once(':')
            .ok_or_else(|| format!("no port in {url}"))?;
        let port = port.parse().map_err(|_| format!("bad port in {url}"))?;
        // Keep draining stdout so the program never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(VcSim {
            child,
            _stdin: stdin,
            host: host.to_string(),
            port,
            url,
            control,
            http: control_client()?,
        })
    }

    async fn post(&self, path: &str, host: Option<&str>) -> Result<String, String> {
        let mut url = format!("{}{path}", self.control);
        if let Some(h) = host {
            let enc: String = h
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect();
            url.push_str(&format!("?host={enc}"));
        }
        let r = self
            .http
            .post(url)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status();
        let body = r.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(format!("{path}: HTTP {status}: {body}"));
        }
        Ok(body)
    }

    /// The host drops out of vCenter, as while it reboots.
    pub async fn disconnect(&self, host: &str) -> Result<(), String> {
        self.post("/disconnect", Some(host)).await.map(|_| ())
    }

    /// The host is connected again.
    pub async fn connect(&self, host: &str) -> Result<(), String> {
        self.post("/connect", Some(host)).await.map(|_| ())
    }

    /// Ends every API session; returns how many there were.
    pub async fn expire_sessions(&self) -> Result<u32, String> {
        let body = self.post("/expire-sessions", None).await?;
        body.trim()
            .parse()
            .map_err(|_| format!("unexpected answer {body:?}"))
    }

    /// Every host with its cluster, connection and maintenance state.
    pub async fn hosts(&self) -> Result<Vec<SimHost>, String> {
        let r = self
            .http
            .get(format!("{}/hosts", self.control))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let mut hosts: Vec<SimHost> = r.json().await.map_err(|e| e.to_string())?;
        hosts.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(hosts)
    }

    /// Every cluster, host, VM, datastore and network of the model.
    pub async fn inventory(&self) -> Result<SimInventory, String> {
        let r = self
            .http
            .get(format!("{}/inventory", self.control))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !r.status().is_success() {
            return Err(format!(
                "/inventory: HTTP {} (an outpost-vcsim older than sim/vcsim/main.go?)",
                r.status()
            ));
        }
        let mut v: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
        // Go writes an empty section (and an empty host list) as null.
        fn nulls_to_lists(v: &mut serde_json::Value) {
            match v {
                serde_json::Value::Object(m) => {
                    for (_, x) in m.iter_mut() {
                        if x.is_null() {
                            *x = serde_json::json!([]);
                        } else {
                            nulls_to_lists(x);
                        }
                    }
                }
                serde_json::Value::Array(a) => a.iter_mut().for_each(nulls_to_lists),
                _ => {}
            }
        }
        nulls_to_lists(&mut v);
        serde_json::from_value(v).map_err(|e| format!("/inventory: {e}"))
    }

    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}
