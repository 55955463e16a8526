//! Running one delivered task message to its end: decode, check the job is
//! not cancelled, take the lease, report `started`, run the operation while
//! sending in-progress acks and renewing the lease, report the result, and
//! settle the message (ack, nak with backoff, or terminate).

use crate::bus::Bus;
use crate::cancel::Cancels;
use crate::config::{ConsumerSettings, WorkerConfig};
use crate::deliveries::{self, Ledger};
use crate::events::{self, EventSink};
use crate::lease::{Lease, LeaseError};
use crate::ops::{self, Kind, OpCtx, OpEnv, OpError};
use crate::outbox::Outbox;
use async_nats::jetstream::{AckKind, Message};
use outpost_kinds::ErrorClass;
use outpost_proto::pb::{self, event::Body};
use outpost_proto::{Message as _, layout};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// How long the worker keeps trying to store a task's events.
/// (A little longer than the outbox re-sends, so its reason is the one given.)
const CONFIRM_DEADLINE: Duration = Duration::from_secs(crate::outbox::DEADLINE.as_secs() + 5);
/// How long a task runs before its `Started` event is published; a task
/// that finishes sooner reports its start in its result.
pub const ANNOUNCE_START_AFTER: Duration = Duration::from_millis(250);

/// How many finished tasks may wait to settle per run slot.
pub const SETTLING_PER_SLOT: usize = 4;

/// What every running task shares.
pub struct Shared {
    pub cfg: WorkerConfig,
    pub bus: Bus,
    pub cancels: Cancels,
    pub lease_ttl: Duration,
    pub env: Arc<OpEnv>,
    /// Fires when a draining worker runs out of time: running tasks are handed back.
    pub hand_back: CancellationToken,
    /// Where every task's events leave, in batches.
    pub outbox: Outbox,
    /// Tasks whose operation is over and that wait for their events to be
    /// stored before they settle: [`SETTLING_PER_SLOT`] per run slot.
    pub settling: Arc<tokio::sync::Semaphore>,
    /// Bumped whenever a task gives its capacity back; claim loops watch it.
    pub freed: watch::Sender<u64>,
    running: Mutex<HashSet<String>>,
    ended: Mutex<Recent>,
}

/// How many tasks that ended here a worker remembers.
pub const ENDED_REMEMBERED: usize = 65_536;

/// The ids of the tasks that ended most recently, oldest forgotten first.
#[derive(Default)]
struct Recent {
    order: std::collections::VecDeque<String>,
    set: HashSet<String>,
}

