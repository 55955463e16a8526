//! Reading what a claimed job refers to: the servers its target names
//! (by id, by vCenter cluster, by server group, by address), with their
//! credential columns and vCenter links, and every credential set with
//! its IP ranges (names, priorities, ranges; never a secret).

use super::claim::Claimed;
use super::creds::{ServerCreds, SetRow};
use super::db::DbError;
use super::row::{At, RowError};
use super::target::{self, Target};
use tokio_postgres::{Client, Row};
use uuid::Uuid;

/// A server row as the mapping needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerRow {
    pub id: Uuid,
    pub ip: String,
    /// The operator's name for it (`hostname`), else the iDRAC's.
    pub name: Option<String>,
    pub model: Option<String>,
    pub service_tag: Option<String>,
    pub creds: ServerCreds,
    /// `requires_legacy_ssl`: an iDRAC 8 that speaks only old TLS.
    pub legacy_tls: bool,
    /// The linked vCenter host: (host name, cluster, vCenter address, port).
    pub vcenter: Option<(String, Option<String>, String, u16)>,
    pub vcenter_host_id: Option<Uuid>,
}

/// What `map` may need for a job.
#[derive(Debug, Clone)]
pub struct Lookup {
    pub target: Target,
    /// The target's servers, in the target's order.
    pub servers: Vec<ServerRow>,
    /// Server ids the target names that do not exist.
    pub missing: Vec<Uuid>,
    pub sets: Vec<SetRow>,
    /// The vCenters a `vcenter_sync` or a safety check reads.
    pub vcenters: Vec<super::owned::VcenterRef>,
    /// The clusters a safety check judges.
    pub clusters: Vec<String>,
    /// A rolling update from the firmware library: per component of its
    /// filter, the package (version, URL) or why there is none.
    pub packages: Vec<(String, super::full_update::Package)>,
}

const SERVER_COLUMNS: &str = "SELECT s.id, s.ip_address, coalesce(s.hostname, s.idrac_hostname), \
     s.model, s.service_tag, s.credential_set_id, s.discovered_by_credential_set_id, \
     (coalesce(s.idrac_username, '') <> '' AND coalesce(s.idrac_password_encrypted, '') <> ''), \
     coalesce(s.requires_legacy_ssl, false), h.name, h.cluster, v.host, v.port, h.id \
     FROM public.servers s \
     LEFT JOIN LATERAL (SELECT * FROM public.vcenter_hosts x \
                         WHERE x.id = s.vcenter_host_id OR x.server_id = s.id \
                         ORDER BY (x.id = s.vcenter_host_id) DESC LIMIT 1) h ON true \
     LEFT JOIN public.vcenters v ON v.id = h.source_vcenter_id";

fn server(r: &Row) -> Result<ServerRow, RowError> {
    let s = At::new(r, "servers");
    let s = s.with_id(s.get(0, "id")?);
    // The joined rows are named by their table (the server's id is not theirs).
    let h = At::new(r, "vcenter_hosts");
    let v = At::new(r, "vcenters");
    let host: Option<String> = h.opt(9, "name")?;
    let cluster: Option<String> = h.opt(10, "cluster")?;
    let vc_host: Option<String> = v.opt(11, "host")?;
    let vc_port = match v.opt::<i32>(12, "port")? {
        None => 443,
        Some(p) => u16::try_from(p).map_err(|_| RowError {
            table: "vcenters",
            column: "port",
            row: None,
            problem: format!("holds {p}, not a TCP port"),
        })?,
    };
    Ok(ServerRow {
        id: s.get(0, "id")?,
        ip: s.get::<String>(1, "ip_address")?.trim().to_string(),
        name: s.opt(2, "hostname")?,
        model: s.opt(3, "model")?,
        service_tag: s.opt(4, "service_tag")?,
        creds: ServerCreds {
            credential_set_id: s.opt(5, "credential_set_id")?,
            discovered_by: s.opt(6, "discovered_by_credential_set_id")?,
            own_login: s.get(7, "idrac_username")?,
        },
        legacy_tls: s.get(8, "requires_legacy_ssl")?,
        vcenter: match (host, vc_host) {
            (Some(h), Some(v)) => Some((h, cluster, v, vc_port)),
            _ => None,
        },
        vcenter_host_id: h.opt(13, "id")?,
    })
}

