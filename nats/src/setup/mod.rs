//! The server side of reaching NATS securely: one bundle directory holding
//! everything nats-server and the clients need.
//!
//! | file | what | mode |
//! |---|---|---|
//! | `ca.pem`, `ca-key.pem` | the CA every client trusts, made once (`ca.rs`) | 0644, 0600 |
//! | `server.pem`, `server-key.pem` | the server certificate, re-issued when its names change | 0644, 0600 |
//! | `coordinator.creds`, `zone-<z>.creds` | one nkey user each (`identity.rs`) | 0600 |
//! | `nats-server.conf` | TLS required, one user per identity with its allow-lists (`conf.rs`) | 0644 |
//! | `bundle.json` | public record of the above, for idempotent re-runs (`bundle.rs`) | 0644 |
//!
//! [`setup`] converges the directory on a [`SetupSpec`]: what exists is
//! kept, what is missing is made, zones no longer in the spec are kept
//! unless pruned. [`reissue_zone`] and [`revoke_zone`] change one zone and
//! leave every other file as it is. Files are written only when their
//! contents change (`files.rs`). The [`Report`] says what changed and what
//! the running server needs (start, reload, restart).

mod args;
mod bundle;
mod ca;
mod conf;
mod error;
mod files;
mod identity;
mod report;
mod site;

pub use args::{SetupAction, SetupArgs};
pub use bundle::BundlePaths;
pub use error::SetupError;
pub use report::{
    FileAction, FileChange, Report, ServerStep, ZoneAction, ZoneChange, render_report,
};
pub use site::{LEAF_UNIT, SiteReport, SiteSpec, init_site};

use bundle::{Bundle, CaRecord, IdentityRecord, ServerCertRecord, ServerSettings};
use chrono::{DateTime, Utc};
use files::Visibility;
use identity::Owner;
use outpost_kinds::Kind;
use outpost_proto::layout::{permissions, validate_zone};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The default listen address of the server.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:4222";
/// The default names of the server certificate.
pub const DEFAULT_SERVER_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// What the bundle should provide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupSpec {
    /// The zones that get an identity.
    pub zones: Vec<String>,
    /// DNS names and IP addresses of the server certificate (clients check
    /// the host they connect to against them).
    pub server_names: Vec<String>,
    /// `host:port` the server listens on.
    pub listen: String,
    /// JetStream's store directory (made absolute against the current
    /// directory).
    pub store_dir: PathBuf,
    /// `host:port` of the HTTP monitoring endpoint, if any.
    pub monitor: Option<String>,
    /// Remove the identities of zones no longer in `zones`.
    pub prune: bool,
    /// The server's JetStream domain (a hub with sites needs one).
    pub domain: Option<String>,
    /// `host:port` where sites' leaf nodes connect (TLS).
    pub leaf_listen: Option<String>,
}

impl SetupSpec {
    /// A spec with the default names and listen address, no monitoring.
    pub fn new(zones: Vec<String>, store_dir: impl Into<PathBuf>) -> SetupSpec {
        SetupSpec {
            zones,
            server_names: DEFAULT_SERVER_NAMES.iter().map(|s| s.to_string()).collect(),
            listen: DEFAULT_LISTEN.to_string(),
            store_dir: store_dir.into(),
            monitor: None,
            prune: false,
            domain: None,
            leaf_listen: None,
        }
    }
}

fn check_zones(zones: &[String]) -> Result<BTreeSet<String>, SetupError> {
    zones
        .iter()
        .map(|zone| {
            validate_zone(zone)
                .map(|()| zone.clone())
                .map_err(|source| SetupError::InvalidZone {
                    zone: zone.clone(),
                    source,
                })
        })
        .collect()
}

fn check_server_names(names: &[String]) -> Result<Vec<String>, SetupError> {
    let mut out: Vec<String> = Vec::new();
    for name in names {
        let name = name.trim();
        ca::check_server_name(name)?;
        if !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
    }
    if out.is_empty() {
        return Err(SetupError::NoServerNames);
    }
    Ok(out)
}

