//! The bridge's report of one job: its rows, the results its tasks
//! write to the app's tables, its details and, at the end, its status
//! (and the next sub-job of a full update).

use super::Bridge;
use crate::dsm::owned::{self, Owned};
use crate::dsm::report;
use uuid::Uuid;

impl Bridge {
    /// Writes what changed of one job.
    pub(super) async fn report(&mut self, id: Uuid) {
        let Some(mut o) = self.owned.get(&id).cloned() else {
            return;
        };
        let Some(view) = self.p.engine.read(|v| v.job_view(&o.outpost_id)) else {
            return;
        };
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
            match crate::dsm::sync::write_back(&self.db, &o, t).await {
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