async fn servers(
    db: &Client,
    filter: &str,
    arg: &(dyn tokio_postgres::types::ToSql + Sync),
) -> Result<Vec<ServerRow>, DbError> {
    let rows = db
        .query(&format!("{SERVER_COLUMNS} {filter}"), &[arg])
        .await?;
    Ok(rows.iter().map(server).collect::<Result<_, _>>()?)
}

/// The ids of a JSON list (what is not an id is left out).
fn uuids(v: &serde_json::Value) -> Vec<Uuid> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().and_then(|s| Uuid::parse_str(s).ok()))
        .collect()
}

/// Every credential set with its ranges.
pub async fn sets(db: &Client) -> Result<Vec<SetRow>, DbError> {
    let rows = db
        .query(
            "SELECT c.id, c.name, coalesce(c.priority, 100), c.credential_type::text,
                    coalesce(c.is_default, false),
                    coalesce(array_agg(r.ip_range ORDER BY r.priority, r.id)
                               FILTER (WHERE r.ip_range IS NOT NULL), '{}'),
                    coalesce(array_agg(coalesce(r.priority, 100) ORDER BY r.priority, r.id)
                               FILTER (WHERE r.ip_range IS NOT NULL), '{}')
               FROM public.credential_sets c
               LEFT JOIN public.credential_ip_ranges r ON r.credential_set_id = c.id
              GROUP BY c.id
              ORDER BY coalesce(c.priority, 100), c.name",
            &[],
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let c = At::new(r, "credential_sets");
        let c = c.with_id(c.get(0, "id")?);
        let ranges: Vec<String> = At::new(r, "credential_ip_ranges").get(5, "ip_range")?;
        let prios: Vec<i32> = At::new(r, "credential_ip_ranges").get(6, "priority")?;
        out.push(SetRow {
            id: c.get(0, "id")?,
            name: c.get(1, "name")?,
            priority: c.get(2, "priority")?,
            kind: c.get(3, "credential_type")?,
            is_default: c.get(4, "is_default")?,
            ranges: ranges.into_iter().zip(prios).collect(),
        });
    }
    Ok(out)
}

/// Everything `map` may need for `c`; a target that cannot be read is
/// the job's error (`Ok(Err(..))`), a database failure the bridge's.
/// The Dell catalog a job reads: a rolling update from the Dell online
/// catalog that names no image (its `dell_catalog_url`, else Dell's).
pub fn catalog_url(c: &Claimed) -> Option<String> {
    let reads = c.job_type == "rolling_cluster_update"
        && c.details["firmware_source"] == "dell_online_catalog"
        && c.details["firmware_updates"]
            .as_array()
            .is_none_or(Vec::is_empty);
    reads.then(|| {
        c.details["dell_catalog_url"]
            .as_str()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .unwrap_or(super::catalog::DEFAULT_URL)
            .to_string()
    })
}

