//! NATS layout v2: the one place that names every stream, bucket, object
//! store, consumer, subject and key Outpost uses, builds them from
//! validated tokens and parses them back. [`permissions`] derives from the
//! same names what each identity may touch.
//!
//! Everything a worker reads or writes carries its zone in a position a
//! NATS permission can match, so a zone's identity is confined to its zone
//! (see `docs/nats-layout.md` for the table and the reasons):
//!
//! | what | name | worker of zone `z` |
//! |---|---|---|
//! | tasks | stream `OUTPOST_TASKS`, `outpost.task.<z>.<kind>` | pulls from consumers `<z>_<kind>`, acks |
//! | events | stream `OUTPOST_EVENTS`, `outpost.event.<z>.<job>` | publishes |
//! | coordinator verdicts | `outpost.verdict.<z>.<job>` (same stream) | nothing |
//! | cancel signal | core `outpost.cancel.<z>.<job>` | subscribes |
//! | cancel record | KV `outpost_cancels`, `<z>.<job>` | reads |
//! | leases | KV `outpost_leases`, `<z>.<task>` | reads, writes |
//! | presence | KV `outpost_workers`, `<z>.<worker>` | reads, writes |
//! | host keys | KV `outpost_hostkeys`, `<z>.<host>-<port>` | reads, writes |
//! | checkpoints | KV `outpost_checkpoints`, `<z>.<task>` | reads, writes |
//! | certificate pins | KV `outpost_pins`, `<z>.<class>.<address>_<port>` | reads, writes |
//! | captures | object store `outpost_captures_<z>`, `<job>/<task>` | writes |
//! | firmware images | object store `outpost_firmware` | reads (direct get) |
//! | replies | `_INBOX_<z>.>` | subscribes |
//!
//! Job state, history, inventory and the DSM bridge's records are the
//! coordinator's alone.

pub mod permissions;

pub use crate::subject::{SubjectError, validate_id, validate_kind, validate_site, validate_zone};

/// Work-queue stream holding the tasks: `outpost.task.<zone>.<kind>`.
pub const TASKS_STREAM: &str = "OUTPOST_TASKS";
/// Limits stream holding every event and verdict.
pub const EVENTS_STREAM: &str = "OUTPOST_EVENTS";
/// KV bucket with job and task state (coordinator only).
pub const JOBS_BUCKET: &str = "outpost_jobs";
/// KV bucket (with TTL) with the leases of running tasks: `<zone>.<task>`.
pub const LEASES_BUCKET: &str = "outpost_leases";
/// KV bucket (with TTL) with worker presence: `<zone>.<worker>`.
pub const WORKERS_BUCKET: &str = "outpost_workers";
/// KV bucket of task checkpoints, read by the next attempt: `<zone>.<task>`.
pub const CHECKPOINTS_BUCKET: &str = "outpost_checkpoints";
/// KV bucket of discovered devices (coordinator only): `redfish.<address>_<port>`.
pub const INVENTORY_BUCKET: &str = "outpost_inventory";
/// KV bucket of the certificates workers pinned: `<zone>.<class>.<address>_<port>`.
pub const PINS_BUCKET: &str = "outpost_pins";
/// KV bucket with the device host keys each zone has trusted: `<zone>.<host>-<port>`.
pub const HOSTKEYS_BUCKET: &str = "outpost_hostkeys";
/// KV bucket of cancelled jobs, per zone: `<zone>.<job>` (coordinator writes).
pub const CANCELS_BUCKET: &str = "outpost_cancels";
/// KV bucket of the Dell Server Manager jobs a coordinator owns: `<dsm job id>`.
pub const DSM_BUCKET: &str = "outpost_dsm";
/// KV bucket of notification deliveries: `<channel>.<job or zone>.<event>`.
pub const NOTIFY_BUCKET: &str = "outpost_notify";
/// KV bucket of finished jobs' summaries once they left the hot state.
pub const HISTORY_BUCKET: &str = "outpost_history";
/// KV bucket of the coordinators' leader lease (key [`LEADER_KEY`]);
/// coordinators only.
pub const LEADER_BUCKET: &str = "outpost_leader";
/// The one key of [`LEADER_BUCKET`].
pub const LEADER_KEY: &str = "leader";
/// Object store for firmware images pushed to iDRACs (workers only read).
pub const FIRMWARE_STORE: &str = "outpost_firmware";
/// Durable consumer through which the coordinator relays events into state.
pub const RELAY_CONSUMER: &str = "coordinator_relay_explicit";
/// The relay's earlier consumer (acked for all), removed at start.
pub const LEGACY_RELAY_CONSUMER: &str = "coordinator_relay";

