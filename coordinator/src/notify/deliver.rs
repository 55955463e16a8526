//! Delivery: the leader watches job state, and for every (channel, job,
//! event) a channel wants claims a record in KV `outpost_notify` (create
//! only: one coordinator wins, once, across restarts and standbys), then
//! sends, retrying with backoff while the receiver fails transiently.
//! Each attempt's result is written to the record, which
//! `GET /api/v1/notifications` lists.
//!
//! At most once: the record says `sending` before each attempt, and a
//! record found `sending` at start-up (the coordinator died mid-send) is
//! marked `interrupted`, not sent again. A record between attempts
//! (`retrying`, its last attempt answered with a failure) is retried by
//! the next leader. A restart does not notify about the past: only jobs
//! whose event happened within [`CATCH_UP`] (a crash between a job's end
//! and its notification) are looked at.

use super::config::Channel;
use super::event::{EventKind, reached};
use super::message::Message;
use super::send::{SendError, send};
use crate::engine::Engine;
use crate::model::{JobState, now_rfc3339};
use async_nats::jetstream::kv;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Events older than this at start-up are not notified.
pub const CATCH_UP: Duration = Duration::from_secs(15 * 60);
/// Attempts per message at most.
pub const MAX_ATTEMPTS: u32 = 6;
/// The wait before the second attempt; doubled after each failure.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// How often zones are checked for live workers.
const ZONE_CHECK: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Waiting for its channel's next digest.
    Queued,
    /// An attempt is under way.
    Sending,
    /// The last attempt failed transiently; another follows.
    Retrying,
    Delivered,
    /// Refused by the receiver, or out of attempts.
    Failed,
    /// The coordinator stopped during an attempt: not sent again.
    Interrupted,
}

impl State {
    /// The metric's `outcome` label of an attempt that left this state.
    fn outcome(self) -> &'static str {
        match self {
            State::Delivered => "delivered",
            State::Retrying => "retrying",
            _ => "failed",
        }
    }
}

/// One attempt's outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attempt {
    pub at: String,
    pub ok: bool,
    /// HTTP status or SMTP reply code, when the receiver answered.
    #[serde(default)]
    pub code: Option<u16>,
    /// The receiver's answer or the error.
    pub answer: String,
}

impl Attempt {
    /// The attempt that gave `result`, now.
    fn of(result: &Result<super::send::Answer, SendError>) -> Attempt {
        match result {
            Ok(a) => Attempt {
                at: now_rfc3339(),
                ok: true,
                code: Some(a.code),
                answer: a.text.clone(),
            },
            Err(e) => Attempt {
                at: now_rfc3339(),
                ok: false,
                code: None,
                answer: e.to_string(),
            },
        }
    }
}

/// A (channel, job or zone, event) and what became of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    pub key: String,
    pub channel: String,
    pub kind: String,
    pub event: EventKind,
    #[serde(default)]
    pub job_id: Option<String>,
    #[serde(default)]
    pub zone: Option<String>,
    pub title: String,
    pub state: State,
    pub created_at: String,
    pub attempts: Vec<Attempt>,
}

/// The record key of `channel`'s `event` about `subject` (a job id, or
/// `zone.<name>.<since>`).
pub fn key(channel: &str, subject: &str, event: EventKind) -> String {
    format!("{channel}.{subject}.{}", event.as_str())
}

/// `c` wants `job`'s `event`.
fn wants(c: &Channel, job: &JobState, event: EventKind) -> bool {
    c.cfg.events.contains(&event)
        && c.cfg
            .job_types
            .as_ref()
            .is_none_or(|t| t.contains(&job.job_type))
        && c.cfg
            .zones
            .as_ref()
            .is_none_or(|z| job.zones.iter().any(|jz| z.contains(jz)))
}

