//! `redfish.power`: `ComputerSystem.Reset` with a Redfish reset type, then
//! waiting until the host is in the requested state (on, off, back on
//! after a restart, seen by a new `LastResetTime`, or the opposite of what
//! it was for `PushPowerButton`). Also the reboot the
//! firmware update uses: graceful first, forced after a deadline.

use outpost_kinds::ErrorClass;
use serde_json::{Value, json};
use std::time::Duration;

use super::client::Client;
use super::device;
use super::error::RedfishError;
use crate::ops::{OpCtx, OpError};

pub const SYSTEM: &str = "/redfish/v1/Systems/System.Embedded.1";
const RESET: &str = "/redfish/v1/Systems/System.Embedded.1/Actions/ComputerSystem.Reset";

use outpost_kinds::redfish::power::{Output, Params, ResetType};

/// Power state and last reset time of the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPower {
    pub state: String,
    pub last_reset: Option<String>,
}

pub async fn host_power(
    c: &mut Client,
    deadline: tokio::time::Instant,
) -> Result<HostPower, RedfishError> {
    let v = c.get_retrying(SYSTEM, deadline).await?;
    let state = v["PowerState"]
        .as_str()
        .ok_or_else(|| RedfishError::Malformed {
            addr: c.addr().to_string(),
            path: SYSTEM.into(),
            message: "missing PowerState".into(),
        })?
        .to_string();
    Ok(HostPower {
        state,
        last_reset: v["LastResetTime"].as_str().map(str::to_string),
    })
}

/// A test for "the host went through a restart and is on again": it was
/// seen not on, or its `LastResetTime` moved (which has whole seconds
/// only, so a quick restart may not change it).
pub fn back_on(before: &HostPower) -> impl FnMut(&HostPower) -> bool + use<> {
    let before = before.clone();
    let mut seen_down = false;
    move |p: &HostPower| {
        seen_down |= p.state != "On";
        p.state == "On" && (seen_down || p.last_reset != before.last_reset)
    }
}

/// Posts the reset action.
pub async fn post_reset(
    c: &mut Client,
    reset_type: &str,
    deadline: tokio::time::Instant,
) -> Result<(), RedfishError> {
    c.request_retrying(
        reqwest::Method::POST,
        RESET,
        Some(&json!({ "ResetType": reset_type })),
        deadline,
    )
    .await
    .map(|_| ())
}

/// Polls the host until `done` holds or `wait` passes; `None` on timeout.
pub async fn wait_for(
    ctx: &OpCtx,
    c: &mut Client,
    wait: Duration,
    poll: Duration,
    retry: Duration,
    mut done: impl FnMut(&HostPower) -> bool,
) -> Result<Option<HostPower>, OpError> {
    let until = tokio::time::Instant::now() + wait;
    loop {
        let p = host_power(c, tokio::time::Instant::now() + retry).await?;
        if done(&p) {
            return Ok(Some(p));
        }
        if tokio::time::Instant::now() + poll > until {
            return Ok(None);
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = ctx.cancel.cancelled() => return Err(OpError::Cancelled),
        }
    }
}

