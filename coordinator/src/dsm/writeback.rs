//! What a finished task writes to the app's tables besides the job:
//! discovered iDRACs into `servers` (matched by address, or by service
//! tag when an iDRAC moved to a new address; the ones that refused every
//! login added as offline with invalid credentials, as the app does), a
//! power action's `power_state`, a credential test's
//! `credential_test_status`, and an inventory into
//! `server_firmware_inventory`. Every write is idempotent (a restarted
//! bridge may write a task again) and its failure is returned, so the
//! job is never reported `completed` when a write failed.

use super::db::DbError;
use super::row::At;
use serde_json::Value;
use tokio_postgres::Client;
use uuid::Uuid;

/// The connection error the app writes for an iDRAC that refused every login.
pub const AUTH_FAILED: &str = "Authentication failed - credentials required";

fn text(v: &Value, k: &str) -> Option<String> {
    v[k].as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// A task's finish time (RFC 3339), which keys what it wrote.
fn finish_time(at: &str) -> Result<chrono::DateTime<chrono::Utc>, DbError> {
    chrono::DateTime::parse_from_rfc3339(at)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| DbError::Query(format!("task finish time {at:?}: {e}")))
}

/// The app's server at `ip`, if it has one.
async fn server_at(db: &Client, ip: &str) -> Result<Option<Uuid>, DbError> {
    id_where(
        db,
        "SELECT id FROM public.servers WHERE ip_address = $1",
        ip,
    )
    .await
}

async fn id_where(db: &Client, sql: &str, arg: &str) -> Result<Option<Uuid>, DbError> {
    let row = db.query_opt(sql, &[&arg]).await?;
    Ok(match row {
        Some(r) => Some(At::new(&r, "servers").get(0, "id")?),
        None => None,
    })
}

/// Upserts one iDRAC a discovery logged into; returns the server's id.
pub async fn discovered(db: &Client, dsm_job: Uuid, f: &Value) -> Result<Uuid, DbError> {
    let ip =
        text(f, "address").ok_or_else(|| DbError::Query("a found iDRAC has no address".into()))?;
    let tag = text(f, "service_tag");
    let at_ip = server_at(db, &ip).await?;
    let by_tag = match &tag {
        Some(t) => {
            id_where(
                db,
                "SELECT id FROM public.servers WHERE service_tag = $1",
                t,
            )
            .await?
        }
        None => None,
    };
    let id = match (at_ip, by_tag) {
        (Some(a), Some(b)) if a != b => {
            return Err(DbError::Query(format!(
                "{ip} answers with service tag {}, which the app records for another server \
                 ({b}), while {ip} belongs to server {a}: remove the stale one in the app",
                tag.unwrap_or_default()
            )));
        }
        (Some(a), _) => a,
        (None, Some(b)) => {
            // The iDRAC moved: its row follows it.
            db.execute(
                "UPDATE public.servers SET ip_address = $2 WHERE id = $1",
                &[&b, &ip],
            )
            .await?;
            b
        }
        (None, None) => {
            // Without the service tag first: the app's link trigger fails
            // on an INSERT that carries one a vCenter host knows.
            let r = db
                .query_one(
                    "INSERT INTO public.servers (ip_address, discovery_job_id, connection_status)
                     VALUES ($1, $2, 'online') RETURNING id",
                    &[&ip, &dsm_job],
                )
                .await?;
            At::new(&r, "servers").get(0, "id")?
        }
    };
    let set: Option<Uuid> = match text(f, "credential") {
        Some(name) => db
            .query_opt(
                "SELECT id FROM public.credential_sets WHERE name = $1",
                &[&name],
            )
            .await?
            .map(|r| At::new(&r, "credential_sets").get(0, "id"))
            .transpose()?,
        None => None,
    };
    let int = |k: &str| f[k].as_i64().and_then(|n| i32::try_from(n).ok());
    db.execute(
        "UPDATE public.servers SET
           service_tag = coalesce($2, service_tag),
           model = coalesce($3, model), product_name = coalesce($3, product_name),
           manufacturer = coalesce($4, manufacturer),
           idrac_hostname = coalesce($5, idrac_hostname),
           bios_version = coalesce($6, bios_version),
           idrac_firmware = coalesce($7, idrac_firmware),
           power_state = coalesce($8, power_state),
           overall_health = coalesce($9, overall_health),
           manager_mac_address = coalesce($10, manager_mac_address),
           redfish_version = coalesce($11, redfish_version),
           cpu_count = coalesce($12, cpu_count),
           memory_gb = coalesce($13, memory_gb),
           credential_set_id = coalesce($14, credential_set_id),
           discovered_by_credential_set_id = coalesce($14, discovered_by_credential_set_id),
           credential_test_status = 'valid', credential_last_tested = now(),
           connection_status = 'online', connection_error = NULL,
           last_seen = now(), last_connection_test = now(), discovery_job_id = $15
         WHERE id = $1",
        &[
            &id,
            &tag,
            &text(f, "model"),
            &text(f, "manufacturer"),
            &text(f, "host_name"),
            &text(f, "bios_version"),
            &text(f, "idrac_version"),
            &text(f, "power_state"),
            &text(f, "health"),
            &text(f, "idrac_mac"),
            &text(f, "redfish_version"),
            &int("cpu_count"),
            &int("memory_gb"),
            &set,
            &dsm_job,
        ],
    )
    .await?;
    Ok(id)
}

