//! Unit tests of `advance.rs`.
use super::*;
use crate::config::ZoneConfig;
use crate::model::{Counts, TaskProgress};
use crate::plan::JobDoc;
use crate::zones::Zones;
use outpost_kinds::redfish::firmware;
use outpost_kinds::rollout::HostState;

const JOB: &str = "j1";
const LINKED: [&str; 7] = [
    "check",
    "vcheck",
    "enter",
    "flash",
    "reconnect",
    "verify",
    "exit",
];
const UNLINKED: [&str; 3] = ["check", "flash", "verify"];

fn zones() -> Zones {
    Zones::new(&[
        ZoneConfig::new("idrac", vec!["127.0.1.0/24".parse().unwrap()]),
        ZoneConfig::new("vc", vec!["127.0.3.0/24".parse().unwrap()]),
    ])
}

/// Two clusters of three linked hosts (0-2 in c1, 3-5 in c2) and an
/// unlinked host (6), with `extra` params.
fn rollout(extra: Value) -> Rollout {
    let mut servers = Vec::new();
    for (c, cluster) in ["c1", "c2"].iter().enumerate() {
        for k in 0..3 {
            let i = c * 3 + k;
            servers.push(json!({"idrac": format!("127.0.1.{}", 10 + i),
                "vcenter_host": format!("esx{i}.lab"), "cluster": cluster}));
        }
    }
    servers.push(json!({"idrac": "127.0.1.50", "name": "lone"}));
    let mut params = json!({
        "vcenter": {"address": "127.0.3.5", "credential": "vc"},
        "firmware": {"component": "BIOS", "version": "2.1", "image": "bios.exe"},
        "servers": servers,
    });
    for (k, v) in extra.as_object().unwrap() {
        params[k] = v.clone();
    }
    let doc = json!({"type": "rolling_update", "params": params});
    super::super::plan(
        &JobDoc::from_json(doc.to_string().as_bytes()).unwrap(),
        &zones(),
    )
    .unwrap()
}

fn job() -> JobState {
    JobState {
        id: JOB.into(),
        job_type: "rolling_update".into(),
        status: Status::Pending,
        zones: vec!["idrac".into(), "vc".into()],
        created_at: crate::model::now_rfc3339(),
        schedule_at: None,
        started_at: None,
        finished_at: None,
        dispatched: true,
        cancel_requested: false,
        drain_requested: false,
        counts: Counts::default(),
        params: Value::Null,
        traceparent: None,
        open: true,
        rollout: None,
        task_chunks: 0,
    }
}

fn id(i: usize, step: &str) -> String {
    format!("{JOB}-h{i:04}-{step}")
}

/// The host and step of a task id.
fn parse(id: &str) -> (usize, &str) {
    let rest = id.strip_prefix(&format!("{JOB}-h")).unwrap();
    let (i, step) = rest.split_once('-').unwrap();
    (i.parse().unwrap(), step)
}

/// Runs a rollout as the engine and the workers would: every round,
/// `advance`, store the tasks it adds, then run every pending task.
struct Sim {
    r: Rollout,
    job: JobState,
    tasks: TaskMap,
    /// Task ids in the order created, with the round.
    created: Vec<(usize, String)>,
    /// What each round's `advance` returned.
    rounds: Vec<Advance>,
}

impl Sim {
    fn new(extra: Value) -> Self {
        Sim {
            r: rollout(extra),
            job: job(),
            tasks: TaskMap::new(),
            created: Vec::new(),
            rounds: Vec::new(),
        }
    }

