//! `redfish.firmware`: updates one component of one iDRAC's server, or
//! several in turn (`updates`), each finished one kept in the checkpoint.
//!
//! Skips a component already at the target version; clears stale Dell
//! jobs and refuses to start beside a running one; starts the update with
//! `SimpleUpdate` (the iDRAC fetches an HTTP(S) image) or pushes an image
//! from the `outpost_firmware` object store with `MultipartUpload`; then
//! follows the Dell job (not the Redfish task, which vanishes when the
//! iDRAC resets), reboots the host only once the job waits for it
//! (`Scheduled`; apply time `Immediate`) or when a job applying on the host
//! stalls — never while it is created, downloading or checking its
//! package, never for a failed job, never for a component the iDRAC
//! applies alone — waits through the iDRAC's own reset and checks the
//! version at the end. A job that fails to fetch its image or refuses the
//! package fails the task (`image_download_failed`, `package_invalid`)
//! with Dell's message, power untouched. When it gives up on a stalled or
//! overdue job it deletes that Dell job. The JID goes into the task checkpoint as
//! soon as it is known, so the next attempt after a worker crash follows
//! it instead of uploading again.

use outpost_kinds::ErrorClass;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

use super::client::{Body, Client};
use super::device;
use super::error::RedfishError;
use super::inventory::{self, Member};
use super::jobs;
use super::power;
use crate::ops::{OpCtx, OpError};

const UPDATE_SERVICE: &str = "/redfish/v1/UpdateService";
const SIMPLE_UPDATE: &str = "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate";
/// Largest image pushed from the object store.
pub const MAX_IMAGE: usize = 2 * 1024 * 1024 * 1024;

pub use outpost_kinds::redfish::firmware::{ApplyTime, Mode, Output, Params, Status};

/// Records what this attempt got to.
async fn save(ctx: &OpCtx, cp: &Checkpoint) -> Result<(), OpError> {
    ctx.env
        .checkpoints
        .save(&ctx.task_id, &serde_json::to_value(cp).unwrap_or_default())
        .await
}

/// What an earlier attempt of this task got to.
#[derive(Debug, Clone, Default, serde::Serialize, Deserialize)]
struct Checkpoint {
    /// Of several components: how many are done (their results in
    /// `done`); the fields below are about the next one.
    #[serde(default)]
    index: usize,
    #[serde(default)]
    done: Vec<Output>,
    /// Unix ms when the update request was about to be sent.
    #[serde(default)]
    starting_ms: Option<i64>,
    #[serde(default)]
    jid: Option<String>,
    #[serde(default)]
    from_version: Option<String>,
    #[serde(default)]
    reboots: u32,
    /// The host was rebooted for the scheduled job.
    #[serde(default)]
    rebooted_for_schedule: bool,
}

pub async fn run(ctx: &OpCtx) -> Result<Value, OpError> {
    let p: Params = ctx.params()?;
    p.validate().map_err(|e| {
        OpError::permanent(ErrorClass::Params, format!("{}: {}", e.field, e.message))
    })?;
    let mut s = device::open(ctx, p.device.clone()).await?;
    let retry = Duration::from_secs(s.params.retry_s);
    let r = tokio::select! {
        r = run_on(ctx, &mut s.client, &p, retry) => r,
        _ = ctx.cancel.cancelled() => Err(OpError::Cancelled),
    };
    s.close().await;
    r.map(|o| {
        let mut v = serde_json::to_value(o).unwrap_or_default();
        // Results name the device by address and port, as the inventory does.
        v["port"] = json!(p.device.port);
        v
    })
}

