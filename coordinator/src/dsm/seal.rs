//! Credentials for jobs from Dell Server Manager: the app keeps them
//! encrypted with pgcrypto (`credential_sets.password_encrypted`,
//! `vcenters.password_encrypted`, the key in `activity_settings`). The
//! bridge decrypts them with the app's own `decrypt_password` and seals
//! each to the public key of the zone that will use it, into the tasks'
//! `sealed_credentials`: no plaintext on NATS, in job state, in logs or in
//! the app's rows. A zone without a key uses its own vault, by the
//! credential set's name.

use super::db::DbError;
use super::row::At;
use crate::plan::Plan;
use crate::zones::Zones;
use serde_json::{Map, Value, json};
use tokio_postgres::Client;
use uuid::Uuid;
use zeroize::Zeroizing;

/// One decrypted login, named as tasks refer to it.
pub struct Secret {
    pub name: String,
    pub username: String,
    pub password: Zeroizing<String>,
}

/// The job's credential sets and the vCenters at `vcenter_hosts`, decrypted.
pub async fn fetch(
    db: &Client,
    sets: &[Uuid],
    vcenter_hosts: &[String],
) -> Result<Vec<Secret>, DbError> {
    let key = "(SELECT encryption_key FROM public.activity_settings WHERE encryption_key IS NOT NULL LIMIT 1)";
    let mut out = Vec::new();
    let rows = db
        .query(
            &format!(
                "SELECT name, username, public.decrypt_password(password_encrypted, {key})
                   FROM public.credential_sets
                  WHERE id = ANY($1) AND password_encrypted IS NOT NULL"
            ),
            &[&sets],
        )
        .await
        .map_err(|e| {
            DbError::Query(format!(
                "credential sets could not be decrypted: {}",
                code(&e)
            ))
        })?;
    for r in rows {
        let c = At::new(&r, "credential_sets");
        out.push(Secret {
            name: c.get(0, "name")?,
            username: c.get(1, "username")?,
            password: Zeroizing::new(c.opt(2, "password_encrypted")?.unwrap_or_default()),
        });
    }
    if !vcenter_hosts.is_empty() {
        let rows = db
            .query(
                &format!(
                    "SELECT host, username, public.decrypt_password(password_encrypted, {key})
                       FROM public.vcenters
                      WHERE host = ANY($1) AND password_encrypted IS NOT NULL"
                ),
                &[&vcenter_hosts],
            )
            .await
            .map_err(|e| {
                DbError::Query(format!(
                    "vCenter credentials could not be decrypted: {}",
                    code(&e)
                ))
            })?;
        for r in rows {
            let v = At::new(&r, "vcenters");
            out.push(Secret {
                name: vcenter_credential(&v.get::<String>(0, "host")?),
                username: v.get(1, "username")?,
                password: Zeroizing::new(v.opt(2, "password_encrypted")?.unwrap_or_default()),
            });
        }
    }
    Ok(out)
}

/// The error's SQLSTATE and message, which never quote parameters.
fn code(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map(|d| format!("{}: {}", d.code().code(), d.message()))
        .unwrap_or_else(|| "connection error".into())
}

/// The credential name of a vCenter's login.
pub fn vcenter_credential(host: &str) -> String {
    format!("vcenter-{host}")
}

fn sealed_for(zones: &Zones, zone: &str, secrets: &[Secret]) -> Result<Option<Value>, String> {
    let Some(pk) = zones.public_key(zone) else {
        return Ok(None);
    };
    let mut m = Map::new();
    for s in secrets {
        let sealed = outpost_vault::sealed::seal(pk, &s.password)
            .map_err(|e| format!("sealing credential {:?} to zone {zone}: {e}", s.name))?;
        m.insert(
            s.name.clone(),
            json!({"username": s.username, "password": sealed}),
        );
    }
    Ok(Some(Value::Object(m)))
}

/// Seals `secrets` into every task of `plan` (and into a rolling update's
/// endpoints) for the zone each runs in.
pub fn seal_plan(plan: &mut Plan, zones: &Zones, secrets: &[Secret]) -> Result<(), String> {
    if secrets.is_empty() {
        return Ok(());
    }
    for t in &mut plan.tasks {
        if let Some(s) = sealed_for(zones, &t.zone, secrets)? {
            t.params["sealed_credentials"] = s;
        }
    }
    if plan.job.job_type == crate::plan::ROLLING_UPDATE {
        let mut r: crate::rolling::Rollout = serde_json::from_value(plan.job.params.clone())
            .map_err(|e| format!("rolling plan unreadable: {e}"))?;
        for h in &mut r.hosts {
            h.idrac.sealed = sealed_for(zones, &h.idrac.zone, secrets)?;
            if let Some(vc) = &mut h.vcenter {
                vc.sealed = sealed_for(zones, &vc.zone, secrets)?;
            }
        }
        plan.job.params = serde_json::to_value(&r).map_err(|e| e.to_string())?;
    }
    Ok(())
}