/// `host:port`, the host an IP address (IPv6 in brackets) or a name.
fn check_address(what: &'static str, value: &str) -> Result<(), SetupError> {
    let bad = || SetupError::InvalidAddress {
        what,
        value: value.to_string(),
    };
    let (host, port) = value.rsplit_once(':').ok_or_else(bad)?;
    if port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(bad());
    }
    let host_ok = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        inner.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    };
    if host_ok { Ok(()) } else { Err(bad()) }
}

fn is_loopback_address(value: &str) -> bool {
    value
        .rsplit_once(':')
        .is_some_and(|(host, _)| crate::connect::is_loopback(host))
}

fn to_chrono(t: time::OffsetDateTime) -> DateTime<Utc> {
    DateTime::from_timestamp(t.unix_timestamp(), 0).unwrap_or_default()
}

/// The bundle directory, absolute (the conf names its files by absolute
/// path). `must_exist`: a missing directory means no bundle.
fn resolve_dir(out_dir: &Path, must_exist: bool) -> Result<BundlePaths, SetupError> {
    if !must_exist {
        files::ensure_dir(out_dir)?;
    }
    match out_dir.canonicalize() {
        Ok(dir) => Ok(BundlePaths::new(dir)),
        Err(e) if must_exist && e.kind() == std::io::ErrorKind::NotFound => {
            Err(SetupError::NoBundle {
                dir: out_dir.to_path_buf(),
            })
        }
        Err(e) => Err(SetupError::io("resolve", out_dir)(e)),
    }
}

/// Without bundle.json, refuses to overwrite files it would have written.
fn refuse_unmanaged(paths: &BundlePaths) -> Result<(), SetupError> {
    let fixed = [
        paths.ca(),
        paths.ca_key(),
        paths.server_cert(),
        paths.server_key(),
        paths.coordinator_creds(),
        paths.conf(),
    ];
    for path in fixed {
        if files::exists(&path)? {
            return Err(SetupError::Unmanaged { path });
        }
    }
    let entries = std::fs::read_dir(paths.dir()).map_err(SetupError::io("list", paths.dir()))?;
    for entry in entries {
        let entry = entry.map_err(SetupError::io("list", paths.dir()))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("zone-") && name.ends_with(".creds") {
            return Err(SetupError::Unmanaged { path: entry.path() });
        }
    }
    Ok(())
}

/// Reads a file of the bundle that must be there.
fn read_required(path: &Path, hint: &'static str) -> Result<String, SetupError> {
    std::fs::read_to_string(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            SetupError::Missing {
                path: path.to_path_buf(),
                hint,
            }
        } else {
            SetupError::io("read", path)(e)
        }
    })
}

const CA_HINT: &str = "every client trusts this CA: restore it from a backup (a new CA needs a \
                       new bundle directory, and every client the new ca.pem)";

/// The conf user of `zone`'s workers: its own account and imports.
fn zone_conf_user<'a>(
    zone: &str,
    public_key: &'a str,
    kinds: &[&str],
) -> Result<conf::User<'a>, SetupError> {
    let invalid = |source| SetupError::InvalidZone {
        zone: zone.to_string(),
        source,
    };
    Ok(conf::User {
        label: format!("zone {zone}"),
        public_key,
        permissions: permissions::zone_user(zone, kinds).map_err(invalid)?,
        account: Some((
            permissions::zone_account(zone).map_err(invalid)?,
            permissions::zone_imports(zone, kinds).map_err(invalid)?,
        )),
    })
}

/// Renders the conf from the bundle and writes it if it changed.
fn write_conf(paths: &BundlePaths, bundle: &Bundle) -> Result<files::FileAction, SetupError> {
    let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
    let mut users = vec![conf::User {
        label: "coordinator".to_string(),
        public_key: &bundle.coordinator.public_key,
        permissions: permissions::coordinator(),
        account: None,
    }];
    for (zone, record) in &bundle.zones {
        users.push(zone_conf_user(zone, &record.public_key, &kinds)?);
    }
    let cert_file = paths.server_cert();
    let key_file = paths.server_key();
    let leaf = bundle
        .server
        .leaf_listen
        .as_deref()
        .map(|listen| conf::Leaf::Accept {
            listen,
            users: bundle
                .sites
                .values()
                .map(|s| conf::LeafUser {
                    user: &s.user,
                    password_hash: &s.password_hash,
                })
                .collect(),
        });
    let text = conf::render(&conf::ConfInput {
        listen: &bundle.server.listen,
        store_dir: &bundle.server.store_dir,
        monitor: bundle.server.monitor.as_deref(),
        cert_file: &cert_file,
        key_file: &key_file,
        users,
        domain: bundle.server.domain.as_deref(),
        leaf,
    })?;
    files::put(&paths.conf(), text.as_bytes(), Visibility::Public)
}

