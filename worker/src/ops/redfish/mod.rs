//! Redfish operations on Dell iDRACs: discovery of address ranges, the
//! firmware inventory, power actions and firmware updates that follow the
//! Dell job through reboots and worker crashes. Shared parts: the TLS
//! layer that pins self-signed certificates (weak keys accepted by the
//! pin, TLS refusals named, legacy TLS over OpenSSL on request), the HTTP
//! client with sessions and typed errors, the device locks, and the Dell
//! job queue.

pub mod client;
pub mod components;
pub mod device;
pub mod discover;
pub mod error;
pub mod firmware;
pub mod guard;
pub mod identify;
pub mod inventory;
pub mod jobs;
pub mod legacy;
pub mod legacy_sig;
pub mod pins;
pub mod power;
pub mod refusal;
pub mod tls;
pub mod transport;
