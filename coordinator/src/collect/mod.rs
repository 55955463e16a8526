//! SSH collection jobs as VelocityCollector defines them: the v2.0 job
//! file, the inventories devices are selected from, the seed's device
//! filter, capture file names that cannot escape their directory, and the
//! planning that turns all of it into `ssh.collect` tasks.

pub mod filename;
pub mod filter;
pub mod inventory;
pub mod jobfile;
pub mod plan;