/// When `event` happened to `job`, if its state says.
fn happened_at(job: &JobState, event: EventKind) -> Option<chrono::DateTime<chrono::Utc>> {
    let at = match event {
        EventKind::JobStarted => job.started_at.as_deref(),
        _ => job.finished_at.as_deref(),
    }?;
    chrono::DateTime::parse_from_rfc3339(at)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// What a delivery task needs.
#[derive(Clone)]
pub struct Notifier {
    pub channels: Arc<Vec<Channel>>,
    pub engine: Engine,
    pub store: kv::Store,
    /// The console's base URL, for links.
    pub console: Option<String>,
    pub workers: kv::Store,
    /// Configured zones (checked for live workers).
    pub zones: Vec<String>,
}

/// Runs until `stop`: resumes what a previous leader left, then follows
/// job changes.
pub async fn run(n: Notifier, stop: CancellationToken) -> Result<(), String> {
    let mut changes = n.engine.subscribe();
    let mut done: HashSet<String> = HashSet::new();
    resume(&n, &stop).await;
    // Start-up: what happened recently and was not notified yet.
    let jobs: Vec<String> = n.engine.read(|v| v.jobs.keys().cloned().collect());
    for id in jobs {
        consider(&n, &id, &mut done, true, &stop);
    }
    for ch in n.channels.iter().filter(|c| c.cfg.digest_minutes.is_some()) {
        let (n, ch, stop) = (n.clone(), ch.clone(), stop.clone());
        tokio::spawn(async move { digests(&n, &ch, &stop).await });
    }
    let mut zone_tick = tokio::time::interval(ZONE_CHECK);
    let mut empty_since: BTreeMap<String, chrono::DateTime<chrono::Utc>> = BTreeMap::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            c = changes.recv() => match c {
                Ok(id) => consider(&n, &id, &mut done, false, &stop),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    let jobs: Vec<String> = n.engine.read(|v| v.jobs.keys().cloned().collect());
                    for id in jobs {
                        consider(&n, &id, &mut done, false, &stop);
                    }
                }
                Err(_) => return Ok(()),
            },
            _ = zone_tick.tick() => check_zones(&n, &mut empty_since, &stop).await,
        }
    }
}

/// Keys remembered as handled at most; beyond, the memory is dropped and
/// the KV claim (which refuses a second one) is asked again.
const MAX_DONE: usize = 100_000;

/// Starts a delivery for every event job `id` reached that a channel
/// wants and that is not known done. With `startup`, only events within
/// [`CATCH_UP`]. Called on every change of every job: what is due is
/// worked out under the view's lock without copying the job.
fn consider(
    n: &Notifier,
    id: &str,
    done: &mut HashSet<String>,
    startup: bool,
    stop: &CancellationToken,
) {
    let now = chrono::Utc::now();
    let due: Vec<(EventKind, usize, String, bool)> = n.engine.read(|v| {
        let Some(e) = v.jobs.get(id) else {
            return Vec::new();
        };
        let job = &e.job;
        let mut due = Vec::new();
        for event in reached(job) {
            let recent = happened_at(job, event).is_some_and(|t| {
                now.signed_duration_since(t).to_std().unwrap_or_default() < CATCH_UP
            });
            for (i, ch) in n.channels.iter().enumerate() {
                if wants(ch, job, event) {
                    due.push((event, i, key(&ch.cfg.name, &job.id, event), recent));
                }
            }
        }
        due
    });
    if done.len() > MAX_DONE {
        done.clear();
    }
    for (event, i, k, recent) in due {
        if !done.insert(k.clone()) || (startup && !recent) {
            continue;
        }
        let Some(view) = n.engine.read(|v| v.job_view(id)) else {
            continue;
        };
        let msg = Message::for_job(event, &view, n.console.as_deref());
        let (n, ch, stop) = (n.clone(), n.channels[i].clone(), stop.clone());
        tokio::spawn(async move {
            deliver_new(&n, &ch, k, msg, Some(view.job.id.clone()), None, &stop).await
        });
    }
}

/// Claims `key` and delivers `msg`; nothing when another coordinator (or
/// an earlier run) already has the key.
async fn deliver_new(
    n: &Notifier,
    ch: &Channel,
    key: String,
    msg: Message,
    job_id: Option<String>,
    zone: Option<String>,
    stop: &CancellationToken,
) {
    let record = Delivery {
        key: key.clone(),
        channel: ch.cfg.name.clone(),
        kind: ch.cfg.kind.as_str().into(),
        event: msg.event,
        job_id,
        zone,
        title: msg.title.clone(),
        state: if ch.cfg.digest_minutes.is_some() {
            State::Queued
        } else {
            State::Sending
        },
        created_at: now_rfc3339(),
        attempts: Vec::new(),
    };
    let Ok(bytes) = serde_json::to_vec(&record) else {
        return;
    };
    let rev = match n.store.create(&key, bytes.into()).await {
        // The channel's digest sends it with the others.
        Ok(_) if record.state == State::Queued => return,
        Ok(rev) => rev,
        Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => return,
        Err(e) => {
            tracing::warn!(channel = %ch.cfg.name, key = %key, error = %e, "cannot record a notification; not sent");
            return;
        }
    };
    attempts(n, ch, record, rev, &msg, stop).await;
}

