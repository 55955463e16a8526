//! How the CLI shows jobs, tasks and workers: aligned tables for lists,
//! a summary and one line per task for a job, one line per event when
//! following without a terminal.

use super::client::WorkerView;
use outpost_api::{Counts, JobState, JobView, Status};
use std::fmt::Write;

/// Columns padded to their widest cell.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let l: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        let _ = writeln!(out, "{}", l.join("  ").trim_end());
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
    out
}

/// `auth: authentication as "u" was rejected`: the error class, then the
/// message, without repeating the class when the message already starts
/// with it (`credential: credential: …` from older workers).
pub fn kind_and_error(kind: &str, error: &str) -> String {
    let (kind, error) = (kind.trim(), error.trim());
    let repeats = error
        .strip_prefix(kind)
        .is_some_and(|rest| rest.starts_with(':'));
    match (kind.is_empty(), error.is_empty()) {
        (true, _) => error.to_string(),
        (false, true) => kind.to_string(),
        (false, false) if repeats => error.to_string(),
        (false, false) => format!("{kind}: {error}"),
    }
}

/// `3/10 succeeded, 1 failed, 2 running`
pub fn counts(c: &Counts) -> String {
    let mut s = format!("{}/{} succeeded", c.get(Status::Succeeded), c.total());
    for st in [
        Status::Failed,
        Status::Cancelled,
        Status::Running,
        Status::Pending,
    ] {
        let n = c.get(st);
        if n > 0 {
            let _ = write!(s, ", {n} {}", st.as_str());
        }
    }
    s
}

pub fn jobs_table(jobs: &[JobState]) -> String {
    if jobs.is_empty() {
        return "no jobs\n".into();
    }
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|j| {
            vec![
                j.id.clone(),
                j.job_type.clone(),
                j.status.as_str().to_string(),
                counts(&j.counts),
                j.created_at.clone(),
            ]
        })
        .collect();
    table(&["ID", "TYPE", "STATUS", "TASKS", "CREATED"], &rows)
}

pub fn job_detail(v: &JobView) -> String {
    let j = &v.job;
    let mut out = format!(
        "job {} ({}) {}: {}\n",
        j.id,
        j.job_type,
        j.status.as_str(),
        counts(&j.counts)
    );
    let _ = writeln!(
        out,
        "created {}{}{}",
        j.created_at,
        j.started_at
            .as_ref()
            .map(|s| format!(", started {s}"))
            .unwrap_or_default(),
        j.finished_at
            .as_ref()
            .map(|s| format!(", finished {s}"))
            .unwrap_or_default()
    );
    let mut tasks = v.tasks.clone();
    tasks.sort_by(|a, b| a.id.cmp(&b.id));
    let rows: Vec<Vec<String>> = tasks
        .iter()
        .map(|t| {
            let detail = match (&t.error_kind, &t.error) {
                (None, None) => t.output.as_ref().map(|o| o.to_string()).unwrap_or_default(),
                (k, e) => kind_and_error(
                    k.as_deref().unwrap_or_default(),
                    e.as_deref().unwrap_or_default(),
                ),
            };
            vec![
                t.id.clone(),
                t.zone.clone(),
                if t.target.is_empty() {
                    "-".into()
                } else {
                    t.target.clone()
                },
                t.status.as_str().to_string(),
                t.attempts.to_string(),
                t.worker_id.clone().unwrap_or_else(|| "-".into()),
                detail,
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "TASK", "ZONE", "TARGET", "STATUS", "ATTEMPTS", "WORKER", "DETAIL",
        ],
        &rows,
    ));
    out
}

/// Deliveries as `outpost notify list` shows them.
pub fn notifications_table(list: &[serde_json::Value]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|d| {
            let s = |k: &str| d[k].as_str().unwrap_or("").to_string();
            let attempts = d["attempts"].as_array().map(Vec::len).unwrap_or(0);
            let last = d["attempts"]
                .as_array()
                .and_then(|a| a.last())
                .map(|a| {
                    a["answer"]
                        .as_str()
                        .unwrap_or("")
                        .chars()
                        .take(60)
                        .collect()
                })
                .unwrap_or_default();
            vec![
                s("created_at"),
                s("channel"),
                s("event"),
                d["job_id"]
                    .as_str()
                    .or(d["zone"].as_str())
                    .unwrap_or("")
                    .to_string(),
                s("state"),
                attempts.to_string(),
                last,
            ]
        })
        .collect();
    table(
        &[
            "CREATED",
            "CHANNEL",
            "EVENT",
            "JOB/ZONE",
            "STATE",
            "TRIES",
            "LAST ANSWER",
        ],
        &rows,
    )
}

