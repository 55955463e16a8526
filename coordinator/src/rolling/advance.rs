//! The rolling update's state machine. `advance` reads the job's tasks
//! (the only state there is: every step is a task in KV with a fixed id)
//! and returns the tasks to add now, each host's progress, and whether
//! the rollout has ended. It is pure and idempotent: the engine runs it
//! after every change and after a restart.
//!
//! Per host: `check` (iDRAC: component known, no Dell job running, update
//! needed?) → `vcheck` (vCenter: host connected, cluster size and hosts
//! out of service, blockers) → `enter` → `flash` → `reconnect` → `verify`
//! → `exit`. Hosts not linked to vCenter skip the vCenter steps. A host
//! already at the version stops after `check`. From `flash` on, steps are
//! clean-up steps (`enter` too): they run even when the job is cancelled,
//! so a cancel finishes the hosts under way. Failures (and a cancel before `flash`)
//! send an entered host through `rollback` (exit maintenance mode),
//! except when its firmware failed mid-flash: that host stays in
//! maintenance mode and the job says so.

use super::plan::{HostPlan, Rollout};
use crate::model::NewTask;
use crate::model::{JobState, Status, TaskMap, TaskState};
use serde_json::{Value, json};
use std::collections::BTreeMap;

use outpost_kinds::redfish::firmware;
pub use outpost_kinds::rollout::{HostProgress, HostState, Step};
use outpost_kinds::vcenter::StatusOutput;
use outpost_kinds::{ErrorClass, Kind};

/// Whether a step's task runs even when the job is cancelled.
trait Cleanup {
    fn cleanup(self) -> bool;
}

impl Cleanup for Step {
    /// Runs even when the job is cancelled: once a host is being taken
    /// out of service, its steps run to their end (a cancel then rolls it
    /// back), so no vCenter task is left racing the rollback.
    fn cleanup(self) -> bool {
        !matches!(self, Step::Check | Step::VCheck)
    }
}

/// The id of host `i`'s task for `step`.
pub fn task_id(job_id: &str, i: usize, step: Step) -> String {
    format!("{job_id}-h{i:04}-{}", step.as_str())
}

fn steps(h: &HostPlan) -> Vec<Step> {
    if h.vcenter.is_some() {
        // Every step but the rollback, in order.
        Step::ALL
            .into_iter()
            .filter(|s| *s != Step::Rollback)
            .collect()
    } else {
        vec![Step::Check, Step::Flash, Step::Verify]
    }
}

/// Where a host is, as derived from its tasks.
#[derive(Debug, Clone, PartialEq)]
enum Phase {
    /// No task yet.
    NotStarted,
    /// The step's task runs or waits for a worker.
    Active(Step),
    /// The previous step succeeded; this one is to be created.
    Next(Step),
    /// The step failed (or was cancelled).
    Failed(Step),
    /// Finished: how, and whether the host is left in maintenance mode.
    Done(Outcome),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Succeeded,
    AlreadyCurrent,
    Failed,
    /// Ended by a cancel or a stop before it changed anything (or rolled
    /// back before its firmware was touched).
    Stopped,
    /// Failed and left in maintenance mode.
    LeftInMaintenance,
}

struct Host<'a> {
    i: usize,
    plan: &'a HostPlan,
    phase: Phase,
}

fn get<'a>(tasks: &'a TaskMap, job: &str, i: usize, s: Step) -> Option<&'a TaskState> {
    tasks.get(&task_id(job, i, s)).map(|(t, _)| t)
}

fn phase(job: &str, i: usize, h: &HostPlan, tasks: &TaskMap) -> Phase {
    if let Some(r) = get(tasks, job, i, Step::Rollback) {
        // Back in service: failed if a step of its own failed, else it
        // was stopped (a cancel, or a failure elsewhere) before flashing.
        let failed = steps(h)
            .into_iter()
            .any(|s| get(tasks, job, i, s).is_some_and(|t| t.status == Status::Failed));
        return match r.status {
            Status::Succeeded if failed => Phase::Done(Outcome::Failed),
            Status::Succeeded => Phase::Done(Outcome::Stopped),
            Status::Failed | Status::Cancelled => Phase::Done(Outcome::LeftInMaintenance),
            _ => Phase::Active(Step::Rollback),
        };
    }
    let mut started = false;
    for s in steps(h) {
        match get(tasks, job, i, s) {
            None if !started => return Phase::NotStarted,
            None => return Phase::Next(s),
            Some(t) if !t.status.is_terminal() => return Phase::Active(s),
            Some(t) if t.status == Status::Succeeded => {
                started = true;
                if s == Step::Check
                    && t.output
                        .as_ref()
                        .and_then(firmware::Output::from_value)
                        .is_some_and(|o| o.status == firmware::Status::AlreadyCurrent)
                {
                    return Phase::Done(Outcome::AlreadyCurrent);
                }
            }
            Some(_) => return Phase::Failed(s),
        }
    }
    Phase::Done(Outcome::Succeeded)
}

