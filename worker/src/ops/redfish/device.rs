//! Opening a Redfish operation on one iDRAC: the device parameters every
//! per-device kind shares, the per-device and per-zone locks, the login
//! from the vault, the certificate pin from the inventory (recorded on
//! first use, refused on change, skipped where the zone opted out), legacy
//! TLS where the zone or job opted in, and the session, with transient
//! failures retried until a deadline (a TLS refusal fails at once).

use outpost_kinds::ErrorClass;
use std::time::Duration;

use super::client::Client;
use super::error::RedfishError;
use super::guard::{self, Guard};
use crate::ops::{OpCtx, OpError};

pub use outpost_kinds::redfish::device::DeviceParams;

/// An open session on one iDRAC, holding its locks.
pub struct Session {
    pub client: Client,
    pub address: String,
    pub params: DeviceParams,
    _guard: Guard,
}

impl Session {
    /// How long to keep retrying transient failures from now.
    pub fn retry_deadline(&self) -> tokio::time::Instant {
        tokio::time::Instant::now() + Duration::from_secs(self.params.retry_s)
    }

    pub async fn close(mut self) {
        self.client.logout().await;
    }
}

/// Locks the device, logs in and checks its certificate.
pub async fn open(ctx: &OpCtx, p: DeviceParams) -> Result<Session, OpError> {
    let address = ctx.target.trim().to_string();
    if address.is_empty() || address.contains(char::is_whitespace) {
        return Err(OpError::permanent(
            ErrorClass::Params,
            format!("target {address:?} is not an address or host name"),
        ));
    }
    if p.port == 0 {
        return Err(OpError::permanent(
            ErrorClass::Params,
            "port 0 is not a valid destination",
        ));
    }
    let guard = guard::acquire(
        ctx,
        &ctx.zone,
        &format!("{address}:{}", p.port),
        p.zone_limit,
    )
    .await?;
    let login = ctx.credential(p.credential.as_deref())?;
    let key = super::pins::inventory_key(&address, p.port);
    let pin = ctx.env.pins.expectation(&key, p.tls_pinning).await?;
    let mut client = Client::open(
        &address,
        p.port,
        pin.clone(),
        p.legacy_tls,
        &login.username,
        login.password.as_str(),
        Duration::from_millis(p.http_timeout_ms.clamp(100, 600_000)),
    )?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(p.retry_s);
    let mut delay = Duration::from_millis(250);
    loop {
        let r = tokio::select! {
            r = client.login() => r,
            _ = ctx.cancel.cancelled() => return Err(OpError::Cancelled),
        };
        match r {
            Ok(()) => break,
            Err(e) if e.retryable() && tokio::time::Instant::now() + delay < deadline => {
                tracing::debug!(error = %e, "login failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = ctx.cancel.cancelled() => return Err(OpError::Cancelled),
                }
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            Err(e) => return Err(e.into()),
        }
    }
    let seen = client.certificate();
    if let Err(m) = ctx
        .env
        .pins
        .settle(&pin, &key, &address, p.port, &ctx.zone, seen)
        .await?
    {
        client.logout().await;
        return Err(RedfishError::CertChanged {
            addr: client.addr().to_string(),
            pinned: m.pinned,
            presented: m.presented,
        }
        .into());
    }
    Ok(Session {
        client,
        address,
        params: p,
        _guard: guard,
    })
}