pub fn workers_table(workers: &[WorkerView]) -> String {
    if workers.is_empty() {
        return "no live workers\n".into();
    }
    let rows: Vec<Vec<String>> = workers
        .iter()
        .map(|w| {
            vec![
                w.zone.clone(),
                w.worker_id.clone(),
                w.kinds.join(","),
                format!("{}/{}", w.in_flight, w.capacity),
                if w.draining { "draining" } else { "ready" }.to_string(),
                match &w.vault {
                    None => "-".to_string(),
                    Some(v) if !v.present => "no vault".to_string(),
                    Some(v) if v.names.is_empty() => "(empty vault)".to_string(),
                    Some(v) => v
                        .names
                        .iter()
                        .map(|n| {
                            if v.default.as_ref() == Some(n) {
                                format!("{n}*")
                            } else {
                                n.clone()
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(","),
                },
                w.heartbeat_at.clone(),
            ]
        })
        .collect();
    table(
        &[
            "ZONE",
            "WORKER",
            "KINDS",
            "IN FLIGHT",
            "STATE",
            "CREDENTIALS",
            "HEARTBEAT",
        ],
        &rows,
    )
}

/// One plain line for a task event (the JSON of `/events`' `task` events).
pub fn event_line(ev: &serde_json::Value) -> String {
    let s = |k: &str| ev[k].as_str().unwrap_or_default().to_string();
    let task = s("task_id");
    let attempt = ev["attempt"].as_u64().unwrap_or(0);
    let head = format!("{} {task} #{attempt}", s("at"));
    match ev["type"].as_str().unwrap_or_default() {
        "started" => format!("{head} started on {} ({})", s("worker_id"), s("zone")),
        "progress" => format!(
            "{head} {}% {}",
            ev["percent"].as_u64().unwrap_or(0),
            s("step")
        )
        .trim_end()
        .to_string(),
        "log" => format!("{head} [{}] {}", s("level"), s("line")),
        "retrying" => format!(
            "{head} will retry in {} ms: {}",
            ev["delay_ms"].as_u64().unwrap_or(0),
            kind_and_error(&s("error_kind"), &s("error"))
        ),
        "result" => match ev["outcome"].as_str().unwrap_or_default() {
            "succeeded" => format!(
                "{head} succeeded {}",
                if ev["output"].is_null() {
                    String::new()
                } else {
                    ev["output"].to_string()
                }
            )
            .trim_end()
            .to_string(),
            other => format!(
                "{head} {other}: {}",
                kind_and_error(&s("error_kind"), &s("error"))
            ),
        },
        other => format!("{head} {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_show_what_is_not_done() {
        let mut c = Counts::default();
        for _ in 0..3 {
            c.add(Status::Succeeded);
        }
        c.add(Status::Failed);
        c.add(Status::Running);
        assert_eq!(counts(&c), "3/5 succeeded, 1 failed, 1 running");
    }

    #[test]
    fn tables_align_columns() {
        let t = table(
            &["A", "LONG"],
            &[
                vec!["xyz".into(), "1".into()],
                vec!["q".into(), "22".into()],
            ],
        );
        assert_eq!(t, "A    LONG\nxyz  1\nq    22\n");
    }

    #[test]
    fn the_error_class_is_said_once() {
        assert_eq!(kind_and_error("auth", "rejected"), "auth: rejected");
        assert_eq!(
            kind_and_error("credential", "credential: no credential named \"x\""),
            "credential: no credential named \"x\""
        );
        assert_eq!(kind_and_error("cancelled", ""), "cancelled");
        assert_eq!(kind_and_error("", "boom"), "boom");
        assert_eq!(
            kind_and_error("auth", "authentication failed"),
            "auth: authentication failed"
        );
    }

    #[test]
    fn event_lines_say_what_happened() {
        let ev = serde_json::json!({"type": "result", "outcome": "failed", "task_id": "j-1", "attempt": 2,
            "at": "2026-11-23T00:00:00.000Z", "error_kind": "refused", "error": "connect: refused"});
        assert_eq!(
            event_line(&ev),
            "2026-11-23T00:00:00.000Z j-1 #2 failed: refused: connect: refused"
        );
        let ev = serde_json::json!({"type": "started", "task_id": "j-1", "attempt": 1, "at": "t", "worker_id": "w1", "zone": "alpha"});
        assert_eq!(event_line(&ev), "t j-1 #1 started on w1 (alpha)");
    }
}
