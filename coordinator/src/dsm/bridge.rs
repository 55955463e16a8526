//! The bridge loop: listens for the trigger's notifications (with a short
//! poll as the fallback), claims ready jobs and submits them as Outpost
//! jobs, cancels an owned job within a second of its cancel in the app,
//! writes progress back at most every `FLUSH` per job, ends the DSM job
//! when the Outpost job ends, and keeps the heartbeat row fresh. On start
//! it resumes the jobs it owns (KV `outpost_dsm`).

use super::claim::{self, Claimed};
use super::db::{self, DbError, Notice};
use super::heartbeat::{self, Beat};
use super::owned::{self, Owned, OwnedRow};
use super::report::{self, RowState};
use super::row::At;
use super::{DsmConfig, SUPPORTED, install, lookup, map};
use crate::collect::inventory::InventorySource;
use crate::engine::Engine;
use crate::rolling::servers::ServerSource;
use crate::zones::Zones;
use async_nats::jetstream::kv;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

#[path = "bridge_full.rs"]
mod full;
#[path = "bridge_report.rs"]
mod report_job;

/// Least time between two reports of one job.
const FLUSH: Duration = Duration::from_millis(300);

/// What the bridge works with.
#[derive(Clone)]
pub struct BridgeParts {
    pub cfg: DsmConfig,
    pub engine: Engine,
    pub zones: Arc<Zones>,
    pub inventory: Arc<Vec<InventorySource>>,
    pub servers: Arc<Vec<ServerSource>>,
    pub store: kv::Store,
}

struct Bridge {
    p: BridgeParts,
    db: Client,
    notices: mpsc::UnboundedReceiver<Notice>,
    owned: HashMap<Uuid, Owned>,
    /// Outpost job id → DSM job id.
    by_outpost: HashMap<String, Uuid>,
    rows: HashMap<Uuid, RowState>,
    lines: HashMap<Uuid, Vec<String>>,
    /// Tasks whose results are in the app's tables.
    written: HashSet<String>,
    /// Outputs read back from the captures store (`stored`), by task.
    stored: HashMap<String, serde_json::Value>,
    /// Full server updates whose next sub-job is to start.
    parents_due: Vec<Uuid>,
    /// The full update whose sub-job `start_job` is starting: recorded
    /// with the sub-job's ownership, before its Outpost job exists.
    starting_child_of: Option<Uuid>,
    /// Dell catalogs, and the jobs waiting for theirs.
    catalogs: super::catalogs::Catalogs,
    beat: Beat,
}

