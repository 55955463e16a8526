//! Names of the JetStream streams, key-value buckets and object stores.

/// Work-queue stream holding the tasks: `outpost.task.<zone>.<kind>`.
pub const TASKS_STREAM: &str = "OUTPOST_TASKS";
/// Limits stream holding every event: `outpost.event.<zone>.<job_id>`.
pub const EVENTS_STREAM: &str = "OUTPOST_EVENTS";
/// KV bucket with job and task state.
pub const JOBS_BUCKET: &str = "outpost_jobs";
/// KV bucket (with TTL) with the leases of running tasks.
pub const LEASES_BUCKET: &str = "outpost_leases";
/// KV bucket (with TTL) with worker presence.
pub const WORKERS_BUCKET: &str = "outpost_workers";
/// KV bucket of task checkpoints (`task.<task_id>`), read by the next attempt.
pub const CHECKPOINTS_BUCKET: &str = "outpost_checkpoints";
/// KV bucket of discovered devices and their pinned certificates:
/// `redfish.<address>_<port>`.
pub const INVENTORY_BUCKET: &str = "outpost_inventory";
/// KV bucket with the device host keys each zone has trusted: `<zone>.<host>-<port>`.
pub const HOSTKEYS_BUCKET: &str = "outpost_hostkeys";
/// KV bucket of the Dell Server Manager jobs a coordinator owns: `<dsm job id>`.
pub const DSM_BUCKET: &str = "outpost_dsm";
/// Object store for SSH captures travelling back to the coordinator.
pub const CAPTURES_STORE: &str = "outpost_captures";

/// The name of a task's capture in [`CAPTURES_STORE`]: `<job id>/<task id>`.
pub fn capture_object(job_id: &str, task_id: &str) -> String {
    format!("{job_id}/{task_id}")
}
/// Object store for firmware images pushed to iDRACs.
pub const FIRMWARE_STORE: &str = "outpost_firmware";
/// KV bucket of finished jobs' summaries once they left the hot state.
pub const HISTORY_BUCKET: &str = "outpost_history";
/// Durable consumer through which the coordinator relays events into state.
pub const RELAY_CONSUMER: &str = "coordinator_relay_explicit";
/// The relay's earlier consumer (acked for all), removed at start.
pub const LEGACY_RELAY_CONSUMER: &str = "coordinator_relay";