/// The firmware step failed after the iDRAC started flashing.
fn mid_flash(t: &TaskState) -> bool {
    let class = t.error_kind.as_deref().and_then(ErrorClass::parse);
    match class.and_then(firmware::applying_when_failed) {
        Some(applying) => applying,
        // A class that does not say: a Dell job was created (progress
        // 5 %) before the failure.
        None => t.progress.as_ref().is_some_and(|p| p.percent >= 5),
    }
}

/// What `advance` decided.
#[derive(Debug, Clone)]
pub struct Advance {
    pub new_tasks: Vec<TaskState>,
    pub hosts: Vec<HostProgress>,
    pub done: bool,
}

impl Advance {
    pub fn summary(&self) -> Value {
        let mut counts: BTreeMap<&str, u32> = BTreeMap::new();
        for h in &self.hosts {
            *counts.entry(h.state.as_str()).or_default() += 1;
        }
        json!({ "hosts": self.hosts, "counts": counts })
    }
}

fn new_task(job: &JobState, i: usize, h: &HostPlan, step: Step, r: &Rollout) -> TaskState {
    let (ep, kind, params) = match step {
        Step::Check | Step::Flash | Step::Verify => {
            let mut p = Value::Object(r.firmware.clone());
            p["device"] = h.idrac.params.clone();
            match step {
                Step::Check => p["mode"] = json!("check"),
                Step::Verify => p["mode"] = json!("verify"),
                _ => {}
            }
            (&h.idrac, Kind::RedfishFirmware, p)
        }
        _ => {
            let Some(vc) = h.vcenter.as_ref() else {
                // A stored plan that asks a vCenter step of an unlinked
                // host (damaged or hand-edited state): that step fails.
                let mut t = new_task(job, i, h, Step::Check, r);
                t.id = task_id(&job.id, i, step);
                t.cleanup = step.cleanup();
                return refused(
                    t,
                    ErrorClass::PlanInvalid,
                    format!("rollout plan: host {i} has no vCenter for its {step:?} step"),
                );
            };
            let mut p = vc.params.clone();
            p["host"] = json!(h.vcenter_host.clone().unwrap_or_default());
            match step {
                Step::VCheck => p["action"] = json!("status"),
                Step::Enter => {
                    p["action"] = json!("enter");
                    p["timeout_s"] = json!(r.maintenance_timeout_s);
                    p["evacuate_powered_off"] = json!(r.evacuate_powered_off);
                }
                Step::Reconnect => {
                    p["action"] = json!("wait_connected");
                    p["timeout_s"] = json!(r.reconnect_timeout_s);
                }
                _ => p["action"] = json!("exit"),
            }
            (vc, Kind::VcenterMaintenance, p)
        }
    };
    let mut params = params;
    if let Some(s) = &ep.sealed {
        params["sealed_credentials"] = s.clone();
    }
    let mut t = TaskState::pending(
        task_id(&job.id, i, step),
        &job.id,
        ep.zone.clone(),
        kind.as_str(),
        ep.target.clone(),
        params,
    );
    t.cleanup = step.cleanup();
    t
}

/// A task recorded as failed by the coordinator itself (a rule that
/// stops a step), never dispatched.
fn refused(mut t: TaskState, class: ErrorClass, message: String) -> TaskState {
    t.status = Status::Failed;
    t.error_kind = Some(class.as_str().into());
    t.error = Some(message);
    t.finished_at = Some(crate::model::now_rfc3339());
    t
}

/// Names of hosts out of service in the cluster, from a `vcheck` output.
fn out_of_service(t: &TaskState) -> Option<(u32, Vec<String>)> {
    let c = StatusOutput::from_value(t.output.as_ref()?)?.cluster?;
    let names = c
        .out_of_service_hosts
        .iter()
        .map(|n| n.to_ascii_lowercase())
        .collect();
    Some((c.hosts, names))
}

