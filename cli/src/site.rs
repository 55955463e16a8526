//! `outpost site init` (a site's bundle: its leaf server's conf,
//! certificate and identities, from the hub's NATS bundle) and `outpost
//! site list` (each site's link and lag, from the API).

use super::ClientError;
use super::client::Client;
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum SiteCommand {
    /// Write the bundle of site NAME into BUNDLE/sites/NAME: its leaf
    /// nats-server's conf (TLS, the site's zones, JetStream in domain NAME,
    /// the link to the hub with the site's own password), its certificate,
    /// the CA, its zones' identities, worker environment files and the
    /// leaf's systemd unit; and admit the site in the hub's conf (restart
    /// the hub's servers after). Re-running keeps the password and
    /// certificate.
    Init {
        /// The site's name: also its JetStream domain and its `[[site]]`.
        name: String,
        /// The zones whose workers run at the site (comma-separated).
        #[arg(long, value_delimiter = ',', required = true)]
        zones: Vec<String>,
        /// The hub's leaf node address (`host:port`), once per hub node.
        #[arg(long = "hub", value_name = "HOST:PORT", required = true)]
        hub: Vec<String>,
        /// The hub's bundle directory (`outpost nats setup --out`).
        #[arg(long, value_name = "DIR")]
        bundle: PathBuf,
        /// DNS names or addresses of the leaf server (what its workers dial).
        #[arg(long = "server-name", value_name = "NAME", required = true)]
        server_names: Vec<String>,
        /// Where the leaf server listens for its workers.
        #[arg(long, default_value = "0.0.0.0:4222")]
        listen: String,
        /// The leaf server's JetStream store.
        #[arg(long, default_value = "/var/lib/outpost/leaf")]
        store_dir: PathBuf,
    },
    /// Each site: whether its leaf link is up, since when, and how many
    /// events wait at the site and tasks at the hub.
    List {
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(client: &Client, command: SiteCommand) -> Result<u8, ClientError> {
    match command {
        SiteCommand::Init {
            name,
            zones,
            hub,
            bundle,
            server_names,
            listen,
            store_dir,
        } => {
            let spec = outpost_nats::setup::SiteSpec {
                name: name.clone(),
                zones: zones.clone(),
                hub,
                server_names,
                listen,
                store_dir,
            };
            let report = outpost_nats::setup::init_site(&bundle, &spec)
                .map_err(|e| ClientError::Usage(e.to_string()))?;
            println!("site {name}: bundle in {}", report.dir.display());
            for (path, action) in &report.files {
                println!("  {action:?}: {}", path.display());
            }
            if report.hub_restart {
                println!(
                    "the hub's nats-server.conf admits the site now: restart the hub's servers \
                     (one at a time on a cluster; leaf users are read at start)"
                );
            }
            println!(
                "add to the coordinator's configuration (it needs jetstream.domain too):\n\n\
                 [[site]]\nname = \"{name}\"\nzones = [{}]\n",
                zones
                    .iter()
                    .map(|z| format!("\"{z}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            println!("the site's workers connect to {}", report.worker_url);
            Ok(0)
        }
        SiteCommand::List { json } => {
            let (value, raw) = client.sites().await?;
            if json {
                println!("{raw}");
                return Ok(0);
            }
            let sites = value["sites"].as_array().cloned().unwrap_or_default();
            if sites.is_empty() {
                println!("no sites configured");
                return Ok(0);
            }
            println!(
                "{:<16} {:<6} {:<26} {:>14} {:>12}  ZONES",
                "SITE", "LINK", "SINCE", "EVENTS BEHIND", "TASKS BEHIND"
            );
            let mut down = 0;
            for s in &sites {
                let up = s["up"].as_bool().unwrap_or(false);
                down += usize::from(!up);
                let num =
                    |v: &serde_json::Value| v.as_u64().map_or("?".to_string(), |n| n.to_string());
                let zones: Vec<&str> = s["zones"]
                    .as_array()
                    .map(|z| z.iter().filter_map(|z| z.as_str()).collect())
                    .unwrap_or_default();
                println!(
                    "{:<16} {:<6} {:<26} {:>14} {:>12}  {}",
                    s["name"].as_str().unwrap_or("?"),
                    if up { "up" } else { "DOWN" },
                    s["since"].as_str().unwrap_or("-"),
                    num(&s["events_behind"]),
                    num(&s["tasks_behind"]),
                    zones.join(",")
                );
            }
            // Scripts can tell a cut-off site from the exit code.
            Ok(if down > 0 { 1 } else { 0 })
        }
    }
}
