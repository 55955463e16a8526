//! Redfish jobs on the coordinator side (issue 4, in progress): the
//! address ranges a discovery scans, parsed, bounded and split by zone and
//! into slices before anything is written.

pub mod targets;
