//! What a zone's identity may publish and subscribe to, derived from the
//! layout's own names, so the permissions written into `nats-server.conf`
//! cannot drift from the subjects the worker uses.
//!
//! A zone identity may: pull from and ack its own zone's task consumers
//! (bind only: no consumer create, update or delete), publish its own
//! zone's events, read and write its own zone's keys in the shared KV
//! buckets (direct get by key: no stream info, whose subject listing would
//! name other zones' keys), write its own captures store, read firmware
//! images, subscribe to its own cancel signals and to its own inbox.
//! Nothing else: no other zone's subjects, no `$JS.API` administration,
//! no core subscription on tasks or events.
//!
//! Permissions alone cannot confine a zone: JetStream answers a request on
//! whatever reply subject the requester names, with the server's authority,
//! so a zone could aim a reply (whose payload it chose, e.g. its own key's
//! value) at a subject it may not publish to. Each zone is therefore its own
//! NATS account. The coordinator's account ([`COORDINATOR_ACCOUNT`]) holds
//! JetStream and exports to each zone account exactly the subjects above
//! ([`zone_imports`]); a reply to a zone's request lands in the zone's own
//! account, where only its own imports exist. The JetStream API reaches a
//! zone account under [`ZONE_JS_API_PREFIX`] (the zone account has no
//! JetStream of its own to answer `$JS.API`).

use super::{
    FIRMWARE_STORE, SubjectError, TASKS_STREAM, ZONE_RO_BUCKETS, ZONE_RW_BUCKETS, cancel_wildcard,
    captures_store, consumer_name, inbox_prefix, kv_stream, object_stream, validate_zone,
};

/// Subjects an identity may publish to and subscribe to (allow lists;
/// everything else is denied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions {
    pub publish: Vec<String>,
    pub subscribe: Vec<String>,
}

/// The permissions of the workers of `zone` for the task `kinds`.
pub fn zone_worker(zone: &str, kinds: &[&str]) -> Result<Permissions, SubjectError> {
    validate_zone(zone)?;
    let mut publish = vec![format!("outpost.event.{zone}.*")];
    for kind in kinds {
        let consumer = consumer_name(zone, kind)?;
        publish.push(format!(
            "$JS.API.CONSUMER.MSG.NEXT.{TASKS_STREAM}.{consumer}"
        ));
        publish.push(format!("$JS.API.CONSUMER.INFO.{TASKS_STREAM}.{consumer}"));
        publish.push(format!("$JS.ACK.{TASKS_STREAM}.{consumer}.>"));
    }
    for bucket in ZONE_RW_BUCKETS {
        publish.push(format!("$KV.{bucket}.{zone}.>"));
    }
    for bucket in ZONE_RW_BUCKETS.iter().chain(ZONE_RO_BUCKETS.iter()) {
        publish.push(format!(
            "$JS.API.DIRECT.GET.{}.$KV.{bucket}.{zone}.>",
            kv_stream(bucket)
        ));
    }
    let captures = captures_store(zone)?;
    let captures_stream = object_stream(&captures);
    publish.push(format!("$O.{captures}.>"));
    publish.push(format!("$JS.API.STREAM.INFO.{captures_stream}"));
    publish.push(format!("$JS.API.STREAM.PURGE.{captures_stream}"));
    publish.push(format!("$JS.API.DIRECT.GET.{captures_stream}.>"));
    // Firmware is read chunk by chunk with direct gets: no consumer.
    let firmware_stream = object_stream(FIRMWARE_STORE);
    publish.push(format!("$JS.API.DIRECT.GET.{firmware_stream}"));
    publish.push(format!("$JS.API.DIRECT.GET.{firmware_stream}.>"));
    let subscribe = vec![format!("{}.>", inbox_prefix(zone)?), cancel_wildcard(zone)?];
    Ok(Permissions { publish, subscribe })
}

/// The account holding JetStream and the coordinator's identity.
pub const COORDINATOR_ACCOUNT: &str = "OUTPOST";

/// The JetStream API prefix of a zone account: `JS.OUTPOST.API.<x>` in the
/// zone's account is `$JS.API.<x>` in the coordinator's.
pub const ZONE_JS_API_PREFIX: &str = "JS.OUTPOST.API";

