//! Outpost's coordinator: takes jobs (its HTTP API), plans them into tasks
//! placed in zones, dispatches them on NATS JetStream, folds the workers'
//! events into job state in KV and serves that state. The `outpost` CLI
//! (a client of the API) lives here too.

pub mod api;
pub mod bus;
pub mod collect;
pub mod config;
pub mod dsm;
pub mod engine;
pub mod leader;
pub mod model;
pub mod notify;
pub mod plan;
pub mod redfish;
pub mod rolling;
pub mod server;
pub mod sites;
pub mod standby;
pub mod supervise;
pub mod vcenter;
pub mod zones;
