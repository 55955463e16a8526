//! The `rolling_update` job: per host, a pre-check on the iDRAC and in
//! vCenter, maintenance mode, the firmware update, the wait for the host
//! to reconnect, a version check and the exit from maintenance mode, each
//! step a task in the zone that can reach its device. Clusters roll in
//! parallel under their `max_parallel` and `min_healthy_hosts` rules; a
//! failure or a cancel leaves no host in maintenance mode unless its
//! firmware failed mid-flash. `plan` validates the job; `advance` is the
//! pure state machine the engine runs after every change, deriving each
//! host's state from its tasks in KV, so a restarted coordinator resumes
//! where it was.

pub mod advance;
pub mod plan;
pub mod servers;

pub use advance::{Advance, advance};
pub use plan::{Rollout, plan};
