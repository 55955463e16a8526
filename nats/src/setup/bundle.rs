//! `bundle.json`: what the setup made and when, so a re-run changes only
//! what the spec changed and the report can say so. It holds public facts
//! only (public keys, certificate names, dates), never a seed or a key.
//! The file names of the bundle live here too ([`BundlePaths`]).

use super::SetupError;
use super::files::{self, FileAction, Visibility};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The version of the bundle.json layout this code reads and writes.
const FORMAT: u32 = 1;

/// Where each file of a bundle lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundlePaths {
    dir: PathBuf,
}

impl BundlePaths {
    pub fn new(dir: impl Into<PathBuf>) -> BundlePaths {
        BundlePaths { dir: dir.into() }
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    pub fn ca_key(&self) -> PathBuf {
        self.dir.join("ca-key.pem")
    }
    pub fn server_cert(&self) -> PathBuf {
        self.dir.join("server.pem")
    }
    pub fn server_key(&self) -> PathBuf {
        self.dir.join("server-key.pem")
    }
    pub fn coordinator_creds(&self) -> PathBuf {
        self.dir.join("coordinator.creds")
    }
    /// `zone-<zone>.creds` (the zone is validated before it gets here).
    pub fn zone_creds(&self, zone: &str) -> PathBuf {
        self.dir.join(format!("zone-{zone}.creds"))
    }
    pub fn conf(&self) -> PathBuf {
        self.dir.join("nats-server.conf")
    }
    pub fn state(&self) -> PathBuf {
        self.dir.join("bundle.json")
    }
    /// The bundle of site `site` (validated before it gets here).
    pub fn site_dir(&self, site: &str) -> PathBuf {
        self.dir.join("sites").join(site)
    }
}

/// The contents of bundle.json.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Bundle {
    pub format: u32,
    pub ca: CaRecord,
    pub server_cert: ServerCertRecord,
    pub server: ServerSettings,
    pub coordinator: IdentityRecord,
    pub zones: BTreeMap<String, IdentityRecord>,
    /// Zones revoked, with when: a zone that reappears in the spec gets a
    /// new identity, and the report says it had been revoked.
    #[serde(default)]
    pub revoked: BTreeMap<String, DateTime<Utc>>,
    /// Sites joined to this hub as leaf nodes (`outpost site init`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sites: BTreeMap<String, SiteRecord>,
}

/// One site of the hub: what its bundle was made with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SiteRecord {
    pub zones: Vec<String>,
    /// The leaf connection's user at the hub.
    pub user: String,
    /// bcrypt hash of its password (the password is in the site's bundle only).
    pub password_hash: String,
    pub hub_urls: Vec<String>,
    pub listen: String,
    pub store_dir: PathBuf,
    pub server_cert: ServerCertRecord,
    pub created: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CaRecord {
    pub common_name: String,
    pub created: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServerCertRecord {
    pub sans: Vec<String>,
    pub issued: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
}

/// The server settings the conf was rendered with, so a reissue or revoke
/// renders it again without the spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServerSettings {
    pub listen: String,
    pub store_dir: PathBuf,
    #[serde(default)]
    pub monitor: Option<String>,
    /// The hub's JetStream domain (needed once sites source from it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Where the hub admits sites' leaf nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaf_listen: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IdentityRecord {
    pub public_key: String,
    pub created: DateTime<Utc>,
    #[serde(default)]
    pub reissued: Option<DateTime<Utc>>,
}

impl IdentityRecord {
    pub fn new(public_key: String, now: DateTime<Utc>) -> IdentityRecord {
        IdentityRecord {
            public_key,
            created: now,
            reissued: None,
        }
    }
}

impl Bundle {
    pub fn format() -> u32 {
        FORMAT
    }
}

/// Reads bundle.json; `None` when the directory has none.
pub(crate) fn load(paths: &BundlePaths) -> Result<Option<Bundle>, SetupError> {
    let path = paths.state();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(SetupError::io("read", &path)(e)),
    };
    let bundle: Bundle = serde_json::from_str(&text).map_err(|e| SetupError::BadBundle {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    if bundle.format != FORMAT {
        return Err(SetupError::BadBundle {
            path,
            reason: format!(
                "format {} (this version reads format {FORMAT})",
                bundle.format
            ),
        });
    }
    Ok(Some(bundle))
}

/// Reads bundle.json, which must exist.
pub(crate) fn load_existing(paths: &BundlePaths) -> Result<Bundle, SetupError> {
    load(paths)?.ok_or_else(|| SetupError::NoBundle {
        dir: paths.dir().to_path_buf(),
    })
}

/// Writes bundle.json if it changed.
pub(crate) fn save(paths: &BundlePaths, bundle: &Bundle) -> Result<FileAction, SetupError> {
    let mut text = serde_json::to_string_pretty(bundle).map_err(|e| SetupError::BadBundle {
        path: paths.state(),
        reason: e.to_string(),
    })?;
    text.push('\n');
    files::put(&paths.state(), text.as_bytes(), Visibility::Public)
}