/// Metadata key of a zone's task consumers: the lease bucket's TTL in
/// seconds (a worker may read its consumers, not the buckets' settings).
pub const META_LEASE_TTL: &str = "outpost_lease_ttl_secs";
/// Metadata key of a zone's task consumers: the presence bucket's TTL in seconds.
pub const META_PRESENCE_TTL: &str = "outpost_presence_ttl_secs";

/// KV buckets a worker reads and writes under its zone's keys.
pub const ZONE_RW_BUCKETS: [&str; 5] = [
    LEASES_BUCKET,
    WORKERS_BUCKET,
    HOSTKEYS_BUCKET,
    CHECKPOINTS_BUCKET,
    PINS_BUCKET,
];
/// KV buckets a worker only reads under its zone's keys.
pub const ZONE_RO_BUCKETS: [&str; 1] = [CANCELS_BUCKET];

/// The stream behind KV bucket `bucket`.
pub fn kv_stream(bucket: &str) -> String {
    format!("KV_{bucket}")
}

/// The stream behind object store `store`.
pub fn object_stream(store: &str) -> String {
    format!("OBJ_{store}")
}

/// Object store of `zone`'s SSH captures: `outpost_captures_<zone>`. One per
/// zone: object names travel base64-encoded in subjects, where no
/// permission could confine them.
pub fn captures_store(zone: &str) -> Result<String, SubjectError> {
    validate_zone(zone)?;
    Ok(format!("outpost_captures_{zone}"))
}

/// The name of a task's capture in its zone's captures store: `<job>/<task>`.
pub fn capture_object(job_id: &str, task_id: &str) -> Result<String, SubjectError> {
    validate_id("job id", job_id)?;
    validate_id("task id", task_id)?;
    Ok(format!("{job_id}/{task_id}"))
}

/// `outpost.task.<zone>.<kind>`: where a task of `kind` for `zone` is published.
pub fn task_subject(zone: &str, kind: &str) -> Result<String, SubjectError> {
    validate_zone(zone)?;
    validate_kind(kind)?;
    Ok(format!("outpost.task.{zone}.{kind}"))
}

/// Subjects captured by the tasks stream.
pub const TASKS_WILDCARD: &str = "outpost.task.>";

/// Where the coordinator publishes a task of `zone` when the zone's
/// workers are at `site`: the hub keeps it in the site's stream
/// ([`site_tasks_stream`]) until the site's own tasks stream has sourced
/// it (as `outpost.task.<zone>.<kind>`).
pub fn site_task_subject(site: &str, zone: &str, kind: &str) -> Result<String, SubjectError> {
    validate_site(site)?;
    validate_zone(zone)?;
    validate_kind(kind)?;
    Ok(format!("outpost.site.{site}.task.{zone}.{kind}"))
}

/// The hub's stream of `site`'s tasks (limits retention: a site's stream
/// sources it and resumes where it stopped after a partition).
pub fn site_tasks_stream(site: &str) -> String {
    format!("OUTPOST_SITE_{site}")
}

/// The subjects of [`site_tasks_stream`].
pub fn site_tasks_wildcard(site: &str) -> String {
    format!("outpost.site.{site}.task.>")
}

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
/// is unambiguous, and no zone's names are another zone's.
pub fn consumer_name(zone: &str, kind: &str) -> Result<String, SubjectError> {
    validate_zone(zone)?;
    validate_kind(kind)?;
    Ok(format!("{zone}_{}", kind.replace('.', "-")))
}

/// `outpost.event.<zone>.<job_id>`: where a worker of `zone` publishes the
/// events of a job's tasks in `zone`.
pub fn event_subject(zone: &str, job_id: &str) -> Result<String, SubjectError> {
    validate_zone(zone)?;
    validate_id("job id", job_id)?;
    Ok(format!("outpost.event.{zone}.{job_id}"))
}

/// `outpost.verdict.<zone>.<job_id>`: where the coordinator publishes its own
/// verdicts on a task (attempt 0: gave up, cancelled before it ran). No
/// worker may publish here.
pub fn verdict_subject(zone: &str, job_id: &str) -> Result<String, SubjectError> {
    validate_zone(zone)?;
    validate_id("job id", job_id)?;
    Ok(format!("outpost.verdict.{zone}.{job_id}"))
}