/// The NATS account of `zone`'s identity: `ZONE_<zone>`.
pub fn zone_account(zone: &str) -> Result<String, SubjectError> {
    validate_zone(zone)?;
    Ok(format!("ZONE_{zone}"))
}

/// How a zone account reaches one subject of the coordinator's account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportKind {
    /// A request with one reply (or none).
    Service,
    /// A request answered by many messages (a pull request's tasks).
    StreamingService,
    /// Messages the coordinator publishes (cancel signals).
    Stream,
}

/// One subject a zone account imports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// The subject in the coordinator's account (what is exported).
    pub subject: String,
    /// The subject as the zone's workers use it.
    pub local: String,
    pub kind: ImportKind,
}

/// What `zone`'s account imports: [`zone_worker`]'s subjects, the
/// JetStream API ones under [`ZONE_JS_API_PREFIX`].
pub fn zone_imports(zone: &str, kinds: &[&str]) -> Result<Vec<Import>, SubjectError> {
    let p = zone_worker(zone, kinds)?;
    let mut out = Vec::new();
    for subject in p.publish {
        let (local, kind) = match subject.strip_prefix("$JS.API.") {
            Some(rest) => (
                format!("{ZONE_JS_API_PREFIX}.{rest}"),
                if rest.starts_with("CONSUMER.MSG.NEXT.") {
                    ImportKind::StreamingService
                } else {
                    ImportKind::Service
                },
            ),
            None => (subject.clone(), ImportKind::Service),
        };
        out.push(Import {
            subject,
            local,
            kind,
        });
    }
    let inbox = format!("{}.>", inbox_prefix(zone)?);
    for subject in p.subscribe.into_iter().filter(|s| *s != inbox) {
        out.push(Import {
            local: subject.clone(),
            subject,
            kind: ImportKind::Stream,
        });
    }
    Ok(out)
}

/// The permissions of `zone`'s identity inside its own account: the local
/// names of its imports, and its inbox.
pub fn zone_user(zone: &str, kinds: &[&str]) -> Result<Permissions, SubjectError> {
    let imports = zone_imports(zone, kinds)?;
    let mut publish = Vec::new();
    let mut subscribe = vec![format!("{}.>", inbox_prefix(zone)?)];
    for i in imports {
        match i.kind {
            ImportKind::Stream => subscribe.push(i.local),
            _ => publish.push(i.local),
        }
    }
    Ok(Permissions { publish, subscribe })
}

