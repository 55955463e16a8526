//! The coordinator's configuration file (TOML): where NATS is, which zones
//! exist and which address ranges they own, and the JetStream settings the
//! coordinator applies when it creates the layout.

use ipnet::IpNet;
use serde::Deserialize;
use std::path::Path;
use thiserror::Error;

/// Why a configuration file could not be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("config file {path}: {message}")]
    Invalid { path: String, message: String },
}

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// NATS server URL (comma-separated for several); `--nats` and
    /// `OUTPOST_NATS_URL` override it.
    #[serde(default = "default_nats_url")]
    pub nats_url: String,
    /// `[nats]`: the coordinator's identity (`creds`), the CA of the
    /// server's certificate (`ca`), and `insecure` for a loopback server
    /// without them. `--nats-creds`, `--nats-ca`, `--nats-insecure` override.
    #[serde(default)]
    pub nats: outpost_nats::connect::ClientSecurity,
    /// HTTP API address; `--listen` overrides it.
    #[serde(default)]
    pub listen: Option<String>,
    /// `[api]`: allowed `Host` names, HTTP and follower bounds.
    #[serde(default)]
    pub api: crate::api::ApiConfig,
    #[serde(default)]
    pub jetstream: JetStreamConfig,
    /// When finished jobs leave the hot state.
    #[serde(default)]
    pub retention: crate::engine::retention::RetentionConfig,
    /// Where SSH captures are written (`<capture_dir>/<output_directory>/<file>`);
    /// default `~/.outpost/captures`.
    #[serde(default)]
    pub capture_dir: Option<std::path::PathBuf>,
    /// Where `ssh.collect` jobs select devices from, searched in order.
    #[serde(default, rename = "inventory")]
    pub inventory: Vec<crate::collect::inventory::InventorySource>,
    /// Where `rolling_update` jobs select servers by cluster or group.
    #[serde(default, rename = "servers")]
    pub servers: Vec<crate::rolling::servers::ServerSource>,
    /// The Dell Server Manager bridge (absent: off).
    #[serde(default)]
    pub dsm: Option<crate::dsm::DsmConfig>,
    /// The zones and the address ranges they own.
    #[serde(default, rename = "zone")]
    pub zones: Vec<ZoneConfig>,
    /// Sites whose workers reach NATS through a leaf node of their own.
    #[serde(default, rename = "site")]
    pub sites: Vec<crate::sites::SiteConfig>,
    /// Notification channels.
    #[serde(default, rename = "notify")]
    pub notify: Vec<crate::notify::NotifyConfig>,
}

/// One zone: a network segment and the workers inside it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    pub name: String,
    #[serde(default)]
    pub cidrs: Vec<IpNet>,
    /// Pin each iDRAC's certificate on first use (`false` opts the zone out).
    #[serde(default = "yes")]
    pub redfish_tls_pinning: bool,
    /// Speak legacy TLS to the zone's iDRACs (TLS 1.0/1.1 and legacy
    /// ciphers, over OpenSSL), for old iDRAC 7/8 firmware; off by default.
    #[serde(default)]
    pub redfish_legacy_tls: bool,
    /// Redfish operations (inventory, power, firmware) the zone runs at
    /// once across all its workers; 0 = no limit.
    #[serde(default = "default_redfish_max")]
    pub redfish_max_concurrent: u32,
    /// The zone's X25519 public key (base64, `outpost zone-key generate`):
    /// credentials from Dell Server Manager are sealed to it.
    #[serde(default)]
    pub public_key: Option<String>,
    /// Seconds without an ack (or a progress ack) before a task is handed
    /// to another worker of the zone. Set on the zone's consumers, which
    /// every worker reads it from.
    #[serde(default = "default_ack_wait_secs")]
    pub ack_wait_secs: u64,
    /// Deliveries of one task before it is given up (first run included).
    #[serde(default = "default_max_deliver")]
    pub max_deliver: i64,
}

fn yes() -> bool {
    true
}
fn default_redfish_max() -> u32 {
    8
}
fn default_ack_wait_secs() -> u64 {
    30
}
fn default_max_deliver() -> i64 {
    5
}

impl ZoneConfig {
    /// A zone with default settings.
    pub fn new(name: &str, cidrs: Vec<IpNet>) -> Self {
        ZoneConfig {
            name: name.to_string(),
            cidrs,
            redfish_tls_pinning: true,
            redfish_legacy_tls: false,
            redfish_max_concurrent: default_redfish_max(),
            public_key: None,
            ack_wait_secs: default_ack_wait_secs(),
            max_deliver: default_max_deliver(),
        }
    }
}

/// JetStream settings applied when the coordinator creates the layout.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JetStreamConfig {
    /// How long the events stream keeps events, in hours.
    #[serde(default = "default_events_max_age_hours")]
    pub events_max_age_hours: u64,
    /// TTL of a task lease; the holder renews it at a third of this.
    #[serde(default = "default_lease_ttl_secs")]
    pub lease_ttl_secs: u64,
    /// TTL of a worker's presence entry; workers refresh it at a third of this.
    #[serde(default = "default_presence_ttl_secs")]
    pub presence_ttl_secs: u64,
    /// Store streams in memory instead of files (for throw-away setups only).
    #[serde(default)]
    pub memory_storage: bool,
    /// Copies of every stream, key-value bucket and object store Outpost
    /// keeps: 1 on a single server, 3 on a clustered hub (losing one node
    /// then loses nothing). Existing ones are changed to this at start-up.
    #[serde(default = "default_replicas")]
    pub replicas: usize,
    /// The hub's JetStream domain (its nats-server's `jetstream.domain`);
    /// required with `[[site]]`: sites source the hub's tasks through it.
    #[serde(default)]
    pub domain: Option<String>,
}