/// Each component in turn; several sum up into one result. An update
/// records each finished component in the checkpoint, so an attempt after
/// a worker crash resumes with the component that was under way.
async fn run_on(
    ctx: &OpCtx,
    c: &mut Client,
    p: &Params,
    retry: Duration,
) -> Result<Output, OpError> {
    let images = p.images();
    let n = images.len();
    let mut cp = Checkpoint::default();
    if p.mode == Mode::Update {
        cp = match ctx.env.checkpoints.load(&ctx.task_id).await? {
            Some(v) => serde_json::from_value(v).unwrap_or_default(),
            None => Checkpoint::default(),
        };
    }
    // Components an earlier attempt finished; `cp` keeps them too, so
    // every save while the next one runs still names them.
    let mut parts = cp.done.clone();
    let start = cp.index.min(n).min(parts.len());
    parts.truncate(start);
    if start != cp.index {
        // A checkpoint that does not add up starts over; components
        // already at their version are then found current.
        cp = Checkpoint::default();
        parts.clear();
    }
    for (i, img) in images.iter().enumerate().skip(start) {
        let one = p.one(img);
        let part_ctx;
        let cx = if n > 1 {
            part_ctx = ctx.part(i, n, &img.component);
            &part_ctx
        } else {
            ctx
        };
        let r = match p.mode {
            Mode::Update => update(cx, c, &one, retry, &mut cp).await,
            _ => check(cx, c, &one, retry).await,
        };
        let out = r.map_err(|e| of_part(e, i, n, &img.component))?;
        parts.push(out);
        if p.mode == Mode::Update && n > 1 {
            cp = Checkpoint {
                index: i + 1,
                done: parts.clone(),
                ..Checkpoint::default()
            };
            save(ctx, &cp).await?;
        }
    }
    if p.updates.is_empty() && parts.len() == 1 {
        return Ok(parts.remove(0));
    }
    Ok(Output::combined(&ctx.target, parts))
}

/// An error of component `i` of `n` says which one it was.
fn of_part(e: OpError, i: usize, n: usize, component: &str) -> OpError {
    if n < 2 {
        return e;
    }
    let at = format!("component {} of {n} ({component}): ", i + 1);
    match e {
        OpError::Permanent { kind, message } => OpError::Permanent {
            kind,
            message: format!("{at}{message}"),
        },
        OpError::Retryable { kind, message } => OpError::Retryable {
            kind,
            message: format!("{at}{message}"),
        },
        other => other,
    }
}

/// `check` and `verify` modes.
async fn check(
    ctx: &OpCtx,
    c: &mut Client,
    p: &Params,
    retry: Duration,
) -> Result<Output, OpError> {
    let component = find_component(c, &p.component, &p.version, retry).await?;
    let current = component.version == p.version;
    if p.mode == Mode::Verify {
        if !current {
            return Err(OpError::permanent(
                ErrorClass::VersionMismatch,
                format!(
                    "{}: {} reports version {} instead of {}",
                    c.addr(),
                    component.name,
                    component.version,
                    p.version
                ),
            ));
        }
        return Ok(output(ctx, Status::Verified, &component));
    }
    let running = jobs::list(c, deadline(retry))
        .await?
        .into_iter()
        .find(|j| !j.finished() && !j.queued());
    if let Some(j) = running {
        return Err(OpError::permanent(
            ErrorClass::IdracBusy,
            format!(
                "{}: job {} ({}) is {}; the host is not touched while it runs",
                c.addr(),
                j.id,
                j.name,
                j.state
            ),
        ));
    }
    if !current && !component.updateable {
        return Err(OpError::permanent(
            ErrorClass::NotUpdateable,
            format!("{}: {} cannot be updated", c.addr(), component.name),
        ));
    }
    let status = if current {
        Status::AlreadyCurrent
    } else {
        Status::NeedsUpdate
    };
    Ok(output(ctx, status, &component))
}

/// The task's output; `job` adds what an update did.
fn output(ctx: &OpCtx, status: Status, c: &Member) -> Output {
    Output {
        address: ctx.target.clone(),
        port: None,
        status,
        component: c.name.clone(),
        component_id: c.software_id.clone(),
        version: c.version.clone(),
        from_version: None,
        jid: None,
        reboots: None,
        note: None,
        updates: Vec::new(),
    }
}

fn deadline(retry: Duration) -> tokio::time::Instant {
    tokio::time::Instant::now() + retry
}

