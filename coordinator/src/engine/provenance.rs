//! Which events the coordinator believes. An event is read from its
//! subject (`outpost.event.<zone>.<job>` from a worker of the zone,
//! `outpost.verdict.<zone>.<job>` from the coordinator itself) and applied
//! only when the payload says the same zone and job as the subject, the
//! task it names is in that zone, its attempt is one a delivery can have
//! (1 to the largest `max_deliver` a zone may set for a worker; 0, the
//! coordinator's own verdicts, only on the verdict subject), and a result
//! is of the task's own kind. Anything else is dropped, counted in
//! `outpost_events_dropped_total` and logged once per subject, so a peer
//! that can publish on one zone's subjects cannot finish, fail or rewrite
//! another zone's tasks, nor pass for the coordinator. Which identity may
//! publish on which subject is enforced by NATS (`layout::permissions`).

use crate::model::TaskState;
use outpost_proto::{layout, pb};
use std::collections::HashSet;
use std::sync::Mutex;

/// The most deliveries a zone may configure (`[[zone]] max_deliver`).
pub const MAX_ATTEMPT: u32 = 100;
/// Subjects remembered for logging once; beyond, drops are only counted.
const LOGGED: usize = 1024;

/// Why an event is not believed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Subject(String),
    Undecodable(String),
    ZoneMismatch {
        subject: String,
        payload: String,
    },
    JobMismatch {
        subject: String,
        payload: String,
    },
    TaskZone {
        task: String,
        event: String,
    },
    Attempt(u32),
    /// Attempt 0 (a coordinator verdict) published on a worker subject.
    NotCoordinator,
    Kind {
        task: String,
        result: String,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Subject(e) => write!(f, "not an event subject: {e}"),
            Refusal::Undecodable(e) => write!(f, "undecodable: {e}"),
            Refusal::ZoneMismatch { subject, payload } => {
                write!(f, "published on zone {subject:?} but says zone {payload:?}")
            }
            Refusal::JobMismatch { subject, payload } => {
                write!(f, "published for job {subject:?} but says job {payload:?}")
            }
            Refusal::TaskZone { task, event } => {
                write!(
                    f,
                    "the task runs in zone {task:?}, the event is from zone {event:?}"
                )
            }
            Refusal::Attempt(a) => write!(f, "attempt {a} is more than any delivery can have"),
            Refusal::NotCoordinator => {
                write!(f, "attempt 0 is the coordinator's own, not a worker's")
            }
            Refusal::Kind { task, result } => {
                write!(f, "a {result} result for a {task} task")
            }
        }
    }
}

/// What one event message holds: the events that say what its subject
/// says, and why each of the others is not believed.
#[derive(Debug, Default)]
pub struct Read {
    pub events: Vec<pb::Event>,
    pub refused: Vec<Refusal>,
}

/// Decodes an event message (a batch of one job's events) and checks each
/// event against the subject it came on. A message that is not an event
/// batch is refused whole.
pub fn from_subject(subj: &str, payload: &[u8]) -> Result<Read, Refusal> {
    let (sender, zone, job) =
        layout::parse_event_subject(subj).map_err(|e| Refusal::Subject(e.to_string()))?;
    let batch =
        outpost_proto::events::decode(payload).map_err(|e| Refusal::Undecodable(e.to_string()))?;
    let mut read = Read::default();
    for ev in batch {
        match fits_subject(sender, zone, job, &ev) {
            Ok(()) => read.events.push(ev),
            Err(why) => read.refused.push(why),
        }
    }
    Ok(read)
}

fn fits_subject(
    sender: layout::Sender,
    zone: &str,
    job: &str,
    ev: &pb::Event,
) -> Result<(), Refusal> {
    if ev.zone != zone {
        return Err(Refusal::ZoneMismatch {
            subject: zone.to_string(),
            payload: ev.zone.clone(),
        });
    }
    if ev.job_id != job {
        return Err(Refusal::JobMismatch {
            subject: job.to_string(),
            payload: ev.job_id.clone(),
        });
    }
    if ev.attempt > MAX_ATTEMPT {
        return Err(Refusal::Attempt(ev.attempt));
    }
    if ev.attempt == 0 && sender != layout::Sender::Coordinator {
        return Err(Refusal::NotCoordinator);
    }
    Ok(())
}

/// Checks an event against the task it names.
pub fn against_task(task: &TaskState, ev: &pb::Event) -> Result<(), Refusal> {
    if task.zone != ev.zone {
        return Err(Refusal::TaskZone {
            task: task.zone.clone(),
            event: ev.zone.clone(),
        });
    }
    if ev.attempt > MAX_ATTEMPT {
        return Err(Refusal::Attempt(ev.attempt));
    }
    if let Some(pb::event::Body::Result(r)) = &ev.body
        && !r.kind.is_empty()
        && r.kind != task.kind
    {
        return Err(Refusal::Kind {
            task: task.kind.clone(),
            result: r.kind.clone(),
        });
    }
    Ok(())
}

/// The task `ev` reports on, when the event fits it: what the coordinator
/// planned for that task (its zone, target, parameters) is what decides
/// where a result's effects go, never the event's own fields.
pub fn believed<'v>(view: &'v super::View, ev: &pb::Event) -> Option<&'v TaskState> {
    let (t, _) = view.jobs.get(&ev.job_id)?.tasks.get(ev.task_id.as_str())?;
    against_task(t, ev).ok().map(|()| t)
}

