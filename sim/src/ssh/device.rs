//! One served device: its spec, bound address, host key fingerprint, russh
//! configuration, lazily built configuration text and counters.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use super::content;
use super::spec::DeviceSpec;
use super::stats::Counters;

pub(crate) struct Device {
    pub spec: DeviceSpec,
    pub addr: SocketAddr,
    pub fingerprint: String,
    pub config: Arc<russh::server::Config>,
    pub counters: Counters,
    configuration: OnceLock<Arc<String>>,
}

impl Device {
    pub fn new(
        spec: DeviceSpec,
        addr: SocketAddr,
        fingerprint: String,
        config: Arc<russh::server::Config>,
    ) -> Self {
        Device {
            spec,
            addr,
            fingerprint,
            config,
            counters: Counters::default(),
            configuration: OnceLock::new(),
        }
    }

    /// The configuration text, built on first use and shared by sessions.
    pub fn configuration(&self) -> Arc<String> {
        self.configuration
            .get_or_init(|| Arc::new(content::configuration(&self.spec)))
            .clone()
    }
}
