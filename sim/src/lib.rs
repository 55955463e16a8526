//! Device simulators that behave like the real gear, for tests, benchmarks and
//! the quickstart. [`ssh`] serves many simulated network devices (Cisco IOS,
//! Arista EOS, Juniper Junos) over SSH on loopback addresses; [`redfish`]
//! serves many Dell iDRACs over Redfish/HTTPS.

pub mod redfish;
pub mod ssh;
