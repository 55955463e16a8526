//! The bridge's report of one job: its rows, the results its tasks
//! write to the app's tables, its details and, at the end, its status
//! (and the next sub-job of a full update).

use super::Bridge;
use crate::dsm::owned::{self, Owned};
use crate::dsm::report;
use outpost_kinds::stored::Stored;
use std::collections::HashMap;
use uuid::Uuid;

impl Bridge {
    /// Writes what changed of one job.
    pub(super) async fn report(&mut self, id: Uuid) {
        let Some(mut o) = self.owned.get(&id).cloned() else {
            return;
        };
        let Some(mut view) = self.p.engine.read(|v| v.job_view(&o.outpost_id)) else {
            return;
        };
        let unread = self.read_stored(&mut view).await;
        for (row, st) in report::states(&o, &view) {
            let before = self.rows.get(&row.row_id).cloned();
            if before.as_ref() == Some(&st) {
                continue;
            }
            if let Err(e) = report::write_row(&self.db, id, &row, &st).await {
                tracing::warn!(error = %e, "job_tasks row not written");
                continue;
            }
            if st.status != "running" || before.map(|s| s.status) != Some(st.status) {
                let level = match st.status {
                    "failed" => "ERROR",
                    "cancelled" => "WARN",
                    _ => "INFO",
                };
                let last = st.log.lines().last().unwrap_or("").to_string();
                self.lines
                    .entry(id)
                    .or_default()
                    .push(crate::dsm::details::console(
                        level,
                        format!("{}: {} {}", row_name(&o, row.row_id), st.status, last).trim(),
                    ));
            }
            self.rows.insert(row.row_id, st);
        }
        let before = o.write_errors.len();
        for t in view.tasks.iter().filter(|t| t.status.is_terminal()) {
            if self.written.contains(&t.id) {
                continue;
            }
            let written = match unread.get(&t.id) {
                Some(e) => Err(e.clone()),
                None => crate::dsm::sync::write_back(&self.db, &o, t)
                    .await
                    .map_err(|e| e.to_string()),
            };
            match written {
                Ok(lines) => {
                    self.written.insert(t.id.clone());
                    self.lines.entry(id).or_default().extend(lines);
                }
                Err(e) => {
                    // Retried at the next report; remembered for the end.
                    tracing::warn!(error = %e, task = %t.id, "result not written to the app");
                    outpost_telemetry::metrics::global().inc(
                        crate::api::metrics::DSM_WRITEBACK_ERRORS.0,
                        crate::api::metrics::DSM_WRITEBACK_ERRORS.1,
                        &[("job_type", o.job_type.as_str())],
                    );
                    let e = format!("{}: {e}", t.target);
                    if !o.write_errors.contains(&e) {
                        self.lines
                            .entry(id)
                            .or_default()
                            .push(crate::dsm::details::console(
                                "ERROR",
                                &format!("not written: {e}"),
                            ));
                        o.write_errors.push(e);
                    }
                }
            }
        }
        if o.write_errors.len() != before {
            let _ = owned::save(&self.p.store, &o).await;
            self.owned.insert(id, o.clone());
        }
        let mut details = crate::dsm::details::details(&o, &view);
        if !o.write_errors.is_empty() {
            details["error"] = serde_json::json!(format!(
                "results not written to the app: {}",
                o.write_errors.join("; ")
            ));
        }
        let ended = view.job.status.is_terminal() && !view.job.open;
        let verdict = if ended {
            crate::dsm::sync::verdict(&o, &view)
        } else {
            None
        };
        if let Some(e) = &verdict {
            details["error"] = serde_json::json!(e);
        }
        let graceful_stop = o.graceful && crate::dsm::sync::stopped_hosts(&view) > 0;
        if o.graceful {
            details["graceful_cancel"] = serde_json::json!(true);
            if ended && graceful_stop {
                details["hosts_completed"] =
                    serde_json::json!(crate::dsm::sync::finished_hosts(&view));
                details["stopped_after_host"] =
                    serde_json::json!(crate::dsm::sync::finished_hosts(&view));
            }
        }
        let lines = self.lines.remove(&id).unwrap_or_default();
        if let Err(e) = report::write_details(&self.db, id, &details, &lines).await {
            tracing::warn!(error = %e, "job details not written");
        }
        if ended {
            // Writes that keep failing must not leave the job running for ever,
            // nor report it completed.
            let status = if !o.write_errors.is_empty() || verdict.is_some() {
                "failed"
            } else if graceful_stop && view.job.status != crate::model::Status::Failed {
                "cancelled"
            } else {
                report::dsm_status(view.job.status)
            };
            if let Some(scan) = o.scan_id
                && let Err(e) = crate::dsm::scans::finished(&self.db, scan, &view).await
            {
                return tracing::warn!(error = %e, "update-availability scan not ended");
            }
            if let Err(e) = report::finish_as(&self.db, id, status).await {
                return tracing::warn!(error = %e, "job status not written");
            }
            o.finished = true;
            if owned::save(&self.p.store, &o).await.is_ok() {
                // Never reported on again: what it kept goes.
                for t in &view.tasks {
                    self.stored.remove(&t.id);
                    self.written.remove(&t.id);
                }
                self.owned.remove(&id);
                self.by_outpost.remove(&o.outpost_id);
            }
            if let Some(parent) = o.extra["parent"]
                .as_str()
                .and_then(|s| Uuid::parse_str(s).ok())
            {
                self.child_ended(parent, id, status).await;
            }
        }
    }
}