/// Sends until delivered, refused or out of attempts, writing each
/// attempt to the record (at revision `rev`).
async fn attempts(
    n: &Notifier,
    ch: &Channel,
    mut record: Delivery,
    mut rev: u64,
    msg: &Message,
    stop: &CancellationToken,
) {
    let mut backoff = FIRST_BACKOFF * 2u32.pow(record.attempts.len().saturating_sub(1) as u32);
    loop {
        if record.state != State::Sending {
            record.state = State::Sending;
            match write(n, &record, rev).await {
                Some(r) => rev = r,
                None => return,
            }
        }
        let result = send(ch, msg, &record.key).await;
        let last = record.attempts.len() as u32 + 1 >= MAX_ATTEMPTS;
        let state = match &result {
            Ok(_) => State::Delivered,
            Err(e) if e.retryable() && !last => State::Retrying,
            Err(_) => State::Failed,
        };
        let attempt = Attempt::of(&result);
        let outcome = state.outcome();
        record.attempts.push(attempt);
        record.state = state;
        metric(ch, record.event, outcome);
        match &result {
            Ok(_) => {
                tracing::info!(channel = %ch.cfg.name, key = %record.key, "notification delivered")
            }
            Err(SendError::Transient(e)) | Err(SendError::Permanent(e)) => {
                tracing::warn!(channel = %ch.cfg.name, key = %record.key, attempt = record.attempts.len(), error = %e, "notification not delivered")
            }
        }
        match write(n, &record, rev).await {
            Some(r) => rev = r,
            None => return,
        }
        if state != State::Retrying {
            return;
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff *= 2;
    }
}

/// Writes `record` over revision `rev`; the new revision, or `None` when
/// another coordinator moved it (it carries on) or NATS refused.
async fn write(n: &Notifier, record: &Delivery, rev: u64) -> Option<u64> {
    let bytes = serde_json::to_vec(record).ok()?;
    match n.store.update(&record.key, bytes.into(), rev).await {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::warn!(key = %record.key, error = %e, "notification record not written; leaving it");
            None
        }
    }
}

fn metric(ch: &Channel, event: EventKind, outcome: &str) {
    use crate::api::metrics::NOTIFICATIONS;
    outpost_telemetry::metrics::global().inc(
        NOTIFICATIONS.0,
        NOTIFICATIONS.1,
        &[
            ("channel", &ch.cfg.name),
            ("event", event.as_str()),
            ("outcome", outcome),
        ],
    );
}

/// Records left by a coordinator that stopped: `sending` ones become
/// `interrupted`; `retrying` ones are retried here.
async fn resume(n: &Notifier, stop: &CancellationToken) {
    let Ok(keys) = n.store.keys().await else {
        return;
    };
    let keys: Vec<String> = keys.filter_map(|k| async move { k.ok() }).collect().await;
    for k in keys {
        let Ok(Some(entry)) = n.store.entry(&k).await else {
            continue;
        };
        let Ok(mut record) = serde_json::from_slice::<Delivery>(&entry.value) else {
            continue;
        };
        match record.state {
            State::Sending => {
                record.state = State::Interrupted;
                tracing::warn!(key = %k, "notification interrupted mid-send by a stop; not sent again (at most once)");
                let _ = write(n, &record, entry.revision).await;
            }
            State::Retrying => {
                let Some(ch) = n
                    .channels
                    .iter()
                    .find(|c| c.cfg.name == record.channel)
                    .cloned()
                else {
                    continue;
                };
                let msg = match &record.job_id {
                    Some(id) => match n.engine.read(|v| v.job_view(id)) {
                        Some(view) => Message::for_job(record.event, &view, n.console.as_deref()),
                        None => continue,
                    },
                    None => Message::no_workers(
                        record.zone.as_deref().unwrap_or(""),
                        &record.created_at,
                    ),
                };
                let (n, stop, rev) = (n.clone(), stop.clone(), entry.revision);
                tokio::spawn(async move { attempts(&n, &ch, record, rev, &msg, &stop).await });
            }
            _ => {}
        }
    }
}