    /// One `advance`, its tasks stored.
    fn advance(&mut self) -> Advance {
        let a = advance(&self.r, &self.job, &self.tasks);
        let round = self.rounds.len();
        for t in &a.new_tasks {
            assert!(
                !self.tasks.contains_key(&t.id),
                "{} created again in round {round}",
                t.id
            );
            assert_eq!(t.job_id, JOB);
            self.created.push((round, t.id.clone()));
            self.tasks.insert(t.id.clone(), (t.clone(), 1));
        }
        // Pure and idempotent: on the state it produced, nothing more.
        let again = advance(&self.r, &self.job, &self.tasks);
        assert!(
            again.new_tasks.is_empty(),
            "round {round}: added again {:?}",
            again.new_tasks.iter().map(|t| &t.id).collect::<Vec<_>>()
        );
        self.rounds.push(a.clone());
        a
    }

    /// Runs every pending task: succeeded with a worker's output, then
    /// `outcome` may change how it ended.
    fn run(&mut self, outcome: &mut dyn FnMut(&mut TaskState)) {
        for (t, _) in self.tasks.values_mut() {
            if t.status != Status::Pending {
                continue;
            }
            t.status = Status::Succeeded;
            t.output = match parse(&t.id).1 {
                "check" => Some(check_output(firmware::Status::NeedsUpdate)),
                "vcheck" => Some(
                    json!({"cluster": {"name": "c1", "drs_enabled": true, "hosts": 3,
                                                    "out_of_service": 0, "out_of_service_hosts": []}}),
                ),
                _ => None,
            };
            outcome(t);
        }
    }

    /// Rounds until the rollout is done.
    fn finish(&mut self, outcome: &mut dyn FnMut(&mut TaskState)) -> Advance {
        for _ in 0..100 {
            let a = self.advance();
            if a.done {
                for (t, _) in self.tasks.values() {
                    assert!(t.status.is_terminal(), "done with {} {:?}", t.id, t.status);
                }
                for h in &a.hosts {
                    assert!(
                        !matches!(h.state.as_str(), "running" | "waiting"),
                        "done with {h:?}"
                    );
                }
                return a;
            }
            assert!(
                self.tasks
                    .values()
                    .any(|(t, _)| t.status == Status::Pending),
                "stuck: {:#?}",
                a.hosts
            );
            self.run(outcome);
        }
        panic!("no end after 100 rounds: {:#?}", self.rounds.last());
    }

    /// The job is cancelled: the tasks not started and not clean-up
    /// steps are dropped, as the engine does.
    fn cancel(&mut self) {
        self.job.cancel_requested = true;
        for (t, _) in self.tasks.values_mut() {
            if t.status == Status::Pending && !t.cleanup {
                t.status = Status::Cancelled;
                t.error_kind = Some("cancelled".into());
            }
        }
    }

    /// Host `i`'s steps in the order created.
    fn steps(&self, i: usize) -> Vec<&str> {
        self.created
            .iter()
            .map(|(_, id)| parse(id))
            .filter(|(h, _)| *h == i)
            .map(|(_, s)| s)
            .collect()
    }

    /// The round host `i`'s `step` was created in.
    fn round(&self, i: usize, step: &str) -> usize {
        let want = id(i, step);
        self.created
            .iter()
            .find(|(_, t)| *t == want)
            .unwrap_or_else(|| panic!("{want} never created"))
            .0
    }

    fn task(&self, i: usize, step: &str) -> Option<&TaskState> {
        self.tasks.get(&id(i, step)).map(|(t, _)| t)
    }
}

fn ok(_: &mut TaskState) {}

fn states(a: &Advance) -> Vec<&str> {
    a.hosts.iter().map(|h| h.state.as_str()).collect()
}

fn fail(t: &mut TaskState, kind: &str) {
    t.status = Status::Failed;
    t.error_kind = Some(kind.into());
    t.error = Some(format!("{kind} (simulated)"));
    t.output = None;
}