impl Bridge {
    /// Puts in `view` the whole output of each ended task whose output went
    /// to its zone's captures store (a large vCenter's inventory), read
    /// once and kept until the job ends. The object is the one named after
    /// the job and task, in the task's zone, and must match the size and
    /// SHA-256 the result reports; a task whose output cannot be read is
    /// returned with why, and its results are not written this time.
    async fn read_stored(&mut self, view: &mut crate::model::JobView) -> HashMap<String, String> {
        let mut unread = HashMap::new();
        for t in view.tasks.iter_mut().filter(|t| t.status.is_terminal()) {
            let Some(r) = t.output.as_ref().and_then(Stored::of) else {
                continue;
            };
            if let Some(full) = self.stored.get(&t.id) {
                t.output = Some(full.clone());
                continue;
            }
            match read_one(&self.p.engine.objects, &view.job.id, t, &r).await {
                Ok(full) => {
                    self.stored.insert(t.id.clone(), full.clone());
                    t.output = Some(full);
                }
                Err(e) => {
                    tracing::warn!(task = %t.id, error = %e, "stored output not read");
                    unread.insert(t.id.clone(), e);
                }
            }
        }
        unread
    }
}

async fn read_one(
    objects: &crate::engine::objects::ZoneObjects,
    job: &str,
    t: &crate::model::TaskState,
    r: &Stored,
) -> Result<serde_json::Value, String> {
    let object = outpost_proto::layout::capture_object(job, &t.id).map_err(|e| e.to_string())?;
    if r.object != object {
        return Err(format!(
            "the result names the stored output {:?}, not this task's {object:?}",
            r.object
        ));
    }
    let max = outpost_kinds::vcenter::InventoryParams::MAX_OUTPUT;
    if r.bytes > max {
        return Err(format!(
            "the stored output is {} bytes, more than {max}",
            r.bytes
        ));
    }
    // No more than the result reports: a longer object is not the one it names.
    let body = objects.fetch(&t.zone, &object, r.bytes).await?;
    r.check(&body)?;
    serde_json::from_slice(&body).map_err(|e| format!("stored output {object}: {e}"))
}

fn row_name(o: &Owned, row: Uuid) -> String {
    o.rows
        .iter()
        .find(|r| r.row_id == row)
        .map(|r| match &r.source {
            crate::dsm::map::RowSource::Target(ip) => ip.clone(),
            crate::dsm::map::RowSource::Whole => "scan".into(),
            crate::dsm::map::RowSource::Host(i) => format!("host {}", i + 1),
        })
        .unwrap_or_default()
}
