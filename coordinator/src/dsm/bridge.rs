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
use uuid::Uuid;

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
    upserted: HashSet<String>,
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
                    upserted: HashSet::new(),
                };
                b.run(shutdown).await;
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "DSM bridge cannot start; retrying");
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
    /// the claim): their half-written rows go, and they start now.
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
            if let Err(e) = self
                .db
                .execute("DELETE FROM public.job_tasks WHERE job_id = $1", &[&c.id])
                .await
            {
                tracing::warn!(error = %DbError::from(e), "rows of an orphan not cleared");
                continue;
            }
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
            match claim::claim_one(&self.db, SUPPORTED, &self.beat.executor_id).await {
                Ok(Some(c)) => self.start_job(c).await,
                Err(DbError::Row(e)) => self.unreadable(e).await,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "claim failed");
                    self.beat.last_error = Some(e.to_string());
                    return;
                }
            }
        }
    }

    async fn start_job(&mut self, c: Claimed) {
        let span = tracing::info_span!("dsm_job", dsm_job = %c.id, job_type = %c.job_type);
        let _g = span.enter();
        let (mapped, sets, vcenters) = match lookup::lookup(&self.db, &c).await {
            Ok(l) => {
                let c2 = lookup::with_defaults(&c, &l);
                let vcenters: Vec<String> = l
                    .servers
                    .values()
                    .filter_map(|s| s.vcenter.as_ref().map(|v| v.2.clone()))
                    .collect();
                (
                    map::map(&c2, &l, self.p.cfg.idrac_port),
                    c2.credential_set_ids,
                    vcenters,
                )
            }
            Err(e) => (Err(e.to_string()), Vec::new(), Vec::new()),
        };
        let mapped = match mapped {
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
        let secrets = match super::seal::fetch(&self.db, &sets, &vcenters).await {
            Ok(s) => s,
            Err(e) => return self.refuse(c.id, &e.to_string()).await,
        };
        if let Err(e) = super::seal::seal_plan(&mut plan, &self.p.zones, &secrets) {
            return self.refuse(c.id, &e).await;
        }
        drop(secrets);
        // Rows first, then ownership, then the job: a crash in between
        // leaves an owned job to resume, never an unowned running one.
        let mut rows = Vec::new();
        for r in &mapped.rows {
            match self
                .db
                .query_one(
                    "INSERT INTO public.job_tasks (job_id, server_id, status, progress, log)
                     VALUES ($1, $2, 'pending', 0, '') RETURNING id",
                    &[&c.id, &r.server_id],
                )
                .await
            {
                Ok(row) => match At::new(&row, "job_tasks").get(0, "id") {
                    Ok(row_id) => rows.push(OwnedRow {
                        row_id,
                        server_id: r.server_id,
                        source: r.source.clone(),
                    }),
                    Err(e) => return self.refuse(c.id, &DbError::from(e).to_string()).await,
                },
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
        };
        if let Err(e) = owned::save(&self.p.store, &o).await {
            return self
                .refuse(c.id, &format!("ownership not recorded: {e}"))
                .await;
        }
        match self.p.engine.submit(plan).await {
            Ok(job) => {
                tracing::info!(job = %job.id, "DSM job claimed and submitted");
                self.beat.jobs_processed = self.beat.jobs_processed.saturating_add(1);
                self.by_outpost.insert(job_id, c.id);
                self.lines
                    .entry(c.id)
                    .or_default()
                    .push(format!("Outpost job {} started", job.id));
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
        tracing::info!(dsm_job = %id, job = %o.outpost_id, "cancelled in the app");
        match self.p.engine.cancel(&o.outpost_id).await {
            Ok(_) => self
                .lines
                .entry(id)
                .or_default()
                .push("cancel requested in the app".into()),
            Err(e) => tracing::warn!(error = %e, "cancel not applied"),
        }
    }

    /// Owned jobs cancelled in the app while no notification came.
    async fn check_cancels(&mut self) {
        let ids: Vec<Uuid> = self.owned.keys().copied().collect();
        if ids.is_empty() {
            return;
        }
        let rows = match self
            .db
            .query(
                "SELECT id FROM public.jobs WHERE id = ANY($1) AND status = 'cancelled'",
                &[&ids],
            )
            .await
        {
            Ok(r) => r,
            Err(e) => return tracing::warn!(error = %DbError::from(e), "cancel check failed"),
        };
        for r in rows {
            let id: Uuid = match At::new(&r, "jobs").get(0, "id") {
                Ok(id) => id,
                Err(e) => return tracing::warn!(error = %e, "cancel check failed"),
            };
            let running = self.owned.get(&id).is_some_and(|o| {
                self.p.engine.read(|v| {
                    v.jobs
                        .get(&o.outpost_id)
                        .is_some_and(|e| !e.job.status.is_terminal() && !e.job.cancel_requested)
                })
            });
            if running {
                self.cancel(id).await;
            }
        }
    }

    /// Writes what changed of one job.
    async fn report(&mut self, id: Uuid) {
        let Some(o) = self.owned.get(&id).cloned() else {
            return;
        };
        let Some(view) = self.p.engine.read(|v| v.job_view(&o.outpost_id)) else {
            return;
        };
        let (rows, details) = report::states(&o, &view);
        for (row_id, st) in rows {
            if self.rows.get(&row_id) == Some(&st) {
                continue;
            }
            if let Err(e) = report::write_row(&self.db, row_id, &st).await {
                tracing::warn!(error = %e, "job_tasks row not written");
                continue;
            }
            if st.status != "running" || self.rows.get(&row_id).map(|s| s.status) != Some(st.status)
            {
                let first = st.log.lines().last().unwrap_or("").to_string();
                self.lines.entry(id).or_default().push(
                    format!("{}: {} {}", row_name(&o, row_id), st.status, first)
                        .trim()
                        .to_string(),
                );
            }
            self.rows.insert(row_id, st);
        }
        for t in &view.tasks {
            if outpost_kinds::Kind::parse(&t.kind) == Some(outpost_kinds::Kind::RedfishDiscover)
                && t.status == crate::model::Status::Succeeded
                && let Some(out) = &t.output
                && self.upserted.insert(t.id.clone())
                && let Err(e) = report::upsert_servers(&self.db, id, out).await
            {
                tracing::warn!(error = %e, "discovered servers not written");
            }
        }
        let lines = self.lines.remove(&id).unwrap_or_default();
        if let Err(e) = report::write_details(&self.db, id, &details, &lines).await {
            tracing::warn!(error = %e, "job details not written");
        }
        if view.job.status.is_terminal() && !view.job.open {
            if let Err(e) = report::finish(&self.db, id, view.job.status).await {
                return tracing::warn!(error = %e, "job status not written");
            }
            let mut o = o;
            o.finished = true;
            if owned::save(&self.p.store, &o).await.is_ok() {
                self.owned.remove(&id);
                self.by_outpost.remove(&o.outpost_id);
            }
        }
    }
}

fn row_name(o: &Owned, row: Uuid) -> String {
    o.rows
        .iter()
        .find(|r| r.row_id == row)
        .map(|r| match &r.source {
            map::RowSource::Target(ip) => ip.clone(),
            map::RowSource::Whole => "scan".into(),
            map::RowSource::Host(i) => format!("host {}", i + 1),
        })
        .unwrap_or_default()
}
