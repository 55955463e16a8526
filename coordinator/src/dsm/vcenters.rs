//! Which of the app's vCenters a job reads: the ones a `vcenter_sync`
//! names (by id, by one of their hosts, or all with sync on) and the
//! ones that hold the clusters a safety check judges.

use super::db::DbError;
use super::owned::VcenterRef;
use super::row::{At, RowError};
use tokio_postgres::{Client, Row};
use uuid::Uuid;

fn vcenter(r: &Row) -> Result<VcenterRef, RowError> {
    let v = At::new(r, "vcenters");
    let v = v.with_id(v.get(0, "id")?);
    let port: i32 = v.get(3, "port")?;
    Ok(VcenterRef {
        id: v.get(0, "id")?,
        name: v.get(1, "name")?,
        host: v.get::<String>(2, "host")?.trim().to_string(),
        port: u16::try_from(port).map_err(|_| RowError {
            table: "vcenters",
            column: "port",
            row: None,
            problem: format!("holds {port}, not a TCP port"),
        })?,
    })
}

/// The vCenters a `vcenter_sync` names: by id, the ones of some hosts,
/// or (naming none) every vCenter with sync enabled.
pub async fn named(
    db: &Client,
    ids: &[Uuid],
    host_ids: &[Uuid],
) -> Result<Vec<VcenterRef>, DbError> {
    let rows = db
        .query(
            "SELECT v.id, v.name, v.host, v.port FROM public.vcenters v
              WHERE (cardinality($1::uuid[]) > 0 AND v.id = ANY($1))
                 OR (cardinality($2::uuid[]) > 0 AND v.id IN (
                       SELECT source_vcenter_id FROM public.vcenter_hosts WHERE id = ANY($2)))
                 OR (cardinality($1::uuid[]) = 0 AND cardinality($2::uuid[]) = 0 AND v.sync_enabled)
              ORDER BY v.created_at, v.name",
            &[&ids, &host_ids],
        )
        .await?;
    Ok(rows.iter().map(vcenter).collect::<Result<_, _>>()?)
}

/// The vCenters that hold the clusters `names` (every cluster when
/// `names` is empty and `all` is set, which then fills `names`).
pub async fn of_clusters(
    db: &Client,
    names: &mut Vec<String>,
    all: bool,
) -> Result<Vec<VcenterRef>, DbError> {
    if names.is_empty() && all {
        for r in db
            .query(
                "SELECT cluster_name FROM public.vcenter_clusters ORDER BY cluster_name",
                &[],
            )
            .await?
        {
            names.push(At::new(&r, "vcenter_clusters").get(0, "cluster_name")?);
        }
    }
    let rows = db
        .query(
            "SELECT DISTINCT v.id, v.name, v.host, v.port, v.created_at FROM public.vcenters v
               JOIN public.vcenter_clusters c ON c.source_vcenter_id = v.id
              WHERE c.cluster_name = ANY($1) ORDER BY v.created_at, v.name",
            &[&*names],
        )
        .await?;
    Ok(rows.iter().map(vcenter).collect::<Result<_, _>>()?)
}
