//! The zone's known-hosts store: device host keys in KV `outpost_hostkeys`
//! under `<zone>.<host>-<port>`, shared by every worker of the zone so a
//! key trusted on first use by one worker is checked by all. A changed key
//! fails the task; in strict mode an unknown key is refused unless it is in
//! the operator's OpenSSH `known_hosts` file given to the worker.

use super::error::SshError;
use crate::kv::{Bucket, KvError};
use russh::keys::{HashAlg, PublicKey};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What to do with a host key nobody has seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HostKeyPolicy {
    /// Trust on first use: record the key, check it from then on.
    Tofu,
    /// Refuse keys that are neither recorded nor in the known_hosts file.
    Strict,
}

/// A recorded host key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownKey {
    pub host: String,
    pub port: u16,
    /// OpenSSH public key line: `<algorithm> <base64>`.
    pub key: String,
    /// `SHA256:...`
    pub fingerprint: String,
    pub first_seen: String,
    pub worker: String,
}

/// The store as a worker uses it.
#[derive(Clone)]
pub struct HostKeys {
    pub kv: Option<Bucket>,
    pub zone: String,
    pub worker: String,
    pub policy: HostKeyPolicy,
    pub known_hosts_file: Option<PathBuf>,
}

/// The verdict on a presented key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Recorded (or in the known_hosts file) and equal.
    Known,
    /// Never seen; trusted on first use and to be recorded.
    New,
    Changed {
        known: String,
    },
    UnknownStrict,
}

pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

fn openssh_line(key: &PublicKey) -> String {
    key.to_openssh().unwrap_or_default()
}

impl HostKeys {
    fn entry_key(&self, host: &str, port: u16) -> Result<String, SshError> {
        outpost_proto::layout::hostkey_key(&self.zone, host, port)
            .map_err(|e| SshError::Store(format!("no key for {host}:{port}: {e}")))
    }

    /// The recorded key of `host:port`, if any.
    pub async fn lookup(&self, host: &str, port: u16) -> Result<Option<KnownKey>, SshError> {
        let Some(kv) = &self.kv else { return Ok(None) };
        match kv.get(&self.entry_key(host, port)?).await {
            Ok(Some(v)) => serde_json::from_slice(&v).map(Some).map_err(|e| {
                SshError::Store(format!("entry for {host}:{port} is unreadable: {e}"))
            }),
            Ok(None) => Ok(None),
            Err(e) => Err(SshError::Store(format!("cannot read: {e}"))),
        }
    }

    /// Judges `presented` against what is recorded for `host:port`.
    pub fn judge(
        &self,
        host: &str,
        port: u16,
        recorded: Option<&KnownKey>,
        presented: &PublicKey,
    ) -> Verdict {
        let line = openssh_line(presented);
        if let Some(k) = recorded {
            return if same_key(&k.key, &line) {
                Verdict::Known
            } else {
                Verdict::Changed {
                    known: k.fingerprint.clone(),
                }
            };
        }
        if let Some(path) = &self.known_hosts_file {
            let listed = russh::keys::known_hosts::known_host_keys_path(host, port, path)
                .unwrap_or_default();
            if listed
                .iter()
                .any(|(_, k)| k.key_data() == presented.key_data())
            {
                return Verdict::Known;
            }
            if let Some((_, k)) = listed.first() {
                return Verdict::Changed {
                    known: fingerprint(k),
                };
            }
        }
        match self.policy {
            HostKeyPolicy::Tofu => Verdict::New,
            HostKeyPolicy::Strict => Verdict::UnknownStrict,
        }
    }

    /// Records a key trusted on first use. When another worker recorded a
    /// key for the same device meanwhile, the two must agree.
    pub async fn record(
        &self,
        host: &str,
        port: u16,
        presented: &PublicKey,
        addr: &str,
    ) -> Result<(), SshError> {
        let Some(kv) = &self.kv else { return Ok(()) };
        let entry = KnownKey {
            host: host.to_string(),
            port,
            key: openssh_line(presented),
            fingerprint: fingerprint(presented),
            first_seen: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            worker: self.worker.clone(),
        };
        let body = serde_json::to_vec(&entry).unwrap_or_default();
        match kv.create(&self.entry_key(host, port)?, body.into()).await {
            Ok(_) => {
                tracing::info!(%addr, fingerprint = %entry.fingerprint, "host key trusted on first use");
                Ok(())
            }
            Err(KvError::AlreadyExists { .. }) => match self.lookup(host, port).await? {
                Some(k) if same_key(&k.key, &entry.key) => Ok(()),
                Some(k) => Err(SshError::HostKeyChanged {
                    addr: addr.to_string(),
                    known: k.fingerprint,
                    presented: entry.fingerprint,
                }),
                None => Err(SshError::Store("entry vanished while recording".into())),
            },
            Err(e) => Err(SshError::Store(format!("cannot record host key: {e}"))),
        }
    }
}

/// Compares two OpenSSH key lines by algorithm and key data, not comment.
fn same_key(a: &str, b: &str) -> bool {
    let head = |s: &str| s.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    head(a) == head(b)
}
