//! A site's bundle (`outpost site init`): what a site's leaf `nats-server`
//! and its workers need, written to `<bundle>/sites/<site>/`, and the
//! site's leaf user added to the hub's conf.
//!
//! | file | what | mode |
//! |---|---|---|
//! | `nats-server.conf` | the leaf node: TLS for its workers, the site's zones' accounts, JetStream in the site's domain, the link to the hub (with the site's password) | 0600 |
//! | `server.pem`, `server-key.pem` | the leaf server's certificate, signed by the hub bundle's CA | 0644, 0600 |
//! | `ca.pem` | the CA (workers trust it for the leaf, the leaf for the hub) | 0644 |
//! | `zone-<z>.creds` | the site's zones' identities, copied from the hub bundle | 0600 |
//! | `leaf.pass` | the site's password at the hub (kept for re-runs) | 0600 |
//! | `worker-<z>.env` | `outpost-worker@<z>`'s environment | 0644 |
//! | `outpost-leaf.service` | the leaf server's systemd unit | 0644 |
//!
//! At the hub the site is one leaf user (a bcrypt hash in the hub's conf)
//! bound to the coordinator's account. nats-server reads leaf users at
//! start: the hub's servers need a restart (one at a time on a cluster).

use super::bundle::{self, BundlePaths, ServerCertRecord, SiteRecord};
use super::files::{self, FileAction, Visibility};
use super::{SetupError, ca, conf, identity, to_chrono};
use outpost_kinds::Kind;
use std::path::{Path, PathBuf};

/// The systemd unit of a site's leaf server.
pub const LEAF_UNIT: &str = include_str!("../../../deploy/systemd/outpost-leaf.service");

/// What a site's bundle should provide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteSpec {
    /// The site's name: its JetStream domain.
    pub name: String,
    /// The zones whose workers run there.
    pub zones: Vec<String>,
    /// The hub's leaf node addresses (`host:port`, `tls://host:port` or
    /// `nats-leaf://host:port`), each node of a clustered hub.
    pub hub: Vec<String>,
    /// Names of the leaf server's certificate (the address workers dial).
    pub server_names: Vec<String>,
    /// Where the leaf server listens for its workers.
    pub listen: String,
    /// The leaf server's JetStream store.
    pub store_dir: PathBuf,
}

/// What `init_site` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteReport {
    pub dir: PathBuf,
    pub files: Vec<(PathBuf, FileAction)>,
    /// The hub's conf changed: its servers need a restart.
    pub hub_restart: bool,
    /// The worker's NATS URL at the site.
    pub worker_url: String,
}

/// Checks a site or domain name (`outpost_proto::layout::validate_site`).
pub(crate) fn check_name(what: &str, name: &str) -> Result<(), SetupError> {
    outpost_proto::layout::validate_site(name).map_err(|e| SetupError::Site {
        site: name.to_string(),
        reason: format!("{what}: {e}"),
    })
}

/// `host:port` of a hub address, without a scheme.
fn hub_address(site: &str, url: &str) -> Result<String, SetupError> {
    let bad = |reason: &str| SetupError::Site {
        site: site.to_string(),
        reason: format!("hub address {url:?}: {reason}"),
    };
    let rest = ["nats-leaf://", "tls://"]
        .iter()
        .find_map(|p| url.strip_prefix(p))
        .unwrap_or(url);
    if rest.contains('@') {
        return Err(bad("give no user or password: the site's own are added"));
    }
    if rest.contains("://") || rest.contains('/') {
        return Err(bad(
            "expected host:port, tls://host:port or nats-leaf://host:port",
        ));
    }
    let port_ok = rest
        .rsplit_once(':')
        .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
    if !port_ok {
        return Err(bad("expected host:port"));
    }
    Ok(rest.to_string())
}

