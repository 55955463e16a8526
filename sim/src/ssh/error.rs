//! The simulator's error type.

use std::net::SocketAddr;

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("bind {addr} failed: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("bad device spec {name}: {reason}")]
    BadSpec { name: String, reason: String },
    #[error("duplicate device name {0}")]
    DuplicateName(String),
    #[error("host key generation failed for seed {seed}: {reason}")]
    HostKey { seed: u64, reason: String },
}
