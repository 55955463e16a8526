//! `ssh.collect`: runs a VelocityCollector-style command list on one network
//! device over an interactive PTY shell and sends the capture back through
//! the `outpost_captures` object store. The credential is resolved from the
//! zone's vault here, in the zone; only its name travels on NATS.

use outpost_kinds::ErrorClass;
pub mod client;
pub mod error;
pub mod gate;
pub mod hostkeys;
pub mod screen;
pub mod shell;

use super::{OpCtx, OpError};
use crate::credentials::Login;
use error::SshError;
use serde::Deserialize;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// Largest capture a device may send unless the task says otherwise.
pub const DEFAULT_MAX_OUTPUT: usize = 64 * 1024 * 1024;
/// How long leaving a session (exit, EOF, disconnect) may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the coordinator puts in an `ssh.collect` task.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(default = "default_port")]
    pub port: u16,
    pub device_name: String,
    #[serde(default)]
    pub device_id: String,
    #[serde(default)]
    pub platform: Option<String>,
    #[serde(default)]
    pub legacy: bool,
    pub commands: Vec<String>,
    #[serde(default)]
    pub paging_disable: Option<String>,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    #[serde(default)]
    pub inter_command_ms: u64,
    #[serde(default = "default_max_workers")]
    pub max_workers: u32,
    /// Vault credential name; the vault default when absent.
    #[serde(default)]
    pub credential: Option<String>,
    /// Where the capture will be written (relative); none = not saved.
    #[serde(default)]
    pub file: Option<String>,
    /// Who writes the capture: the coordinator under its `capture_dir`
    /// (`coordinator`, the default) or the client that ran the job, which
    /// fetches it from the coordinator (`client`: `outpost run-job`).
    #[serde(default)]
    pub deliver: Deliver,
    #[serde(default)]
    pub max_output_bytes: Option<usize>,
}

pub use outpost_kinds::ssh::Deliver;
use outpost_kinds::ssh::Output;

fn default_port() -> u16 {
    22
}
fn default_timeout() -> u64 {
    60
}
fn default_max_workers() -> u32 {
    12
}

/// Platforms whose privileged commands need `enable` (netmiko-style
/// names like `cisco_ios`, `cisco_xe`, `arista_eos`, or bare `ios`/`eos`).
pub fn needs_enable(platform: Option<&str>) -> bool {
    platform.is_some_and(|p| {
        let p = p.to_ascii_lowercase();
        let tokens: Vec<&str> = p.split(['_', '-', ' ']).collect();
        !tokens.contains(&"nxos")
            && tokens
                .iter()
                .any(|t| matches!(*t, "ios" | "xe" | "iosxe" | "eos" | "arista" | "asa"))
    })
}

/// Platforms that have no enable mode (Junos): a leading `enable` in a
/// job file shared across vendors is dropped for them, never sent.
pub fn has_no_enable(platform: Option<&str>) -> bool {
    platform.is_some_and(|p| {
        p.to_ascii_lowercase()
            .split(['_', '-', ' '])
            .any(|t| matches!(t, "junos" | "juniper"))
    })
}

/// Splits the enable step off the front of a job's command list. Job files
/// commonly list `enable` first (VelocityCollector sends it as a command);
/// here it is the enable step, not a command whose output belongs in the
/// capture: the session enters enable mode (or is already in it) and the
/// command is not sent again at `#`. Returns whether there was one (any
/// number of leading `enable` lines, matched case-insensitively) and the
/// commands after it.
pub fn split_enable(commands: &[String]) -> (bool, &[String]) {
    let n = commands
        .iter()
        .take_while(|c| c.trim().eq_ignore_ascii_case("enable"))
        .count();
    (n > 0, &commands[n..])
}

pub async fn run(ctx: &OpCtx) -> Result<serde_json::Value, OpError> {
    let p: Params = ctx.params()?;
    if split_enable(&p.commands).1.is_empty() {
        return Err(OpError::permanent(
            ErrorClass::Params,
            "the job has no commands (besides enable)",
        ));
    }
    if p.port == 0 || ctx.target.is_empty() {
        return Err(OpError::permanent(
            ErrorClass::Params,
            "the device has no address or port",
        ));
    }
    let login = ctx
        .env
        .credentials
        .resolve(p.credential.as_deref())
        .map_err(|e| OpError::from(SshError::Credential(e)))?;
    let _slot = ctx
        .env
        .job_slot(&ctx.job_id, p.max_workers)
        .acquire_owned()
        .await;
    let started = Instant::now();
    let collected = tokio::select! {
        r = collect(ctx, &p, &login) => r?,
        _ = ctx.cancel.cancelled() => return Err(OpError::Cancelled),
    };
    let bytes = collected.text.len();
    let sha256 = outpost_kinds::stored::sha256_hex(collected.text.as_bytes());
    let capture = match &p.file {
        Some(_) => Some(crate::ops::captures::put(ctx, collected.text.into_bytes()).await?),
        None => None,
    };
    Ok(serde_json::to_value(Output {
        device: p.device_name.clone(),
        device_id: p.device_id.clone(),
        address: client::addr_of(&ctx.target, p.port),
        bytes: bytes as u64,
        sha256,
        capture,
        file: p.file.clone(),
        deliver: p.deliver,
        commands: collected.commands as u64,
        prompt: collected.prompt,
        credential: login.name.clone(),
        username: login.username.clone(),
        elapsed_ms: started.elapsed().as_millis() as u64,
        path: None,
    })
    .unwrap_or_default())
}

