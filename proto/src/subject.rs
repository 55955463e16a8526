//! The subject and key grammar: the one place that builds and parses every
//! NATS subject, KV key and consumer name Outpost uses.
//!
//! Every name that ends up inside a subject is validated first, so a zone,
//! kind or id coming from a user can never add tokens, wildcards or
//! whitespace to a subject:
//! - zone: `[a-z0-9_-]{1,64}`
//! - kind: one or more `[a-z0-9]+` segments joined by `.` (`net.reach`)
//! - job, task and worker ids: `[A-Za-z0-9_-]{1,128}`

use thiserror::Error;

/// A name that cannot be placed in a subject, and why.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SubjectError {
    #[error("{what} must not be empty")]
    Empty { what: &'static str },
    #[error("{what} {value:?} is longer than {max} characters")]
    TooLong {
        what: &'static str,
        value: String,
        max: usize,
    },
    #[error("{what} {value:?} contains {found:?}; allowed: {allowed}")]
    BadChar {
        what: &'static str,
        value: String,
        found: char,
        allowed: &'static str,
    },
    #[error("{what} {value:?} has an empty segment (leading, trailing or doubled '.')")]
    EmptySegment { what: &'static str, value: String },
    #[error("{0:?} is not a well-formed Outpost subject or key")]
    Malformed(String),
}

const ZONE_ALLOWED: &str = "lowercase letters, digits, '_' and '-'";
const ID_ALLOWED: &str = "letters, digits, '_' and '-'";
const KIND_ALLOWED: &str = "lowercase letters and digits in segments joined by '.'";

fn check(
    what: &'static str,
    value: &str,
    max: usize,
    allowed: &'static str,
    ok: impl Fn(char) -> bool,
) -> Result<(), SubjectError> {
    if value.is_empty() {
        return Err(SubjectError::Empty { what });
    }
    if value.chars().count() > max {
        return Err(SubjectError::TooLong {
            what,
            value: value.to_string(),
            max,
        });
    }
    if let Some(found) = value.chars().find(|c| !ok(*c)) {
        return Err(SubjectError::BadChar {
            what,
            value: value.to_string(),
            found,
            allowed,
        });
    }
    Ok(())
}

/// Checks a zone name.
pub fn validate_zone(zone: &str) -> Result<(), SubjectError> {
    check("zone", zone, 64, ZONE_ALLOWED, |c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-'
    })
}

/// Checks a job, task or worker id.
pub fn validate_id(what: &'static str, id: &str) -> Result<(), SubjectError> {
    check(what, id, 128, ID_ALLOWED, |c| {
        c.is_ascii_alphanumeric() || c == '_' || c == '-'
    })
}

/// Checks a task kind such as `net.reach`.
pub fn validate_kind(kind: &str) -> Result<(), SubjectError> {
    check("kind", kind, 64, KIND_ALLOWED, |c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.'
    })?;
    if kind.split('.').any(str::is_empty) {
        return Err(SubjectError::EmptySegment {
            what: "kind",
            value: kind.to_string(),
        });
    }
    Ok(())
}

/// `outpost.task.<zone>.<kind>`: where a task of `kind` for `zone` is published.
pub fn task_subject(zone: &str, kind: &str) -> Result<String, SubjectError> {
    validate_zone(zone)?;
    validate_kind(kind)?;
    Ok(format!("outpost.task.{zone}.{kind}"))
}

/// Subjects captured by the tasks stream.
pub const TASKS_WILDCARD: &str = "outpost.task.>";

/// Splits `outpost.task.<zone>.<kind>` into `(zone, kind)`.
pub fn parse_task_subject(subject: &str) -> Result<(&str, &str), SubjectError> {
    let rest = subject
        .strip_prefix("outpost.task.")
        .ok_or_else(|| SubjectError::Malformed(subject.to_string()))?;
    let (zone, kind) = rest
        .split_once('.')
        .ok_or_else(|| SubjectError::Malformed(subject.to_string()))?;
    validate_zone(zone)?;
    validate_kind(kind)?;
    Ok((zone, kind))
}