/// Restarts the host: `GracefulRestart`, then `ForceRestart` when it has
/// not gone down within `graceful`; waits until it is back on. Returns the
/// reset type that worked.
pub async fn reboot(
    ctx: &OpCtx,
    c: &mut Client,
    graceful: Duration,
    wait: Duration,
    poll: Duration,
    retry: Duration,
) -> Result<&'static str, OpError> {
    let before = host_power(c, tokio::time::Instant::now() + retry).await?;
    let mut back = back_on(&before);
    let mut left = |p: &HostPower| {
        let _ = back(p);
        p.state != "On" || p.last_reset != before.last_reset
    };
    let kind = if before.state == "On" {
        ctx.progress(0, "rebooting the host (GracefulRestart)");
        post_reset(c, "GracefulRestart", tokio::time::Instant::now() + retry).await?;
        if wait_for(ctx, c, graceful, poll, retry, &mut left)
            .await?
            .is_some()
        {
            "GracefulRestart"
        } else {
            ctx.progress(0, "host ignored GracefulRestart; ForceRestart");
            post_reset(c, "ForceRestart", tokio::time::Instant::now() + retry).await?;
            "ForceRestart"
        }
    } else {
        ctx.progress(0, "host is off; powering it on");
        post_reset(c, "On", tokio::time::Instant::now() + retry).await?;
        "On"
    };
    match wait_for(ctx, c, wait, poll, retry, &mut back).await? {
        Some(_) => Ok(kind),
        None => Err(OpError::retryable(
            ErrorClass::PowerTimeout,
            format!(
                "{}: host did not come back on within {} s after {kind}",
                c.addr(),
                wait.as_secs()
            ),
        )),
    }
}

pub async fn run(ctx: &OpCtx) -> Result<Value, OpError> {
    let p: Params = ctx.params()?;
    let mut s = device::open(ctx, p.device.clone()).await?;
    let r = tokio::select! {
        r = power(ctx, &mut s.client, &p, Duration::from_secs(s.params.retry_s)) => r,
        _ = ctx.cancel.cancelled() => Err(OpError::Cancelled),
    };
    s.close().await;
    r
}

async fn power(ctx: &OpCtx, c: &mut Client, p: &Params, retry: Duration) -> Result<Value, OpError> {
    use ResetType as R;
    let before = host_power(c, tokio::time::Instant::now() + retry).await?;
    let output = |state: String, changed: bool| {
        serde_json::to_value(Output {
            address: ctx.target.clone(),
            port: Some(p.device.port),
            reset_type: p.reset_type,
            power_state: state,
            changed,
        })
        .unwrap_or_default()
    };
    let want_on = p.reset_type == R::On;
    let want_off = matches!(p.reset_type, R::ForceOff | R::GracefulShutdown);
    if (want_on && before.state == "On") || (want_off && before.state == "Off") {
        return Ok(output(before.state, false));
    }
    let name = p.reset_type.as_str();
    post_reset(c, name, tokio::time::Instant::now() + retry).await?;
    ctx.progress(10, format!("{name} sent"));
    let wait = Duration::from_secs(p.wait_s);
    let poll = Duration::from_millis(p.poll_ms.max(10));
    // The button turns a running host off (through its OS) and a host
    // that is off on.
    let through_os =
        p.reset_type.graceful() || (p.reset_type == R::PushPowerButton && before.state != "Off");
    let reached = match p.reset_type {
        R::On => wait_for(ctx, c, wait, poll, retry, |h| h.state == "On").await?,
        R::ForceOff | R::GracefulShutdown => {
            wait_for(ctx, c, wait, poll, retry, |h| h.state == "Off").await?
        }
        R::GracefulRestart | R::ForceRestart | R::PowerCycle => {
            wait_for(ctx, c, wait, poll, retry, back_on(&before)).await?
        }
        R::PushPowerButton if before.state == "Off" => {
            wait_for(ctx, c, wait, poll, retry, |h| h.state == "On").await?
        }
        R::PushPowerButton => wait_for(ctx, c, wait, poll, retry, |h| h.state == "Off").await?,
        // An NMI has no state to wait for.
        R::Nmi => Some(host_power(c, tokio::time::Instant::now() + retry).await?),
    };
    match reached {
        Some(h) => Ok(output(h.state, true)),
        None => Err(OpError::permanent(
            ErrorClass::PowerTimeout,
            format!(
                "{}: {name} was accepted but the host did not reach the state within {} s{}",
                c.addr(),
                p.wait_s,
                if through_os {
                    " (the OS may ignore graceful requests; a Force reset type does not depend on it)"
                } else {
                    ""
                }
            ),
        )),
    }
}