/// Makes `out_dir` hold the bundle `spec` describes. See the module docs.
pub fn setup(spec: &SetupSpec, out_dir: &Path) -> Result<Report, SetupError> {
    let zones = check_zones(&spec.zones)?;
    let names = check_server_names(&spec.server_names)?;
    check_address("listen", &spec.listen)?;
    if let Some(leaf) = &spec.leaf_listen {
        check_address("leaf node", leaf)?;
    }
    if let Some(d) = &spec.domain {
        site::check_name("JetStream domain", d)?;
    }
    if let Some(monitor) = &spec.monitor {
        check_address("monitoring", monitor)?;
    }
    let store_dir =
        std::path::absolute(&spec.store_dir).map_err(SetupError::io("resolve", &spec.store_dir))?;
    let paths = resolve_dir(out_dir, false)?;
    // The conf names both: refuse before writing anything.
    for path in [paths.dir(), store_dir.as_path()] {
        if path.to_str().is_none() {
            return Err(SetupError::NonUtf8Path {
                path: path.to_path_buf(),
            });
        }
    }
    let existing = bundle::load(&paths)?;
    let fresh = existing.is_none();
    if fresh {
        refuse_unmanaged(&paths)?;
    }
    let mut report = Report::new(&paths);
    let inputs = Inputs {
        spec,
        zones,
        names,
        store_dir,
    };
    match converge(&inputs, &paths, existing, &mut report) {
        Ok(()) => Ok(report),
        Err(e) => {
            // A first run that failed half-way leaves nothing behind, so the
            // next run does not find files without a bundle.json.
            if fresh {
                for f in report
                    .files
                    .iter()
                    .filter(|f| f.action == FileAction::Created)
                {
                    let _ = std::fs::remove_file(&f.path);
                }
            }
            Err(e)
        }
    }
}

/// A checked spec.
struct Inputs<'a> {
    spec: &'a SetupSpec,
    zones: BTreeSet<String>,
    names: Vec<String>,
    store_dir: PathBuf,
}

