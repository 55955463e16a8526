//! A vim25 session for a task: the vCenter is the task's target, the
//! login comes from the zone's vault (or a credential sealed to the zone
//! in the task), and the certificate is pinned on first use like an
//! iDRAC's. Shared by every `vcenter.*` kind.

use super::client::VimClient;
use super::error::VimError;
use crate::ops::redfish::pins::keyed;
use crate::ops::{OpCtx, OpError};
use outpost_kinds::ErrorClass;
use std::time::Duration;

/// How to reach the vCenter: the parameters every `vcenter.*` kind shares.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint<'a> {
    pub port: u16,
    /// Vault credential name; the default one when `None`.
    pub credential: Option<&'a str>,
    pub tls_pinning: bool,
    /// Timeout of one SOAP call.
    pub http_timeout_ms: u64,
}

/// Opens a session to the vCenter named by the task's target.
pub async fn connect(ctx: &OpCtx, p: &Endpoint<'_>) -> Result<VimClient, OpError> {
    let address = ctx.target.trim().to_string();
    if address.is_empty() || address.contains(char::is_whitespace) || p.port == 0 {
        return Err(OpError::permanent(
            ErrorClass::Params,
            format!(
                "target {address:?} port {} is not a vCenter address",
                p.port
            ),
        ));
    }
    let login = ctx.credential(p.credential)?;
    let key = keyed("vcenter", &address, p.port);
    let pin = ctx.env.pins.expectation(&key, p.tls_pinning).await?;
    let mut client = VimClient::new(
        &address,
        p.port,
        pin.clone(),
        &login.username,
        login.password.as_str(),
        Duration::from_millis(p.http_timeout_ms.clamp(100, 600_000)),
    )?;
    tokio::select! {
        r = client.login() => r?,
        _ = ctx.cancel.cancelled() => return Err(OpError::Cancelled),
    }
    let seen = client.certificate();
    if let Err(m) = ctx
        .env
        .pins
        .settle(&pin, &key, &address, p.port, &ctx.zone, seen)
        .await?
    {
        client.logout().await;
        return Err(VimError::CertChanged {
            addr: client.addr().to_string(),
            pinned: m.pinned,
            presented: m.presented,
        }
        .into());
    }
    Ok(client)
}