/// Records an iDRAC that answered but refused every login: added (or
/// marked) offline with invalid credentials, as the app's executor does.
pub async fn auth_failed(db: &Client, dsm_job: Uuid, ip: &str) -> Result<(), DbError> {
    let n = db
        .execute(
            "UPDATE public.servers SET connection_status = 'offline', connection_error = $2,
                    credential_test_status = 'invalid', credential_last_tested = now(),
                    last_connection_test = now(), discovery_job_id = $3
              WHERE ip_address = $1",
            &[&ip, &AUTH_FAILED, &dsm_job],
        )
        .await?;
    if n == 0 {
        db.execute(
            "INSERT INTO public.servers (ip_address, connection_status, connection_error,
                    credential_test_status, credential_last_tested, last_connection_test,
                    discovery_job_id, notes)
             VALUES ($1, 'offline', $2, 'invalid', now(), now(), $3,
                     'Discovered by Outpost: iDRAC detected but no valid credentials')
             ON CONFLICT (ip_address) DO NOTHING",
            &[&ip, &AUTH_FAILED, &dsm_job],
        )
        .await?;
    }
    Ok(())
}

/// The power state a power action left the server at `ip` in.
pub async fn power_state(db: &Client, ip: &str, state: &str) -> Result<(), DbError> {
    db.execute(
        "UPDATE public.servers SET power_state = $2, last_seen = now() WHERE ip_address = $1",
        &[&ip, &state],
    )
    .await?;
    Ok(())
}

/// A credential test's verdict on the server at `ip`, if the app knows it.
pub async fn credential_tested(db: &Client, ip: &str, valid: bool) -> Result<(), DbError> {
    db.execute(
        "UPDATE public.servers SET
                credential_test_status = CASE WHEN $2 THEN 'valid' ELSE 'invalid' END,
                credential_last_tested = now(), last_connection_test = now(),
                connection_status = CASE WHEN $2 THEN 'online' ELSE connection_status END,
                connection_error = CASE WHEN $2 THEN NULL ELSE connection_error END
          WHERE ip_address = $1",
        &[&ip, &valid],
    )
    .await?;
    Ok(())
}

/// Stores an inventory as one collection in `server_firmware_inventory`
/// (collected when its task finished, so writing it twice adds nothing).
pub async fn firmware_inventory(
    db: &Client,
    dsm_job: Uuid,
    ip: &str,
    collected_at: &str,
    output: &Value,
) -> Result<u64, DbError> {
    let Some(server) = server_at(db, ip).await? else {
        return Ok(0);
    };
    let at = finish_time(collected_at)?;
    let mut n = 0;
    for c in output["components"].as_array().into_iter().flatten() {
        let (Some(id), Some(version)) = (text(c, "id"), text(c, "version")) else {
            continue;
        };
        let name = text(c, "name").unwrap_or_else(|| id.clone());
        let status = if id.starts_with("Installed") {
            "Installed"
        } else if id.starts_with("Previous") {
            "Previous"
        } else {
            "Available"
        };
        n += db
            .execute(
                "INSERT INTO public.server_firmware_inventory (server_id, job_id, collected_at,
                        component_id, component_name, component_type, version, updateable,
                        status, device_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (server_id, component_id, collected_at) DO NOTHING",
                &[
                    &server,
                    &dsm_job,
                    &at,
                    &id,
                    &name,
                    &text(c, "component_type"),
                    &version,
                    &c["updateable"].as_bool().unwrap_or(false),
                    &status,
                    &text(c, "software_id"),
                ],
            )
            .await?;
    }
    Ok(n)
}

/// A health check's reading: a `server_health` row (once per reading)
/// and the server's `overall_health`, `power_state`, `last_health_check`.
pub async fn health(db: &Client, ip: &str, at: &str, h: &Value) -> Result<(), DbError> {
    let Some(server) = server_at(db, ip).await? else {
        return Ok(());
    };
    let at = finish_time(at)?;
    db.execute(
        "INSERT INTO public.server_health (server_id, \"timestamp\", overall_health, power_state,
                cpu_health, memory_health)
         SELECT $1, $2, $3, $4, $5, $6
          WHERE NOT EXISTS (SELECT 1 FROM public.server_health WHERE server_id = $1 AND \"timestamp\" = $2)",
        &[&server, &at, &text(h, "overall"), &text(h, "power_state"), &text(h, "cpu"), &text(h, "memory")],
    )
    .await?;
    db.execute(
        "UPDATE public.servers SET overall_health = coalesce($2, overall_health),
                power_state = coalesce($3, power_state), last_health_check = $4
          WHERE id = $1",
        &[&server, &text(h, "overall"), &text(h, "power_state"), &at],
    )
    .await?;
    Ok(())
}
