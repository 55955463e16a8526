//! The worker's settings, validated before anything connects: zone name,
//! kinds, limits and timings. The retry settings of a zone (`ack_wait`,
//! `max_deliver`) are not among them: the coordinator sets them on the
//! zone's consumers and the worker reads them from there
//! ([`ConsumerSettings`]).

use crate::ops::Kind;
use outpost_proto::layout;
use std::time::Duration;
use thiserror::Error;

/// Why the worker's settings cannot be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("invalid zone {zone:?}: {reason}")]
    Zone { zone: String, reason: String },
    #[error("invalid worker id {id:?}: {reason}")]
    WorkerId { id: String, reason: String },
    #[error("unknown task kind {kind:?}; this worker runs: {known}")]
    Kind { kind: String, known: String },
    #[error("{field} must be {expected}")]
    Range {
        field: &'static str,
        expected: &'static str,
    },
}

/// Everything a worker needs to run.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub zone: String,
    pub worker_id: String,
    pub kinds: Vec<Kind>,
    /// Tasks run at once by this worker, all kinds together.
    pub concurrency: usize,
    pub nats_url: String,
    /// Creds, CA and the loopback-only insecure switch for NATS.
    pub nats_security: outpost_nats::connect::ClientSecurity,
    /// How long a draining worker lets running tasks finish before it hands them back.
    pub drain_timeout: Duration,
    /// How long to wait for the coordinator to create the zone's consumers.
    pub consumer_wait: Duration,
    /// First retry delay of a retryable failure; doubles with each attempt.
    pub retry_base: Duration,
    pub ssh: SshSettings,
    /// The zone's X25519 secret key (base64): opens credentials the
    /// coordinator sealed to this zone.
    pub zone_key: Option<outpost_vault::Secret>,
    /// Where `/metrics` is served (Prometheus text format); none by default.
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// The retry settings of one (zone, kind) consumer, as the coordinator
/// created it: the one source of truth for every worker of the zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerSettings {
    /// How long the server waits for an ack before redelivering a task.
    pub ack_wait: Duration,
    /// Deliveries of one task before it is given up.
    pub max_deliver: i64,
    /// TTL of the lease bucket: leases are renewed at a third of it.
    pub lease_ttl: Duration,
    /// TTL of the presence bucket: presence is refreshed at a third of it.
    pub presence_ttl: Duration,
}

impl ConsumerSettings {
    /// Reads the settings of a consumer's configuration; a consumer
    /// without a delivery limit (`-1`) counts as unlimited.
    pub fn of(config: &async_nats::jetstream::consumer::Config) -> Self {
        ConsumerSettings {
            ack_wait: if config.ack_wait.is_zero() {
                // The server's default.
                Duration::from_secs(30)
            } else {
                config.ack_wait
            },
            max_deliver: if config.max_deliver <= 0 {
                i64::MAX
            } else {
                config.max_deliver
            },
            lease_ttl: secs(config, outpost_proto::layout::META_LEASE_TTL, 30),
            presence_ttl: secs(config, outpost_proto::layout::META_PRESENCE_TTL, 15),
        }
    }
}

/// A duration in whole seconds from the consumer's metadata (at least 3 s,
/// so a third of it is a usable renewal period), or `default`.
fn secs(config: &async_nats::jetstream::consumer::Config, key: &str, default: u64) -> Duration {
    let n = config
        .metadata
        .get(key)
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(default);
    Duration::from_secs(n.clamp(3, 24 * 3600))
}

/// How `ssh.collect` treats devices.
#[derive(Debug, Clone)]
pub struct SshSettings {
    pub host_key_policy: crate::ops::ssh::hostkeys::HostKeyPolicy,
    /// An OpenSSH known_hosts file whose keys are trusted as well.
    pub known_hosts: Option<std::path::PathBuf>,
    /// Largest output accepted from one device.
    pub max_output: usize,
}