/// 32 random bytes as URL-safe base64 (no padding): a password that needs
/// no escaping in a URL or the conf.
fn new_password() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Writes `site`'s bundle under the hub bundle `bundle_dir` and adds the
/// site to the hub's conf. Re-running keeps the site's password and
/// certificate unless its names changed.
pub fn init_site(bundle_dir: &Path, spec: &SiteSpec) -> Result<SiteReport, SetupError> {
    let site = spec.name.as_str();
    let err = |reason: String| SetupError::Site {
        site: site.to_string(),
        reason,
    };
    check_name("a site name", site)?;
    let paths = BundlePaths::new(bundle_dir);
    let mut hub = bundle::load_existing(&paths)?;
    let Some(domain) = hub.server.domain.clone() else {
        return Err(err(
            "the hub has no JetStream domain: run `outpost nats setup --domain NAME --leaf-listen HOST:PORT` first".into(),
        ));
    };
    if hub.server.leaf_listen.is_none() {
        return Err(err(
            "the hub admits no leaf nodes: run `outpost nats setup --leaf-listen HOST:PORT` first"
                .into(),
        ));
    }
    if site == domain {
        return Err(err(format!(
            "the hub's domain is {domain:?}: a site needs its own name"
        )));
    }
    if spec.zones.is_empty() {
        return Err(err(
            "no zones: --zones names the zones whose workers run there".into(),
        ));
    }
    for zone in &spec.zones {
        if !hub.zones.contains_key(zone) {
            return Err(err(format!(
                "zone {zone:?} has no identity in the hub bundle (add it to the coordinator's [[zone]] tables and run `outpost nats setup`)"
            )));
        }
        if let Some((other, _)) = hub
            .sites
            .iter()
            .find(|(n, r)| n.as_str() != site && r.zones.contains(zone))
        {
            return Err(err(format!("zone {zone:?} is already at site {other:?}")));
        }
    }
    if spec.hub.is_empty() {
        return Err(err(
            "no hub address: --hub names the hub's leaf node address".into(),
        ));
    }
    let hub_addresses = spec
        .hub
        .iter()
        .map(|u| hub_address(site, u))
        .collect::<Result<Vec<_>, _>>()?;
    let names = super::check_server_names(&spec.server_names)?;
    super::check_address("listen", &spec.listen)?;
    let store_dir =
        std::path::absolute(&spec.store_dir).map_err(SetupError::io("resolve", &spec.store_dir))?;

    let dir = paths.site_dir(site);
    files::ensure_dir(&dir)?;
    let mut report = SiteReport {
        dir: dir.clone(),
        files: Vec::new(),
        hub_restart: false,
        worker_url: String::new(),
    };
    let now_t = time::OffsetDateTime::now_utc();
    let now = to_chrono(now_t);
    let previous = hub.sites.get(site).cloned();

    // The site's password at the hub: kept while leaf.pass still matches.
    let pass_path = dir.join("leaf.pass");
    let kept = previous.as_ref().and_then(|r| {
        let p = std::fs::read_to_string(&pass_path).ok()?;
        let p = p.trim().to_string();
        bcrypt::verify(&p, &r.password_hash)
            .ok()
            .filter(|ok| *ok)
            .map(|_| (p, r.password_hash.clone()))
    });
    let (password, password_hash) = match kept {
        Some(k) => k,
        None => {
            let p = new_password();
            let h = bcrypt::hash(&p, 10).map_err(|e| SetupError::Crypto {
                action: "hash the site's password",
                reason: e.to_string(),
            })?;
            (p, h)
        }
    };
    report.files.push((
        pass_path.clone(),
        files::put(
            &pass_path,
            format!("{password}\n").as_bytes(),
            Visibility::Private,
        )?,
    ));

    // The leaf server's certificate.
    let (cert_path, key_path) = (dir.join("server.pem"), dir.join("server-key.pem"));
    let reuse = previous.as_ref().is_some_and(|r| {
        r.server_cert.sans == names
            && cert_path.exists()
            && key_path.exists()
            && r.server_cert.not_after
                - chrono::Duration::days(ca::SERVER_RENEW_BEFORE.whole_days())
                > now
    });
    let server_cert = match (&previous, reuse) {
        (Some(r), true) => r.server_cert.clone(),
        _ => {
            let ca_key = std::fs::read_to_string(paths.ca_key())
                .map_err(SetupError::io("read", &paths.ca_key()))?;
            let issued = ca::issue_server(&ca_key, &hub.ca.common_name, &names, now_t)?;
            report.files.push((
                key_path.clone(),
                files::put(&key_path, issued.key_pem.as_bytes(), Visibility::Private)?,
            ));
            report.files.push((
                cert_path.clone(),
                files::put(&cert_path, issued.cert_pem.as_bytes(), Visibility::Public)?,
            ));
            ServerCertRecord {
                sans: names.clone(),
                issued: now,
                not_after: to_chrono(issued.not_after),
            }
        }
    };

    // The CA and the zones' identities, as the hub bundle has them.
    let ca_copy = dir.join("ca.pem");
    let ca_pem = std::fs::read(paths.ca()).map_err(SetupError::io("read", &paths.ca()))?;
    report.files.push((
        ca_copy.clone(),
        files::put(&ca_copy, &ca_pem, Visibility::Public)?,
    ));
    let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
    let mut users = Vec::new();
    for zone in &spec.zones {
        let record = &hub.zones[zone];
        let from = paths.zone_creds(zone);
        identity::verify(&from, &identity::Owner::Zone(zone), &record.public_key)?;
        let creds = std::fs::read(&from).map_err(SetupError::io("read", &from))?;
        let to = dir.join(format!("zone-{zone}.creds"));
        report
            .files
            .push((to.clone(), files::put(&to, &creds, Visibility::Private)?));
        users.push(super::zone_conf_user(zone, &record.public_key, &kinds)?);
    }

    // The leaf server's conf: it holds the password, so it is private.
    let user = format!("site-{site}");
    let urls = hub_addresses
        .iter()
        .map(|a| format!("nats-leaf://{user}:{password}@{a}"))
        .collect();
    let text = conf::render(&conf::ConfInput {
        listen: &spec.listen,
        store_dir: &store_dir,
        monitor: None,
        cert_file: &cert_path,
        key_file: &key_path,
        users,
        domain: Some(site),
        leaf: Some(conf::Leaf::Connect {
            urls,
            ca_file: &ca_copy,
        }),
    })?;
    let conf_path = dir.join("nats-server.conf");
    report.files.push((
        conf_path.clone(),
        files::put(&conf_path, text.as_bytes(), Visibility::Private)?,
    ));

    // The workers' environment and the leaf server's unit.
    let port = spec
        .listen
        .rsplit_once(':')
        .map(|(_, p)| p)
        .unwrap_or("4222");
    report.worker_url = format!("tls://{}:{port}", names[0]);
    for zone in &spec.zones {
        let env = dir.join(format!("worker-{zone}.env"));
        let text = format!(
            "# outpost-worker@{zone} at site {site}: its leaf server, trusted through the CA.\n\
             OUTPOST_NATS_URL={}\nOUTPOST_NATS_CA=/etc/outpost/nats/ca.pem\n",
            report.worker_url
        );
        report.files.push((
            env.clone(),
            files::put(&env, text.as_bytes(), Visibility::Public)?,
        ));
    }
    let unit = dir.join("outpost-leaf.service");
    report.files.push((
        unit.clone(),
        files::put(&unit, LEAF_UNIT.as_bytes(), Visibility::Public)?,
    ));

    // The hub admits the site.
    let record = SiteRecord {
        zones: spec.zones.clone(),
        user,
        password_hash,
        hub_urls: hub_addresses,
        listen: spec.listen.clone(),
        store_dir,
        server_cert,
        created: previous.as_ref().map(|r| r.created).unwrap_or(now),
    };
    hub.sites.insert(site.to_string(), record);
    let action = super::write_conf(&paths, &hub)?;
    report.hub_restart = action != FileAction::Kept;
    report.files.push((paths.conf(), action));
    report
        .files
        .push((paths.state(), bundle::save(&paths, &hub)?));
    Ok(report)
}
