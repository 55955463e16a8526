//! Device simulators that behave like the real gear, for tests, benchmarks and
//! the quickstart. [`ssh`] serves many simulated network devices (Cisco IOS,
//! Arista EOS, Juniper Junos) over SSH on loopback addresses; [`redfish`]
//! serves many Dell iDRACs over Redfish/HTTPS; [`vcsim`] runs govmomi's
//! vCenter simulator (sim/vcsim) and drives its control API.

pub mod redfish;
pub mod ssh;
pub mod vcsim;