/// The component `wanted` names. Members sharing one ComponentID are one
/// component (an iDRAC lists each port of a NIC, and one package updates
/// them all): it is at `version` only when every member is, so the member
/// it stands for is one that is not yet.
async fn find_component(
    c: &mut Client,
    wanted: &str,
    version: &str,
    retry: Duration,
) -> Result<Member, OpError> {
    let members = inventory::read(c, false, deadline(retry)).await?;
    let found: Vec<&Member> = members.iter().filter(|m| m.matches(wanted)).collect();
    let one_id = found.len() > 1
        && found[0].software_id.is_some()
        && found.iter().all(|m| m.software_id == found[0].software_id);
    if one_id {
        let behind = found
            .iter()
            .find(|m| m.version != version)
            .unwrap_or(&found[0]);
        let mut m = (*behind).clone();
        // "Broadcom Gigabit Ethernet BCM5720 - B0:7B:25:00:00:01": the
        // device's name, not one port's.
        if let Some((name, _)) = m.name.rsplit_once(" - ") {
            m.name = name.trim().to_string();
        }
        return Ok(m);
    }
    match found.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(OpError::permanent(
            ErrorClass::ComponentNotFound,
            format!(
                "{}: no firmware component matches {wanted:?}; installed: {}. Name one by its \
                 ComponentID, part of its name or a short name ({}), case-insensitive",
                c.addr(),
                members
                    .iter()
                    .map(|m| format!("{} ({})", m.name, m.software_id.as_deref().unwrap_or(&m.id)))
                    .collect::<Vec<_>>()
                    .join(", "),
                super::components::short_names()
            ),
        )),
        many => Err(OpError::permanent(
            ErrorClass::ComponentAmbiguous,
            format!(
                "{}: {wanted:?} matches {} components ({}); name it by ComponentID",
                c.addr(),
                many.len(),
                many.iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

async fn update(
    ctx: &OpCtx,
    c: &mut Client,
    p: &Params,
    retry: Duration,
    cp: &mut Checkpoint,
) -> Result<Output, OpError> {
    let component = find_component(c, &p.component, &p.version, retry).await?;
    if cp.jid.is_none() && cp.starting_ms.is_some() {
        // The last attempt died between sending the update and recording
        // its JID: adopt the firmware job it created rather than start another.
        let since = cp.starting_ms.unwrap_or_default() / 1000 - 5;
        let adopted = jobs::list(c, deadline(retry))
            .await?
            .into_iter()
            .filter(|j| {
                // Dell shows `StartTime: "TIME_NOW"` for an update's job:
                // then any unfinished firmware job is the one (stale ones
                // were cleared before the update was sent).
                j.name.starts_with("Firmware Update")
                    && match j.start {
                        Some(s) => s >= since,
                        None => !j.finished(),
                    }
            })
            .max_by_key(|j| j.number());
        if let Some(j) = adopted {
            ctx.progress(
                0,
                format!("resuming {} started by an earlier attempt", j.id),
            );
            cp.jid = Some(j.id);
            save(ctx, cp).await?;
        }
    }
    let jid = match cp.jid.clone() {
        Some(jid) => {
            ctx.progress(0, format!("resuming the Dell job {jid}"));
            jid
        }
        None => {
            if component.version == p.version {
                return Ok(output(ctx, Status::AlreadyCurrent, &component));
            }
            if !component.updateable {
                return Err(OpError::permanent(
                    ErrorClass::NotUpdateable,
                    format!("{}: {} cannot be updated", c.addr(), component.name),
                ));
            }
            let cleared = jobs::clear_stale(c, p.stale_job_age_s as i64, deadline(retry)).await?;
            if !cleared.deleted.is_empty() {
                ctx.progress(
                    0,
                    format!("cleared stale jobs {}", cleared.deleted.join(", ")),
                );
            }
            if let Some(j) = cleared.running {
                return Err(OpError::retryable(
                    ErrorClass::Busy,
                    format!(
                        "{}: job {} ({}) is {}; the update waits until it ends",
                        c.addr(),
                        j.id,
                        j.name,
                        j.state
                    ),
                ));
            }
            cp.from_version = Some(component.version.clone());
            cp.starting_ms = Some(outpost_proto::now_ms());
            save(ctx, cp).await?;
            let jid = start(ctx, c, p, retry).await?;
            cp.jid = Some(jid.clone());
            save(ctx, cp).await?;
            ctx.progress(5, format!("Dell job {jid} created"));
            jid
        }
    };
    conclude(ctx, c, p, retry, &jid, cp, &component)
        .await
        .map_err(|e| cert_changed_mid_job(c, &jid, e))
}

/// A certificate that changes while the Dell job runs does not stop the
/// job: the iDRAC carries on alone. Say so, name the job and what to do,
/// instead of a bare `cert_changed`.
fn cert_changed_mid_job(c: &Client, jid: &str, e: OpError) -> OpError {
    match e {
        OpError::Permanent { kind, message } if kind == ErrorClass::CertChanged => {
            let (host, port) = c
                .addr()
                .rsplit_once(':')
                .map(|(h, p)| (h.trim_matches(['[', ']']), p))
                .unwrap_or((c.addr(), "443"));
            let port = if port == "443" {
                String::new()
            } else {
                format!(" --port {port}")
            };
            let sha = c
                .refused_certificate()
                .map(|fp| format!(" --sha256 {fp}"))
                .unwrap_or_default();
            OpError::Permanent {
                message: format!(
                    "{message}. The Dell job {jid} was already sent and carries on inside the iDRAC \
                 without Outpost watching it (its Redfish session could not be closed either). \
                 Check the device: an iDRAC reset or update may install a new certificate. If the \
                 change is expected (compare the fingerprint with the iDRAC's own console), \
                 accept it with `outpost pins accept {host}{port}{sha}`; an update submitted \
                 again then waits for job {jid} to end instead of queueing another, and reports \
                 the component already current if it applied.",
                ),
                kind,
            }
        }
        other => other,
    }
}

/// Follows the Dell job `jid` to its end and checks what the device runs.
async fn conclude(
    ctx: &OpCtx,
    c: &mut Client,
    p: &Params,
    retry: Duration,
    jid: &str,
    cp: &mut Checkpoint,
    component: &Member,
) -> Result<Output, OpError> {
    let jid = jid.to_string();
    follow(ctx, c, p, retry, &jid, cp).await?;
    if p.apply_time == ApplyTime::OnReset {
        let j = jobs::get(c, &jid, deadline(retry)).await?;
        if j.waits_for_reboot() {
            return Ok(Output {
                version: p.version.clone(),
                from_version: cp.from_version.clone(),
                jid: Some(jid),
                reboots: Some(cp.reboots),
                note: Some("the update applies at the host's next reboot".into()),
                ..output(ctx, Status::Scheduled, component)
            });
        }
    }
    // Verify what the device now runs.
    let now = find_component(c, &p.component, &p.version, retry).await?;
    if now.version != p.version {
        return Err(OpError::permanent(
            ErrorClass::VersionMismatch,
            format!(
                "{}: job {jid} completed but {} reports version {} instead of {}",
                c.addr(),
                now.name,
                now.version,
                p.version
            ),
        ));
    }
    Ok(Output {
        from_version: cp.from_version.clone(),
        jid: Some(jid),
        reboots: Some(cp.reboots),
        ..output(ctx, Status::Updated, &now)
    })
}

/// Sends the update request; returns the JID.
async fn start(
    ctx: &OpCtx,
    c: &mut Client,
    p: &Params,
    retry: Duration,
) -> Result<String, OpError> {
    let apply = match p.apply_time {
        ApplyTime::Immediate => "Immediate",
        ApplyTime::OnReset => "OnReset",
    };
    let (headers, body, path) = if let Some(uri) = &p.image_uri {
        ctx.progress(2, "SimpleUpdate sent");
        let body = json!({ "ImageURI": uri, "@Redfish.OperationApplyTime": apply });
        let (_, h, b) = c
            .request_retrying(
                reqwest::Method::POST,
                SIMPLE_UPDATE,
                Some(&body),
                deadline(retry),
            )
            .await
            .map_err(busy_or)?;
        (h, b, SIMPLE_UPDATE.to_string())
    } else {
        let name = p.image.clone().unwrap_or_default();
        let image = read_image(ctx, &name).await?;
        let svc = c.get_retrying(UPDATE_SERVICE, deadline(retry)).await?;
        let path = svc["MultipartHttpPushUri"]
            .as_str()
            .unwrap_or("/redfish/v1/UpdateService/MultipartUpload")
            .to_string();
        let boundary = format!("outpost{}", uuid::Uuid::now_v7().simple());
        let params = json!({ "Targets": [], "@Redfish.OperationApplyTime": apply });
        let mut body = Vec::with_capacity(image.len() + 512);
        body.extend_from_slice(format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"UpdateParameters\"\r\nContent-Type: application/json\r\n\r\n{params}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"UpdateFile\"; filename=\"{}\"\r\nContent-Type: application/octet-stream\r\n\r\n",
            name.replace(['"', '\r', '\n'], "_")
        ).as_bytes());
        body.extend_from_slice(&image);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        ctx.progress(2, format!("uploading {name} ({} bytes)", image.len()));
        // One attempt only: a failed push is retried by the runner, after
        // the next attempt has looked for the job this one may have made.
        let upload_timeout = Duration::from_secs(600 + (image.len() / (1024 * 1024)) as u64);
        let (_, h, b) = c
            .send(
                reqwest::Method::POST,
                &path,
                Some(&Body::Raw {
                    content_type: format!("multipart/form-data; boundary={boundary}"),
                    bytes: body,
                }),
                Some(upload_timeout),
            )
            .await
            .map_err(busy_or)?;
        (h, b, path)
    };
    let location = headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let from_body = c
        .parse(&path, &body)
        .ok()
        .and_then(|v| v["Id"].as_str().map(str::to_string));
    location
        .as_deref()
        .and_then(|l| l.rsplit('/').next())
        .filter(|j| j.starts_with("JID_"))
        .map(str::to_string)
        .or(from_body.filter(|j| j.starts_with("JID_")))
        .ok_or_else(|| {
            OpError::permanent(
                ErrorClass::Malformed,
                format!(
                    "{}: the update was accepted without a Dell job id (Location {location:?})",
                    c.addr()
                ),
            )
        })
}

/// A 409 from the update service means another update runs: retry later.
fn busy_or(e: RedfishError) -> OpError {
    match &e {
        RedfishError::Http { status: 409, .. } => {
            OpError::retryable(ErrorClass::Busy, e.to_string())
        }
        _ => e.into(),
    }
}

async fn read_image(ctx: &OpCtx, name: &str) -> Result<Vec<u8>, OpError> {
    let store = ctx.env.firmware.as_ref().ok_or_else(|| {
        OpError::permanent(ErrorClass::Image, "this worker has no firmware store")
    })?;
    store.read(name, MAX_IMAGE).await.map_err(|e| match e {
        crate::images::ImageError::Unavailable { .. } => {
            OpError::retryable(ErrorClass::Image, e.to_string())
        }
        _ => OpError::permanent(ErrorClass::Image, e.to_string()),
    })
}

/// Follows the Dell job until it completes (or, with OnReset, until it is
/// scheduled), rebooting when it waits for one or stalls.
async fn follow(
    ctx: &OpCtx,
    c: &mut Client,
    p: &Params,
    retry: Duration,
    jid: &str,
    cp: &mut Checkpoint,
) -> Result<(), OpError> {
    let poll = Duration::from_millis(p.poll_ms.max(10));
    let stall = Duration::from_secs(p.stall_s);
    let reboot_wait = Duration::from_secs(p.reboot_s);
    let graceful = Duration::from_secs(p.graceful_s);
    let until = tokio::time::Instant::now() + Duration::from_secs(p.job_timeout_s);
    let mut last: Option<(String, u32)> = None;
    let mut since = tokio::time::Instant::now();
    let mut stall_reboots = 0u32;
    // The job has waited for a host reboot: it applies on the host.
    let mut seen_scheduled = cp.rebooted_for_schedule;
    loop {
        // The iDRAC may be resetting itself: keep asking through the whole reboot window.
        let j = match jobs::get(c, jid, tokio::time::Instant::now() + reboot_wait.max(retry)).await
        {
            Ok(j) => j,
            Err(RedfishError::NotFound { .. }) => {
                return Err(OpError::permanent(
                    ErrorClass::JobLost,
                    format!("{}: Dell job {jid} is no longer in the job queue", c.addr()),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        if j.state == "Completed" {
            ctx.progress(100, format!("{jid} completed"));
            return Ok(());
        }
        if j.failed() {
            let power = if cp.reboots == 0 {
                "the host's power was not touched"
            } else {
                "the host was rebooted for it"
            };
            return Err(OpError::permanent(
                j.failure_class(),
                format!(
                    "{}: Dell job {jid} ended {}: {}{}; {power}",
                    c.addr(),
                    j.state,
                    j.message,
                    if j.message_id.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", j.message_id)
                    },
                ),
            ));
        }
        let key = (j.state.clone(), j.percent);
        if last.as_ref() != Some(&key) {
            ctx.progress(
                5 + j.percent * 90 / 100,
                format!("{jid} {} {}%: {}", j.state, j.percent, j.message),
            );
            last = Some(key);
            since = tokio::time::Instant::now();
        }
        if j.waits_for_reboot() {
            seen_scheduled = true;
            if p.apply_time == ApplyTime::OnReset {
                return Ok(());
            }
            if !cp.rebooted_for_schedule {
                let how = power::reboot(ctx, c, graceful, reboot_wait, poll, retry).await?;
                cp.rebooted_for_schedule = true;
                cp.reboots += 1;
                save(ctx, cp).await?;
                ctx.progress(50, format!("host rebooted ({how}) to apply {jid}"));
                since = tokio::time::Instant::now();
                continue;
            }
        }
        if since.elapsed() >= stall {
            // A host reboot helps only a job that waits for one or runs
            // on the host after one; a job still downloading or checking
            // its package, or one the iDRAC applies alone, is left alone.
            let host_can_help =
                seen_scheduled && matches!(j.state.as_str(), "Scheduled" | "Running");
            if !host_can_help || stall_reboots >= p.max_stall_reboots {
                let why = if host_can_help {
                    format!(" after {stall_reboots} reboot(s)")
                } else {
                    "; a host reboot does not help a job in this state, so the host was not rebooted for it"
                        .to_string()
                };
                let left = give_up(ctx, c, jid).await;
                return Err(OpError::permanent(
                    ErrorClass::Stalled,
                    format!(
                        "{}: Dell job {jid} stayed {} at {}% for {} s{why}; {left}",
                        c.addr(),
                        j.state,
                        j.percent,
                        p.stall_s
                    ),
                ));
            }
            ctx.progress(
                5 + j.percent * 90 / 100,
                format!(
                    "{jid} stalled at {}% for {} s; rebooting",
                    j.percent, p.stall_s
                ),
            );
            let how = power::reboot(ctx, c, graceful, reboot_wait, poll, retry).await?;
            stall_reboots += 1;
            cp.reboots += 1;
            if j.waits_for_reboot() {
                cp.rebooted_for_schedule = true;
            }
            save(ctx, cp).await?;
            ctx.progress(
                5 + j.percent * 90 / 100,
                format!("host rebooted ({how}) after a stall"),
            );
            since = tokio::time::Instant::now();
            last = None;
            continue;
        }
        if tokio::time::Instant::now() + poll > until {
            let left = give_up(ctx, c, jid).await;
            return Err(OpError::permanent(
                ErrorClass::JobTimeout,
                format!(
                    "{}: Dell job {jid} did not finish within {} s (last {} {}%); {left}",
                    c.addr(),
                    p.job_timeout_s,
                    j.state,
                    j.percent
                ),
            ));
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = ctx.cancel.cancelled() => return Err(OpError::Cancelled),
        }
    }
}

/// Deletes the Dell job this task created when it gives up, so it does not
/// apply at some later reboot and a retry does not queue a second one
/// beside it; says what became of it.
async fn give_up(ctx: &OpCtx, c: &mut Client, jid: &str) -> String {
    match jobs::delete(c, jid).await {
        Ok(()) => {
            ctx.progress(0, format!("deleted the Dell job {jid}"));
            format!("the Dell job {jid} was deleted, so a retry starts clean")
        }
        Err(e) => format!(
            "the Dell job {jid} could not be deleted ({e}); delete it in the iDRAC's job queue before retrying"
        ),
    }
}