/// Subjects captured by the events stream.
pub const EVENTS_WILDCARDS: [&str; 2] = ["outpost.event.>", "outpost.verdict.>"];

/// Every event and verdict of one job, whatever its zone.
pub fn job_events_filters(job_id: &str) -> Result<Vec<String>, SubjectError> {
    validate_id("job id", job_id)?;
    Ok(vec![
        format!("outpost.event.*.{job_id}"),
        format!("outpost.verdict.*.{job_id}"),
    ])
}

/// Who published on an events-stream subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    /// A worker of the subject's zone.
    Worker,
    /// The coordinator itself.
    Coordinator,
}

/// Splits `outpost.event.<zone>.<job_id>` or `outpost.verdict.<zone>.<job_id>`
/// into `(sender, zone, job_id)`.
pub fn parse_event_subject(subject: &str) -> Result<(Sender, &str, &str), SubjectError> {
    let (sender, rest) = if let Some(rest) = subject.strip_prefix("outpost.event.") {
        (Sender::Worker, rest)
    } else if let Some(rest) = subject.strip_prefix("outpost.verdict.") {
        (Sender::Coordinator, rest)
    } else {
        return Err(SubjectError::Malformed(subject.to_string()));
    };
    let (zone, job) = rest
        .split_once('.')
        .ok_or_else(|| SubjectError::Malformed(subject.to_string()))?;
    validate_zone(zone)?;
    validate_id("job id", job)?;
    Ok((sender, zone, job))
}

/// `outpost.cancel.<zone>.<job_id>`: live cancel signal of a job's tasks in
/// `zone` (core NATS; [`CANCELS_BUCKET`] holds the record).
pub fn cancel_subject(zone: &str, job_id: &str) -> Result<String, SubjectError> {
    validate_zone(zone)?;
    validate_id("job id", job_id)?;
    Ok(format!("outpost.cancel.{zone}.{job_id}"))
}

/// The cancel signals of one zone, as its workers subscribe to them.
pub fn cancel_wildcard(zone: &str) -> Result<String, SubjectError> {
    validate_zone(zone)?;
    Ok(format!("outpost.cancel.{zone}.*"))
}

/// Extracts `(zone, job_id)` from `outpost.cancel.<zone>.<job_id>`.
pub fn parse_cancel_subject(subject: &str) -> Result<(&str, &str), SubjectError> {
    let rest = subject
        .strip_prefix("outpost.cancel.")
        .ok_or_else(|| SubjectError::Malformed(subject.to_string()))?;
    let (zone, job) = rest
        .split_once('.')
        .ok_or_else(|| SubjectError::Malformed(subject.to_string()))?;
    validate_zone(zone)?;
    validate_id("job id", job)?;
    Ok((zone, job))
}

/// The inbox prefix of `zone`'s workers: `_INBOX_<zone>`. Replies to their
/// requests (pulled tasks, publish acks, KV reads) arrive under it, and no
/// other identity may subscribe there.
pub fn inbox_prefix(zone: &str) -> Result<String, SubjectError> {
    validate_zone(zone)?;
    Ok(format!("_INBOX_{zone}"))
}

/// KV `outpost_jobs` key of a job: `job.<id>`.
pub fn job_key(job_id: &str) -> Result<String, SubjectError> {
    validate_id("job id", job_id)?;
    Ok(format!("job.{job_id}"))
}

/// Tasks per stored chunk of a job's task state. A chunk is rewritten
/// whole whenever an event batch moves any of its tasks: smaller chunks
/// write fewer bytes per batch, more chunks at submit. 64 stored the least
/// in `outpost-bench` (256 and 32 both cost the server more per task).
pub const TASKS_PER_CHUNK: usize = 64;

/// KV `outpost_jobs` key of chunk `n` of a job's tasks (up to
/// [`TASKS_PER_CHUNK`] tasks, stored and updated together):
/// `tasks.<job>.<n>`.
pub fn task_chunk_key(job_id: &str, n: u32) -> Result<String, SubjectError> {
    validate_id("job id", job_id)?;
    Ok(format!("tasks.{job_id}.{n}"))
}