/// `<zone>_<kind with '.' as '-'>`: the durable pull consumer shared by every
/// worker of `zone` for `kind`. Kinds never contain `_` or `-`, so the name
/// is unambiguous.
pub fn consumer_name(zone: &str, kind: &str) -> Result<String, SubjectError> {
    validate_zone(zone)?;
    validate_kind(kind)?;
    Ok(format!("{zone}_{}", kind.replace('.', "-")))
}

/// `outpost.event.<zone>.<job_id>`: where events of a job's tasks in `zone` go.
pub fn event_subject(zone: &str, job_id: &str) -> Result<String, SubjectError> {
    validate_zone(zone)?;
    validate_id("job id", job_id)?;
    Ok(format!("outpost.event.{zone}.{job_id}"))
}

/// Subjects captured by the events stream.
pub const EVENTS_WILDCARD: &str = "outpost.event.>";

/// `outpost.event.*.<job_id>`: every event of one job, whatever its zone.
pub fn job_events_filter(job_id: &str) -> Result<String, SubjectError> {
    validate_id("job id", job_id)?;
    Ok(format!("outpost.event.*.{job_id}"))
}

/// Splits `outpost.event.<zone>.<job_id>` into `(zone, job_id)`.
pub fn parse_event_subject(subject: &str) -> Result<(&str, &str), SubjectError> {
    let rest = subject
        .strip_prefix("outpost.event.")
        .ok_or_else(|| SubjectError::Malformed(subject.to_string()))?;
    let (zone, job) = rest
        .split_once('.')
        .ok_or_else(|| SubjectError::Malformed(subject.to_string()))?;
    validate_zone(zone)?;
    validate_id("job id", job)?;
    Ok((zone, job))
}

/// `outpost.cancel.<job_id>`: live cancel signal of a job (core NATS).
pub fn cancel_subject(job_id: &str) -> Result<String, SubjectError> {
    validate_id("job id", job_id)?;
    Ok(format!("outpost.cancel.{job_id}"))
}

/// Every cancel signal, as workers subscribe to them.
pub const CANCEL_WILDCARD: &str = "outpost.cancel.*";

/// Extracts the job id from `outpost.cancel.<job_id>`.
pub fn parse_cancel_subject(subject: &str) -> Result<&str, SubjectError> {
    let job = subject
        .strip_prefix("outpost.cancel.")
        .ok_or_else(|| SubjectError::Malformed(subject.to_string()))?;
    validate_id("job id", job)?;
    Ok(job)
}

/// KV `outpost_jobs` key of a job: `job.<id>`.
pub fn job_key(job_id: &str) -> Result<String, SubjectError> {
    validate_id("job id", job_id)?;
    Ok(format!("job.{job_id}"))
}

/// KV `outpost_jobs` key of a task: `task.<job>.<task>`.
pub fn task_key(job_id: &str, task_id: &str) -> Result<String, SubjectError> {
    validate_id("job id", job_id)?;
    validate_id("task id", task_id)?;
    Ok(format!("task.{job_id}.{task_id}"))
}

/// What a key of the `outpost_jobs` bucket designates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateKey<'a> {
    Job(&'a str),
    Task { job_id: &'a str, task_id: &'a str },
}

/// Parses a key of the `outpost_jobs` bucket.
pub fn parse_state_key(key: &str) -> Result<StateKey<'_>, SubjectError> {
    if let Some(job) = key.strip_prefix("job.") {
        validate_id("job id", job)?;
        return Ok(StateKey::Job(job));
    }
    if let Some(rest) = key.strip_prefix("task.") {
        let (job, task) = rest
            .split_once('.')
            .ok_or_else(|| SubjectError::Malformed(key.to_string()))?;
        validate_id("job id", job)?;
        validate_id("task id", task)?;
        return Ok(StateKey::Task {
            job_id: job,
            task_id: task,
        });
    }
    Err(SubjectError::Malformed(key.to_string()))
}

/// KV `outpost_leases` key of a running task: `task.<task_id>`.
pub fn lease_key(task_id: &str) -> Result<String, SubjectError> {
    validate_id("task id", task_id)?;
    Ok(format!("task.{task_id}"))
}

