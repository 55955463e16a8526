//! The SSH network-device simulator: many Cisco IOS, Arista EOS and Juniper
//! Junos devices served over SSH on loopback addresses, with interactive
//! PTY shells, prompts, paging, latency and injected faults, for testing the
//! worker's SSH collector.
//!
//! ```no_run
//! # async fn demo() -> Result<(), outpost_sim::ssh::SimError> {
//! use outpost_sim::ssh::{DeviceSpec, Platform, SshSim};
//! let spec = DeviceSpec::new("sw1", "127.0.0.1:0".parse().unwrap(), Platform::Ios, "admin", "pw");
//! let sim = SshSim::start(vec![spec]).await?;
//! let (_name, addr) = sim.addrs()[0].clone();
//! # let _ = addr; sim.stop().await; Ok(()) }
//! ```

mod algorithms;
mod commands;
mod content;
mod device;
mod error;
pub mod fleet;
mod handler;
mod hostkey;
mod killer;
pub mod pager;
mod server;
mod shell;
mod spec;
mod stats;

pub use algorithms::legacy_preferred;
pub use error::SimError;
pub use server::SshSim;
pub use shell::MAX_LINE;
pub use spec::{DeviceFile, DeviceSpec, Fault, Platform};
pub use stats::DeviceStats;