/// Counts drops and logs each offending subject once.
#[derive(Debug, Default)]
pub struct Drops {
    logged: Mutex<HashSet<String>>,
}

impl Drops {
    pub fn drop_event(&self, metrics: &super::Metrics, subject: &str, why: &Refusal) {
        super::Metrics::inc(&metrics.events_dropped, 1);
        let mut logged = self.logged.lock().unwrap_or_else(|p| p.into_inner());
        if logged.len() < LOGGED && logged.insert(subject.to_string()) {
            tracing::warn!(subject, reason = %why, "event dropped: not believed");
        }
    }
}

/// The believable events of `msgs`, in order; the others are dropped.
pub fn admit(
    msgs: &[async_nats::jetstream::Message],
    metrics: &super::Metrics,
    drops: &Drops,
) -> Vec<pb::Event> {
    let mut out = Vec::with_capacity(msgs.len());
    for m in msgs {
        out.extend(admit_one(
            m.subject.as_str(),
            m.payload.as_ref(),
            metrics,
            drops,
        ));
    }
    out
}

/// The believable events of one message; the others are dropped.
pub fn admit_one(
    subject: &str,
    payload: &[u8],
    metrics: &super::Metrics,
    drops: &Drops,
) -> Vec<pb::Event> {
    match from_subject(subject, payload) {
        Ok(read) => {
            for why in &read.refused {
                drops.drop_event(metrics, subject, why);
            }
            read.events
        }
        Err(why) => {
            drops.drop_event(metrics, subject, &why);
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NewTask;

    fn event(zone: &str, job: &str, attempt: u32) -> Vec<u8> {
        outpost_proto::events::encode_one(pb::Event {
            job_id: job.into(),
            task_id: format!("{job}-000"),
            zone: zone.into(),
            worker_id: "w".into(),
            attempt,
            seq: 1,
            at_ms: 1,
            body: Some(pb::event::Body::Result(pb::Result {
                outcome: pb::Outcome::Succeeded as i32,
                kind: "diag.sleep".into(),
                ..Default::default()
            })),
            ..Default::default()
        })
    }

    /// The events believed from one message, or why it was refused whole.
    fn read(subject: &str, payload: &[u8]) -> Result<(usize, Vec<Refusal>), Refusal> {
        from_subject(subject, payload).map(|r| (r.events.len(), r.refused))
    }

    #[test]
    fn an_event_must_say_what_its_subject_says() {
        assert_eq!(
            read("outpost.event.b.j1", &event("b", "j1", 1)),
            Ok((1, vec![]))
        );
        assert!(matches!(
            read("outpost.event.a.j1", &event("b", "j1", 1)),
            Ok((0, r)) if matches!(r[..], [Refusal::ZoneMismatch { .. }])
        ));
        assert!(matches!(
            read("outpost.event.b.j2", &event("b", "j1", 1)),
            Ok((0, r)) if matches!(r[..], [Refusal::JobMismatch { .. }])
        ));
        assert!(matches!(
            read("outpost.event.b.j1", &event("b", "j1", 4_000_000_000)),
            Ok((0, r)) if matches!(r[..], [Refusal::Attempt(_)])
        ));
        assert!(matches!(
            read("outpost.event.b.j1", &event("b", "j1", 0)),
            Ok((0, r)) if matches!(r[..], [Refusal::NotCoordinator])
        ));
        assert_eq!(
            read("outpost.verdict.b.j1", &event("b", "j1", 0)),
            Ok((1, vec![]))
        );
        assert!(matches!(
            read("outpost.task.b.x", &event("b", "j1", 1)),
            Err(Refusal::Subject(_))
        ));
        assert!(matches!(
            read("outpost.event.b.j1", b"\xff\xff"),
            Err(Refusal::Undecodable(_))
        ));
    }

    #[test]
    fn in_a_batch_only_the_events_that_fit_are_believed() {
        let one = |zone: &str, job: &str| {
            outpost_proto::events::decode(&event(zone, job, 1)).unwrap_or_default()
        };
        let mut batch = one("b", "j1");
        batch.extend(one("a", "j1"));
        batch.extend(one("b", "j2"));
        batch.extend(one("b", "j1"));
        let got = read("outpost.event.b.j1", &outpost_proto::events::encode(batch));
        assert!(matches!(
            got,
            Ok((2, r)) if matches!(r[..], [Refusal::ZoneMismatch { .. }, Refusal::JobMismatch { .. }])
        ));
    }

    #[test]
    fn an_event_must_fit_its_task() {
        let t = TaskState::pending(
            "j1-000".into(),
            "j1",
            "b".into(),
            "diag.sleep",
            String::new(),
            serde_json::Value::Null,
        );
        let ev = |zone: &str, kind: &str| pb::Event {
            zone: zone.into(),
            attempt: 1,
            body: Some(pb::event::Body::Result(pb::Result {
                kind: kind.into(),
                ..Default::default()
            })),
            ..Default::default()
        };
        assert_eq!(against_task(&t, &ev("b", "diag.sleep")), Ok(()));
        assert!(matches!(
            against_task(&t, &ev("a", "diag.sleep")),
            Err(Refusal::TaskZone { .. })
        ));
        assert!(matches!(
            against_task(&t, &ev("b", "ssh.collect")),
            Err(Refusal::Kind { .. })
        ));
    }
}
