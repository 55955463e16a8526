//! Device simulators that behave like the real gear, for tests, benchmarks and
//! the quickstart. [`ssh`] serves many simulated network devices (Cisco IOS,
//! Arista EOS, Juniper Junos) over SSH on loopback addresses; [`redfish`]
//! serves many Dell iDRACs over Redfish/HTTPS; [`vcsim`] runs govmomi's
//! vCenter simulator (sim/vcsim) and drives its control API; [`repo`] is the
//! HTTP firmware repository iDRACs fetch images from.

pub mod netns;
pub mod redfish;
pub mod repo;
pub mod ssh;
pub mod vcsim;