/// KV `outpost_workers` key of a worker: `<zone>.<worker_id>`.
pub fn worker_key(zone: &str, worker_id: &str) -> Result<String, SubjectError> {
    validate_zone(zone)?;
    validate_id("worker id", worker_id)?;
    Ok(format!("{zone}.{worker_id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_documented_layout() {
        assert_eq!(
            task_subject("fra1-mgmt", "net.reach").unwrap(),
            "outpost.task.fra1-mgmt.net.reach"
        );
        assert_eq!(
            consumer_name("fra1_mgmt", "redfish.firmware").unwrap(),
            "fra1_mgmt_redfish-firmware"
        );
        assert_eq!(event_subject("z1", "J1").unwrap(), "outpost.event.z1.J1");
        assert_eq!(job_events_filter("J1").unwrap(), "outpost.event.*.J1");
        assert_eq!(cancel_subject("J1").unwrap(), "outpost.cancel.J1");
        assert_eq!(job_key("J1").unwrap(), "job.J1");
        assert_eq!(task_key("J1", "t-0").unwrap(), "task.J1.t-0");
        assert_eq!(lease_key("t-0").unwrap(), "task.t-0");
        assert_eq!(worker_key("z1", "w1").unwrap(), "z1.w1");
    }

    #[test]
    fn parses_what_it_builds() {
        let s = task_subject("z_1", "diag.sleep").unwrap();
        assert_eq!(parse_task_subject(&s).unwrap(), ("z_1", "diag.sleep"));
        let s = event_subject("z-2", "job_9").unwrap();
        assert_eq!(parse_event_subject(&s).unwrap(), ("z-2", "job_9"));
        let s = cancel_subject("abc").unwrap();
        assert_eq!(parse_cancel_subject(&s).unwrap(), "abc");
        assert_eq!(parse_state_key("job.abc").unwrap(), StateKey::Job("abc"));
        assert_eq!(
            parse_state_key("task.abc.t1").unwrap(),
            StateKey::Task {
                job_id: "abc",
                task_id: "t1"
            }
        );
    }

    #[test]
    fn rejects_hostile_tokens() {
        for zone in [
            "", "a.b", "a*", ">", "a b", "a\tb", "Zone", "a\nb", "z.>", "ä",
        ] {
            assert!(validate_zone(zone).is_err(), "zone {zone:?} accepted");
            assert!(task_subject(zone, "net.reach").is_err());
            assert!(event_subject(zone, "j").is_err());
        }
        for id in ["", "a.b", "*", ">", "a b", "j\r\n", "a/b", "x.*"] {
            assert!(validate_id("job id", id).is_err(), "id {id:?} accepted");
            assert!(cancel_subject(id).is_err());
            assert!(job_key(id).is_err());
            assert!(task_key("j", id).is_err());
        }
        for kind in [
            "",
            ".",
            "net.",
            ".net",
            "net..reach",
            "net.*",
            "net.>",
            "net reach",
            "net_reach",
            "net-reach",
            "Net.reach",
        ] {
            assert!(validate_kind(kind).is_err(), "kind {kind:?} accepted");
        }
        assert!(validate_zone(&"z".repeat(65)).is_err());
        assert!(validate_id("task id", &"t".repeat(129)).is_err());
    }

    #[test]
    fn errors_name_the_offending_field() {
        let e = validate_zone("a.b").unwrap_err().to_string();
        assert!(e.contains("zone") && e.contains("'.'"), "{e}");
        let e = validate_kind("net..reach").unwrap_err().to_string();
        assert!(e.contains("kind") && e.contains("empty segment"), "{e}");
    }

    #[test]
    fn rejects_foreign_subjects() {
        assert!(parse_task_subject("outpost.event.z.j").is_err());
        assert!(parse_task_subject("outpost.task.z").is_err());
        assert!(parse_event_subject("outpost.event.z.j.extra").is_err());
        assert!(parse_state_key("lease.x").is_err());
        assert!(parse_state_key("task.onlyjob").is_err());
        assert!(parse_cancel_subject("outpost.cancel.a.b").is_err());
    }

    #[test]
    fn consumer_names_do_not_collide() {
        // '_' separates the zone from the kind; kinds cannot contain '_' or '-'.
        let a = consumer_name("a_b", "c").unwrap();
        let b = consumer_name("a", "b.c").unwrap();
        assert_ne!(a, b);
    }
}
