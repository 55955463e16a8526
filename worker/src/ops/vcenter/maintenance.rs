//! Task kind `vcenter.maintenance`, run by a worker in the vCenter's zone
//! (the task's target is the vCenter's address): `status` reads a host's
//! connection, maintenance and power state, its cluster and the blockers
//! to entering; `enter` reports the blockers, then runs
//! `EnterMaintenanceMode_Task` and waits for it; `exit` runs
//! `ExitMaintenanceMode_Task`; `wait_connected` waits until the host is
//! connected again (after its reboot). Every action is idempotent: a host
//! already in the wanted state succeeds at once, so a redelivered task
//! resumes instead of repeating. The vCenter login comes from the zone's
//! vault; its certificate is pinned on first use like an iDRAC's.

use super::api::{Blocker, ClusterInfo, HostInfo};
use super::client::VimClient;
use super::error::VimError;
use super::session::{Endpoint, connect};
use crate::ops::{OpCtx, OpError};
use outpost_kinds::ErrorClass;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Status,
    Enter,
    Exit,
    WaitConnected,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub action: Action,
    /// The host: managed object id, name in vCenter, or address.
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    /// Vault credential name; the vault's default when absent.
    #[serde(default)]
    pub credential: Option<String>,
    #[serde(default = "yes")]
    pub tls_pinning: bool,
    /// How long the action may take (vCenter's own task timeout for
    /// `enter`, the wait for `wait_connected`).
    #[serde(default = "default_timeout_s")]
    pub timeout_s: u64,
    /// `evacuatePoweredOffVms` of `EnterMaintenanceMode_Task`.
    #[serde(default)]
    pub evacuate_powered_off: bool,
    #[serde(default = "default_http_ms")]
    pub http_timeout_ms: u64,
}

fn default_port() -> u16 {
    443
}
fn yes() -> bool {
    true
}
fn default_timeout_s() -> u64 {
    1800
}
fn default_http_ms() -> u64 {
    60_000
}

pub async fn run(ctx: &OpCtx) -> Result<Value, OpError> {
    let p: Params = ctx.params()?;
    if p.host.trim().is_empty() {
        return Err(OpError::permanent(
            ErrorClass::Params,
            "params.host is empty",
        ));
    }
    let mut client = connect(
        ctx,
        &Endpoint {
            port: p.port,
            credential: p.credential.as_deref(),
            tls_pinning: p.tls_pinning,
            http_timeout_ms: p.http_timeout_ms,
        },
    )
    .await?;
    let r = tokio::select! {
        r = act(ctx, &mut client, &p) => r,
        _ = ctx.cancel.cancelled() => Err(OpError::Cancelled),
    };
    client.logout().await;
    r
}

struct Survey {
    host: HostInfo,
    cluster: Option<ClusterInfo>,
    blockers: Vec<Blocker>,
}

async fn survey(client: &mut VimClient, host: &HostInfo) -> Result<Survey, VimError> {
    let cluster = match &host.cluster_ref {
        Some(c) => Some(client.cluster(c).await?),
        None => None,
    };
    let drs = cluster.as_ref().is_some_and(|c| c.drs_enabled);
    let blockers = client.blockers(host, drs).await?;
    Ok(Survey {
        host: host.clone(),
        cluster,
        blockers,
    })
}

fn report(s: &Survey) -> Value {
    json!({
        "host": s.host,
        "cluster": s.cluster,
        "blockers": s.blockers,
    })
}

fn blocker_text(b: &[Blocker]) -> String {
    b.iter()
        .map(|b| format!("VM {:?} {}", b.vm, b.reason))
        .collect::<Vec<_>>()
        .join("; ")
}

