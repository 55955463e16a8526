//! The running state of one simulated iDRAC — host power, firmware
//! versions, Dell's job queue, Redfish tasks, sessions, the iDRAC's own
//! resets — and the transitions that change it over (scaled) time.
//! Firmware versions change only when a job has run and, for host
//! components, the host has rebooted.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::time::Instant;

use super::image::Image;
use super::spec::{Component, Faults, IdracSpec};

/// Host power as Redfish reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Power {
    On,
    Off,
    PoweringOn,
    PoweringOff,
}

impl Power {
    pub fn as_str(self) -> &'static str {
        match self {
            Power::On => "On",
            Power::Off => "Off",
            Power::PoweringOn => "PoweringOn",
            Power::PoweringOff => "PoweringOff",
        }
    }
}

/// A job in Dell's queue (`Managers/iDRAC.Embedded.1/Jobs/{JID}`).
#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    pub name: String,
    pub job_type: String,
    pub state: String,
    pub percent: u32,
    pub message: String,
    pub message_id: String,
    pub created: DateTime<Utc>,
    /// `StartTime` as Dell shows it: a time, or `None` for the sentinel
    /// `TIME_NOW` (firmware jobs started with SimpleUpdate or a push).
    pub start_time: Option<DateTime<Utc>>,
    pub completed: Option<DateTime<Utc>>,
}

impl Job {
    fn new(id: String, name: &str, job_type: &str, state: &str, created: DateTime<Utc>) -> Job {
        Job {
            id,
            name: name.into(),
            job_type: job_type.into(),
            state: state.into(),
            percent: 0,
            message: "Job created.".into(),
            message_id: "JCP000".into(),
            created,
            start_time: Some(created),
            completed: None,
        }
    }

    pub fn finished(&self) -> bool {
        matches!(
            self.state.as_str(),
            "Completed" | "Failed" | "CompletedWithErrors"
        )
    }
}

/// Where a firmware job's package comes from.
#[derive(Debug)]
pub enum UpdateSource {
    /// Pushed with `MultipartUpload`: already parsed (`Err` = not a package).
    Pushed(Result<Image, String>),
    /// `SimpleUpdate`: the job downloads it from this URI.
    Uri(String),
}

/// One accepted `ComputerSystem.Reset` and what the firmware jobs were
/// doing when it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostReset {
    pub reset_type: String,
    /// (JID, JobState) of every firmware job in the queue.
    pub jobs: Vec<(String, String)>,
}

/// Counters a test reads to check what the client did.
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub logins: AtomicU64,
    pub failed_logins: AtomicU64,
    pub sessions_deleted: AtomicU64,
    pub basic_requests: AtomicU64,
    /// Images received through `MultipartUpload`.
    pub uploads: AtomicU64,
    pub simple_updates: AtomicU64,
    /// `ComputerSystem.Reset` requests accepted (including ignored ones).
    pub host_resets: AtomicU64,
    /// Times the host really went down and booted again (restarts and
    /// power cycles that completed, or a power-on after an off).
    pub host_power_cycles: AtomicU64,
    pub idrac_resets: AtomicU64,
    pub jobs_deleted: AtomicU64,
    /// Most sessions open at the same time.
    pub max_sessions: AtomicU64,
}

impl Stats {
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
    pub(crate) fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// What the iDRAC itself is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    Up,
    /// Resetting: connections are dropped.
    Down,
    /// Coming back: answers 503.
    Starting,
}

pub struct State {
    pub faults: Faults,
    pub power: Power,
    pub last_reset: DateTime<Utc>,
    pub components: Vec<Component>,
    pub jobs: BTreeMap<String, Job>,
    /// Redfish tasks by JID; they vanish when the iDRAC resets.
    pub tasks: BTreeMap<String, ()>,
    /// token → session id
    pub sessions: HashMap<String, String>,
    pub down_until: Option<Instant>,
    /// Every accepted host reset, with the firmware jobs' states then.
    pub host_reset_log: Vec<HostReset>,
    pub starting_until: Option<Instant>,
    next_id: u64,
}