#[test]
fn every_host_is_updated_step_by_step_clusters_in_parallel() {
    let mut sim = Sim::new(json!({}));
    let end = sim.finish(&mut ok);
    assert_eq!(states(&end), vec!["succeeded"; 7]);
    for h in &end.hosts {
        assert!(!h.left_in_maintenance, "{h:?}");
        assert_eq!(h.note, None, "{h:?}");
    }
    assert_eq!(end.hosts[6].cluster, "(standalone)");
    assert_eq!(end.hosts[6].vcenter_host, None);
    assert_eq!(end.hosts[0].vcenter_host.as_deref(), Some("esx0.lab"));
    for i in 0..6 {
        assert_eq!(sim.steps(i), LINKED, "host {i}");
    }
    assert_eq!(sim.steps(6), UNLINKED);

    // max_parallel 1: one host of a cluster under way at a time, the
    // next one's check only after the previous one's exit.
    for (n, a) in sim.rounds.iter().enumerate() {
        for c in ["c1", "c2", "(standalone)"] {
            let running = a
                .hosts
                .iter()
                .filter(|h| h.cluster == c && h.state == HostState::Running)
                .count();
            assert!(running <= 1, "round {n}: {running} hosts of {c} running");
        }
    }
    for c in [0, 3] {
        for k in 0..2 {
            assert!(sim.round(c + k + 1, "check") > sim.round(c + k, "exit"));
        }
    }
    // The clusters roll in the same rounds; the lone host with them.
    for k in 0..3 {
        for s in LINKED {
            assert_eq!(sim.round(k, s), sim.round(3 + k, s), "host {k} {s}");
        }
    }
    assert_eq!(sim.round(6, "check"), 0);

    // Where each step runs and what it is given.
    let check = sim.task(0, "check").unwrap();
    assert_eq!(
        (
            check.kind.as_str(),
            check.zone.as_str(),
            check.target.as_str()
        ),
        ("redfish.firmware", "idrac", "127.0.1.10")
    );
    assert_eq!(check.params["mode"], "check");
    assert_eq!(check.params["component"], "BIOS");
    assert_eq!(check.params["device"]["port"], 443);
    let flash = sim.task(0, "flash").unwrap();
    assert_eq!(flash.params.get("mode"), None);
    assert_eq!(flash.params["image"], "bios.exe");
    assert_eq!(sim.task(0, "verify").unwrap().params["mode"], "verify");
    for (step, action) in [
        ("vcheck", "status"),
        ("enter", "enter"),
        ("reconnect", "wait_connected"),
        ("exit", "exit"),
    ] {
        let t = sim.task(4, step).unwrap();
        assert_eq!(t.kind, "vcenter.maintenance", "{step}");
        assert_eq!(t.zone, "vc", "{step}");
        assert_eq!(t.target, "127.0.3.5", "{step}");
        assert_eq!(t.params["action"], action, "{step}");
        assert_eq!(t.params["host"], "esx4.lab", "{step}");
        assert_eq!(t.params["credential"], "vc", "{step}");
    }
    assert_eq!(sim.task(4, "enter").unwrap().params["timeout_s"], 3600);
    assert_eq!(sim.task(4, "reconnect").unwrap().params["timeout_s"], 1800);
    assert_eq!(
        sim.task(4, "enter").unwrap().params["evacuate_powered_off"],
        false
    );

    let summary = end.summary();
    assert_eq!(summary["counts"], json!({"succeeded": 7}));
}

#[test]
fn only_the_first_steps_may_be_dropped_by_a_cancel() {
    let mut sim = Sim::new(json!({"max_parallel": 3}));
    sim.finish(&mut ok);
    assert_eq!(sim.tasks.len(), 6 * 7 + 3);
    for (t, _) in sim.tasks.values() {
        let step = parse(&t.id).1;
        let cleanup = !matches!(step, "check" | "vcheck");
        assert_eq!(t.cleanup, cleanup, "{}", t.id);
    }
}

