//! Outpost's zone worker: binds the durable consumers of its zone, claims
//! tasks within a concurrency limit, runs them under a lease, reports their
//! progress as events, and drains cleanly on shutdown.

pub mod bus;
pub mod cancel;
pub mod claim;
pub mod config;
pub mod credentials;
pub mod deliveries;
pub mod events;
#[doc(hidden)]
pub mod fuzz_api;
pub mod images;
pub mod kv;
pub mod lease;
pub mod metrics;
pub mod ops;
pub mod outbox;
pub mod presence;
pub mod runner;
pub mod secrets;
pub mod worker;

pub use config::{ConsumerSettings, SshSettings, WorkerConfig};
pub use credentials::Credentials;
pub use worker::{WorkerError, run};