/// One simulated iDRAC.
pub struct Device {
    pub spec: IdracSpec,
    pub stats: Stats,
    state: Mutex<State>,
    /// Counts host power-ons after a reset; jobs wait on it.
    boots: watch::Sender<u64>,
}

impl Device {
    pub fn new(spec: IdracSpec) -> Arc<Device> {
        let now = Utc::now();
        let mut state = State {
            faults: spec.faults.clone(),
            power: if spec.powered_on {
                Power::On
            } else {
                Power::Off
            },
            last_reset: now - chrono::Duration::days(3),
            components: spec.components.clone(),
            jobs: BTreeMap::new(),
            tasks: BTreeMap::new(),
            sessions: HashMap::new(),
            down_until: None,
            host_reset_log: Vec::new(),
            starting_until: None,
            next_id: (spec.cert_seed % 1000) * 1_000_000 + 100_000,
        };
        let seed_stale = spec.faults.stale_jobs;
        let seed_busy = spec.faults.busy_job;
        if seed_stale {
            let old = now - chrono::Duration::days(2);
            for (name, st, msg) in [
                (
                    "Firmware Update: BIOS",
                    "Failed",
                    "Unable to verify Update Package signature.",
                ),
                (
                    "Firmware Update: NIC",
                    "CompletedWithErrors",
                    "Job completed with errors.",
                ),
                (
                    "Firmware Update: iDRAC",
                    "Scheduled",
                    "Task successfully scheduled.",
                ),
            ] {
                let id = state.new_jid();
                let mut j = Job::new(id.clone(), name, "FirmwareUpdate", st, old);
                j.message = msg.into();
                if st == "Scheduled" {
                    j.start_time = None;
                }
                state.jobs.insert(id, j);
            }
        }
        let dev = Arc::new(Device {
            spec,
            stats: Stats::default(),
            state: Mutex::new(state),
            boots: watch::channel(0).0,
        });
        if seed_busy {
            let jid = {
                let mut s = dev.lock();
                let id = s.new_jid();
                let mut j = Job::new(
                    id.clone(),
                    "Configure: RAID.Integrated.1-1",
                    "RAIDConfiguration",
                    "Running",
                    now,
                );
                j.percent = 10;
                j.message = "Job in progress.".into();
                s.jobs.insert(id.clone(), j);
                id
            };
            let d = dev.clone();
            let dur = d.spec.timings.scaled(d.spec.timings.busy_job);
            tokio::spawn(async move {
                tokio::time::sleep(dur).await;
                d.finish_job(&jid, "Completed", "Job completed successfully.", "RED001");
            });
        }
        dev
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the iDRAC answers right now.
    pub fn availability(&self) -> Availability {
        let now = Instant::now();
        let s = self.lock();
        match (s.down_until, s.starting_until) {
            (Some(d), _) if now < d => Availability::Down,
            (_, Some(st)) if now < st => Availability::Starting,
            _ => Availability::Up,
        }
    }

    pub fn faults(&self) -> Faults {
        self.lock().faults.clone()
    }

    /// Changes the faults of a running device.
    pub fn set_faults(&self, f: Faults) {
        self.lock().faults = f;
    }

    pub fn component_version(&self, id: &str) -> Option<String> {
        self.lock()
            .components
            .iter()
            .find(|c| c.id == id)
            .map(|c| c.version.clone())
    }

    pub fn job(&self, jid: &str) -> Option<Job> {
        self.lock().jobs.get(jid).cloned()
    }

    /// The host resets accepted so far, oldest first.
    pub fn host_reset_log(&self) -> Vec<HostReset> {
        self.lock().host_reset_log.clone()
    }

    pub fn jobs(&self) -> Vec<Job> {
        self.lock().jobs.values().cloned().collect()
    }

    fn update_job(&self, jid: &str, f: impl FnOnce(&mut Job)) {
        if let Some(j) = self.lock().jobs.get_mut(jid) {
            f(j);
        }
    }

    fn finish_job(&self, jid: &str, state: &str, message: &str, message_id: &str) {
        self.update_job(jid, |j| {
            j.state = state.into();
            j.message = message.into();
            j.message_id = message_id.into();
            if state == "Completed" {
                j.percent = 100;
            }
            j.completed = Some(Utc::now());
        });
    }

    /// Waits until the host has booted again after the boot numbered `seen`.
    async fn next_boot(&self, seen: u64) {
        let mut rx = self.boots.subscribe();
        let _ = rx.wait_for(|&b| b > seen).await;
    }

    fn boots(&self) -> u64 {
        *self.boots.borrow()
    }

    /// Queues a firmware update and starts running it; returns the JID.
    pub fn start_update(self: &Arc<Self>, source: UpdateSource) -> String {
        let jid = {
            let mut s = self.lock();
            let id = s.new_jid();
            let name = match &source {
                UpdateSource::Pushed(Ok(i)) => {
                    format!("Firmware Update: {}", i.component_name(&s.components))
                }
                _ => "Firmware Update".to_string(),
            };
            let mut j = Job::new(id.clone(), &name, "FirmwareUpdate", "New", Utc::now());
            j.start_time = None;
            s.jobs.insert(id.clone(), j);
            s.tasks.insert(id.clone(), ());
            id
        };
        let dev = self.clone();
        let id = jid.clone();
        tokio::spawn(async move { dev.run_update(&id, source).await });
        jid
    }

    fn exists(&self, jid: &str) -> bool {
        self.lock().jobs.contains_key(jid)
    }

    /// Dell's job model: `New → Downloading → Downloaded → Scheduled`
    /// (waits for a host reboot) `→ Running → Completed`; a transfer or
    /// package failure ends the job `Failed` before it is ever scheduled;
    /// the iDRAC's own firmware skips `Scheduled` and resets the iDRAC.
    async fn run_update(self: Arc<Self>, jid: &str, source: UpdateSource) {
        let t = self.spec.timings.clone();
        let slow = Duration::from_millis(self.faults().slow_download_ms) / 2;
        // Created, not yet fetching.
        tokio::time::sleep(t.scaled(t.download) / 10 + slow).await;
        self.update_job(jid, |j| {
            j.state = "Downloading".into();
            j.message = "Downloading the update package.".into();
            j.message_id = "RED003".into();
        });
        // Ok(None): the file arrived but is not a valid package.
        let fetched = match source {
            UpdateSource::Uri(uri) => super::routes::fetch(&uri).await.map(Result::ok),
            UpdateSource::Pushed(i) => Ok(i.ok()),
        };
        for pct in [20, 40, 60, 80, 100] {
            tokio::time::sleep((t.scaled(t.download) * 7 / 10 + slow) / 5).await;
            self.update_job(jid, |j| j.percent = pct);
        }
        let image = match fetched {
            Err(why) => {
                return self.finish_job(
                    jid,
                    "Failed",
                    &format!("Unable to transfer image file: {why}."),
                    "RED014",
                );
            }
            Ok(i) => i,
        };
        self.update_job(jid, |j| {
            j.state = "Downloaded".into();
            j.message = "Package successfully downloaded.".into();
            j.message_id = "RED002".into();
        });
        // Checking the package: a real iDRAC takes seconds over it, so even
        // a sped-up device stays Downloaded long enough to be seen.
        tokio::time::sleep((t.scaled(t.download) / 5).max(Duration::from_millis(250))).await;
        let Some(image) = image else {
            return self.finish_job(jid, "Failed", "Package verification failed.", "RED007");
        };
        if self.faults().bad_signature {
            return self.finish_job(
                jid,
                "Failed",
                "Unable to verify Update Package signature.",
                "SUP0518",
            );
        }
        let Some(component) = self
            .lock()
            .components
            .iter()
            .find(|c| c.id == image.component_id)
            .cloned()
        else {
            return self.finish_job(
                jid,
                "Failed",
                "The update package is not applicable to this system.",
                "SUP029",
            );
        };
        if !component.updateable {
            return self.finish_job(jid, "Failed", "Component is not updateable.", "SUP024");
        }
        self.update_job(jid, |j| {
            j.name = format!("Firmware Update: {}", component.name);
        });
        if component.needs_host_reboot {
            let seen = self.boots();
            self.update_job(jid, |j| {
                j.state = "Scheduled".into();
                j.percent = 0;
                j.message = "Task successfully scheduled.".into();
                j.message_id = "JCP001".into();
            });
            let mut seen = seen;
            loop {
                self.next_boot(seen).await;
                if !self.exists(jid) {
                    // Deleted while it waited: the reboot applies nothing.
                    return;
                }
                if !self.faults().stuck_scheduled {
                    break;
                }
                seen = self.boots();
            }
        }
        self.update_job(jid, |j| {
            j.state = "Running".into();
            j.percent = 0;
            j.message = "Job in progress.".into();
            j.message_id = "PR19".into();
        });
        for pct in [20, 40, 60, 80] {
            tokio::time::sleep(t.scaled(t.apply) / 5).await;
            self.update_job(jid, |j| j.percent = pct);
            if pct == 40 && self.faults().stall_job {
                // Stuck until someone resets the host.
                let seen = self.boots();
                self.next_boot(seen).await;
            }
            if pct == 40 && self.faults().fail_job {
                return self.finish_job(
                    jid,
                    "Failed",
                    "Firmware update failed while applying the package to the component.",
                    "SUP0516",
                );
            }
        }
        tokio::time::sleep(t.scaled(t.apply) / 5).await;
        {
            let mut s = self.lock();
            if let Some(c) = s.components.iter_mut().find(|c| c.id == image.component_id) {
                c.version = image.version.clone();
            }
        }
        if !component.needs_host_reboot {
            // The iDRAC's own firmware: it resets itself to run it.
            self.reset_idrac();
            tokio::time::sleep(t.scaled(t.idrac_reset)).await;
        }
        self.finish_job(
            jid,
            "Completed",
            "The specified job has completed successfully.",
            "RED001",
        );
    }

    /// The iDRAC resets: it stops answering, forgets sessions and Redfish
    /// tasks, then answers 503 for a while before it is up again.
    pub fn reset_idrac(&self) {
        Stats::bump(&self.stats.idrac_resets);
        let t = &self.spec.timings;
        let total = t.scaled(t.idrac_reset);
        let now = Instant::now();
        let mut s = self.lock();
        s.down_until = Some(now + total.mul_f64(0.8));
        s.starting_until = Some(now + total);
        s.sessions.clear();
        s.tasks.clear();
    }

    /// The iDRAC is warming up for `wall` (not scaled): it answers every
    /// request with `503` and a `Retry-After`, as right after a reset.
    pub fn warm_up(&self, wall: std::time::Duration) {
        self.lock().starting_until = Some(Instant::now() + wall);
    }

    /// Whole seconds until the warm-up ends (at least 1), for `Retry-After`.
    pub fn warm_up_left_s(&self) -> u64 {
        let left = self
            .lock()
            .starting_until
            .map(|t| t.saturating_duration_since(Instant::now()))
            .unwrap_or_default();
        left.as_secs_f64().ceil().max(1.0) as u64
    }

    /// `ComputerSystem.Reset`: checks the request against the power state
    /// and runs the transition in the background.
    pub fn reset_host(self: &Arc<Self>, reset_type: &str) -> Result<(), String> {
        let power = self.lock().power;
        let graceful_ignored = self.faults().graceful_ignored;
        let off = matches!(power, Power::Off);
        match reset_type {
            "On" | "PushPowerButton" if off => {}
            "On" => return Err("Server is already powered ON.".into()),
            "ForceOff" | "GracefulShutdown" | "GracefulRestart" if off => {
                return Err("Server is already powered OFF.".into());
            }
            "ForceOff" | "GracefulShutdown" | "GracefulRestart" | "ForceRestart" | "PowerCycle"
            | "PushPowerButton" | "Nmi" => {}
            other => return Err(format!("ResetType {other} is not supported.")),
        }
        Stats::bump(&self.stats.host_resets);
        {
            let mut s = self.lock();
            let jobs = s
                .jobs
                .values()
                .filter(|j| j.job_type == "FirmwareUpdate")
                .map(|j| (j.id.clone(), j.state.clone()))
                .collect();
            s.host_reset_log.push(HostReset {
                reset_type: reset_type.to_string(),
                jobs,
            });
        }
        // A button press on a running host is an ACPI request to the OS,
        // which may ignore it like any graceful request.
        let acpi = reset_type.starts_with("Graceful") || (reset_type == "PushPowerButton" && !off);
        if reset_type == "Nmi" || (acpi && graceful_ignored) {
            // The OS got the request and did nothing visible.
            return Ok(());
        }
        let dev = self.clone();
        let kind = reset_type.to_string();
        tokio::spawn(async move { dev.power_transition(&kind, off).await });
        Ok(())
    }

    async fn power_transition(self: Arc<Self>, kind: &str, was_off: bool) {
        let t = self.spec.timings.clone();
        let set = |p: Power| self.lock().power = p;
        let power_on = |dev: &Arc<Device>| {
            let mut s = dev.lock();
            s.power = Power::On;
            s.last_reset = Utc::now();
            drop(s);
            Stats::bump(&dev.stats.host_power_cycles);
            dev.boots.send_modify(|b| *b += 1);
        };
        match kind {
            "GracefulShutdown" | "GracefulRestart" => {
                set(Power::PoweringOff);
                tokio::time::sleep(t.scaled(t.graceful_shutdown)).await;
                set(Power::Off);
                if kind == "GracefulShutdown" {
                    return;
                }
            }
            "ForceOff" => return set(Power::Off),
            "PushPowerButton" if !was_off => {
                // The OS shuts down as for a graceful request.
                set(Power::PoweringOff);
                tokio::time::sleep(t.scaled(t.graceful_shutdown)).await;
                return set(Power::Off);
            }
            "ForceRestart" | "PowerCycle" => set(Power::Off),
            _ => {}
        }
        set(Power::PoweringOn);
        tokio::time::sleep(t.scaled(t.boot)).await;
        power_on(&self);
    }

    /// Deletes a job from the queue; running jobs cannot be deleted.
    pub fn delete_job(&self, jid: &str) -> Result<(), (u16, String)> {
        let mut s = self.lock();
        match s.jobs.get(jid) {
            None => Err((404, format!("Job {jid} not found."))),
            Some(j) if j.state == "Running" || j.state == "Downloading" => Err((
                400,
                format!("Unable to delete job {jid} because it is running."),
            )),
            Some(_) => {
                s.jobs.remove(jid);
                s.tasks.remove(jid);
                Stats::bump(&self.stats.jobs_deleted);
                Ok(())
            }
        }
    }
}

impl State {
    fn new_jid(&mut self) -> String {
        self.next_id += 1;
        format!("JID_{:012}", self.next_id)
    }

    /// Opens a session; returns (id, token).
    pub fn open_session(&mut self, stats: &Stats) -> (String, String) {
        self.next_id += 1;
        let id = format!("{}", self.next_id);
        let token: String = format!("{:032x}", rand::random::<u128>());
        self.sessions.insert(token.clone(), id.clone());
        let n = self.sessions.len() as u64;
        stats.max_sessions.fetch_max(n, Ordering::Relaxed);
        Stats::bump(&stats.logins);
        (id, token)
    }
}