impl Recent {
    fn insert(&mut self, id: &str) {
        if self.set.insert(id.to_string()) {
            self.order.push_back(id.to_string());
            while self.order.len() > ENDED_REMEMBERED {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }

    fn contains(&self, id: &str) -> bool {
        self.set.contains(id)
    }
}

impl Shared {
    pub fn new(
        cfg: WorkerConfig,
        bus: Bus,
        cancels: Cancels,
        lease_ttl: Duration,
        env: Arc<OpEnv>,
    ) -> Self {
        let outbox = Outbox::start(bus.js.clone(), &cfg.worker_id);
        let settling = Arc::new(tokio::sync::Semaphore::new(
            cfg.concurrency.saturating_mul(SETTLING_PER_SLOT).max(1),
        ));
        Self {
            outbox,
            settling,
            cfg,
            bus,
            cancels,
            lease_ttl,
            env,
            hand_back: CancellationToken::new(),
            freed: watch::Sender::new(0),
            running: Mutex::new(HashSet::new()),
            ended: Mutex::new(Recent::default()),
        }
    }

    /// Tasks running on this worker now.
    pub fn running(&self) -> usize {
        self.running.lock().map(|r| r.len()).unwrap_or(0)
    }

    fn start(&self, task_id: &str) -> bool {
        self.running
            .lock()
            .map(|mut r| r.insert(task_id.to_string()))
            .unwrap_or(false)
    }

    /// Remembers that `task_id` ended here with its result stored.
    fn ended_here(&self, task_id: &str) {
        if let Ok(mut e) = self.ended.lock() {
            e.insert(task_id);
        }
    }

    /// Whether `task_id` ended here (among the last [`ENDED_REMEMBERED`]).
    fn ended_recently(&self, task_id: &str) -> bool {
        self.ended
            .lock()
            .map(|e| e.contains(task_id))
            .unwrap_or(false)
    }

    fn finish(&self, task_id: &str) {
        if let Ok(mut r) = self.running.lock() {
            r.remove(task_id);
        }
    }

    /// Delay before the next attempt after `attempt` failed retryably:
    /// [`full_jitter`] on `retry_base`, capped at [`RETRY_CAP`].
    pub fn backoff(&self, attempt: u32) -> Duration {
        full_jitter(self.cfg.retry_base, attempt, RETRY_CAP, random_unit())
    }
}

/// No delay between two attempts is longer.
pub const RETRY_CAP: Duration = Duration::from_secs(300);

/// Exponential backoff with full jitter: `unit` (in `[0, 1]`) of
/// `min(cap, base * 2^(attempt-1))`. Attempts that failed together (a
/// server shedding load, like sshd past `MaxStartups`) spread over the
/// whole window instead of colliding again at the same instant.
pub fn full_jitter(base: Duration, attempt: u32, cap: Duration, unit: f64) -> Duration {
    let ceiling = base
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
        .min(cap);
    ceiling.mul_f64(if unit.is_finite() {
        unit.clamp(0.0, 1.0)
    } else {
        1.0
    })
}

/// 64 random bits from the standard library's randomly keyed hasher (a
/// fresh key per call; no generator to share).
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

/// A uniform draw from `[0, 1)`.
fn random_unit() -> f64 {
    (random_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A unit of the worker's capacity, given back (and announced) when the
/// operation is over or on drop, whichever comes first.
struct Slot {
    shared: Arc<Shared>,
    permit: Option<OwnedSemaphorePermit>,
}

impl Slot {
    fn release(&mut self) {
        if self.permit.take().is_some() {
            self.shared.freed.send_modify(|n| *n = n.wrapping_add(1));
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.release();
    }
}

/// Handles one delivered message; `permit` is held until it is settled.
pub async fn handle(
    shared: Arc<Shared>,
    kind: Kind,
    settings: ConsumerSettings,
    msg: Message,
    permit: OwnedSemaphorePermit,
) {
    let mut slot = Slot {
        shared: shared.clone(),
        permit: Some(permit),
    };
    let attempt = msg
        .info()
        .map(|i| i.delivered.clamp(1, i64::from(u32::MAX)) as u32)
        .unwrap_or(1);
    let task = match pb::Task::decode(msg.payload.as_ref()) {
        Ok(t) if t.kind == kind.as_str() && t.zone == shared.cfg.zone => t,
        Ok(t) => {
            tracing::error!(subject = %msg.subject, kind = %t.kind, zone = %t.zone, "task does not belong on this subject; terminating it");
            settle(&msg, AckKind::Term).await;
            return;
        }
        Err(e) => {
            tracing::error!(subject = %msg.subject, error = %e, "undecodable task message; terminating it");
            settle(&msg, AckKind::Term).await;
            return;
        }
    };
    if layout::validate_id("task id", &task.task_id).is_err()
        || layout::validate_id("job id", &task.job_id).is_err()
    {
        tracing::error!(subject = %msg.subject, "task message has an invalid id; terminating it");
        settle(&msg, AckKind::Term).await;
        return;
    }
    // A task the coordinator sampled into its job's trace carries the
    // trace's context; the others run untraced (outpost_telemetry::sampling).
    let traced = msg
        .headers
        .as_ref()
        .is_some_and(|h| h.get("traceparent").is_some());
    let make_span = || {
        tracing::info_span!(
            "task.run",
            zone = %task.zone,
            job = %task.job_id,
            task = %task.task_id,
            kind = %task.kind,
            attempt,
            trace_id = tracing::field::Empty,
        )
    };
    let span = if traced {
        let span = make_span();
        outpost_telemetry::propagation::set_parent_from_nats(&span, msg.headers.as_ref());
        outpost_telemetry::record_trace_id(&span);
        span
    } else if outpost_telemetry::sampling::logs_take(tracing::Level::INFO) {
        // Its log lines name the zone, job and task.
        outpost_telemetry::sampling::untraced_sync(make_span)
    } else {
        tracing::Span::none()
    };
    if shared.ended_recently(&task.task_id) {
        // Its result is stored; the server lost the acknowledgement (a
        // crash can) and delivered it again. Running it again would act on
        // the device twice.
        tracing::info!(parent: &span, "task already ended here with its result stored; acknowledging the redelivery");
        settle(&msg, AckKind::Ack).await;
        return;
    }
    if !shared.start(&task.task_id) {
        // Redelivered while this worker still runs it: the running attempt settles the message.
        tracing::debug!(parent: &span, "redelivery of a task already running here; ignored");
        return;
    }
    // Boxed: the run's state is kilobytes, and the spawned task that
    // carries this future is moved several times before it first runs.
    let running = Box::pin(run(
        &shared, kind, settings, &msg, &task, attempt, &mut slot,
    ))
    .instrument(span);
    if traced {
        running.await;
    } else {
        outpost_telemetry::sampling::untraced(running).await;
    }
    shared.finish(&task.task_id);
}

async fn run(
    shared: &Shared,
    kind: Kind,
    settings: ConsumerSettings,
    msg: &Message,
    task: &pb::Task,
    attempt: u32,
    slot: &mut Slot,
) {
    let received = std::time::Instant::now();
    let mut sink = match EventSink::new(shared.outbox.clone(), task, &shared.cfg.worker_id, attempt)
    {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot address the task's events; terminating it");
            settle(msg, AckKind::Term).await;
            return;
        }
    };
    // A clean-up step (finishing a firmware update, leaving maintenance
    // mode) runs to its end even when its job is cancelled.
    let job_cancel = if task.cleanup {
        CancellationToken::new()
    } else {
        shared.cancels.token(&task.job_id).await
    };
    if job_cancel.is_cancelled() {
        tracing::info!("job is cancelled; task not started");
        sink.emit(cancelled()).await;
        finish(msg, &mut sink, AckKind::Term).await;
        return;
    }
    let holder = format!("{}/{attempt}", shared.cfg.worker_id);
    let leases = &shared.bus.leases;
    // A first delivery cannot have a twin running before its ack wait ends,
    // so it takes the lease at its first heartbeat (fast tasks never need
    // one); a redelivery must take it before it starts.
    let mut lease = None;
    let mut ledger = Ledger::first();
    if attempt > 1 {
        match Lease::acquire(leases, &shared.cfg.zone, &task.task_id, &holder).await {
            Ok(l) => lease = Some(l),
            Err(e) => return lease_refused(shared, msg, e).await,
        }
        // Holding the lease, no earlier run is alive: one that neither
        // ended nor left a result had its worker vanish under it.
        let store = &shared.bus.checkpoints;
        match deliveries::load(store, &shared.cfg.zone, &task.task_id).await {
            Ok(stored) => {
                ledger = Ledger::judge(stored, attempt);
                if ledger.exhausted() {
                    return crashed_too_often(msg, &mut sink, ledger, lease, leases).await;
                }
                if ledger.crashes > 0 {
                    tracing::warn!(
                        crashes = ledger.crashes,
                        "an earlier run of this task ended with its worker gone"
                    );
                }
                deliveries::save(store, &shared.cfg.zone, &task.task_id, ledger).await;
            }
            Err(e) => tracing::warn!(error = %e, "crashed runs not counted"),
        }
    }
    sink.mark_started();
    // A task still running after this long tells followers it started; a
    // quicker one says so in its result.
    let announce = tokio::time::sleep(ANNOUNCE_START_AFTER);
    let mut announce = std::pin::pin!(announce);
    let mut announced = false;

    let run_token = CancellationToken::new();
    let (progress_tx, mut progress_rx) = mpsc::unbounded_channel();
    let params = serde_json::from_slice(&task.params_json).unwrap_or(serde_json::Value::Null);
    let ctx = OpCtx::new(
        task,
        params,
        attempt,
        run_token.clone(),
        shared.env.clone(),
        progress_tx,
    );
    let beat = settings.ack_wait.min(shared.lease_ttl) / 3;
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + beat, beat);
    let mut lease_lost = false;
    let op = ops::run(kind, &ctx);
    let mut op = std::pin::pin!(op);
    let outcome = loop {
        tokio::select! {
            r = &mut op => break r,
            _ = &mut announce, if !announced => {
                announced = true;
                sink.announce_start().await;
            }
            Some(p) = progress_rx.recv() => {
                sink.emit(Body::Progress(pb::Progress { percent: p.percent, step: p.step })).await;
            }
            _ = ticker.tick(), if !lease_lost => {
                settle(msg, AckKind::Progress).await;
                let kept = match lease.as_mut() {
                    Some(l) => l.renew(leases).await,
                    None => Lease::acquire(leases, &shared.cfg.zone, &task.task_id, &holder).await.map(|l| { lease = Some(l); }),
                };
                match kept {
                    Ok(()) => {}
                    Err(LeaseError::Unavailable(e)) => tracing::warn!(error = %e, "lease not renewed; will retry"),
                    Err(e) => {
                        tracing::warn!(error = %e, "lease lost; stopping this run");
                        lease_lost = true;
                        run_token.cancel();
                    }
                }
            }
            _ = job_cancel.cancelled(), if !run_token.is_cancelled() => run_token.cancel(),
            _ = shared.hand_back.cancelled(), if !run_token.is_cancelled() => run_token.cancel(),
        }
    };
    // Once the lease is lost another attempt owns the task and reports its
    // result: whatever this run ended with (it may have finished in the same
    // instant it was stopped) is dropped.
    if lease_lost {
        tracing::warn!(
            finished_ok = outcome.is_ok(),
            "run ended after its lease was lost; its result is dropped"
        );
        if let Err(e) = sink.confirm(CONFIRM_DEADLINE).await {
            tracing::warn!(error = %e, "events of an abandoned run were not stored");
        }
        return;
    }
    // A run that outlived half its ack wait (a slow task, a frozen or
    // partitioned worker) may have a twin by now: report only while still
    // holding the lease. Shorter runs cannot have been redelivered.
    if received.elapsed() >= settings.ack_wait / 2 {
        let kept = match lease.as_mut() {
            Some(l) => l.renew(leases).await,
            None => Lease::acquire(leases, &shared.cfg.zone, &task.task_id, &holder)
                .await
                .map(|l| lease = Some(l)),
        };
        match kept {
            Ok(()) | Err(LeaseError::Unavailable(_)) => {}
            Err(e) => {
                tracing::warn!(error = %e, "lease lost while the task ran; its result is dropped");
                if let Err(e) = sink.confirm(CONFIRM_DEADLINE).await {
                    tracing::warn!(error = %e, "events of an abandoned run were not stored");
                }
                return;
            }
        }
    }
    while let Ok(p) = progress_rx.try_recv() {
        sink.emit(Body::Progress(pb::Progress {
            percent: p.percent,
            step: p.step,
        }))
        .await;
    }
    record(
        task,
        attempt,
        settings,
        job_cancel.is_cancelled(),
        &outcome,
        received,
    );
    let settle_with = match outcome {
        Ok(output) => {
            tracing::info!("task succeeded");
            sink.emit(events::result(
                pb::Outcome::Succeeded,
                "",
                "",
                Some(&output),
            ))
            .await;
            AckKind::Ack
        }
        Err(OpError::Cancelled) if job_cancel.is_cancelled() => {
            tracing::info!("task cancelled");
            sink.emit(cancelled()).await;
            AckKind::Term
        }
        Err(OpError::Cancelled) => {
            tracing::info!("worker is stopping; task handed back");
            sink.emit(Body::Retrying(pb::Retrying {
                error_kind: ErrorClass::HandedBack.as_str().into(),
                error: "worker stopped before the task finished".into(),
                delay_ms: 0,
            }))
            .await;
            AckKind::Nak(None)
        }
        Err(OpError::Retryable { kind, message }) if i64::from(attempt) < settings.max_deliver => {
            let delay = shared.backoff(attempt);
            tracing::warn!(error_kind = %kind, error = %message, delay_ms = delay.as_millis() as u64, "attempt failed; will retry");
            sink.emit(Body::Retrying(pb::Retrying {
                error_kind: kind.as_str().to_string(),
                error: message,
                delay_ms: delay.as_millis() as u64,
            }))
            .await;
            AckKind::Nak(Some(delay))
        }
        Err(OpError::Retryable { kind, message }) => {
            let message = format!("{message} (gave up after {attempt} attempts)");
            failed(&mut sink, kind, &message).await
        }
        Err(OpError::Permanent { kind, message }) => failed(&mut sink, kind, &message).await,
    };
    // The operation is over: its run slot goes to the next task while this
    // one waits for its events to be stored (with many others, in one
    // batch) and settles. How many may wait so is bounded.
    let _settling = shared.settling.clone().acquire_owned().await;
    slot.release();
    if matches!(settle_with, AckKind::Nak(_)) {
        deliveries::save(
            &shared.bus.checkpoints,
            &shared.cfg.zone,
            &task.task_id,
            ledger.ended(),
        )
        .await;
    }
    let ended = matches!(settle_with, AckKind::Ack | AckKind::Term);
    if finish(msg, &mut sink, settle_with).await && ended {
        shared.ended_here(&task.task_id);
    }
    if let Some(l) = lease {
        l.release(leases).await;
    }
}

/// Counts a run that ended in the worker's metrics: its duration by zone,
/// kind and outcome; a failure by error class; a retry; a redelivery.
fn record(
    task: &pb::Task,
    attempt: u32,
    settings: ConsumerSettings,
    job_cancelled: bool,
    outcome: &Result<serde_json::Value, OpError>,
    received: std::time::Instant,
) {
    let m = outpost_telemetry::metrics::global();
    let (zone, kind) = (task.zone.as_str(), task.kind.as_str());
    let (label, class) = match outcome {
        Ok(_) => ("succeeded", None),
        Err(OpError::Cancelled) if job_cancelled => ("cancelled", None),
        Err(OpError::Cancelled) => ("handed_back", None),
        Err(OpError::Retryable { kind, .. }) if i64::from(attempt) < settings.max_deliver => {
            ("retrying", Some(*kind))
        }
        Err(OpError::Retryable { kind, .. } | OpError::Permanent { kind, .. }) => {
            ("failed", Some(*kind))
        }
    };
    use crate::metrics::{TASK_DURATION, TASK_FAILURES, TASK_REDELIVERIES, TASK_RETRIES};
    m.observe(
        TASK_DURATION.0,
        TASK_DURATION.1,
        outpost_telemetry::metrics::SECONDS,
        &[("zone", zone), ("kind", kind), ("outcome", label)],
        received.elapsed().as_secs_f64(),
    );
    if let Some(c) = class {
        m.inc(
            TASK_FAILURES.0,
            TASK_FAILURES.1,
            &[("zone", zone), ("kind", kind), ("error_class", c.as_str())],
        );
    }
    if label == "retrying" {
        m.inc(
            TASK_RETRIES.0,
            TASK_RETRIES.1,
            &[("zone", zone), ("kind", kind)],
        );
    }
    if attempt > 1 {
        m.inc(
            TASK_REDELIVERIES.0,
            TASK_REDELIVERIES.1,
            &[("zone", zone), ("kind", kind)],
        );
    }
}

/// The task's runs keep ending with their worker gone: fail it here rather
/// than hand it to the next worker of the zone.
async fn crashed_too_often(
    msg: &Message,
    sink: &mut EventSink,
    ledger: Ledger,
    lease: Option<Lease>,
    leases: &crate::kv::Bucket,
) {
    let message = format!(
        "{} runs of this task ended with their worker gone (killed or crashed) and no result; \
         it is not handed to another worker",
        ledger.crashes
    );
    tracing::error!(
        error_kind = ErrorClass::WorkerCrashed.as_str(),
        crashes = ledger.crashes,
        "task failed"
    );
    sink.emit(events::result(
        pb::Outcome::Failed,
        ErrorClass::WorkerCrashed.as_str(),
        &message,
        None,
    ))
    .await;
    finish(msg, sink, AckKind::Term).await;
    if let Some(l) = lease {
        l.release(leases).await;
    }
}

/// Another worker holds the lease, or the lease store is unreachable: hand
/// the message back for later.
async fn lease_refused(shared: &Shared, msg: &Message, e: LeaseError) {
    let delay = match &e {
        LeaseError::Held { .. } => shared.lease_ttl / 2,
        _ => Duration::from_secs(1),
    };
    tracing::info!(reason = %e, delay_ms = delay.as_millis() as u64, "task not started now");
    settle(msg, AckKind::Nak(Some(delay))).await;
}

/// Waits for the task's events to be stored, then settles its message.
/// Returns whether the events were stored.
async fn finish(msg: &Message, sink: &mut EventSink, kind: AckKind) -> bool {
    match sink.confirm(CONFIRM_DEADLINE).await {
        Ok(()) => {
            settle(msg, kind).await;
            true
        }
        Err(e) => {
            tracing::error!(error = %e, "task events could not be stored; handing the task back");
            settle(msg, AckKind::Nak(Some(Duration::from_secs(5)))).await;
            false
        }
    }
}

async fn settle(msg: &Message, kind: AckKind) {
    if let Err(e) = msg.ack_with(kind).await {
        tracing::warn!(error = %e, "could not acknowledge the task message");
    }
}

/// The result of a task whose job was cancelled.
fn cancelled() -> Body {
    events::result(
        pb::Outcome::Cancelled,
        "cancelled",
        "job was cancelled",
        None,
    )
}

/// Reports the task failed for good; its message is then terminated.
async fn failed(sink: &mut EventSink, kind: ErrorClass, message: &str) -> AckKind {
    tracing::warn!(error_kind = %kind, error = %message, "task failed");
    sink.emit(events::result(
        pb::Outcome::Failed,
        kind.as_str(),
        message,
        None,
    ))
    .await;
    AckKind::Term
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_within_its_exponential_window_and_cap() {
        let base = Duration::from_millis(500);
        let cap = Duration::from_secs(300);
        for (attempt, ceiling_ms) in [(1, 500), (2, 1000), (3, 2000), (4, 4000), (5, 8000)] {
            assert_eq!(full_jitter(base, attempt, cap, 0.0), Duration::ZERO);
            assert_eq!(
                full_jitter(base, attempt, cap, 1.0),
                Duration::from_millis(ceiling_ms)
            );
            assert_eq!(
                full_jitter(base, attempt, cap, 0.5),
                Duration::from_millis(ceiling_ms / 2)
            );
        }
        // Capped, and no overflow however many attempts.
        assert_eq!(full_jitter(base, 30, cap, 1.0), cap);
        assert_eq!(full_jitter(base, u32::MAX, cap, 1.0), cap);
        assert_eq!(full_jitter(Duration::MAX, 3, cap, 1.0), cap);
        // Out-of-range draws stay inside the window.
        assert_eq!(full_jitter(base, 1, cap, 7.0), base);
        assert_eq!(full_jitter(base, 1, cap, -1.0), Duration::ZERO);
        assert_eq!(full_jitter(base, 1, cap, f64::NAN), base);
    }

    #[test]
    fn draws_cover_the_window() {
        let draws: Vec<f64> = (0..1000).map(|_| random_unit()).collect();
        assert!(draws.iter().all(|u| (0.0..1.0).contains(u)));
        assert!(
            draws.iter().any(|u| *u < 0.25),
            "no draw in the low quarter"
        );
        assert!(
            draws.iter().any(|u| *u > 0.75),
            "no draw in the high quarter"
        );
        let mut sorted = draws.clone();
        sorted.sort_by(f64::total_cmp);
        sorted.dedup();
        assert!(sorted.len() > 990, "draws repeat: {}", sorted.len());
    }
}

#[cfg(test)]
mod recent {
    use super::*;

    #[test]
    fn ended_tasks_are_remembered_up_to_the_bound_oldest_first_forgotten() {
        let mut r = Recent::default();
        for i in 0..=ENDED_REMEMBERED {
            r.insert(&format!("t{i}"));
        }
        assert!(!r.contains("t0"), "the oldest is forgotten");
        assert!(r.contains("t1") && r.contains(&format!("t{ENDED_REMEMBERED}")));
        assert_eq!(r.order.len(), ENDED_REMEMBERED);
        assert_eq!(r.set.len(), ENDED_REMEMBERED);
    }
}

#[cfg(test)]
mod future_size {
    use super::*;

    fn op_size<'a, F, Fut>(_: F) -> usize
    where
        F: Fn(Kind, &'a OpCtx) -> Fut,
    {
        std::mem::size_of::<Fut>()
    }

    fn handle_size<F, Fut>(_: F) -> usize
    where
        F: Fn(Arc<Shared>, Kind, ConsumerSettings, Message, OwnedSemaphorePermit) -> Fut,
    {
        std::mem::size_of::<Fut>()
    }

    /// Each task is a spawned future, moved a few times before it runs:
    /// unboxed, every task carried the biggest operation's state (11 KiB).
    #[test]
    fn a_spawned_task_carries_only_its_own_kinds_state() {
        assert!(
            op_size(ops::run) <= 64,
            "ops::run is {} B",
            op_size(ops::run)
        );
        assert!(
            handle_size(handle) <= 4096,
            "runner::handle is {} B",
            handle_size(handle)
        );
    }
}
