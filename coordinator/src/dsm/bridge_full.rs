//! The bridge's side of `full_server_update` (see `full_update`): the
//! parent is owned without an Outpost job of its own; its sub-jobs run
//! one at a time, each started when the one before it ended.

use super::Bridge;
use crate::dsm::claim::Claimed;
use crate::dsm::full_update;
use crate::dsm::owned::{self, Owned};
use serde_json::{Value, json};
use uuid::Uuid;

/// The DSM type run this way.
pub const PARENT: &str = "full_server_update";

impl Bridge {
    /// Claimed parent: owned, then its first sub-job started.
    pub(super) async fn start_full(&mut self, c: Claimed) {
        let children = match full_update::children(&self.db, c.id).await {
            Ok(ch) => ch,
            Err(e) => return self.refuse(c.id, &e.to_string()).await,
        };
        if children.is_empty() {
            return self
                .refuse(c.id, "No sub-jobs found for this full server update")
                .await;
        }
        let o = Owned {
            dsm_id: c.id,
            job_type: PARENT.into(),
            outpost_id: String::new(),
            rows: Vec::new(),
            finished: false,
            graceful: false,
            write_errors: Vec::new(),
            vcenters: Vec::new(),
            scan_id: None,
            extra: json!({
                "children": children.iter()
                    .map(|ch| json!({"id": ch.id, "component": ch.component}))
                    .collect::<Vec<_>>(),
                "next": 0,
                "failed": [],
                "target_scope": c.target_scope,
            }),
        };
        if let Err(e) = owned::save(&self.p.store, &o).await {
            return self
                .refuse(c.id, &format!("ownership not recorded: {e}"))
                .await;
        }
        self.owned.insert(c.id, o);
        self.parents_due.push(c.id);
    }

    /// A sub-job ended as `status`: its parent goes on.
    pub(super) async fn child_ended(&mut self, parent: Uuid, child: Uuid, status: &str) {
        let Some(mut p) = self.owned.get(&parent).cloned() else {
            return;
        };
        let list = p.extra["children"].as_array().cloned().unwrap_or_default();
        let Some(i) = list.iter().position(|ch| ch["id"] == json!(child)) else {
            return;
        };
        if status != "completed" {
            let name = list[i]["component"].clone();
            if let Some(f) = p.extra["failed"].as_array_mut()
                && !f.contains(&name)
            {
                f.push(name);
            }
        }
        p.extra["next"] = json!(i + 1);
        let _ = owned::save(&self.p.store, &p).await;
        self.owned.insert(parent, p);
        self.parents_due.push(parent);
    }

    /// Starts the next sub-job of each parent that has none running, or
    /// ends the parent after its last.
    pub(super) async fn advance_parents(&mut self) {
        let due: Vec<Uuid> = std::mem::take(&mut self.parents_due);
        for parent in due {
            self.next_child(parent).await;
        }
    }

    async fn next_child(&mut self, parent: Uuid) {
        loop {
            let Some(mut p) = self.owned.get(&parent).cloned() else {
                return;
            };
            if self
                .owned
                .values()
                .any(|o| o.extra["parent"] == json!(parent) && !o.finished)
            {
                return; // one is running: it calls back when it ends
            }
            let list = p.extra["children"].as_array().cloned().unwrap_or_default();
            let next = p.extra["next"].as_u64().unwrap_or(0) as usize;
            let Some(ch) = list.get(next) else {
                return self.finish_parent(p).await;
            };
            let (Some(child), component) = (
                ch["id"].as_str().and_then(|s| Uuid::parse_str(s).ok()),
                ch["component"].as_str().unwrap_or("").to_string(),
            ) else {
                return self.finish_parent(p).await;
            };
            let step = format!("updating {component} ({} of {})", next + 1, list.len());
            if let Err(e) = full_update::parent_progress(&self.db, parent, &p.extra, &step).await {
                tracing::warn!(error = %e, "full update progress not written");
            }
            let outcome = self.start_child(parent, &p, child, &component).await;
            match outcome {
                Ok(true) => return,
                Ok(false) => {}
                Err(why) => {
                    if let Some(f) = p.extra["failed"].as_array_mut() {
                        f.push(json!(component));
                    }
                    tracing::warn!(dsm_job = %child, reason = %why, "sub-job not run");
                }
            }
            p.extra["next"] = json!(next + 1);
            let _ = owned::save(&self.p.store, &p).await;
            self.owned.insert(parent, p);
        }
    }

