//! Credentials for jobs from Dell Server Manager: the app keeps them
//! encrypted with pgcrypto (`credential_sets.password_encrypted`,
//! `vcenters.password_encrypted`, the key in `activity_settings`). The
//! bridge decrypts them with the app's own `decrypt_password` and seals
//! each to the public key of the zone that will use it, into the tasks'
//! `sealed_credentials`: no plaintext on NATS, in job state, in logs or in
//! the app's rows. A zone without a key uses its own vault, by the
//! credential set's name.

use super::db::DbError;
use super::map::{Login, Secrets};
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

/// The secrets `want` names, decrypted: credential sets by id, servers'
/// own iDRAC logins, the vCenters at `want.vcenters`, and a login typed
/// into the app's dialog. A secret the app's key cannot decrypt is an
/// error naming whose it is (the app's `decrypt_password` answers NULL).
pub async fn fetch(db: &Client, want: &mut Secrets) -> Result<Vec<Secret>, DbError> {
    let key = "(SELECT encryption_key FROM public.activity_settings WHERE encryption_key IS NOT NULL LIMIT 1)";
    let mut out = Vec::new();
    let undecryptable = |what: String| {
        DbError::Query(format!(
            "the password of {what} cannot be decrypted with the app's encryption key \
             (activity_settings.encryption_key)"
        ))
    };
    if !want.sets.is_empty() {
        let rows = db
            .query(
                &format!(
                    "SELECT name, username, password_encrypted IS NOT NULL,
                            public.decrypt_password(password_encrypted, {key})
                       FROM public.credential_sets WHERE id = ANY($1)"
                ),
                &[&want.sets],
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
            let name: String = c.get(0, "name")?;
            let password: Option<String> = c.opt(3, "password_encrypted")?;
            if c.get::<bool>(2, "password_encrypted")? && password.is_none() {
                return Err(undecryptable(format!("credential set {name:?}")));
            }
            out.push(Secret {
                name,
                username: c.get(1, "username")?,
                password: Zeroizing::new(password.unwrap_or_default()),
            });
        }
    }
    if !want.servers.is_empty() {
        let rows = db
            .query(
                &format!(
                    "SELECT id, idrac_username, public.decrypt_password(idrac_password_encrypted, {key})
                       FROM public.servers WHERE id = ANY($1)"
                ),
                &[&want.servers],
            )
            .await
            .map_err(|e| DbError::Query(format!("server logins could not be decrypted: {}", code(&e))))?;
        for r in rows {
            let s = At::new(&r, "servers");
            let id: Uuid = s.get(0, "id")?;
            let password: Option<String> = s.opt(2, "idrac_password_encrypted")?;
            let Some(password) = password else {
                return Err(undecryptable(format!("server {id}'s own iDRAC login")));
            };
            out.push(Secret {
                name: super::creds::server_credential(id),
                username: s.get(1, "idrac_username")?,
                password: Zeroizing::new(password),
            });
        }
    }
    if !want.vcenters.is_empty() {
        let rows = db
            .query(
                &format!(
                    "SELECT host, username, public.decrypt_password(password_encrypted, {key})
                       FROM public.vcenters
                      WHERE host = ANY($1) AND password_encrypted IS NOT NULL"
                ),
                &[&want.vcenters],
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
            let host: String = v.get(0, "host")?;
            let Some(password) = v.opt::<String>(2, "password_encrypted")? else {
                return Err(undecryptable(format!("vCenter {host}")));
            };
            out.push(Secret {
                name: vcenter_credential(&host),
                username: v.get(1, "username")?,
                password: Zeroizing::new(password),
            });
        }
    }
    if let Some(i) = want.inline.take() {
        out.push(Secret {
            name: i.name,
            username: i.username,
            password: i.password,
        });
    }
    Ok(out)
}

/// Sets each device's login on its task (or rollout host): the
/// credential name and legacy TLS, by address.
pub fn apply_logins(plan: &mut Plan, logins: &[Login]) -> Result<(), String> {
    if logins.is_empty() {
        return Ok(());
    }
    let find = |target: &str| logins.iter().find(|l| l.address == target);
    for t in &mut plan.tasks {
        let Some(l) = find(&t.target) else { continue };
        if t.params["device"].is_object() {
            if let Some(c) = &l.credential {
                t.params["device"]["credential"] = json!(c);
            }
            if l.legacy_tls {
                t.params["device"]["legacy_tls"] = json!(true);
            }
        } else if let Some(c) = &l.credential
            && t.params.is_object()
        {
            // A vCenter's read names its login at the top.
            t.params["credential"] = json!(c);
        }
    }
    if plan.job.job_type == crate::plan::ROLLING_UPDATE {
        let mut r: crate::rolling::Rollout = serde_json::from_value(plan.job.params.clone())
            .map_err(|e| format!("rolling plan unreadable: {e}"))?;
        for h in &mut r.hosts {
            if let Some(l) = find(&h.idrac.target) {
                if let Some(c) = &l.credential {
                    h.idrac.params["credential"] = json!(c);
                }
                if l.legacy_tls {
                    h.idrac.params["legacy_tls"] = json!(true);
                }
            }
        }
        plan.job.params = serde_json::to_value(&r).map_err(|e| e.to_string())?;
    }
    Ok(())
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

/// The secrets of `secrets` a device step uses: the one its
/// `credential` names; none when it uses the vault's default (a single
/// sealed secret would otherwise stand in for the default).
fn used<'a>(secrets: &'a [Secret], credential: Option<&str>) -> Vec<&'a Secret> {
    match credential {
        Some(c) => secrets.iter().filter(|s| s.name == c).collect(),
        None => Vec::new(),
    }
}

fn sealed_for(zones: &Zones, zone: &str, secrets: &[&Secret]) -> Result<Option<Value>, String> {
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

/// Seals into every task of `plan` (and into a rolling update's
/// endpoints) the secrets it uses, for the zone it runs in.
pub fn seal_plan(plan: &mut Plan, zones: &Zones, secrets: &[Secret]) -> Result<(), String> {
    if secrets.is_empty() {
        return Ok(());
    }
    for t in &mut plan.tasks {
        // A discovery tries several sets; any other step uses one.
        let mine = if t.kind == outpost_kinds::Kind::RedfishDiscover.as_str() {
            secrets.iter().collect()
        } else if t.params["device"].is_object() {
            used(secrets, t.params["device"]["credential"].as_str())
        } else {
            used(secrets, t.params["credential"].as_str())
        };
        if mine.is_empty() {
            continue;
        }
        if let Some(s) = sealed_for(zones, &t.zone, &mine)? {
            t.params["sealed_credentials"] = s;
        }
    }
    if plan.job.job_type == crate::plan::ROLLING_UPDATE {
        let mut r: crate::rolling::Rollout = serde_json::from_value(plan.job.params.clone())
            .map_err(|e| format!("rolling plan unreadable: {e}"))?;
        for h in &mut r.hosts {
            let mine = used(secrets, h.idrac.params["credential"].as_str());
            h.idrac.sealed = sealed_for(zones, &h.idrac.zone, &mine)?;
            if let Some(vc) = &mut h.vcenter {
                let mine = used(secrets, vc.params["credential"].as_str());
                vc.sealed = sealed_for(zones, &vc.zone, &mine)?;
            }
        }
        plan.job.params = serde_json::to_value(&r).map_err(|e| e.to_string())?;
    }
    Ok(())
}