fn converge(
    inputs: &Inputs<'_>,
    paths: &BundlePaths,
    existing: Option<Bundle>,
    report: &mut Report,
) -> Result<(), SetupError> {
    let Inputs {
        spec,
        zones,
        names,
        store_dir,
    } = inputs;
    let now_t = time::OffsetDateTime::now_utc();
    let now = to_chrono(now_t);

    // The CA: made once, then only read.
    let (ca, ca_key_pem) = match &existing {
        Some(b) => {
            read_required(&paths.ca(), CA_HINT)?;
            let key = read_required(&paths.ca_key(), CA_HINT)?;
            if !ca::check_key(&key) {
                return Err(SetupError::Crypto {
                    action: "load the CA key",
                    reason: format!("{} holds no usable private key", paths.ca_key().display()),
                });
            }
            report.file(paths.ca(), files::FileAction::Kept);
            report.file(paths.ca_key(), files::FileAction::Kept);
            (b.ca.clone(), key)
        }
        None => {
            let issued = ca::new_ca(ca::CA_COMMON_NAME, now_t)?;
            let a = files::put(&paths.ca(), issued.cert_pem.as_bytes(), Visibility::Public)?;
            report.file(paths.ca(), a);
            let a = files::put(
                &paths.ca_key(),
                issued.key_pem.as_bytes(),
                Visibility::Private,
            )?;
            report.file(paths.ca_key(), a);
            let record = CaRecord {
                common_name: ca::CA_COMMON_NAME.to_string(),
                created: now,
                not_after: to_chrono(issued.not_after),
            };
            (record, issued.key_pem)
        }
    };

    // The coordinator's identity.
    let coordinator = match &existing {
        Some(b) => {
            let path = paths.coordinator_creds();
            identity::verify(&path, &Owner::Coordinator, &b.coordinator.public_key)?;
            report.file(path, files::FileAction::Kept);
            b.coordinator.clone()
        }
        None => {
            let (key, action) = identity::create(&paths.coordinator_creds(), &Owner::Coordinator)?;
            report.file(paths.coordinator_creds(), action);
            IdentityRecord::new(key, now)
        }
    };

    // The zones' identities.
    let old_zones = existing
        .as_ref()
        .map(|b| b.zones.clone())
        .unwrap_or_default();
    let mut revoked = existing
        .as_ref()
        .map(|b| b.revoked.clone())
        .unwrap_or_default();
    let mut zone_records = BTreeMap::new();
    let all: BTreeSet<&String> = zones.iter().chain(old_zones.keys()).collect();
    for zone in all {
        let path = paths.zone_creds(zone);
        let owner = Owner::Zone(zone);
        match (zones.contains(zone), old_zones.get(zone)) {
            (true, Some(record)) => {
                identity::verify(&path, &owner, &record.public_key)?;
                report.file(path, files::FileAction::Kept);
                report.zone(zone, ZoneAction::Kept);
                zone_records.insert(zone.clone(), record.clone());
            }
            (true, None) => {
                let (key, action) = identity::create(&path, &owner)?;
                report.file(path, action);
                report.zone(zone, ZoneAction::Added);
                if let Some(when) = revoked.remove(zone) {
                    report.notes.push(format!(
                        "zone {zone} was revoked on {when}; it is in the configuration again, \
                         so it has a new identity"
                    ));
                }
                zone_records.insert(zone.clone(), IdentityRecord::new(key, now));
            }
            (false, Some(record)) if !spec.prune => {
                identity::verify(&path, &owner, &record.public_key)?;
                report.file(path, files::FileAction::Kept);
                report.zone(zone, ZoneAction::NotInSpec);
                zone_records.insert(zone.clone(), record.clone());
            }
            (false, Some(_)) => {
                report.file(path.clone(), files::remove(&path)?);
                report.zone(zone, ZoneAction::Pruned);
            }
            (false, None) => {}
        }
    }

    // The server certificate.
    let renew_at = |b: &Bundle| {
        b.server_cert.not_after - chrono::Duration::days(ca::SERVER_RENEW_BEFORE.whole_days())
    };
    let reason = match &existing {
        None => Some("new bundle".to_string()),
        Some(b) if b.server_cert.sans != *names => Some(format!(
            "server names changed from [{}] to [{}]",
            b.server_cert.sans.join(", "),
            names.join(", ")
        )),
        Some(_)
            if !files::exists(&paths.server_cert())? || !files::exists(&paths.server_key())? =>
        {
            Some("server.pem or server-key.pem was missing".to_string())
        }
        Some(b) if renew_at(b) <= now => Some(format!(
            "the previous one ends on {}",
            b.server_cert.not_after
        )),
        Some(_) => None,
    };
    let server_cert = match (&reason, &existing) {
        (None, Some(b)) => {
            report.file(paths.server_cert(), files::FileAction::Kept);
            report.file(paths.server_key(), files::FileAction::Kept);
            b.server_cert.clone()
        }
        _ => {
            let issued = ca::issue_server(&ca_key_pem, &ca.common_name, names, now_t)?;
            // The key first: a server reloading between the two writes then
            // fails on a mismatched pair rather than serving an old key.
            let a = files::put(
                &paths.server_key(),
                issued.key_pem.as_bytes(),
                Visibility::Private,
            )?;
            report.file(paths.server_key(), a);
            let a = files::put(
                &paths.server_cert(),
                issued.cert_pem.as_bytes(),
                Visibility::Public,
            )?;
            report.file(paths.server_cert(), a);
            report.server_cert_issued = reason.clone();
            ServerCertRecord {
                sans: names.clone(),
                issued: now,
                not_after: to_chrono(issued.not_after),
            }
        }
    };

    let settings = ServerSettings {
        listen: spec.listen.clone(),
        store_dir: store_dir.clone(),
        monitor: spec.monitor.clone(),
        domain: spec.domain.clone(),
        leaf_listen: spec.leaf_listen.clone(),
    };
    let restart = existing.as_ref().is_some_and(|b| b.server != settings);
    let bundle = Bundle {
        format: Bundle::format(),
        ca,
        server_cert,
        server: settings,
        coordinator,
        zones: zone_records,
        revoked,
        sites: existing
            .as_ref()
            .map(|b| b.sites.clone())
            .unwrap_or_default(),
    };
    let conf_action = write_conf(paths, &bundle)?;
    report.file(paths.conf(), conf_action);
    let state_action = bundle::save(paths, &bundle)?;
    report.file(paths.state(), state_action);

    report.server_step = if existing.is_none() {
        ServerStep::Start
    } else if restart {
        ServerStep::Restart
    } else if conf_action != files::FileAction::Kept || report.server_cert_issued.is_some() {
        ServerStep::Reload
    } else {
        ServerStep::Nothing
    };
    if let Some(monitor) = &spec.monitor
        && !is_loopback_address(monitor)
    {
        report.notes.push(format!(
            "the monitoring endpoint {monitor} is plain HTTP without authentication and lists \
             connections and subscriptions: bind it to 127.0.0.1 unless a firewall guards it"
        ));
    }
    if report.server_cert_issued.is_some() {
        report.notes.push(format!(
            "nats-server must be able to read {} (mode 0600): run it as the user that owns \
             the bundle, or give the file to its user",
            paths.server_key().display()
        ));
    }
    Ok(())
}

