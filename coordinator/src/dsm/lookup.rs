//! Reading what a claimed job refers to: its servers (and their vCenter
//! links), the servers of a cluster, and its credential sets (names,
//! ranges and priorities; never the secrets).

use super::claim::Claimed;
use super::db::DbError;
use super::map::{CredRow, Lookup, ServerRow};
use super::row::{At, RowError};
use tokio_postgres::{Client, Row};
use uuid::Uuid;

const SERVER_COLUMNS: &str = "SELECT s.id, s.ip_address, s.hostname, h.name, h.cluster, v.host, v.port \
     FROM public.servers s \
     LEFT JOIN public.vcenter_hosts h ON h.id = s.vcenter_host_id \
     LEFT JOIN public.vcenters v ON v.id = h.source_vcenter_id";

fn server(r: &Row) -> Result<ServerRow, RowError> {
    let s = At::new(r, "servers");
    let s = s.with_id(s.get(0, "id")?);
    // The joined rows are named by their table (the server's id is not theirs).
    let h = At::new(r, "vcenter_hosts");
    let v = At::new(r, "vcenters");
    let host: Option<String> = h.opt(3, "name")?;
    let cluster: Option<String> = h.opt(4, "cluster")?;
    let vc_host: Option<String> = v.opt(5, "host")?;
    let vc_port = match v.opt::<i32>(6, "port")? {
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
        ip: s.get(1, "ip_address")?,
        name: s.opt(2, "hostname")?,
        vcenter: match (host, vc_host) {
            (Some(h), Some(v)) => Some((h, cluster, v, vc_port)),
            _ => None,
        },
    })
}

/// Everything `map` may need for `c`.
pub async fn lookup(db: &Client, c: &Claimed) -> Result<Lookup, DbError> {
    let mut l = Lookup::default();
    let ids: Vec<Uuid> = c.target_scope["server_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().and_then(|s| Uuid::parse_str(s).ok()))
        .collect();
    if !ids.is_empty() {
        for r in db
            .query(&format!("{SERVER_COLUMNS} WHERE s.id = ANY($1)"), &[&ids])
            .await?
        {
            let s = server(&r)?;
            l.servers.insert(s.id, s);
        }
    }
    if let Some(cluster) = c.target_scope["cluster_name"].as_str() {
        let rows = db
            .query(
                &format!("{SERVER_COLUMNS} WHERE h.cluster = $1 ORDER BY h.name"),
                &[&cluster],
            )
            .await?;
        let mut members = Vec::new();
        for r in rows {
            let s = server(&r)?;
            members.push(s.id);
            l.servers.insert(s.id, s);
        }
        l.by_cluster.insert(cluster.to_string(), members);
    }
    // The job's sets, or the default ones when it names none.
    let rows = db
        .query(
            "SELECT c.id, c.name, coalesce(c.priority, 100), c.credential_type::text,
                    coalesce(array_agg(r.ip_range ORDER BY r.priority) FILTER (WHERE r.ip_range IS NOT NULL), '{}')
               FROM public.credential_sets c
               LEFT JOIN public.credential_ip_ranges r ON r.credential_set_id = c.id
              WHERE (cardinality($1::uuid[]) > 0 AND c.id = ANY($1))
                 OR (cardinality($1::uuid[]) = 0 AND c.is_default)
              GROUP BY c.id",
            &[&c.credential_set_ids],
        )
        .await?;
    for r in rows {
        let c = At::new(&r, "credential_sets");
        let c = c.with_id(c.get(0, "id")?);
        let row = CredRow {
            id: c.get(0, "id")?,
            name: c.get(1, "name")?,
            priority: c.get(2, "priority")?,
            kind: c.get(3, "credential_type")?,
            ranges: At::new(&r, "credential_ip_ranges").get(4, "ip_range")?,
        };
        l.creds.insert(row.id, row);
    }
    Ok(l)
}

/// The sets of `c` when it names none: all defaults (for `map`).
pub fn with_defaults(c: &Claimed, l: &Lookup) -> Claimed {
    let mut c = c.clone();
    if c.credential_set_ids.is_empty() {
        c.credential_set_ids = l.creds.keys().copied().collect();
    }
    c
}
