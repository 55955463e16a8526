//! What a worker shares with the operations it runs: the zone's credential
//! vault, the host-key, capture, checkpoint, lock, pin and firmware stores, and per-job concurrency limits
//! (a job's `max_workers` caps how many of its devices this worker talks to
//! at once).

use super::checkpoint::Checkpoints;
use super::redfish::guard::Locks;
use super::redfish::pins::Pins;
use super::ssh::hostkeys::HostKeys;
use crate::credentials::Credentials;
use async_nats::jetstream::object_store::ObjectStore;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::Semaphore;

pub struct OpEnv {
    pub credentials: Credentials,
    /// Task checkpoints (KV `outpost_checkpoints`).
    pub checkpoints: Checkpoints,
    /// Per-device and per-zone Redfish locks (KV `outpost_leases`).
    pub locks: Locks,
    /// Pinned iDRAC certificates (KV `outpost_inventory`).
    pub pins: Pins,
    /// Firmware images for multipart pushes (`outpost_firmware`).
    pub firmware: Option<crate::images::Images>,
    pub hostkeys: HostKeys,
    pub captures: Option<ObjectStore>,
    /// Largest SSH output accepted from one device.
    pub ssh_max_output: usize,
    /// The zone's secret key: opens credentials sealed to the zone.
    pub zone_key: Option<outpost_vault::Secret>,
    job_slots: Mutex<HashMap<String, Weak<Semaphore>>>,
}

impl OpEnv {
    pub fn new(
        credentials: Credentials,
        hostkeys: HostKeys,
        captures: Option<ObjectStore>,
        ssh_max_output: usize,
    ) -> Self {
        Self {
            credentials,
            checkpoints: Checkpoints::memory(),
            locks: Locks::memory(),
            pins: Pins::memory(),
            firmware: None,
            hostkeys,
            captures,
            ssh_max_output,
            zone_key: None,
            job_slots: Mutex::new(HashMap::new()),
        }
    }

    /// No vault, no stores: host keys trusted per process only.
    pub fn detached() -> Self {
        Self::new(
            Credentials::None,
            HostKeys {
                kv: None,
                zone: "detached".into(),
                worker: "detached".into(),
                policy: super::ssh::hostkeys::HostKeyPolicy::Tofu,
                known_hosts_file: None,
            },
            None,
            super::ssh::DEFAULT_MAX_OUTPUT,
        )
    }

    /// The semaphore bounding `job`'s concurrent device sessions here.
    /// Entries disappear once no task of the job holds them.
    pub fn job_slot(&self, job: &str, limit: u32) -> Arc<Semaphore> {
        let mut map = match self.job_slots.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        if let Some(s) = map.get(job).and_then(Weak::upgrade) {
            return s;
        }
        map.retain(|_, w| w.strong_count() > 0);
        let s = Arc::new(Semaphore::new(limit.clamp(1, 10_000) as usize));
        map.insert(job.to_string(), Arc::downgrade(&s));
        s
    }
}