/// Gives `zone` a new identity: a new `zone-<zone>.creds` and its user in
/// the conf. Every other file but the conf and bundle.json is untouched.
pub fn reissue_zone(out_dir: &Path, zone: &str) -> Result<Report, SetupError> {
    validate_zone(zone).map_err(|source| SetupError::InvalidZone {
        zone: zone.to_string(),
        source,
    })?;
    let paths = resolve_dir(out_dir, true)?;
    let mut bundle = bundle::load_existing(&paths)?;
    let now = to_chrono(time::OffsetDateTime::now_utc());
    let record = bundle
        .zones
        .get_mut(zone)
        .ok_or_else(|| SetupError::UnknownZone {
            zone: zone.to_string(),
            dir: paths.dir().to_path_buf(),
        })?;
    let mut report = Report::new(&paths);
    let path = paths.zone_creds(zone);
    let (key, action) = identity::create(&path, &Owner::Zone(zone))?;
    record.public_key = key;
    record.reissued = Some(now);
    report.file(path, action);
    report.zone(zone, ZoneAction::Reissued);
    finish_zone_change(&paths, &bundle, &mut report)?;
    report.notes.push(format!(
        "until the server reloads, the previous zone-{zone}.creds still works; on reload the \
         server closes the connections made with it"
    ));
    Ok(report)
}

/// Takes `zone`'s identity away: deletes `zone-<zone>.creds` and removes
/// its user from the conf.
pub fn revoke_zone(out_dir: &Path, zone: &str) -> Result<Report, SetupError> {
    validate_zone(zone).map_err(|source| SetupError::InvalidZone {
        zone: zone.to_string(),
        source,
    })?;
    let paths = resolve_dir(out_dir, true)?;
    let mut bundle = bundle::load_existing(&paths)?;
    let now = to_chrono(time::OffsetDateTime::now_utc());
    if bundle.zones.remove(zone).is_none() {
        return Err(SetupError::UnknownZone {
            zone: zone.to_string(),
            dir: paths.dir().to_path_buf(),
        });
    }
    bundle.revoked.insert(zone.to_string(), now);
    let mut report = Report::new(&paths);
    let path = paths.zone_creds(zone);
    report.file(path.clone(), files::remove(&path)?);
    report.zone(zone, ZoneAction::Revoked);
    finish_zone_change(&paths, &bundle, &mut report)?;
    report.notes.push(format!(
        "remove zone {zone} from the coordinator's configuration too: a later setup run would \
         otherwise give it a new identity"
    ));
    Ok(report)
}

fn finish_zone_change(
    paths: &BundlePaths,
    bundle: &Bundle,
    report: &mut Report,
) -> Result<(), SetupError> {
    let conf_action = write_conf(paths, bundle)?;
    report.file(paths.conf(), conf_action);
    let state_action = bundle::save(paths, bundle)?;
    report.file(paths.state(), state_action);
    report.server_step = ServerStep::Reload;
    Ok(())
}

#[cfg(test)]
mod tests;