impl Default for SshSettings {
    fn default() -> Self {
        Self {
            host_key_policy: crate::ops::ssh::hostkeys::HostKeyPolicy::Tofu,
            known_hosts: None,
            max_output: crate::ops::ssh::DEFAULT_MAX_OUTPUT,
        }
    }
}

impl WorkerConfig {
    /// Checks and normalises the settings.
    pub fn validate(mut self) -> Result<Self, ConfigError> {
        layout::validate_zone(&self.zone).map_err(|e| ConfigError::Zone {
            zone: self.zone.clone(),
            reason: e.to_string(),
        })?;
        layout::validate_id("worker id", &self.worker_id).map_err(|e| ConfigError::WorkerId {
            id: self.worker_id.clone(),
            reason: e.to_string(),
        })?;
        if self.kinds.is_empty() {
            self.kinds = Kind::ALL.to_vec();
        }
        self.kinds.sort();
        self.kinds.dedup();
        if !(1..=10_000).contains(&self.concurrency) {
            return Err(ConfigError::Range {
                field: "--concurrency",
                expected: "between 1 and 10000",
            });
        }
        Ok(self)
    }

    /// Parses a comma-separated list of kinds (`net.reach,diag.sleep`).
    pub fn parse_kinds(list: &str) -> Result<Vec<Kind>, ConfigError> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                Kind::parse(s).ok_or_else(|| ConfigError::Kind {
                    kind: s.to_string(),
                    known: Kind::ALL
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> WorkerConfig {
        WorkerConfig {
            zone: "fra1".into(),
            worker_id: "w1".into(),
            kinds: vec![],
            concurrency: 4,
            nats_url: "nats://127.0.0.1:4222".into(),
            nats_security: Default::default(),
            drain_timeout: Duration::from_secs(30),
            consumer_wait: Duration::from_secs(60),
            retry_base: Duration::from_millis(500),
            ssh: SshSettings::default(),
            zone_key: None,
            metrics_listen: None,
        }
    }

    #[test]
    fn empty_kinds_mean_all() {
        let c = base().validate().unwrap();
        assert_eq!(c.kinds, Kind::ALL.to_vec());
    }

    #[test]
    fn hostile_zone_and_id_are_rejected() {
        for zone in ["bad zone", "a.b", "a*", ">", ""] {
            let c = WorkerConfig {
                zone: zone.into(),
                ..base()
            };
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains("invalid zone"), "{zone:?}: {e}");
        }
        let c = WorkerConfig {
            worker_id: "w.1".into(),
            ..base()
        };
        assert!(c.validate().unwrap_err().to_string().contains("worker id"));
    }

    #[test]
    fn kinds_parse_and_unknown_is_named() {
        let k = WorkerConfig::parse_kinds("net.reach, diag.sleep").unwrap();
        assert_eq!(k, vec![Kind::NetReach, Kind::DiagSleep]);
        let e = WorkerConfig::parse_kinds("net.reach,ssh.colect").unwrap_err();
        assert!(e.to_string().contains("\"ssh.colect\""), "{e}");
    }

    #[test]
    fn consumer_settings_are_read_from_the_consumer() {
        let mut c = async_nats::jetstream::consumer::Config {
            ack_wait: Duration::from_secs(7),
            max_deliver: 3,
            ..Default::default()
        };
        let s = ConsumerSettings::of(&c);
        assert_eq!((s.ack_wait, s.max_deliver), (Duration::from_secs(7), 3));
        c.ack_wait = Duration::ZERO;
        c.max_deliver = -1;
        let s = ConsumerSettings::of(&c);
        assert_eq!(
            (s.ack_wait, s.max_deliver),
            (Duration::from_secs(30), i64::MAX)
        );
    }

    #[test]
    fn limits_are_checked() {
        let c = WorkerConfig {
            concurrency: 0,
            ..base()
        };
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("--concurrency")
        );
    }
}