impl Default for JetStreamConfig {
    fn default() -> Self {
        Self {
            events_max_age_hours: default_events_max_age_hours(),
            lease_ttl_secs: default_lease_ttl_secs(),
            presence_ttl_secs: default_presence_ttl_secs(),
            memory_storage: false,
            replicas: default_replicas(),
            domain: None,
        }
    }
}

fn default_replicas() -> usize {
    1
}

fn default_nats_url() -> String {
    "nats://127.0.0.1:4222".to_string()
}
fn default_events_max_age_hours() -> u64 {
    24 * 7
}
fn default_lease_ttl_secs() -> u64 {
    30
}
fn default_presence_ttl_secs() -> u64 {
    15
}

impl Config {
    /// The capture directory, defaulted.
    pub fn capture_dir(&self) -> std::path::PathBuf {
        match &self.capture_dir {
            Some(d) => d.clone(),
            None => std::env::var_os("HOME")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|| ".".into())
                .join(".outpost/captures"),
        }
    }

    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::parse(&text, &shown)
    }

    /// Parses and validates configuration text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_string(),
            message: e.to_string(),
        })?;
        config.validate().map_err(|message| ConfigError::Invalid {
            path: origin.to_string(),
            message,
        })?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for zone in &self.zones {
            outpost_proto::layout::validate_zone(&zone.name).map_err(|e| e.to_string())?;
            if !seen.insert(zone.name.as_str()) {
                return Err(format!("zone {:?} is declared twice", zone.name));
            }
            if !(1..=3600).contains(&zone.ack_wait_secs) {
                return Err(format!(
                    "zone {:?}: ack_wait_secs must be between 1 and 3600",
                    zone.name
                ));
            }
            if !(1..=100).contains(&zone.max_deliver) {
                return Err(format!(
                    "zone {:?}: max_deliver must be between 1 and 100",
                    zone.name
                ));
            }
            if let Some(k) = &zone.public_key {
                outpost_vault::sealed::check_public(k)
                    .map_err(|e| format!("zone {:?}: public_key: {e}", zone.name))?;
            }
        }
        self.api.validate()?;
        if self.jetstream.lease_ttl_secs < 3 {
            return Err("jetstream.lease_ttl_secs must be at least 3".into());
        }
        if self.jetstream.presence_ttl_secs < 3 {
            return Err("jetstream.presence_ttl_secs must be at least 3".into());
        }
        crate::sites::validate(&self.sites, &self.zones, self.jetstream.domain.as_deref())?;
        if !(1..=5).contains(&self.jetstream.replicas) {
            return Err(format!(
                "jetstream.replicas must be between 1 and 5 (JetStream's limit), not {}",
                self.jetstream.replicas
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_zones_and_defaults() {
        let c = Config::parse(
            r#"
            [[zone]]
            name = "fra1"
            cidrs = ["10.20.0.0/16", "192.168.7.0/24"]
            [[zone]]
            name = "ams2"
            "#,
            "t",
        )
        .unwrap();
        assert_eq!(c.zones.len(), 2);
        assert_eq!(c.zones[0].cidrs.len(), 2);
        assert_eq!(c.nats_url, "nats://127.0.0.1:4222");
        assert_eq!(c.jetstream.lease_ttl_secs, 30);
    }

    #[test]
    fn zone_consumer_settings_default_and_are_checked() {
        let c = Config::parse(
            "[[zone]]\nname = \"a\"\n[[zone]]\nname = \"b\"\nack_wait_secs = 3\nmax_deliver = 2\n",
            "t",
        )
        .unwrap();
        assert_eq!((c.zones[0].ack_wait_secs, c.zones[0].max_deliver), (30, 5));
        assert_eq!((c.zones[1].ack_wait_secs, c.zones[1].max_deliver), (3, 2));
        for bad in ["ack_wait_secs = 0", "max_deliver = 0", "max_deliver = 1000"] {
            let e = Config::parse(&format!("[[zone]]\nname = \"a\"\n{bad}\n"), "c")
                .unwrap_err()
                .to_string();
            assert!(e.contains(bad.split(' ').next().unwrap()), "{bad}: {e}");
        }
    }

    #[test]
    fn replicas_default_to_one_and_are_bounded_by_jetstream() {
        let c = Config::parse("[[zone]]\nname = \"a\"\n", "t").unwrap();
        assert_eq!(c.jetstream.replicas, 1);
        let c = Config::parse("[jetstream]\nreplicas = 3\n", "t").unwrap();
        assert_eq!(c.jetstream.replicas, 3);
        for bad in [0, 6] {
            let e = Config::parse(&format!("[jetstream]\nreplicas = {bad}\n"), "c")
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("jetstream.replicas") && e.contains("1 and 5"),
                "{e}"
            );
        }
    }

    #[test]
    fn unknown_fields_are_named() {
        let e = Config::parse("[[zone]]\nname = \"a\"\ncidr = \"10.0.0.0/8\"\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("cidr") && e.contains("c.toml"), "{e}");
    }

    #[test]
    fn bad_zone_names_and_duplicates_are_refused() {
        let e = Config::parse("[[zone]]\nname = \"a.b\"\n", "c")
            .unwrap_err()
            .to_string();
        assert!(e.contains("zone"), "{e}");
        let e = Config::parse("[[zone]]\nname = \"a\"\n[[zone]]\nname = \"a\"\n", "c")
            .unwrap_err()
            .to_string();
        assert!(e.contains("twice"), "{e}");
        let e = Config::parse("[[zone]]\nname = \"a\"\ncidrs = [\"10.0.0.0/33\"]\n", "c")
            .unwrap_err()
            .to_string();
        assert!(e.contains("cidrs") || e.contains("invalid"), "{e}");
    }
}