async fn act(ctx: &OpCtx, client: &mut VimClient, p: &Params) -> Result<Value, OpError> {
    let started = Instant::now();
    let host = client.find_host(&p.host).await?;
    let moref = super::MoRef::new("HostSystem", &host.moid);
    let deadline = Instant::now() + Duration::from_secs(p.timeout_s.max(1));
    match p.action {
        Action::Status => {
            let s = survey(client, &host).await?;
            Ok(report(&s))
        }
        Action::Enter => {
            if host.in_maintenance {
                ctx.progress(100, "already in maintenance mode");
                let mut out = report(&survey(client, &host).await?);
                out["already"] = json!(true);
                return Ok(out);
            }
            if host.connection_state != "connected" {
                return Err(OpError::permanent(
                    ErrorClass::HostNotConnected,
                    format!(
                        "host {} is {} in vCenter; maintenance mode needs it connected",
                        host.name, host.connection_state
                    ),
                ));
            }
            let s = survey(client, &host).await?;
            if let Some(c) = &s.cluster
                && !c.drs_enabled
            {
                tracing::warn!(host = %host.name, cluster = %c.name, "DRS is off in the cluster");
            }
            if !s.blockers.is_empty() {
                tracing::warn!(host = %host.name, blockers = %blocker_text(&s.blockers), "VMs that will not move");
            }
            ctx.progress(10, "entering maintenance mode");
            let task = client
                .enter_maintenance(&moref, p.timeout_s, p.evacuate_powered_off)
                .await?;
            // vCenter ends the task at `timeout_s`; allow it a moment more.
            let wait_until = deadline + Duration::from_secs(30);
            match client
                .wait_task(&task, wait_until, "EnterMaintenanceMode_Task")
                .await
            {
                Ok(()) => {}
                Err(e) => {
                    let mut msg = e.to_string();
                    if !s.blockers.is_empty() {
                        msg.push_str(&format!("; blockers: {}", blocker_text(&s.blockers)));
                    }
                    let kind = if e.fault() == Some("Timedout") {
                        ErrorClass::MaintenanceTimeout
                    } else {
                        e.kind()
                    };
                    return Err(if e.retryable() {
                        OpError::retryable(kind, msg)
                    } else {
                        OpError::permanent(kind, msg)
                    });
                }
            }
            ctx.progress(100, "in maintenance mode");
            let mut out = report(&s);
            out["host"] = json!(client.host(&moref).await?);
            out["already"] = json!(false);
            out["took_ms"] = json!(started.elapsed().as_millis() as u64);
            Ok(out)
        }
        Action::Exit => {
            if !host.in_maintenance {
                ctx.progress(100, "not in maintenance mode");
                return Ok(json!({ "host": host, "already": true }));
            }
            ctx.progress(10, "exiting maintenance mode");
            let task = client.exit_maintenance(&moref, p.timeout_s).await?;
            client
                .wait_task(
                    &task,
                    deadline + Duration::from_secs(30),
                    "ExitMaintenanceMode_Task",
                )
                .await?;
            ctx.progress(100, "out of maintenance mode");
            Ok(json!({
                "host": client.host(&moref).await?,
                "already": false,
                "took_ms": started.elapsed().as_millis() as u64,
            }))
        }
        Action::WaitConnected => {
            ctx.progress(10, "waiting for the host to connect");
            let state = client
                .wait_for(
                    &moref,
                    &["runtime.connectionState"],
                    deadline,
                    "the host's reconnection",
                    |props| {
                        props
                            .get("runtime.connectionState")
                            .filter(|n| n.text.trim() == "connected")
                            .map(|_| ())
                    },
                )
                .await;
            match state {
                Ok(()) => {}
                Err(VimError::Timeout { .. }) => {
                    return Err(OpError::permanent(
                        ErrorClass::HostNotConnected,
                        format!(
                            "host {} did not connect to vCenter within {} s",
                            host.name, p.timeout_s
                        ),
                    ));
                }
                Err(e) => return Err(e.into()),
            }
            ctx.progress(100, "host connected");
            Ok(json!({
                "host": client.host(&moref).await?,
                "took_ms": started.elapsed().as_millis() as u64,
            }))
        }
    }
}
