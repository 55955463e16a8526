//! Redfish operations on Dell iDRACs (issue 4, in progress). So far: the
//! TLS layer that pins each device's self-signed certificate on first use,
//! and the HTTP client with sessions, typed errors and bounded bodies.

pub mod client;
pub mod discover;
pub mod error;
pub mod identify;
pub mod tls;
