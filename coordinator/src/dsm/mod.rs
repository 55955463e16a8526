//! The Dell Server Manager bridge: takes jobs from the cloud app's
//! PostgreSQL database (Supabase) and reports back the way its UI reads
//! them. `config` is the `[dsm]` table; `db` opens the connection;
//! `access` checks the role can see and claim jobs (row-level security);
//! `install` puts the NOTIFY trigger in place (`outpost dsm install`);
//! `claim` moves one ready job to `running` atomically (`FOR UPDATE SKIP
//! LOCKED`), so several coordinators and the old executor can share a
//! database; `heartbeat` keeps the `executor_heartbeats` row fresh;
//! `target` reads the app's `target_scope` shapes, `lookup` the rows a
//! job names, `creds` resolves each server's login as the app does,
//! `map` and `map_rolling` turn a claimed job into an Outpost job and
//! `seal` seals its secrets to the zones; `owned` records what this
//! coordinator runs; `report` writes rows and status, `details` the keys
//! the UI reads, `sync` and `writeback` the results into the app's other
//! tables; `bridge` is the loop tying them together; `row` reads the
//! app's columns without trusting its schema.

pub mod bridge;
pub mod catalog;
pub mod catalogs;
pub mod claim;
pub mod config;
pub mod creds;
pub mod details;
pub mod full_update;
pub mod heartbeat;
pub mod lookup;
pub mod map;
pub mod map_rolling;
pub mod notify;
pub mod owned;
pub mod report;
pub mod safety;
pub mod scans;
pub mod seal;
pub mod sync;
pub mod target;
pub mod vcenters;
pub mod workflow;
pub mod writeback;
pub mod writeback_vc;

pub use config::DsmConfig;
pub use outpost_dsm_db::{access, db, install, row};

/// DSM job types Outpost runs; every other type is left to other executors.
pub const SUPPORTED: &[&str] = &[
    "discovery_scan",
    "firmware_update",
    "rolling_cluster_update",
    "power_action",
    "test_credentials",
    "firmware_inventory_scan",
    "vcenter_sync",
    "health_check",
    "cluster_safety_check",
    "verify_host_after_update",
    "full_server_update",
    "prepare_host_for_update",
];

/// DSM job types that touch iDRACs: held while the app's pause switch
/// (`activity_settings.pause_idrac_operations`) is on (the app's list).
pub const IDRAC_TYPES: &[&str] = &[
    "discovery_scan",
    "firmware_update",
    "full_server_update",
    "test_credentials",
    "power_action",
    "health_check",
    "prepare_host_for_update",
    "verify_host_after_update",
    "rolling_cluster_update",
    "firmware_inventory_scan",
];