/// The coordinator's permissions: everything (it creates the layout).
pub fn coordinator() -> Permissions {
    Permissions {
        publish: vec![">".to_string()],
        subscribe: vec![">".to_string()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, subject: &str) -> bool {
        let p: Vec<&str> = pattern.split('.').collect();
        let s: Vec<&str> = subject.split('.').collect();
        for (i, t) in p.iter().enumerate() {
            if *t == ">" {
                return s.len() > i;
            }
            match s.get(i) {
                Some(x) if *t == "*" || t == x => {}
                _ => return false,
            }
        }
        p.len() == s.len()
    }

    fn allowed(list: &[String], subject: &str) -> bool {
        list.iter().any(|p| matches(p, subject))
    }

    #[test]
    fn a_zone_reaches_its_own_names_only() {
        let p = zone_worker("a", &["diag.sleep", "ssh.collect"]).unwrap();
        for own in [
            "outpost.event.a.J1",
            "$JS.API.CONSUMER.MSG.NEXT.OUTPOST_TASKS.a_diag-sleep",
            "$JS.ACK.OUTPOST_TASKS.a_ssh-collect.1.2.3.4.5.6.7",
            "$KV.outpost_leases.a.t1",
            "$JS.API.DIRECT.GET.KV_outpost_cancels.$KV.outpost_cancels.a.J1",
            "$O.outpost_captures_a.C.xyz",
            "$JS.API.DIRECT.GET.OBJ_outpost_firmware",
        ] {
            assert!(allowed(&p.publish, own), "{own} refused");
        }
        for foreign in [
            "outpost.event.b.J1",
            "outpost.verdict.a.J1",
            "outpost.task.b.ssh.collect",
            "outpost.task.a.ssh.collect",
            "outpost.cancel.a.J1",
            "$JS.API.CONSUMER.MSG.NEXT.OUTPOST_TASKS.b_diag-sleep",
            "$JS.API.CONSUMER.CREATE.OUTPOST_TASKS",
            "$JS.API.CONSUMER.DURABLE.CREATE.OUTPOST_TASKS.a_diag-sleep",
            "$JS.API.CONSUMER.DELETE.OUTPOST_TASKS.a_diag-sleep",
            "$JS.API.STREAM.DELETE.OUTPOST_TASKS",
            "$JS.API.STREAM.PURGE.OUTPOST_TASKS",
            "$JS.API.STREAM.INFO.KV_outpost_hostkeys",
            "$JS.ACK.OUTPOST_TASKS.b_diag-sleep.1.2.3.4.5.6.7",
            "$KV.outpost_hostkeys.b.host-22",
            "$KV.outpost_cancels.a.J1",
            "$KV.outpost_jobs.job.J1",
            "$KV.outpost_workers.b.w1",
            "$JS.API.DIRECT.GET.KV_outpost_jobs.$KV.outpost_jobs.job.J1",
            "$JS.API.DIRECT.GET.KV_outpost_leases.$KV.outpost_leases.b.t1",
            "$O.outpost_captures_b.C.xyz",
            "$O.outpost_firmware.C.xyz",
        ] {
            assert!(!allowed(&p.publish, foreign), "{foreign} allowed");
        }
        assert!(allowed(&p.subscribe, "_INBOX_a.x.y"));
        assert!(allowed(&p.subscribe, "outpost.cancel.a.J1"));
        for foreign in [
            "_INBOX.x",
            "_INBOX_b.x",
            "outpost.task.a.diag.sleep",
            "outpost.event.a.J1",
            "outpost.cancel.b.J1",
            ">",
        ] {
            assert!(!allowed(&p.subscribe, foreign), "{foreign} allowed");
        }
    }

    #[test]
    fn a_zone_account_imports_its_own_subjects_only() {
        let imports = zone_imports("a", &["diag.sleep"]).unwrap();
        let next = imports
            .iter()
            .find(|i| i.subject == "$JS.API.CONSUMER.MSG.NEXT.OUTPOST_TASKS.a_diag-sleep")
            .unwrap();
        assert_eq!(
            next.local,
            "JS.OUTPOST.API.CONSUMER.MSG.NEXT.OUTPOST_TASKS.a_diag-sleep"
        );
        assert_eq!(next.kind, ImportKind::StreamingService);
        let cancel = imports
            .iter()
            .find(|i| i.kind == ImportKind::Stream)
            .unwrap();
        assert_eq!(cancel.subject, "outpost.cancel.a.*");
        assert!(imports.iter().all(|i| !i.subject.starts_with("_INBOX")));
        // Whatever it imports is what zone `a` was allowed before.
        let own = zone_worker("a", &["diag.sleep"]).unwrap();
        for i in &imports {
            assert!(
                allowed(&own.publish, &i.subject) || allowed(&own.subscribe, &i.subject),
                "{i:?}"
            );
        }
        let user = zone_user("a", &["diag.sleep"]).unwrap();
        assert!(allowed(
            &user.publish,
            "JS.OUTPOST.API.DIRECT.GET.KV_outpost_leases.$KV.outpost_leases.a.t1"
        ));
        assert!(!allowed(
            &user.publish,
            "$JS.API.STREAM.DELETE.OUTPOST_TASKS"
        ));
        assert!(allowed(&user.subscribe, "_INBOX_a.x"));
    }

    #[test]
    fn zones_sharing_a_prefix_stay_apart() {
        // Zone `a` must not reach zone `a_b`'s consumers or keys.
        let p = zone_worker("a", &["diag.sleep"]).unwrap();
        assert!(!allowed(
            &p.publish,
            "$JS.API.CONSUMER.MSG.NEXT.OUTPOST_TASKS.a_b_diag-sleep"
        ));
        assert!(!allowed(&p.publish, "$KV.outpost_leases.a_b.t1"));
        assert!(!allowed(&p.subscribe, "_INBOX_a_b.x"));
    }
}
