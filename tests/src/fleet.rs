//! A whole fleet for one test: its own nats-server, a coordinator with two
//! zones (`alpha` = 127.1.0.0/16, `beta` = 127.2.0.0/16), and workers
//! started, killed and restarted on demand.

use crate::api::Api;
use crate::fleet_bin;
use crate::nats::NatsServer;
use crate::procs::Proc;
use anyhow::{Context, Result};
use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::Duration;

/// How long a test waits for a process to come up.
pub const START: Duration = Duration::from_secs(60);
/// How long a test waits for a state it expects.
pub const SETTLE: Duration = Duration::from_secs(90);

/// The zones of the fleet tests: `alpha` and `beta`, one /16 each.
pub const TWO_ZONES: &str = r#"[[zone]]
name = "alpha"
cidrs = ["127.1.0.0/16"]
[[zone]]
name = "beta"
cidrs = ["127.2.0.0/16"]
"#;

/// [`TWO_ZONES`] with more keys in both `[[zone]]` tables, e.g.
/// `ack_wait_secs = 3` or `max_deliver = 2` (the zone consumers' settings).
pub fn two_zones_with(settings: &str) -> String {
    format!(
        "[[zone]]\nname = \"alpha\"\ncidrs = [\"127.1.0.0/16\"]\n{settings}\n[[zone]]\nname = \"beta\"\ncidrs = [\"127.2.0.0/16\"]\n{settings}\n"
    )
}

/// Coordinator config used by the fleet tests: short TTLs so dead workers'
/// leases and presence go quickly.
pub fn config_toml(nats: &NatsServer) -> String {
    config_with_zones(nats, TWO_ZONES)
}

/// Like [`config_toml`] with other `[[zone]]` tables.
pub fn config_with_zones(nats: &NatsServer, zones: &str) -> String {
    format!(
        r#"nats_url = "{}"
{}[jetstream]
lease_ttl_secs = 6
presence_ttl_secs = 6
{zones}"#,
        nats.url_with_auth(),
        nats.coordinator_toml()
    )
}

/// The zone names of `[[zone]]` tables.
pub fn zone_names(zones: &str) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct Zones {
        #[serde(default)]
        zone: Vec<Named>,
    }
    #[derive(serde::Deserialize)]
    struct Named {
        name: String,
    }
    toml::from_str::<Zones>(zones)
        .map(|z| z.zone.into_iter().map(|n| n.name).collect())
        .unwrap_or_default()
}

/// How a fleet is set up.
#[derive(Debug, Clone, Default)]
pub struct FleetOptions {
    /// `OUTPOST_API_TOKEN` of the coordinator.
    pub token: Option<String>,
    /// `[[zone]]` tables instead of [`TWO_ZONES`].
    pub zones: Option<String>,
    /// More top-level config keys (before the zones), e.g. `capture_dir`.
    pub extra_config: Option<String>,
    /// Zones with a NATS identity beyond the configured ones (a zone set
    /// up on NATS but missing from the coordinator's configuration).
    pub extra_nats_zones: Vec<String>,
    /// More environment of the coordinator (`OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub envs: Vec<(String, String)>,
}

pub struct Fleet {
    pub nats: NatsServer,
    pub coordinator: Proc,
    pub api: Api,
    pub workers: Vec<Proc>,
    pub dir: tempfile::TempDir,
    token: Option<String>,
}

impl Fleet {
    /// NATS and a coordinator without a token.
    pub async fn start() -> Result<Fleet> {
        Self::start_with_token(None).await
    }

    /// NATS and a coordinator requiring `token` when given.
    pub async fn start_with_token(token: Option<&str>) -> Result<Fleet> {
        Self::start_with(FleetOptions {
            token: token.map(str::to_string),
            ..FleetOptions::default()
        })
        .await
    }

