//! The Dell Server Manager bridge: takes jobs from the cloud app's
//! PostgreSQL database (Supabase) and reports back the way its UI reads
//! them. `config` is the `[dsm]` table; `db` opens the connection;
//! `install` puts the NOTIFY trigger in place (`outpost dsm install`);
//! `claim` moves one ready job to `running` atomically (`FOR UPDATE SKIP
//! LOCKED`), so several coordinators and the old executor can share a
//! database; `heartbeat` keeps the `executor_heartbeats` row fresh;
//! `lookup` and `map` turn a claimed job into an Outpost job; `owned`
//! records what this coordinator runs; `report` writes progress back;
//! `bridge` is the loop tying them together; `row` reads the app's
//! columns without trusting its schema.

pub mod bridge;
pub mod claim;
pub mod config;
pub mod db;
pub mod heartbeat;
pub mod install;
pub mod lookup;
pub mod map;
pub mod owned;
pub mod report;
pub mod row;
pub mod seal;

pub use config::DsmConfig;

/// DSM job types Outpost runs; every other type is left to other executors.
pub const SUPPORTED: &[&str] = &[
    "discovery_scan",
    "firmware_update",
    "rolling_cluster_update",
    "power_action",
    "test_credentials",
    "firmware_inventory_scan",
];