/// What a key of the `outpost_jobs` bucket designates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateKey<'a> {
    Job(&'a str),
    Chunk { job_id: &'a str, n: u32 },
}

/// Parses a key of the `outpost_jobs` bucket.
pub fn parse_state_key(key: &str) -> Result<StateKey<'_>, SubjectError> {
    if let Some(job) = key.strip_prefix("job.") {
        validate_id("job id", job)?;
        return Ok(StateKey::Job(job));
    }
    if let Some(rest) = key.strip_prefix("tasks.") {
        let (job, n) = rest
            .split_once('.')
            .ok_or_else(|| SubjectError::Malformed(key.to_string()))?;
        validate_id("job id", job)?;
        let n = n
            .parse::<u32>()
            .map_err(|_| SubjectError::Malformed(key.to_string()))?;
        return Ok(StateKey::Chunk { job_id: job, n });
    }
    Err(SubjectError::Malformed(key.to_string()))
}

/// KV `outpost_cancels` key of a job cancelled in `zone`: `<zone>.<job>`.
pub fn cancel_key(zone: &str, job_id: &str) -> Result<String, SubjectError> {
    validate_zone(zone)?;
    validate_id("job id", job_id)?;
    Ok(format!("{zone}.{job_id}"))
}

/// KV `outpost_leases` key of a running task: `<zone>.<task_id>`.
pub fn lease_key(zone: &str, task_id: &str) -> Result<String, SubjectError> {
    validate_zone(zone)?;
    validate_id("task id", task_id)?;
    Ok(format!("{zone}.{task_id}"))
}

/// KV `outpost_checkpoints` key of a task: `<zone>.<task_id>`.
pub fn checkpoint_key(zone: &str, task_id: &str) -> Result<String, SubjectError> {
    lease_key(zone, task_id)
}

/// KV `outpost_workers` key of a worker: `<zone>.<worker_id>`.
pub fn worker_key(zone: &str, worker_id: &str) -> Result<String, SubjectError> {
    validate_zone(zone)?;
    validate_id("worker id", worker_id)?;
    Ok(format!("{zone}.{worker_id}"))
}

/// Splits an `outpost_workers` key into `(zone, worker_id)`.
pub fn parse_worker_key(key: &str) -> Result<(&str, &str), SubjectError> {
    let (zone, worker) = key
        .split_once('.')
        .ok_or_else(|| SubjectError::Malformed(key.to_string()))?;
    validate_zone(zone)?;
    validate_id("worker id", worker)?;
    Ok((zone, worker))
}