#[test]
fn max_parallel_and_min_healthy_hosts_together() {
    // Two hosts under way in c1, but only one may be out of service
    // (3 hosts, 2 kept): the second waits at enter for the first's exit.
    let mut sim = Sim::new(json!({"max_parallel": 2, "min_healthy_hosts": 2}));
    let end = sim.finish(&mut ok);
    assert_eq!(states(&end), vec!["succeeded"; 7]);
    assert_eq!(sim.round(0, "check"), sim.round(1, "check"));
    assert_eq!(sim.round(0, "vcheck"), sim.round(1, "vcheck"));
    assert!(sim.round(1, "enter") > sim.round(0, "exit"));
    assert!(sim.round(2, "check") > sim.round(0, "exit"));
    assert!(sim.round(2, "enter") > sim.round(1, "exit"));
    let waiting = &sim.rounds[sim.round(0, "enter")].hosts[1];
    assert_eq!(waiting.state, HostState::Running);
    assert!(
        waiting
            .note
            .as_deref()
            .unwrap_or("")
            .starts_with("waiting: 1 of 3 hosts of c1"),
        "{waiting:?}"
    );
    // Never two hosts of a cluster in maintenance mode.
    for c in [0, 3] {
        let spans: Vec<(usize, usize)> = (c..c + 3)
            .map(|i| (sim.round(i, "enter"), sim.round(i, "exit")))
            .collect();
        for (a, b) in spans.iter().zip(spans.iter().skip(1)) {
            assert!(b.0 > a.1, "{spans:?}");
        }
    }
}

#[test]
fn a_host_at_the_version_stops_after_check() {
    let mut sim = Sim::new(json!({}));
    let end = sim.finish(&mut |t: &mut TaskState| {
        if t.id == id(0, "check") {
            t.output = Some(check_output(firmware::Status::AlreadyCurrent));
        }
    });
    assert_eq!(end.hosts[0].state, HostState::AlreadyCurrent);
    assert!(!end.hosts[0].left_in_maintenance);
    assert_eq!(sim.steps(0), ["check"]);
    assert!(sim.task(0, "enter").is_none());
    assert_eq!(sim.round(1, "check"), sim.round(0, "check") + 1);
    assert_eq!(&states(&end)[1..], vec!["succeeded"; 6]);
}

#[test]
fn a_flash_failing_mid_way_leaves_the_host_in_maintenance_and_stops_new_hosts() {
    let mut sim = Sim::new(json!({}));
    let end = sim.finish(&mut |t: &mut TaskState| {
        if t.id == id(0, "flash") {
            fail(t, "job_failed");
            t.progress = Some(TaskProgress {
                percent: 40,
                step: "flashing".into(),
            });
        }
    });
    let h0 = &end.hosts[0];
    assert_eq!(h0.state, HostState::Failed);
    assert!(h0.left_in_maintenance);
    assert!(h0.note.as_deref().unwrap().contains("mid-flash"), "{h0:?}");
    assert_eq!(sim.steps(0), ["check", "vcheck", "enter", "flash"]);
    assert!(sim.task(0, "rollback").is_none());
    // c2's host was flashing too: it finishes; nothing new starts.
    assert_eq!(
        states(&end),
        [
            "failed",
            "stopped",
            "stopped",
            "succeeded",
            "stopped",
            "stopped",
            "succeeded"
        ]
    );
    for i in [1, 2, 4, 5] {
        assert!(sim.steps(i).is_empty(), "host {i}: {:?}", sim.steps(i));
        assert_eq!(end.hosts[i].step, "not started");
    }
}

#[test]
fn continue_on_failure_rolls_the_other_hosts() {
    let mut sim = Sim::new(json!({"continue_on_failure": true}));
    let end = sim.finish(&mut |t: &mut TaskState| {
        if t.id == id(0, "flash") {
            fail(t, "job_failed");
        }
    });
    assert_eq!(end.hosts[0].state, HostState::Failed);
    assert!(end.hosts[0].left_in_maintenance);
    assert_eq!(&states(&end)[1..], vec!["succeeded"; 6]);
    assert_eq!(
        end.summary()["counts"],
        json!({"failed": 1, "succeeded": 6})
    );
}