    /// NATS and a coordinator set up as `opts` says.
    pub async fn start_with(opts: FleetOptions) -> Result<Fleet> {
        let zones = opts.zones.as_deref().unwrap_or(TWO_ZONES);
        let mut names = zone_names(zones);
        names.extend(opts.extra_nats_zones.iter().cloned());
        let nats =
            NatsServer::start_with_zones(&names.iter().map(String::as_str).collect::<Vec<_>>())
                .await?;
        let dir = tempfile::tempdir()?;
        let mut config = String::new();
        if let Some(extra) = &opts.extra_config {
            config.push_str(extra);
            config.push('\n');
        }
        config.push_str(&config_with_zones(&nats, zones));
        std::fs::write(dir.path().join("coordinator.toml"), config)?;
        let envs: Vec<(&str, &str)> = opts
            .envs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let (coordinator, api) = spawn_coordinator(
            dir.path().join("coordinator.toml"),
            opts.token.as_deref(),
            &envs,
        )
        .await?;
        Ok(Fleet {
            nats,
            coordinator,
            api,
            workers: Vec::new(),
            dir,
            token: opts.token,
        })
    }

    /// Kills the coordinator (SIGKILL) and leaves it down; see [`Fleet::start_coordinator`].
    pub async fn kill_coordinator(&mut self) -> Result<()> {
        self.coordinator.kill9().await
    }

    /// Starts a coordinator again (after [`Fleet::kill_coordinator`]) on the same NATS.
    pub async fn start_coordinator(&mut self) -> Result<()> {
        let (c, api) = spawn_coordinator(
            self.dir.path().join("coordinator.toml"),
            self.token.as_deref(),
            &[],
        )
        .await?;
        self.coordinator = c;
        self.api = api;
        Ok(())
    }

    /// Kills the coordinator (SIGKILL) and starts a new one on the same NATS.
    pub async fn restart_coordinator(&mut self) -> Result<()> {
        self.kill_coordinator().await?;
        self.start_coordinator().await
    }

    /// Starts a worker of `zone` with extra flags; returns its index in `workers`.
    pub async fn worker(&mut self, zone: &str, id: &str, extra: &[&str]) -> Result<usize> {
        self.worker_env(zone, id, extra, &[]).await
    }

    /// As [`Fleet::worker`], with environment variables.
    pub async fn worker_env(
        &mut self,
        zone: &str,
        id: &str,
        extra: &[&str],
        envs: &[(&str, &str)],
    ) -> Result<usize> {
        let nats_args = self.nats.worker_args(zone);
        let mut args: Vec<&OsStr> = vec![
            "--zone".as_ref(),
            zone.as_ref(),
            "--worker-id".as_ref(),
            id.as_ref(),
        ];
        args.extend(nats_args.iter().map(OsStr::new));
        args.extend(extra.iter().map(|a| OsStr::new(*a)));
        let mut w = Proc::spawn(id, fleet_bin("outpost-worker")?, &args, envs)?;
        w.wait_for_line(|l| l.starts_with("outpost-worker ready"), START)
            .await?;
        self.workers.push(w);
        Ok(self.workers.len() - 1)
    }
}

/// Starts `outpost-coordinator` with `config` on a free loopback port and
/// waits until it listens; `envs` are added to its environment.
pub async fn spawn_coordinator(
    config: PathBuf,
    token: Option<&str>,
    envs: &[(&str, &str)],
) -> Result<(Proc, Api)> {
    spawn_coordinator_until(config, token, envs, "listening on ").await
}

/// Starts another `outpost-coordinator` with `config` while one leads and
/// waits until it serves as a standby (it forwards to the leader).
pub async fn spawn_standby(config: PathBuf, token: Option<&str>) -> Result<(Proc, Api)> {
    spawn_coordinator_until(config, token, &[], "standby on ").await
}

async fn spawn_coordinator_until(
    config: PathBuf,
    token: Option<&str>,
    envs: &[(&str, &str)],
    marker: &str,
) -> Result<(Proc, Api)> {
    let mut envs = envs.to_vec();
    if let Some(t) = token {
        envs.push(("OUTPOST_API_TOKEN", t));
    }
    let mut c = Proc::spawn(
        "coordinator",
        fleet_bin("outpost-coordinator")?,
        &[
            "--config".as_ref(),
            config.as_os_str(),
            "--listen".as_ref(),
            "127.0.0.1:0".as_ref(),
        ],
        &envs,
    )?;
    let line = c
        .wait_for_line(
            |l| l.starts_with("outpost-coordinator ") && l.contains(&format!("{marker}http://")),
            START,
        )
        .await?;
    let base = line
        .rsplit(marker)
        .next()
        .context("address in the coordinator's ready line")?
        .trim()
        .to_string();
    Ok((c, Api::new(&base, token)))
}