/// Runs the bridge until `shutdown`.
pub async fn run(p: BridgeParts, shutdown: CancellationToken) {
    let mut delay = Duration::from_millis(500);
    loop {
        match start(&p).await {
            Ok((db, notices)) => {
                let mut b = Bridge {
                    beat: Beat {
                        executor_id: p.cfg.executor_id(),
                        ..Beat::default()
                    },
                    p,
                    db,
                    notices,
                    owned: HashMap::new(),
                    by_outpost: HashMap::new(),
                    rows: HashMap::new(),
                    lines: HashMap::new(),
                    written: HashSet::new(),
                    stored: HashMap::new(),
                    parents_due: Vec::new(),
                    starting_child_of: None,
                    catalogs: Default::default(),
                };
                b.run(shutdown).await;
                return;
            }
            Err(e) => {
                if matches!(e, DbError::Access(_)) {
                    tracing::error!(error = %e, "DSM bridge refuses to claim jobs; retrying");
                } else {
                    tracing::warn!(error = %e, "DSM bridge cannot start; retrying");
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
}

async fn start(p: &BridgeParts) -> Result<(Client, mpsc::UnboundedReceiver<Notice>), DbError> {
    let (db, notices) = db::connect(&p.cfg.database_url, &p.cfg.tls()).await?;
    let problems = super::access::check(&db).await?;
    if !problems.is_empty() {
        return Err(DbError::Access(problems));
    }
    if !install::installed(&db).await? {
        tracing::warn!("the NOTIFY trigger is missing (run `outpost dsm install`): polling only");
    }
    db.batch_execute(&format!("LISTEN {}", install::CHANNEL))
        .await?;
    tracing::info!(database = %p.cfg.redacted_url(), executor = %p.cfg.executor_id(), "DSM bridge connected");
    Ok((db, notices))
}

impl Bridge {
    async fn run(&mut self, shutdown: CancellationToken) {
        match owned::load(&self.p.store).await {
            Ok(list) => {
                for o in list {
                    if o.job_type == full::PARENT && o.outpost_id.is_empty() {
                        // Goes on with its next sub-job once all are loaded.
                        self.parents_due.push(o.dsm_id);
                        self.owned.insert(o.dsm_id, o);
                        continue;
                    }
                    // In the hot state or archived; when history cannot be
                    // read, assume known rather than start the job again.
                    let known = self.p.engine.known(&o.outpost_id).await.unwrap_or(true);
                    if !known {
                        // Died between recording ownership and submitting:
                        // start it again below, as an orphan.
                        let mut gone = o;
                        gone.finished = true;
                        let _ = owned::save(&self.p.store, &gone).await;
                        continue;
                    }
                    tracing::info!(dsm_job = %o.dsm_id, job = %o.outpost_id, "resuming an owned DSM job");
                    self.by_outpost.insert(o.outpost_id.clone(), o.dsm_id);
                    self.owned.insert(o.dsm_id, o);
                }
            }
            Err(e) => tracing::error!(error = %e, "owned DSM jobs unreadable"),
        }
        self.recover_orphans().await;
        let mut changes = self.p.engine.subscribe();
        let mut poll = tokio::time::interval(Duration::from_millis(self.p.cfg.poll_ms.max(50)));
        let mut heartbeat =
            tokio::time::interval(Duration::from_secs(self.p.cfg.heartbeat_s.max(1)));
        let mut flush = tokio::time::interval(FLUSH);
        let mut dirty: HashSet<Uuid> = self.owned.keys().copied().collect();
        let mut first_beat = true;
        // The next scheduled job's time: claimed when due, not at the next poll.
        let mut due: Option<tokio::time::Instant> = None;
        loop {
            let wake =
                due.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep_until(wake), if due.is_some() => {
                    self.claim_all().await;
                    due = self.next_due().await;
                }
                n = self.notices.recv() => {
                    let Some(n) = n else {
                        tracing::warn!("DSM database connection lost; reconnecting");
                        if let Ok((db, notices)) = start(&self.p).await {
                            self.db = db;
                            self.notices = notices;
                        } else {
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                        continue;
                    };
                    self.notice(&n).await;
                    due = self.next_due().await;
                }
                _ = poll.tick() => {
                    self.beat.polls = self.beat.polls.saturating_add(1);
                    self.claim_all().await;
                    self.check_cancels().await;
                    due = self.next_due().await;
                }
                _ = heartbeat.tick() => {
                    if let Err(e) = heartbeat::beat(&self.db, &self.beat, first_beat).await {
                        tracing::warn!(error = %e, "heartbeat not written");
                    }
                    first_beat = false;
                }
                Some((url, fetched)) = self.catalogs.arrivals.recv() => {
                    if let Err(e) = &fetched {
                        tracing::warn!(url, error = %e, "Dell catalog not read");
                    }
                    for c in self.catalogs.arrived(url, fetched) {
                        // Cancelled in the app while the catalog was read: left as it is.
                        match claim::still_running(&self.db, c.id).await {
                            Ok(true) => self.start_job(c).await,
                            Ok(false) => tracing::info!(dsm_job = %c.id, "cancelled while its catalog was read"),
                            Err(e) => {
                                // Claimed and running: started again by the next restart.
                                tracing::warn!(dsm_job = %c.id, error = %e, "job not started after its catalog was read");
                            }
                        }
                    }
                }
                c = changes.recv() => {
                    match c {
                        Ok(job) => {
                            if let Some(d) = self.by_outpost.get(&job) {
                                dirty.insert(*d);
                            }
                        }
                        Err(_) => dirty.extend(self.owned.keys().copied()),
                    }
                }
                _ = flush.tick() => {
                    for d in std::mem::take(&mut dirty) {
                        self.report(d).await;
                    }
                    self.advance_parents().await;
                }
            }
        }
    }

    /// When the next scheduled job of a supported type becomes due.
    async fn next_due(&self) -> Option<tokio::time::Instant> {
        let at = claim::next_due(&self.db, SUPPORTED).await.ok()??;
        let wait = (at - chrono::Utc::now()).to_std().unwrap_or_default();
        Some(tokio::time::Instant::now() + wait)
    }

    /// Jobs this executor claimed but never started (a crash right after
    /// the claim): they start now, reporting to the rows they had.
    async fn recover_orphans(&mut self) {
        let owned: Vec<Uuid> = self.owned.keys().copied().collect();
        let orphans = match claim::orphans(&self.db, &self.beat.executor_id, &owned).await {
            Ok(o) => o,
            Err(e) => return tracing::error!(error = %e, "claimed jobs not checked"),
        };
        for c in orphans {
            let c = match c {
                Ok(c) => c,
                Err(e) => {
                    self.unreadable(e).await;
                    continue;
                }
            };
            tracing::info!(dsm_job = %c.id, "starting a job claimed before a restart");
            // Its rows (the app's, or written before the crash) are adopted again.
            self.start_job(c).await;
        }
    }

    async fn notice(&mut self, n: &Notice) {
        let v: serde_json::Value = serde_json::from_str(&n.payload).unwrap_or_default();
        let id = v["id"].as_str().and_then(|s| Uuid::parse_str(s).ok());
        match (v["status"].as_str(), id) {
            (Some("pending"), _) => self.claim_all().await,
            (Some("cancelled"), Some(id)) if self.owned.contains_key(&id) => self.cancel(id).await,
            _ => {}
        }
    }

    async fn claim_all(&mut self) {
        loop {
            let started = std::time::Instant::now();
            let claimed = claim::claim_one(&self.db, SUPPORTED, &self.beat.executor_id).await;
            outpost_telemetry::metrics::global().observe(
                crate::api::metrics::DSM_CLAIM.0,
                crate::api::metrics::DSM_CLAIM.1,
                outpost_telemetry::metrics::SECONDS,
                &[(
                    "found",
                    if matches!(claimed, Ok(Some(_))) {
                        "true"
                    } else {
                        "false"
                    },
                )],
                started.elapsed().as_secs_f64(),
            );
            match claimed {
                Ok(Some(c)) => self.start_job(c).await,
                Err(DbError::Row(e)) => self.unreadable(e).await,
                Ok(None) => return self.advance_parents().await,
                Err(e) => {
                    tracing::warn!(error = %e, "claim failed");
                    self.beat.last_error = Some(e.to_string());
                    return;
                }
            }
        }
    }

    async fn start_job(&mut self, c: Claimed) {
        // A DSM job's trace starts at its claim.
        let span = tracing::info_span!(
            "dsm_job",
            dsm_job = %c.id,
            job_type = %c.job_type,
            trace_id = tracing::field::Empty,
        );
        outpost_telemetry::record_trace_id(&span);
        // Instrumented, not entered: the start awaits the database.
        Box::pin(self.start_in_span(c)).instrument(span).await
    }

    async fn start_in_span(&mut self, c: Claimed) {
        let span = tracing::Span::current();
        if c.job_type == full::PARENT {
            return self.start_full(c).await;
        }
        // A login typed into the app's dialog stays in memory only.
        if let Err(e) = scrub(&self.db, &c).await {
            tracing::warn!(error = %e, "typed-in password not scrubbed from the job's row");
        }
        let catalog = match lookup::catalog_url(&c) {
            None => None,
            Some(url) => match self.catalogs.ready(&url) {
                Some(f) => Some(f),
                None => {
                    tracing::info!(
                        url,
                        "reading the Dell catalog; the job starts once it is read"
                    );
                    return self.catalogs.wait(&url, c);
                }
            },
        };
        let l = match lookup::lookup(&self.db, &c, catalog.as_ref()).await {
            Ok(Ok(l)) => l,
            Ok(Err(why)) => return self.refuse(c.id, &why).await,
            Err(e) => return self.refuse(c.id, &e.to_string()).await,
        };
        let mut mapped = match map::map(&c, &l, self.p.cfg.idrac_port) {
            Ok(m) => m,
            Err(why) => return self.refuse(c.id, &why).await,
        };
        let job_id = uuid::Uuid::now_v7().simple().to_string();
        let planned = crate::plan::plan_full(
            &mapped.doc,
            &self.p.zones,
            &self.p.inventory,
            &self.p.servers,
            &job_id,
        );
        let mut plan = match planned {
            Ok(p) => p,
            Err(e) => return self.refuse(c.id, &e.to_string()).await,
        };
        if let Err(e) = super::seal::apply_logins(&mut plan, &mapped.logins) {
            return self.refuse(c.id, &e).await;
        }
        let secrets = match super::seal::fetch(&self.db, &mut mapped.secrets).await {
            Ok(s) => s,
            Err(e) => return self.refuse(c.id, &e.to_string()).await,
        };
        if let Err(e) = super::seal::seal_plan(&mut plan, &self.p.zones, &secrets) {
            return self.refuse(c.id, &e).await;
        }
        drop(secrets);
        plan.job.traceparent = outpost_telemetry::traceparent_of(&span);
        // Rows first, then ownership, then the job: a crash in between
        // leaves an owned job to resume, never an unowned running one.
        // The app's `create-job` already wrote a pending row per server:
        // those are the rows to report to (and so are Outpost's own from
        // a claim before a crash).
        let mut rows = Vec::new();
        for r in &mapped.rows {
            match adopt_or_insert(&self.db, c.id, r.server_id).await {
                Ok(row_id) => rows.push(OwnedRow {
                    row_id,
                    server_id: r.server_id,
                    source: r.source.clone(),
                }),
                Err(e) => {
                    return self
                        .refuse(c.id, &format!("job_tasks not written: {e}"))
                        .await;
                }
            }
        }
        let o = Owned {
            dsm_id: c.id,
            job_type: c.job_type.clone(),
            outpost_id: job_id.clone(),
            rows,
            finished: false,
            graceful: false,
            write_errors: Vec::new(),
            vcenters: mapped.vcenters.clone(),
            extra: match self.starting_child_of.take() {
                Some(parent) => serde_json::json!({"parent": parent}),
                None => mapped.extra.clone(),
            },
            scan_id: (c.job_type == "firmware_inventory_scan")
                .then(|| {
                    c.target_scope["scan_id"]
                        .as_str()
                        .and_then(|s| Uuid::parse_str(s).ok())
                })
                .flatten(),
        };
        if let Err(e) = owned::save(&self.p.store, &o).await {
            return self
                .refuse(c.id, &format!("ownership not recorded: {e}"))
                .await;
        }
        match self.p.engine.submit(plan).await {
            Ok(job) => {
                if let Some(scan) = o.scan_id
                    && let Err(e) = super::scans::started(&self.db, scan).await
                {
                    tracing::warn!(error = %e, "update-availability scan not marked running");
                }
                if o.job_type == "prepare_host_for_update"
                    && let Err(e) = super::workflow::started(&self.db, o.dsm_id, &o.extra).await
                {
                    tracing::warn!(error = %e, "workflow steps not written");
                }
                tracing::info!(job = %job.id, "DSM job claimed and submitted");
                self.beat.jobs_processed = self.beat.jobs_processed.saturating_add(1);
                self.by_outpost.insert(job_id, c.id);
                self.lines
                    .entry(c.id)
                    .or_default()
                    .push(super::details::console(
                        "INFO",
                        &format!(
                            "Outpost job {} started on {} task(s){}",
                            job.id,
                            job.counts.total(),
                            outpost_telemetry::trace_id_of(&span)
                                .map(|t| format!(", trace {t}"))
                                .unwrap_or_default()
                        ),
                    ));
                for n in &mapped.notes {
                    self.lines
                        .entry(c.id)
                        .or_default()
                        .push(super::details::console("WARN", n));
                }
                self.owned.insert(c.id, o);
                self.report(c.id).await;
            }
            Err(e) => {
                let mut o = o;
                o.finished = true;
                let _ = owned::save(&self.p.store, &o).await;
                self.refuse(c.id, &format!("not submitted: {e}")).await;
            }
        }
    }

    /// A claimed job whose row cannot be read: failed in the app, naming
    /// the column, when its id can be read; otherwise only reported here
    /// and in the heartbeat (it is `running` and never claimed again).
    async fn unreadable(&mut self, e: claim::Unreadable) {
        match e.row {
            Some(id) => {
                let why = DbError::from(e).to_string();
                self.refuse(id, &why).await;
            }
            None => {
                tracing::error!(error = %e, "a claimed DSM job cannot be read, not even its id");
                self.beat.last_error = Some(e.to_string());
            }
        }
    }

    async fn refuse(&mut self, id: Uuid, why: &str) {
        tracing::warn!(dsm_job = %id, reason = why, "DSM job refused");
        if let Err(e) = report::refuse(&self.db, id, why).await {
            tracing::error!(error = %e, "refusal not written");
        }
    }

    async fn cancel(&mut self, id: Uuid) {
        let Some(o) = self.owned.get(&id) else { return };
        if o.job_type == full::PARENT && o.outpost_id.is_empty() {
            return self.cancel_full(id).await;
        }
        tracing::info!(dsm_job = %id, job = %o.outpost_id, "cancelled in the app");
        match self.p.engine.cancel(&o.outpost_id).await {
            Ok(_) => self
                .lines
                .entry(id)
                .or_default()
                .push(super::details::console(
                    "WARN",
                    "cancel requested in the app",
                )),
            Err(e) => tracing::warn!(error = %e, "cancel not applied"),
        }
    }

    /// Owned jobs cancelled in the app while no notification came, and
    /// graceful cancels (a details-only change, which notifies nothing).
    async fn check_cancels(&mut self) {
        let ids: Vec<Uuid> = self.owned.keys().copied().collect();
        if ids.is_empty() {
            return;
        }
        let rows = match self
            .db
            .query(
                "SELECT id, status = 'cancelled' FROM public.jobs
                  WHERE id = ANY($1) AND (status = 'cancelled'
                        OR (status = 'running' AND details->>'graceful_cancel' = 'true'))",
                &[&ids],
            )
            .await
        {
            Ok(r) => r,
            Err(e) => return tracing::warn!(error = %DbError::from(e), "cancel check failed"),
        };
        for r in rows {
            let at = At::new(&r, "jobs");
            let (id, hard): (Uuid, bool) = match (at.get(0, "id"), at.get(1, "status")) {
                (Ok(id), Ok(h)) => (id, h),
                (Err(e), _) | (_, Err(e)) => {
                    return tracing::warn!(error = %e, "cancel check failed");
                }
            };
            let running = self.owned.get(&id).is_some_and(|o| {
                (o.job_type == full::PARENT && o.outpost_id.is_empty() && !o.finished)
                    || self.p.engine.read(|v| {
                        v.jobs
                            .get(&o.outpost_id)
                            .is_some_and(|e| !e.job.status.is_terminal() && !e.job.cancel_requested)
                    })
            });
            if !running {
                continue;
            }
            if hard {
                self.cancel(id).await;
            } else {
                self.drain(id).await;
            }
        }
    }

    /// The app's graceful cancel: the hosts begun finish, no other starts.
    async fn drain(&mut self, id: Uuid) {
        let Some(mut o) = self.owned.get(&id).cloned() else {
            return;
        };
        if o.graceful {
            return;
        }
        if o.outpost_id.is_empty() {
            // A full update's parent: its sub-jobs have no hosts to drain;
            // asked once, not again at every poll.
            o.graceful = true;
            self.owned.insert(id, o);
            return;
        }
        tracing::info!(dsm_job = %id, job = %o.outpost_id, "graceful cancel in the app");
        if let Err(e) = self.p.engine.drain(&o.outpost_id).await {
            return tracing::warn!(error = %e, "graceful cancel not applied");
        }
        o.graceful = true;
        let _ = owned::save(&self.p.store, &o).await;
        self.owned.insert(id, o);
        self.lines.entry(id).or_default().push(super::details::console(
            "WARN",
            "graceful cancel requested in the app: finishing the hosts under way, starting no other",
        ));
    }
}

/// Removes a login typed into the app's dialog from the job's row: the
/// password of a credential test (`details.password`) and of an added
/// server's first discovery (`details.manual_credentials.password`).
async fn scrub(db: &Client, c: &Claimed) -> Result<(), DbError> {
    if c.details["password"].is_null() && c.details["manual_credentials"]["password"].is_null() {
        return Ok(());
    }
    db.execute(
        "UPDATE public.jobs SET details = (details - 'password') #- '{manual_credentials,password}'
          WHERE id = $1",
        &[&c.id],
    )
    .await?;
    Ok(())
}

/// The job's row of `server`: the first one the app (or an earlier claim)
/// wrote, else a new one.
async fn adopt_or_insert(db: &Client, job: Uuid, server: Option<Uuid>) -> Result<Uuid, DbError> {
    if let Some(s) = server
        && let Some(r) = db
            .query_opt(
                "SELECT id FROM public.job_tasks WHERE job_id = $1 AND server_id = $2
                  ORDER BY created_at, id LIMIT 1",
                &[&job, &s],
            )
            .await?
    {
        return Ok(At::new(&r, "job_tasks").get(0, "id")?);
    }
    let r = db
        .query_one(
            "INSERT INTO public.job_tasks (job_id, server_id, status, progress)
             VALUES ($1, $2, 'pending', 0) RETURNING id",
            &[&job, &server],
        )
        .await?;
    Ok(At::new(&r, "job_tasks").get(0, "id")?)
}