#[test]
fn an_image_the_idrac_refused_rolls_the_host_back() {
    for class in ["image_download_failed", "package_invalid"] {
        let mut sim = Sim::new(json!({}));
        let end = sim.finish(&mut |t: &mut TaskState| {
            if t.id == id(0, "flash") {
                fail(t, class);
                // The Dell job existed (progress past 5 %) but never ran.
                t.progress = Some(crate::model::TaskProgress {
                    percent: 20,
                    step: "downloading".into(),
                });
            }
        });
        assert!(sim.task(0, "rollback").is_some(), "{class}: a rollback");
        assert!(!end.hosts[0].left_in_maintenance, "{class}");
    }
}

#[test]
fn a_flash_failing_before_the_job_started_rolls_the_host_back() {
    let mut sim = Sim::new(json!({}));
    let end = sim.finish(&mut |t: &mut TaskState| {
        if t.id == id(0, "flash") {
            fail(t, "image");
            t.progress = None;
        }
    });
    let rb = sim.task(0, "rollback").expect("a rollback");
    assert!(rb.cleanup);
    assert_eq!(rb.kind, "vcenter.maintenance");
    assert_eq!(rb.zone, "vc");
    assert_eq!(rb.target, "127.0.3.5");
    assert_eq!(rb.params["action"], "exit");
    assert_eq!(rb.params["host"], "esx0.lab");
    assert_eq!(sim.round(0, "rollback"), sim.round(0, "flash") + 1);
    assert_eq!(rb.status, Status::Succeeded);
    assert_eq!(
        sim.steps(0),
        ["check", "vcheck", "enter", "flash", "rollback"]
    );
    let h0 = &end.hosts[0];
    assert_eq!(h0.state, HostState::Failed);
    assert!(!h0.left_in_maintenance);
    assert_eq!(h0.note.as_deref(), Some("image (simulated)"));
    assert_eq!(
        states(&end),
        [
            "failed",
            "stopped",
            "stopped",
            "succeeded",
            "stopped",
            "stopped",
            "succeeded"
        ]
    );
}

#[test]
fn a_failure_elsewhere_rolls_back_a_host_entered_but_not_flashed() {
    let mut sim = Sim::new(json!({}));
    let end = sim.finish(&mut |t: &mut TaskState| {
        if t.id == id(0, "enter") {
            fail(t, "maintenance_timeout");
        }
    });
    // Host 0 failed entering: rolled back, failed. Host 3 had entered
    // in the same round: rolled back before its flash, stopped.
    assert_eq!(sim.steps(0), ["check", "vcheck", "enter", "rollback"]);
    assert_eq!(sim.steps(3), ["check", "vcheck", "enter", "rollback"]);
    assert_eq!(
        states(&end),
        [
            "failed",
            "stopped",
            "stopped",
            "stopped",
            "stopped",
            "stopped",
            "succeeded"
        ]
    );
    assert!(end.hosts.iter().all(|h| !h.left_in_maintenance));
    assert_eq!(end.hosts[3].note, None);
}

#[test]
fn a_failed_rollback_leaves_the_host_in_maintenance() {
    let mut sim = Sim::new(json!({}));
    let end = sim.finish(&mut |t: &mut TaskState| {
        if t.id == id(0, "reconnect") {
            fail(t, "reconnect_timeout");
        } else if t.id == id(0, "rollback") {
            fail(t, "vcenter");
        }
    });
    assert!(sim.task(0, "rollback").is_some());
    assert_eq!(end.hosts[0].state, HostState::Failed);
    assert!(end.hosts[0].left_in_maintenance);
}

