//! How one worker event changes one task's state. Pure and idempotent:
//! applying an event twice, or an older event after a newer one, changes
//! nothing, so replaying the events stream cannot alter a result.

use crate::model::{Status, TaskProgress, TaskState, ms_to_rfc3339};
use outpost_proto::pb::{self, event::Body};

/// Applies `ev` to `task`; returns whether the task changed.
pub fn apply_event(task: &mut TaskState, ev: &pb::Event) -> bool {
    if task.status.is_terminal() {
        return false;
    }
    // An event the task would not have produced is not applied at all.
    if super::provenance::against_task(task, ev).is_err() {
        return false;
    }
    let Some(body) = &ev.body else {
        return false;
    };
    if matches!(body, Body::Log(_)) {
        // Logs are streamed to followers; they do not change state.
        return false;
    }
    let position = (ev.attempt, ev.seq);
    if position <= task.applied {
        return false;
    }
    task.applied = position;
    task.attempts = task.attempts.max(ev.attempt);
    let at = ms_to_rfc3339(ev.at_ms);
    match body {
        Body::Started(_) => {
            task.status = Status::Running;
            task.worker_id = Some(ev.worker_id.clone());
            task.started_at = Some(at);
            task.progress = None;
        }
        Body::Progress(p) => {
            task.status = Status::Running;
            task.worker_id = Some(ev.worker_id.clone());
            task.progress = Some(TaskProgress {
                percent: p.percent.min(100),
                step: p.step.clone(),
            });
        }
        Body::Retrying(r) => {
            task.status = Status::Pending;
            task.error_kind = Some(r.error_kind.clone());
            task.error = Some(r.error.clone());
        }
        Body::Result(r) => {
            task.status = match pb::Outcome::try_from(r.outcome) {
                Ok(pb::Outcome::Succeeded) => Status::Succeeded,
                Ok(pb::Outcome::Cancelled) => Status::Cancelled,
                _ => Status::Failed,
            };
            task.worker_id = Some(ev.worker_id.clone());
            task.finished_at = Some(at);
            // A quick task's `started` travels in its result.
            if r.started_at_ms > 0 && (task.started_at.is_none() || ev.attempt > 1) {
                task.started_at = Some(ms_to_rfc3339(r.started_at_ms));
            }
            if task.status == Status::Succeeded {
                task.error_kind = None;
                task.error = None;
                task.progress = Some(TaskProgress {
                    percent: 100,
                    step: String::new(),
                });
            } else {
                task.error_kind = Some(r.error_kind.clone()).filter(|s| !s.is_empty());
                task.error = Some(r.error.clone()).filter(|s| !s.is_empty());
            }
            task.output = if r.output_json.is_empty() {
                None
            } else {
                serde_json::from_slice(&r.output_json).ok()
            };
        }
        Body::Log(_) => unreachable!("handled above"),
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NewTask;

    fn task() -> TaskState {
        TaskState::pending(
            "t".into(),
            "j",
            "z".into(),
            "diag.sleep",
            String::new(),
            serde_json::Value::Null,
        )
    }

    fn ev(attempt: u32, seq: u32, body: Body) -> pb::Event {
        pb::Event {
            job_id: "j".into(),
            task_id: "t".into(),
            zone: "z".into(),
            worker_id: format!("w{attempt}"),
            attempt,
            seq,
            at_ms: 1_700_000_000_000,
            body: Some(body),
            ..Default::default()
        }
    }

    fn result(outcome: pb::Outcome) -> Body {
        Body::Result(pb::Result {
            outcome: outcome as i32,
            error_kind: String::new(),
            error: String::new(),
            output_json: br#"{"latency_ms":1.5}"#.to_vec(),
            kind: String::new(),
            started_at_ms: 0,
        })
    }

    #[test]
    fn follows_a_task_through_its_life() {
        let mut t = task();
        assert!(apply_event(
            &mut t,
            &ev(1, 1, Body::Started(pb::Started {}))
        ));
        assert_eq!(t.status, Status::Running);
        assert!(apply_event(
            &mut t,
            &ev(1, 2, result(pb::Outcome::Succeeded))
        ));
        assert_eq!(t.status, Status::Succeeded);
        assert_eq!(t.output.as_ref().unwrap()["latency_ms"], 1.5);
        assert_eq!(t.worker_id.as_deref(), Some("w1"));
    }

    #[test]
    fn a_result_of_another_kind_or_zone_changes_nothing() {
        let mut t = task();
        let mut body = result(pb::Outcome::Succeeded);
        if let Body::Result(r) = &mut body {
            r.kind = "redfish.discover".into();
        }
        assert!(!apply_event(&mut t, &ev(1, 1, body)));
        assert_eq!(t.status, Status::Pending);
        assert_eq!(t.output, None);
        let mut other = ev(1, 1, result(pb::Outcome::Succeeded));
        other.zone = "elsewhere".into();
        assert!(!apply_event(&mut t, &other));
        assert_eq!(t.status, Status::Pending);
        // Its own kind is applied as it says.
        let mut t = task();
        let mut body = result(pb::Outcome::Succeeded);
        if let Body::Result(r) = &mut body {
            r.kind = "diag.sleep".into();
        }
        assert!(apply_event(&mut t, &ev(1, 1, body)));
        assert_eq!(t.status, Status::Succeeded);
    }

    #[test]
    fn replay_and_reordering_change_nothing() {
        let events = [
            ev(1, 1, Body::Started(pb::Started {})),
            ev(2, 1, Body::Started(pb::Started {})),
            ev(2, 2, result(pb::Outcome::Succeeded)),
        ];
        let mut once = task();
        for e in &events {
            apply_event(&mut once, e);
        }
        let mut twice = once.clone();
        for e in &events {
            assert!(!apply_event(&mut twice, e));
        }
        assert_eq!(once, twice);

        // An old attempt's event arriving late is ignored.
        let mut t = task();
        apply_event(&mut t, &events[1]);
        assert!(!apply_event(&mut t, &events[0]));
        assert_eq!(t.worker_id.as_deref(), Some("w2"));
    }

    #[test]
    fn terminal_tasks_never_move_back() {
        let mut t = task();
        t.status = Status::Cancelled;
        assert!(!apply_event(
            &mut t,
            &ev(1, 1, result(pb::Outcome::Succeeded))
        ));
        assert_eq!(t.status, Status::Cancelled);
    }

    #[test]
    fn retrying_returns_to_pending_with_the_error() {
        let mut t = task();
        apply_event(&mut t, &ev(1, 1, Body::Started(pb::Started {})));
        apply_event(
            &mut t,
            &ev(
                1,
                2,
                Body::Retrying(pb::Retrying {
                    error_kind: "refused".into(),
                    error: "connection refused".into(),
                    delay_ms: 100,
                }),
            ),
        );
        assert_eq!(t.status, Status::Pending);
        assert_eq!(t.error_kind.as_deref(), Some("refused"));
        apply_event(&mut t, &ev(2, 1, Body::Started(pb::Started {})));
        apply_event(&mut t, &ev(2, 2, result(pb::Outcome::Failed)));
        assert_eq!(t.status, Status::Failed);
        assert_eq!(t.attempts, 2);
    }
}
