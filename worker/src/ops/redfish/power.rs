//! `redfish.power`: `ComputerSystem.Reset` with a Redfish reset type, then
//! waiting until the host is in the requested state (on, off, back on
//! after a restart, seen by a new `LastResetTime`, or the opposite of what
//! it was for `PushPowerButton`). Also the reboot the
//! firmware update uses: graceful first, forced after a deadline.

use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

use super::client::Client;
use super::device::{self, DeviceParams};
use super::error::RedfishError;
use crate::ops::{OpCtx, OpError};

pub const SYSTEM: &str = "/redfish/v1/Systems/System.Embedded.1";
const RESET: &str = "/redfish/v1/Systems/System.Embedded.1/Actions/ComputerSystem.Reset";

pub const RESET_TYPES: &[&str] = &[
    "On",
    "ForceOff",
    "GracefulShutdown",
    "GracefulRestart",
    "ForceRestart",
    "PowerCycle",
    "PushPowerButton",
    "Nmi",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default)]
    device: DeviceParams,
    reset_type: String,
    /// How long to wait for the requested state.
    #[serde(default = "default_wait_s")]
    wait_s: u64,
    #[serde(default = "default_poll_ms")]
    poll_ms: u64,
}

fn default_wait_s() -> u64 {
    600
}
fn default_poll_ms() -> u64 {
    2000
}

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
            "power_timeout",
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
    if !RESET_TYPES.contains(&p.reset_type.as_str()) {
        return Err(OpError::permanent(
            "params",
            format!(
                "reset_type {:?} is not one of {}",
                p.reset_type,
                RESET_TYPES.join(", ")
            ),
        ));
    }
    let mut s = device::open(ctx, p.device.clone()).await?;
    let r = tokio::select! {
        r = power(ctx, &mut s.client, &p, Duration::from_secs(s.params.retry_s)) => r,
        _ = ctx.cancel.cancelled() => Err(OpError::Cancelled),
    };
    s.close().await;
    r
}

async fn power(ctx: &OpCtx, c: &mut Client, p: &Params, retry: Duration) -> Result<Value, OpError> {
    let before = host_power(c, tokio::time::Instant::now() + retry).await?;
    let want_on = matches!(p.reset_type.as_str(), "On");
    let want_off = matches!(p.reset_type.as_str(), "ForceOff" | "GracefulShutdown");
    if (want_on && before.state == "On") || (want_off && before.state == "Off") {
        return Ok(json!({
            "address": ctx.target, "reset_type": p.reset_type,
            "power_state": before.state, "changed": false,
        }));
    }
    post_reset(c, &p.reset_type, tokio::time::Instant::now() + retry).await?;
    ctx.progress(10, format!("{} sent", p.reset_type));
    let wait = Duration::from_secs(p.wait_s);
    let poll = Duration::from_millis(p.poll_ms.max(10));
    let reached = match p.reset_type.as_str() {
        "On" => wait_for(ctx, c, wait, poll, retry, |h| h.state == "On").await?,
        "ForceOff" | "GracefulShutdown" => {
            wait_for(ctx, c, wait, poll, retry, |h| h.state == "Off").await?
        }
        "GracefulRestart" | "ForceRestart" | "PowerCycle" => {
            wait_for(ctx, c, wait, poll, retry, back_on(&before)).await?
        }
        // The button turns a running host off (through its OS) and a
        // host that is off on.
        "PushPowerButton" if before.state == "Off" => {
            wait_for(ctx, c, wait, poll, retry, |h| h.state == "On").await?
        }
        "PushPowerButton" => wait_for(ctx, c, wait, poll, retry, |h| h.state == "Off").await?,
        // An NMI has no state to wait for.
        _ => Some(host_power(c, tokio::time::Instant::now() + retry).await?),
    };
    match reached {
        Some(h) => Ok(json!({
            "address": ctx.target, "reset_type": p.reset_type,
            "power_state": h.state, "changed": true,
        })),
        None => Err(OpError::permanent(
            "power_timeout",
            format!(
                "{}: {} was accepted but the host did not reach the state within {} s{}",
                c.addr(),
                p.reset_type,
                p.wait_s,
                if p.reset_type.starts_with("Graceful")
                    || (p.reset_type == "PushPowerButton" && before.state != "Off")
                {
                    " (the OS may ignore graceful requests; a Force reset type does not depend on it)"
                } else {
                    ""
                }
            ),
        )),
    }
}
