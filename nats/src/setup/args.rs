//! The command-line face of the setup (`outpost nats setup`): the flags,
//! and how they become a [`SetupAction`]. The zones come from the caller
//! (the coordinator's configuration), not from flags.
//!
//! A flag left out keeps the value of the previous run (from bundle.json),
//! or its default on the first run, so re-running after a configuration
//! change does not need the original flags again.

use super::{
    BundlePaths, DEFAULT_LISTEN, DEFAULT_SERVER_NAMES, Report, SetupError, SetupSpec, bundle,
};
use std::path::PathBuf;

/// `outpost nats setup` flags.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct SetupArgs {
    /// Directory of the bundle (created with mode 0700 if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// DNS name or IP address of the server certificate; repeat for more
    /// [default on the first run: localhost, 127.0.0.1, ::1].
    #[arg(long = "server-name", value_name = "NAME")]
    pub server_names: Vec<String>,
    /// Address the server listens on [default on the first run: 0.0.0.0:4222].
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// JetStream store directory [default on the first run: OUT/jetstream].
    #[arg(long, value_name = "DIR")]
    pub store_dir: Option<PathBuf>,
    /// Address of nats-server's HTTP monitoring endpoint (unauthenticated:
    /// keep it on loopback).
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "no_monitor")]
    pub monitor: Option<String>,
    /// Turn the monitoring endpoint of a previous run off.
    #[arg(long)]
    pub no_monitor: bool,
    /// Give this zone a new identity (its old creds stop working when the
    /// server reloads); nothing else changes.
    #[arg(
        long,
        value_name = "ZONE",
        conflicts_with_all = ["revoke_zone", "prune", "server_names", "listen", "store_dir", "monitor", "no_monitor"]
    )]
    pub reissue_zone: Option<String>,
    /// Take this zone's identity away (creds deleted, user removed from the
    /// conf); nothing else changes.
    #[arg(
        long,
        value_name = "ZONE",
        conflicts_with_all = ["prune", "server_names", "listen", "store_dir", "monitor", "no_monitor"]
    )]
    pub revoke_zone: Option<String>,
    /// Remove the identities of zones no longer in the configuration.
    #[arg(long)]
    pub prune: bool,
    /// The hub's JetStream domain, which sites source through (the
    /// coordinator's `jetstream.domain`); needed before `outpost site init`.
    #[arg(long, value_name = "NAME")]
    pub domain: Option<String>,
    /// `host:port` where sites' leaf nodes connect (TLS, e.g. 0.0.0.0:7422);
    /// needed before `outpost site init`.
    #[arg(long, value_name = "HOST:PORT")]
    pub leaf_listen: Option<String>,
}

/// What the flags ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupAction {
    Setup { spec: SetupSpec, out: PathBuf },
    Reissue { zone: String, out: PathBuf },
    Revoke { zone: String, out: PathBuf },
}

impl SetupArgs {
    /// The action for `zones` (the coordinator's zones): flags left out take
    /// the previous run's values, else the defaults.
    pub fn action(&self, zones: Vec<String>) -> Result<SetupAction, SetupError> {
        let out = self.out.clone();
        if let Some(zone) = &self.reissue_zone {
            return Ok(SetupAction::Reissue {
                zone: zone.clone(),
                out,
            });
        }
        if let Some(zone) = &self.revoke_zone {
            return Ok(SetupAction::Revoke {
                zone: zone.clone(),
                out,
            });
        }
        let previous = if out.is_dir() {
            bundle::load(&BundlePaths::new(&out))?
        } else {
            None
        };
        let server_names = if !self.server_names.is_empty() {
            self.server_names.clone()
        } else if let Some(b) = &previous {
            b.server_cert.sans.clone()
        } else {
            DEFAULT_SERVER_NAMES.iter().map(|s| s.to_string()).collect()
        };
        let listen = self
            .listen
            .clone()
            .or_else(|| previous.as_ref().map(|b| b.server.listen.clone()))
            .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let store_dir = self
            .store_dir
            .clone()
            .or_else(|| previous.as_ref().map(|b| b.server.store_dir.clone()))
            .unwrap_or_else(|| out.join("jetstream"));
        let monitor = if self.no_monitor {
            None
        } else {
            self.monitor
                .clone()
                .or_else(|| previous.as_ref().and_then(|b| b.server.monitor.clone()))
        };
        let domain = self
            .domain
            .clone()
            .or_else(|| previous.as_ref().and_then(|b| b.server.domain.clone()));
        let leaf_listen = self
            .leaf_listen
            .clone()
            .or_else(|| previous.as_ref().and_then(|b| b.server.leaf_listen.clone()));
        Ok(SetupAction::Setup {
            spec: SetupSpec {
                zones,
                server_names,
                listen,
                store_dir,
                monitor,
                prune: self.prune,
                domain,
                leaf_listen,
            },
            out,
        })
    }

    /// Runs the action for `zones`.
    pub fn run(&self, zones: Vec<String>) -> Result<Report, SetupError> {
        match self.action(zones)? {
            SetupAction::Setup { spec, out } => super::setup(&spec, &out),
            SetupAction::Reissue { zone, out } => super::reissue_zone(&out, &zone),
            SetupAction::Revoke { zone, out } => super::revoke_zone(&out, &zone),
        }
    }
}