struct Collected {
    text: String,
    prompt: String,
    /// Commands sent (the enable step not counted).
    commands: usize,
}

async fn collect(ctx: &OpCtx, p: &Params, login: &Login) -> Result<Collected, SshError> {
    let timeout = Duration::from_secs(p.timeout_secs.clamp(1, 3600));
    // Legacy algorithms only for a device marked legacy, or a platform
    // marked so (`cisco_ios_legacy`).
    let legacy = p.legacy
        || p.platform.as_deref().is_some_and(|x| {
            x.to_ascii_lowercase()
                .split(['_', '-'])
                .any(|t| t == "legacy")
        });
    let dial = client::Dial {
        host: &ctx.target,
        port: p.port,
        legacy,
        deadline: tokio::time::Instant::now() + timeout,
        timeout,
        hostkeys: &ctx.env.hostkeys,
    };
    ctx.progress(0, "connecting");
    // Bounded like every other step; held until authenticated.
    let pass = tokio::time::timeout_at(dial.deadline, gate::enter(&dial.addr()))
        .await
        .map_err(|_| SshError::Timeout {
            addr: dial.addr(),
            what: "waiting for a handshake slot",
            secs: timeout.as_secs(),
        })?;
    // A span per phase of the session (connect, auth, first prompt,
    // each command), so a trace shows where a slow device spends its time.
    let addr = dial.addr();
    let t = std::time::Instant::now();
    let mut handle = client::connect(&dial)
        .instrument(
            tracing::info_span!("ssh.connect", otel.kind = "client", server.address = %addr),
        )
        .await?;
    phase("connect", t);
    let t = std::time::Instant::now();
    client::authenticate(&dial, &mut handle, &login.username, login.password.as_str())
        .instrument(tracing::info_span!("ssh.auth", otel.kind = "client", server.address = %addr))
        .await?;
    phase("auth", t);
    drop(pass);
    let max_output = p.max_output_bytes.unwrap_or(ctx.env.ssh_max_output);
    let mut shell = shell::Shell::open(&handle, dial.addr(), timeout, max_output).await?;
    let result = async {
        let t = std::time::Instant::now();
        shell
            .find_prompt()
            .instrument(tracing::info_span!("ssh.first_prompt", server.address = %addr))
            .await?;
        phase("first_prompt", t);
        if let Some(cmd) = p.paging_disable.as_deref().filter(|c| !c.trim().is_empty()) {
            shell.run(cmd.trim()).await?;
        }
        let (enable_step, commands) = split_enable(&p.commands);
        let platform = p.platform.as_deref();
        let wants_enable = needs_enable(platform) || (enable_step && !has_no_enable(platform));
        if wants_enable && !shell.privileged() {
            shell
                .enable(login.enable_secret.as_ref().map(|s| s.as_str()))
                .await?;
        }
        let mut text = String::new();
        let n = commands.len();
        for (i, cmd) in commands.iter().enumerate() {
            if i > 0 && p.inter_command_ms > 0 {
                // The job's own pacing between commands (`inter_command_time`).
                tokio::time::sleep(Duration::from_millis(p.inter_command_ms)).await;
            }
            ctx.progress((i * 100 / n) as u32, cmd.clone());
            let span = tracing::info_span!(
                "ssh.command",
                server.address = %addr,
                command.index = i,
                command = %cmd.chars().take(80).collect::<String>(),
                output.bytes = tracing::field::Empty,
            );
            let t = std::time::Instant::now();
            let out = shell.run(cmd).instrument(span.clone()).await?;
            span.record("output.bytes", out.len());
            phase("command", t);
            text.push_str(&out);
        }
        Ok::<_, SshError>(Collected {
            text,
            prompt: shell.prompt(),
            commands: n,
        })
    }
    .await;
    // A device that stopped reading must not hold the task: leaving is
    // bounded like everything else.
    let leave = async {
        shell.close().await;
        let _ = handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
    };
    if tokio::time::timeout(CLOSE_TIMEOUT, leave).await.is_err() {
        tracing::debug!(device = %dial.addr(), "session did not close in time; dropped");
    }
    result
}

/// Records how long a phase of an SSH session took.
fn phase(name: &str, since: std::time::Instant) {
    outpost_telemetry::metrics::global().observe(
        crate::metrics::SSH_PHASE.0,
        crate::metrics::SSH_PHASE.1,
        outpost_telemetry::metrics::SECONDS,
        &[("phase", name)],
        since.elapsed().as_secs_f64(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmds(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_leading_enable_is_the_enable_step() {
        let c = cmds(&["enable", "show run"]);
        assert_eq!(split_enable(&c), (true, &c[1..]));
        let c = cmds(&[" ENABLE ", "enable", "show run"]);
        assert_eq!(split_enable(&c), (true, &c[2..]));
        // Only at the front: a later enable is the operator's command.
        let c = cmds(&["show version", "enable"]);
        assert_eq!(split_enable(&c), (false, &c[..]));
        let c = cmds(&["enable secret-ish"]);
        assert_eq!(split_enable(&c), (false, &c[..]));
        let c = cmds(&["enable"]);
        assert!(split_enable(&c).1.is_empty());
    }

    #[test]
    fn platforms_with_and_without_enable() {
        assert!(needs_enable(Some("cisco_ios")));
        assert!(!needs_enable(Some("juniper_junos")));
        assert!(has_no_enable(Some("juniper_junos")));
        assert!(has_no_enable(Some("junos")));
        assert!(!has_no_enable(Some("cisco_ios")));
        assert!(!has_no_enable(None));
    }
}