/// Notifies channels that want `zone.no_workers` about zones without a
/// live worker for their `no_workers_minutes`.
async fn check_zones(
    n: &Notifier,
    empty_since: &mut BTreeMap<String, chrono::DateTime<chrono::Utc>>,
    stop: &CancellationToken,
) {
    let wanting: Vec<&Channel> = n
        .channels
        .iter()
        .filter(|c| c.cfg.events.contains(&EventKind::ZoneNoWorkers))
        .collect();
    if wanting.is_empty() {
        return;
    }
    let Ok(live) = crate::api::worker_presence(&n.workers, None).await else {
        return;
    };
    let now = chrono::Utc::now();
    for zone in &n.zones {
        if live.iter().any(|w| w.zone == *zone) {
            empty_since.remove(zone);
            continue;
        }
        let since = *empty_since.entry(zone.clone()).or_insert(now);
        for ch in &wanting {
            if ch.cfg.zones.as_ref().is_some_and(|z| !z.contains(zone)) {
                continue;
            }
            let after = Duration::from_secs_f64(ch.cfg.no_workers_minutes * 60.0);
            if now
                .signed_duration_since(since)
                .to_std()
                .unwrap_or_default()
                < after
            {
                continue;
            }
            let subject = format!("zone.{zone}.{}", since.timestamp());
            let msg = Message::no_workers(zone, &since.to_rfc3339());
            deliver_new(
                n,
                ch,
                key(&ch.cfg.name, &subject, EventKind::ZoneNoWorkers),
                msg,
                None,
                Some(zone.clone()),
                stop,
            )
            .await;
        }
    }
}

/// Sends `ch`'s queued records as one email every `digest_minutes`.
async fn digests(n: &Notifier, ch: &Channel, stop: &CancellationToken) {
    let every = Duration::from_secs_f64(ch.cfg.digest_minutes.unwrap_or(60.0) * 60.0);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        if let Err(e) = digest_once(n, ch, stop).await {
            tracing::warn!(channel = %ch.cfg.name, error = %e, "digest not sent");
        }
    }
}

/// Takes the channel's queued records (each marked `sending` first, so
/// another coordinator does not take it too) and sends them as one email.
async fn digest_once(n: &Notifier, ch: &Channel, stop: &CancellationToken) -> Result<(), String> {
    let prefix = format!("{}.", ch.cfg.name);
    let keys: Vec<String> = n
        .store
        .keys()
        .await
        .map_err(|e| e.to_string())?
        .filter_map(|k| async move { k.ok() })
        .filter(|k| futures::future::ready(k.starts_with(&prefix)))
        .collect()
        .await;
    let mut taken: Vec<(Delivery, u64)> = Vec::new();
    for k in keys {
        let Ok(Some(entry)) = n.store.entry(&k).await else {
            continue;
        };
        let Ok(mut record) = serde_json::from_slice::<Delivery>(&entry.value) else {
            continue;
        };
        if record.state != State::Queued {
            continue;
        }
        record.state = State::Sending;
        if let Some(rev) = write(n, &record, entry.revision).await {
            taken.push((record, rev));
        }
    }
    if taken.is_empty() {
        return Ok(());
    }
    taken.sort_by(|a, b| a.0.created_at.cmp(&b.0.created_at));
    let subject = format!("[Outpost] {} notifications", taken.len());
    let mut body = format!("{} events since the last digest:\n\n", taken.len());
    for (r, _) in &taken {
        body.push_str(&format!("{}  {}\n", r.created_at, r.title));
        if let (Some(base), Some(id)) = (&n.console, &r.job_id) {
            body.push_str(&format!("    {}/#/job/{id}\n", base.trim_end_matches('/')));
        }
    }
    body.push_str("\n-- \nOutpost\n");
    let result = super::send::with_retries(stop, MAX_ATTEMPTS, FIRST_BACKOFF, || {
        super::email::send_text(ch, subject.clone(), body.clone())
    })
    .await;
    for (mut r, rev) in taken {
        let state = if result.is_ok() {
            State::Delivered
        } else {
            State::Failed
        };
        let (attempt, outcome) = (Attempt::of(&result), state.outcome());
        r.state = state;
        r.attempts.push(attempt);
        metric(ch, r.event, outcome);
        let _ = write(n, &r, rev).await;
    }
    result.map(|_| ()).map_err(|e| e.to_string())
}

/// The newest records first, at most `limit`.
pub async fn list(store: &kv::Store, limit: usize) -> Result<Vec<Delivery>, String> {
    let keys: Vec<String> = store
        .keys()
        .await
        .map_err(|e| e.to_string())?
        .filter_map(|k| async move { k.ok() })
        .collect()
        .await;
    // Keys come in the order their last value was written: the newest
    // records are among the last `limit`, and only those are read.
    let newest = keys.len().saturating_sub(limit);
    let mut out = Vec::with_capacity(limit.min(keys.len()));
    for k in &keys[newest..] {
        if let Ok(Some(v)) = store.get(k).await
            && let Ok(d) = serde_json::from_slice::<Delivery>(&v)
        {
            out.push(d);
        }
    }
    out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.key.cmp(&b.key)));
    out.truncate(limit);
    Ok(out)
}
