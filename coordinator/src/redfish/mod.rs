//! Redfish jobs on the coordinator side: the address ranges a discovery
//! scans (parsed, bounded and split by zone and into slices before anything
//! is written), the per-device jobs (inventory, power, firmware) checked and
//! planned one task per iDRAC with the zone's Redfish settings, and the
//! inventory that discovery results are folded into.

pub mod device;
pub mod inventory;
pub mod pin_stores;
pub mod targets;