    /// Ok(true): running; Ok(false): skipped or already ended; Err: failed.
    async fn start_child(
        &mut self,
        parent: Uuid,
        p: &Owned,
        child: Uuid,
        component: &str,
    ) -> Result<bool, String> {
        let executor = self.beat.executor_id.clone();
        match full_update::claim_child(&self.db, child, &executor).await {
            Ok(true) => {}
            // Ended before (a restart after it ended but before the parent
            // heard): its outcome counts as it was.
            Ok(false) => {
                return match full_update::status(&self.db, child).await {
                    Ok(Some(s)) if s == "completed" => Ok(false),
                    Ok(s) => Err(format!(
                        "{component}: {}",
                        s.unwrap_or_else(|| "gone".into())
                    )),
                    Err(e) => Err(e.to_string()),
                };
            }
            Err(e) => return Err(e.to_string()),
        }
        let scope = p.extra["target_scope"].clone();
        let probe = Claimed {
            id: child,
            job_type: "firmware_update".into(),
            target_scope: scope.clone(),
            details: Value::Null,
            credential_set_ids: Vec::new(),
        };
        let models: Vec<String> = match crate::dsm::lookup::lookup(&self.db, &probe, None).await {
            Ok(Ok(l)) => l.servers.iter().filter_map(|s| s.model.clone()).collect(),
            Ok(Err(why)) => {
                self.refuse(child, &why).await;
                return Err(why);
            }
            Err(e) => {
                self.refuse(child, &e.to_string()).await;
                return Err(e.to_string());
            }
        };
        let (version, url) = match full_update::package(&self.db, component, &models).await {
            Ok(Ok(pkg)) => pkg,
            Ok(Err(why)) => {
                if let Err(e) = full_update::skip_child(&self.db, child, &why).await {
                    tracing::warn!(error = %e, "skipped sub-job not written");
                }
                return Ok(false);
            }
            Err(e) => {
                self.refuse(child, &e.to_string()).await;
                return Err(e.to_string());
            }
        };
        let c = Claimed {
            id: child,
            job_type: "firmware_update".into(),
            target_scope: scope,
            details: json!({"component": component, "version": version, "image_uri": url,
                            "apply_time": "OnReset"}),
            credential_set_ids: Vec::new(),
        };
        self.starting_child_of = Some(parent);
        self.start_job(c).await;
        self.starting_child_of = None;
        match self.owned.get(&child) {
            Some(_) => Ok(true),
            None => Err(format!("{component}: not started")),
        }
    }

    async fn finish_parent(&mut self, mut p: Owned) {
        let failed = p.extra["failed"].as_array().cloned().unwrap_or_default();
        let total = p.extra["children"].as_array().map(Vec::len).unwrap_or(0);
        let status = if failed.is_empty() {
            "completed"
        } else {
            "failed"
        };
        let mut patch = json!({"total_components": total, "failed_components": failed,
                               "progress_percent": 100,
                               "current_step": format!("{} of {total} components failed", failed.len())});
        if !failed.is_empty() {
            patch["error"] = json!(format!(
                "components failed: {}",
                failed
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let line = crate::dsm::details::console(
            if failed.is_empty() { "INFO" } else { "ERROR" },
            &format!("full server update {status}"),
        );
        if let Err(e) = crate::dsm::report::write_details(&self.db, p.dsm_id, &patch, &[line]).await
        {
            return tracing::warn!(error = %e, "full update details not written");
        }
        if let Err(e) = crate::dsm::report::finish_as(&self.db, p.dsm_id, status).await {
            return tracing::warn!(error = %e, "full update status not written");
        }
        p.finished = true;
        if owned::save(&self.p.store, &p).await.is_ok() {
            self.owned.remove(&p.dsm_id);
        }
    }

    /// The parent cancelled in the app: its running sub-job is cancelled,
    /// the others never start.
    pub(super) async fn cancel_full(&mut self, parent: Uuid) {
        let Some(mut p) = self.owned.get(&parent).cloned() else {
            return;
        };
        let total = p.extra["children"].as_array().map(Vec::len).unwrap_or(0);
        p.extra["next"] = json!(total);
        let _ = owned::save(&self.p.store, &p).await;
        self.owned.insert(parent, p);
        if let Err(e) = self
            .db
            .execute(
                "UPDATE public.jobs SET status = 'cancelled', completed_at = now()
                  WHERE parent_job_id = $1 AND status = 'pending'",
                &[&parent],
            )
            .await
        {
            tracing::warn!(error = %crate::dsm::db::DbError::from(e), "sub-jobs not cancelled");
        }
        let running: Vec<Uuid> = self
            .owned
            .values()
            .filter(|o| o.extra["parent"] == json!(parent) && !o.finished)
            .map(|o| o.dsm_id)
            .collect();
        for child in running {
            if let Some(o) = self.owned.get(&child)
                && let Err(e) = self.p.engine.cancel(&o.outpost_id).await
            {
                tracing::warn!(error = %e, "sub-job's cancel not applied");
            }
        }
        self.parents_due.push(parent);
    }
}