#[test]
fn a_cancel_after_enter_rolls_the_host_back_instead_of_flashing() {
    let mut sim = Sim::new(json!({}));
    // Rounds 0-2: check, vcheck and enter of hosts 0 and 3.
    for _ in 0..3 {
        sim.advance();
        sim.run(&mut ok);
    }
    for i in [0, 3] {
        assert_eq!(sim.task(i, "enter").unwrap().status, Status::Succeeded);
        assert!(sim.task(i, "flash").is_none());
    }
    sim.cancel();
    let end = sim.finish(&mut ok);
    for i in [0, 3] {
        assert!(sim.task(i, "flash").is_none(), "host {i} flashed");
        let rb = sim.task(i, "rollback").expect("rolled back");
        assert!(rb.cleanup);
        assert_eq!(rb.params["action"], "exit");
        assert!(!end.hosts[i].left_in_maintenance);
        assert_eq!(end.hosts[i].state, HostState::Stopped, "{:?}", end.hosts[i]);
    }
    // The lone host had finished already; the rest never started.
    assert_eq!(end.hosts[6].state, HostState::Succeeded);
    for i in [1, 2, 4, 5] {
        assert!(sim.steps(i).is_empty());
        assert_eq!(end.hosts[i].state, HostState::Stopped);
    }
}

#[test]
fn a_cancel_drops_the_pre_checks_not_started() {
    let mut sim = Sim::new(json!({}));
    sim.advance();
    sim.cancel();
    let end = sim.finish(&mut ok);
    assert_eq!(states(&end), vec!["stopped"; 7]);
    assert_eq!(sim.created.len(), 3, "{:?}", sim.created);
}

#[test]
fn a_min_healthy_the_cluster_can_never_meet_says_so() {
    let mut sim = Sim::new(json!({"clusters": {"c1": {"min_healthy_hosts": 12}}}));
    sim.finish(&mut ok);
    let enter = sim.task(0, "enter").expect("the refused enter is recorded");
    let error = enter.error.clone().unwrap_or_default();
    assert!(
        error.contains("min_healthy_hosts 12 is not less than the")
            && error.contains("hosts of cluster c1"),
        "{error}"
    );
}

#[test]
fn min_healthy_hosts_refuses_maintenance_and_stops_the_rollout() {
    let mut sim = Sim::new(json!({"clusters": {"c1": {"min_healthy_hosts": 3}}}));
    let end = sim.finish(&mut ok);
    let enter = sim.task(0, "enter").expect("the refused enter is recorded");
    assert_eq!(enter.status, Status::Failed);
    assert_eq!(enter.error_kind.as_deref(), Some("min_healthy"));
    assert!(enter.finished_at.is_some());
    assert!(enter.cleanup);
    assert!(sim.task(0, "flash").is_none());
    assert!(sim.task(0, "rollback").is_none());
    let h0 = &end.hosts[0];
    assert_eq!(h0.state, HostState::Failed);
    assert!(!h0.left_in_maintenance);
    assert!(
        h0.note.as_deref().unwrap().contains("min_healthy_hosts 3"),
        "{h0:?}"
    );
    // Nothing starts after the refusal: no other host of c1, and c2's
    // host, at the same point, does not enter maintenance.
    for i in [1, 2, 4, 5] {
        assert!(sim.steps(i).is_empty(), "host {i}: {:?}", sim.steps(i));
        assert_eq!(end.hosts[i].state, HostState::Stopped);
    }
    assert_eq!(sim.steps(3), ["check", "vcheck"]);
    assert_eq!(end.hosts[3].state, HostState::Stopped);
    assert!(!end.hosts[3].left_in_maintenance);
    assert_eq!(end.hosts[6].state, HostState::Succeeded);
}

/// A `check` step's output as the worker reports it.
fn check_output(status: firmware::Status) -> serde_json::Value {
    serde_json::to_value(firmware::Output {
        address: "127.0.1.1".into(),
        port: Some(443),
        status,
        component: "BIOS".into(),
        component_id: Some("159".into()),
        version: "1.0.0".into(),
        from_version: None,
        jid: None,
        reboots: None,
        note: None,
        updates: Vec::new(),
    })
    .unwrap_or_default()
}
