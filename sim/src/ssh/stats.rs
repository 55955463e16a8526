//! Per-device counters of what clients did, for tests and benchmarks.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of one device's counters since the simulator started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceStats {
    /// TCP connections accepted.
    pub connections: u64,
    /// Successful authentications (password or keyboard-interactive).
    pub authenticated: u64,
    /// Rejected authentication attempts.
    pub auth_rejected: u64,
    /// Shells started (`shell` requests).
    pub shells: u64,
    /// Commands executed (non-empty lines at the prompt).
    pub commands: u64,
    /// Connections open right now.
    pub active: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub connections: AtomicU64,
    pub authenticated: AtomicU64,
    pub auth_rejected: AtomicU64,
    pub shells: AtomicU64,
    pub commands: AtomicU64,
    pub active: AtomicU64,
}

impl Counters {
    pub fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> DeviceStats {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        DeviceStats {
            connections: g(&self.connections),
            authenticated: g(&self.authenticated),
            auth_rejected: g(&self.auth_rejected),
            shells: g(&self.shells),
            commands: g(&self.commands),
            active: g(&self.active),
        }
    }
}