/// `catalog`: the job's Dell catalog, read beforehand (see [`catalog_url`]).
pub async fn lookup(
    db: &Client,
    c: &Claimed,
    catalog: Option<&super::catalogs::Fetched>,
) -> Result<Result<Lookup, String>, DbError> {
    let target = match target::parse(&c.target_scope, &c.details) {
        Ok(t) => t,
        Err(e) => return Ok(Err(e)),
    };
    let mut missing = Vec::new();
    let list = match &target {
        Target::Servers(ids) => {
            let found = servers(db, "WHERE s.id = ANY($1)", &ids).await?;
            let mut ordered = Vec::with_capacity(ids.len());
            for id in ids {
                match found.iter().find(|s| s.id == *id) {
                    Some(s) if !ordered.iter().any(|o: &ServerRow| o.id == *id) => {
                        ordered.push(s.clone())
                    }
                    Some(_) => {}
                    None => missing.push(*id),
                }
            }
            ordered
        }
        Target::Cluster(name) => {
            servers(
                db,
                "WHERE h.cluster = $1 ORDER BY lower(h.name), s.ip_address",
                name,
            )
            .await?
        }
        Target::Group(id) => {
            servers(
                db,
                "JOIN public.server_group_members m ON m.server_id = s.id \
                 WHERE m.server_group_id = $1 ORDER BY coalesce(m.priority, 100), s.ip_address",
                id,
            )
            .await?
        }
        Target::Address(ip) => servers(db, "WHERE s.ip_address = $1", ip).await?,
        Target::All
            if c.job_type != "vcenter_sync" && !c.target_scope["vcenter_host_ids"].is_null() =>
        {
            // An update-availability scan of vCenter hosts: their servers.
            let hosts = uuids(&c.target_scope["vcenter_host_ids"]);
            servers(
                db,
                "WHERE h.id = ANY($1) ORDER BY lower(h.name), s.ip_address",
                &hosts,
            )
            .await?
        }
        Target::Ranges(_) | Target::Vcenters(_) | Target::All => Vec::new(),
    };
    let id_of = |v: &serde_json::Value| v.as_str().and_then(|s| Uuid::parse_str(s).ok());
    let mut vcenters = Vec::new();
    let mut clusters = Vec::new();
    match c.job_type.as_str() {
        "vcenter_sync" => {
            let mut ids = match &target {
                Target::Vcenters(ids) => ids.clone(),
                _ => Vec::new(),
            };
            ids.extend(id_of(&c.details["vcenter_id"]).filter(|id| !ids.contains(id)));
            vcenters =
                super::vcenters::named(db, &ids, &uuids(&c.target_scope["vcenter_host_ids"]))
                    .await?;
        }
        "cluster_safety_check" => {
            clusters = super::safety::clusters(&c.target_scope, &c.details);
            let all = c.target_scope["type"] == "all_clusters";
            vcenters = super::vcenters::of_clusters(db, &mut clusters, all).await?;
            if vcenters.is_empty()
                && let Some(id) = id_of(&c.details["vcenter_id"])
            {
                vcenters = super::vcenters::named(db, &[id], &[]).await?;
            }
        }
        _ => {}
    }
    let mut packages = Vec::new();
    let source = c.details["firmware_source"].as_str().unwrap_or("");
    if c.job_type == "rolling_cluster_update"
        && matches!(source, "local_repository" | "dell_online_catalog")
        && c.details["firmware_updates"]
            .as_array()
            .is_none_or(Vec::is_empty)
    {
        let models: Vec<String> = list.iter().filter_map(|s| s.model.clone()).collect();
        let mut filter: Vec<String> = c.details["component_filter"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        let all = filter.is_empty() || filter.iter().any(|f| f.eq_ignore_ascii_case("all"));
        if source == "dell_online_catalog" {
            if all {
                // The wizard's component families.
                filter = ["BIOS", "iDRAC", "NIC", "RAID", "PSU"]
                    .map(String::from)
                    .to_vec();
            }
            let url = catalog_url(c).unwrap_or_default();
            let scheme = if url.starts_with("http://") {
                "http"
            } else {
                "https"
            };
            let cat = catalog
                .cloned()
                .unwrap_or_else(|| Err(format!("the catalog {url} was not read")));
            for f in filter {
                let p = match &cat {
                    Ok(cat) => super::catalog::select(cat, &f, &models, scheme),
                    Err(e) => Err(e.clone()),
                };
                packages.push((f, p));
            }
        } else {
            if all {
                filter = db
                    .query(
                        "SELECT DISTINCT component_type FROM public.firmware_packages
                          WHERE upload_status = 'completed' ORDER BY 1",
                        &[],
                    )
                    .await?
                    .iter()
                    .map(|r| At::new(r, "firmware_packages").get(0, "component_type"))
                    .collect::<Result<_, _>>()?;
            }
            for f in filter {
                let p = super::full_update::package(db, &f, &models).await?;
                packages.push((f, p));
            }
        }
    }
    Ok(Ok(Lookup {
        target,
        servers: list,
        missing,
        sets: sets(db).await?,
        vcenters,
        clusters,
        packages,
    }))
}