/// A device address as a key token: letters, digits and `.` kept, anything
/// else (`:` of IPv6, `%`) as `_`.
fn address_token(address: &str) -> String {
    address
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// KV `outpost_inventory` key of a device of `class` (`redfish`, `vcenter`):
/// `<class>.<address>_<port>`.
pub fn inventory_key(class: &str, address: &str, port: u16) -> String {
    format!("{class}.{}_{port}", address_token(address))
}

/// KV `outpost_pins` key of the certificate `zone` pinned for a device:
/// `<zone>.<class>.<address>_<port>`.
pub fn pin_key(zone: &str, class: &str, address: &str, port: u16) -> Result<String, SubjectError> {
    validate_zone(zone)?;
    Ok(format!("{zone}.{}", inventory_key(class, address, port)))
}

/// KV `outpost_hostkeys` key of a device's host key as `zone` trusts it:
/// `<zone>.<host>-<port>` (the host's `.` and `:` as `_`).
pub fn hostkey_key(zone: &str, host: &str, port: u16) -> Result<String, SubjectError> {
    validate_zone(zone)?;
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok(format!("{zone}.{host}-{port}"))
}

/// KV `outpost_checkpoints` key of a task's delivery ledger:
/// `<zone>.deliveries.<task_id>`.
pub fn delivery_ledger_key(zone: &str, task_id: &str) -> Result<String, SubjectError> {
    validate_zone(zone)?;
    validate_id("task id", task_id)?;
    Ok(format!("{zone}.deliveries.{task_id}"))
}

/// KV `outpost_leases` key of the one operation allowed on a device at a
/// time: `<zone>.device.<address>`.
pub fn device_lock_key(zone: &str, address: &str) -> Result<String, SubjectError> {
    validate_zone(zone)?;
    Ok(format!("{zone}.device.{}", address_token(address)))
}

/// KV `outpost_leases` key of slot `n` of a zone's concurrent device
/// operations: `<zone>.slot.<n>`.
pub fn zone_slot_key(zone: &str, n: usize) -> Result<String, SubjectError> {
    validate_zone(zone)?;
    Ok(format!("{zone}.slot.{n}"))
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
        assert_eq!(
            verdict_subject("z1", "J1").unwrap(),
            "outpost.verdict.z1.J1"
        );
        assert_eq!(cancel_subject("z1", "J1").unwrap(), "outpost.cancel.z1.J1");
        assert_eq!(cancel_key("z1", "J1").unwrap(), "z1.J1");
        assert_eq!(job_key("J1").unwrap(), "job.J1");
        assert_eq!(task_chunk_key("J1", 3).unwrap(), "tasks.J1.3");
        assert_eq!(lease_key("z1", "t-0").unwrap(), "z1.t-0");
        assert_eq!(worker_key("z1", "w1").unwrap(), "z1.w1");
        assert_eq!(
            pin_key("z1", "redfish", "fe80::1", 443).unwrap(),
            "z1.redfish.fe80__1_443"
        );
        assert_eq!(hostkey_key("z1", "10.0.0.1", 22).unwrap(), "z1.10_0_0_1-22");
        assert_eq!(
            delivery_ledger_key("z1", "t-0").unwrap(),
            "z1.deliveries.t-0"
        );
        assert_eq!(
            device_lock_key("z1", "10.0.0.1").unwrap(),
            "z1.device.10.0.0.1"
        );
        assert_eq!(zone_slot_key("z1", 3).unwrap(), "z1.slot.3");
        assert_eq!(captures_store("z1").unwrap(), "outpost_captures_z1");
        assert_eq!(inbox_prefix("z1").unwrap(), "_INBOX_z1");
    }

    #[test]
    fn parses_what_it_builds() {
        let s = task_subject("z_1", "diag.sleep").unwrap();
        assert_eq!(parse_task_subject(&s).unwrap(), ("z_1", "diag.sleep"));
        let s = event_subject("z-2", "job_9").unwrap();
        assert_eq!(
            parse_event_subject(&s).unwrap(),
            (Sender::Worker, "z-2", "job_9")
        );
        let s = verdict_subject("z-2", "job_9").unwrap();
        assert_eq!(
            parse_event_subject(&s).unwrap(),
            (Sender::Coordinator, "z-2", "job_9")
        );
        let s = cancel_subject("z", "abc").unwrap();
        assert_eq!(parse_cancel_subject(&s).unwrap(), ("z", "abc"));
        assert_eq!(parse_state_key("job.abc").unwrap(), StateKey::Job("abc"));
        assert_eq!(
            parse_state_key("tasks.abc.7").unwrap(),
            StateKey::Chunk {
                job_id: "abc",
                n: 7
            }
        );
        assert_eq!(parse_worker_key("z.w-1").unwrap(), ("z", "w-1"));
    }

    #[test]
    fn hostile_tokens_never_reach_a_subject() {
        for zone in ["", "a.b", "a*", ">", "a b", "Zone", "z.>"] {
            assert!(task_subject(zone, "net.reach").is_err());
            assert!(event_subject(zone, "j").is_err());
            assert!(cancel_subject(zone, "j").is_err());
            assert!(lease_key(zone, "t").is_err());
            assert!(pin_key(zone, "redfish", "a", 1).is_err());
            assert!(captures_store(zone).is_err());
        }
        for id in ["", "a.b", "*", ">", "a b", "j\r\n", "a/b", "x.*"] {
            assert!(cancel_subject("z", id).is_err());
            assert!(job_key(id).is_err());
            assert!(task_chunk_key(id, 0).is_err());
            assert!(capture_object("j", id).is_err());
        }
        // Whatever an address holds, it stays one token of a key.
        let k = pin_key("z", "redfish", "a.b>*c d", 1).unwrap();
        assert!(
            !k.contains('>') && !k.contains('*') && !k.contains(' '),
            "{k}"
        );
    }

    #[test]
    fn rejects_foreign_subjects() {
        assert!(parse_task_subject("outpost.event.z.j").is_err());
        assert!(parse_task_subject("outpost.task.z").is_err());
        assert!(parse_event_subject("outpost.event.z.j.extra").is_err());
        assert!(parse_event_subject("outpost.task.z.j").is_err());
        assert!(parse_state_key("lease.x").is_err());
        assert!(parse_state_key("tasks.onlyjob").is_err());
        assert!(parse_state_key("tasks.j.x").is_err());
        assert!(parse_cancel_subject("outpost.cancel.a").is_err());
        assert!(parse_cancel_subject("outpost.cancel.a.b.c").is_err());
    }

    #[test]
    fn consumer_names_do_not_collide() {
        // '_' separates the zone from the kind; kinds cannot contain '_' or '-'.
        let a = consumer_name("a_b", "c").unwrap();
        let b = consumer_name("a", "b.c").unwrap();
        assert_ne!(a, b);
    }
}