/// Decides the next tasks of a rolling update.
pub fn advance(r: &Rollout, job: &JobState, tasks: &TaskMap) -> Advance {
    let jid = job.id.as_str();
    let mut hosts: Vec<Host> = r
        .hosts
        .iter()
        .enumerate()
        .map(|(i, plan)| Host {
            i,
            plan,
            phase: phase(jid, i, plan, tasks),
        })
        .collect();
    let failed_somewhere = hosts.iter().any(|h| {
        matches!(
            h.phase,
            Phase::Failed(_)
                | Phase::Done(Outcome::Failed)
                | Phase::Done(Outcome::LeftInMaintenance)
        )
    });
    let mut stopping = job.cancel_requested || (failed_somewhere && !r.continue_on_failure);
    // Draining: begun hosts go on to the end, no other starts.
    let draining = job.drain_requested;
    let mut new_tasks = Vec::new();
    let mut notes: BTreeMap<usize, String> = BTreeMap::new();

    // Failures: roll back or leave in maintenance.
    for h in hosts.iter_mut() {
        let Phase::Failed(step) = h.phase else {
            continue;
        };
        let linked = h.plan.vcenter.is_some();
        // `Failed(step)` is derived from that step's task; a plan and state
        // that disagree leave the host as it is rather than stop the engine.
        let Some(t) = get(tasks, jid, h.i, step) else {
            continue;
        };
        let entered = linked
            && matches!(
                step,
                Step::Enter | Step::Flash | Step::Reconnect | Step::Verify
            );
        if step == Step::Enter
            && t.error_kind.as_deref().and_then(ErrorClass::parse) == Some(ErrorClass::MinHealthy)
        {
            h.phase = Phase::Done(Outcome::Failed);
        } else if step == Step::Exit {
            h.phase = Phase::Done(Outcome::LeftInMaintenance);
        } else if step == Step::Flash && linked && mid_flash(t) {
            notes.insert(
                h.i,
                "firmware failed mid-flash: the host is left in maintenance mode for an operator"
                    .into(),
            );
            h.phase = Phase::Done(Outcome::LeftInMaintenance);
        } else if entered {
            new_tasks.push(new_task(job, h.i, h.plan, Step::Rollback, r));
            h.phase = Phase::Active(Step::Rollback);
        } else if t.status == Status::Cancelled {
            h.phase = Phase::Done(Outcome::Stopped);
        } else {
            h.phase = Phase::Done(Outcome::Failed);
        }
    }

    // Hosts in the middle: next step, or stop before maintenance.
    // Ours out of service per cluster: (under way, left in maintenance).
    let mut in_maint: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    let ours: std::collections::HashSet<String> = r
        .hosts
        .iter()
        .filter_map(|h| h.vcenter_host.as_ref().map(|n| n.to_ascii_lowercase()))
        .collect();
    for h in &hosts {
        if h.plan.vcenter.is_none() {
            continue;
        }
        let slot = in_maint.entry(h.plan.cluster.clone()).or_default();
        match &h.phase {
            Phase::Active(s) if *s != Step::Check && *s != Step::VCheck => slot.0 += 1,
            Phase::Next(Step::Flash | Step::Reconnect | Step::Verify | Step::Exit) => slot.0 += 1,
            Phase::Done(Outcome::LeftInMaintenance) => slot.1 += 1,
            _ => {}
        }
    }
    for host in hosts.iter_mut() {
        let Phase::Next(step) = host.phase else {
            continue;
        };
        let (i, plan) = (host.i, host.plan);
        if (stopping || draining) && matches!(step, Step::VCheck | Step::Enter) {
            host.phase = Phase::Done(Outcome::Stopped);
            continue;
        }
        if stopping && step == Step::Flash {
            if plan.vcenter.is_some() {
                // In maintenance mode, firmware not started: roll back.
                new_tasks.push(new_task(job, i, plan, Step::Rollback, r));
                host.phase = Phase::Active(Step::Rollback);
            } else {
                host.phase = Phase::Done(Outcome::Stopped);
            }
            continue;
        }
        if step == Step::Enter {
            let rule = rule_of(r, &plan.cluster);
            // Enter follows vcheck; a host in no vCenter cluster (or a
            // vcheck missing from damaged state) has no cluster rule to keep.
            let (size, out_names) = get(tasks, jid, i, Step::VCheck)
                .and_then(out_of_service)
                .unwrap_or((u32::MAX, Vec::new()));
            let external = out_names.iter().filter(|n| !ours.contains(*n)).count() as u32;
            let (active, stuck) = in_maint.get(&plan.cluster).copied().unwrap_or((0, 0));
            let ours_out = active + stuck;
            let allowed = size.saturating_sub(rule.min_healthy_hosts);
            if external + ours_out + 1 > allowed {
                if active > 0 {
                    // Another host of ours frees its place when it is done.
                    notes.insert(
                        i,
                        format!(
                            "waiting: {} of {size} hosts of {} are out of service",
                            external + ours_out,
                            plan.cluster
                        ),
                    );
                    continue;
                }
                let why = if rule.min_healthy_hosts >= size {
                    // No host of this cluster can ever go: say so, not
                    // what this one host would leave behind.
                    format!(
                        "min_healthy_hosts {} is not less than the {size} hosts of cluster {}: no host of it can ever enter maintenance mode; lower min_healthy_hosts below {size}",
                        rule.min_healthy_hosts, plan.cluster
                    )
                } else {
                    format!(
                        "entering maintenance mode would leave cluster {} with {} of {size} hosts in service, fewer than min_healthy_hosts {}",
                        plan.cluster,
                        size.saturating_sub(external + ours_out + 1),
                        rule.min_healthy_hosts
                    )
                };
                let t = refused(
                    new_task(job, i, plan, Step::Enter, r),
                    ErrorClass::MinHealthy,
                    why,
                );
                new_tasks.push(t);
                host.phase = Phase::Done(Outcome::Failed);
                // A failure like any other: nothing new starts from here on.
                stopping |= !r.continue_on_failure;
                continue;
            }
            in_maint.entry(plan.cluster.clone()).or_default().0 += 1;
        }
        new_tasks.push(new_task(job, i, plan, step, r));
        host.phase = Phase::Active(step);
    }

    // New hosts, cluster by cluster, under max_parallel.
    let mut busy: BTreeMap<String, u32> = BTreeMap::new();
    for h in &hosts {
        if matches!(h.phase, Phase::Active(_) | Phase::Next(_)) {
            *busy.entry(h.plan.cluster.clone()).or_default() += 1;
        }
    }
    for h in hosts.iter_mut() {
        if h.phase != Phase::NotStarted {
            continue;
        }
        if stopping || draining {
            continue;
        }
        let rule = rule_of(r, &h.plan.cluster);
        let b = busy.entry(h.plan.cluster.clone()).or_default();
        if *b >= rule.max_parallel {
            continue;
        }
        *b += 1;
        new_tasks.push(new_task(job, h.i, h.plan, Step::Check, r));
        h.phase = Phase::Active(Step::Check);
    }

    let done = hosts.iter().all(|h| {
        matches!(h.phase, Phase::Done(_))
            || ((stopping || draining) && h.phase == Phase::NotStarted)
    });
    let progress = hosts
        .iter()
        .map(|h| {
            let (state, at, step, left) = match &h.phase {
                Phase::NotStarted if stopping || draining => {
                    (HostState::Stopped, None, "not started".to_string(), false)
                }
                Phase::NotStarted => (
                    HostState::Waiting,
                    None,
                    "waiting for its turn".to_string(),
                    false,
                ),
                Phase::Active(s) | Phase::Next(s) => (
                    HostState::Running,
                    Some(*s),
                    s.describe().to_string(),
                    false,
                ),
                Phase::Failed(s) => (HostState::Failed, Some(*s), s.describe().to_string(), false),
                Phase::Done(o) => {
                    let last = last_step(jid, h, tasks);
                    let label = last
                        .map(|s| s.describe().to_string())
                        .unwrap_or_else(|| "not started".into());
                    match o {
                        Outcome::Succeeded => {
                            (HostState::Succeeded, last, "done".to_string(), false)
                        }
                        Outcome::AlreadyCurrent => (
                            HostState::AlreadyCurrent,
                            last,
                            "firmware already at the version".to_string(),
                            false,
                        ),
                        Outcome::Failed => (HostState::Failed, last, label, false),
                        Outcome::Stopped => (HostState::Stopped, last, label, false),
                        Outcome::LeftInMaintenance => (HostState::Failed, last, label, true),
                    }
                }
            };
            let note = notes
                .get(&h.i)
                .cloned()
                .or_else(|| failed_task(jid, h, tasks).and_then(|t| t.error.clone()));
            HostProgress {
                name: h.plan.name.clone(),
                cluster: h.plan.cluster.clone(),
                idrac: h.plan.idrac.target.clone(),
                vcenter_host: h.plan.vcenter_host.clone(),
                state,
                at,
                step,
                left_in_maintenance: left,
                note,
            }
        })
        .collect();
    Advance {
        new_tasks,
        hosts: progress,
        done,
    }
}

fn rule_of(r: &Rollout, cluster: &str) -> super::plan::Rule {
    r.clusters
        .get(cluster)
        .cloned()
        .unwrap_or(super::plan::Rule {
            max_parallel: 1,
            min_healthy_hosts: 0,
        })
}

fn last_step(jid: &str, h: &Host, tasks: &TaskMap) -> Option<Step> {
    Step::ALL
        .iter()
        .rev()
        .find(|s| get(tasks, jid, h.i, **s).is_some())
        .copied()
}

fn failed_task<'a>(jid: &str, h: &Host, tasks: &'a TaskMap) -> Option<&'a TaskState> {
    Step::ALL
        .iter()
        .filter_map(|s| get(tasks, jid, h.i, *s))
        .find(|t| matches!(t.status, Status::Failed))
}

#[cfg(test)]
#[path = "advance_tests.rs"]
mod tests;
