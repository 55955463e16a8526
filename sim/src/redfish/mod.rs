//! The iDRAC Redfish simulator: hundreds of Dell iDRAC9s (or other
//! vendors' BMCs) on loopback addresses, each with its own self-signed
//! certificate, sessions and Basic auth, the system, manager, firmware
//! inventory, Dell's job queue, power actions, SimpleUpdate and
//! MultipartUpload. Firmware jobs follow Dell's job model (`New →
//! Downloading → Downloaded → Scheduled → Running → Completed`, `Failed`
//! when the image cannot be transferred or is not a valid package); versions
//! change only after the job runs and, for host components, the host
//! reboots; the iDRAC stops answering while it resets itself, and counts
//! host power cycles and the job states at each reset request. Old iDRACs'
//! TLS is there too: a 1024-bit RSA factory certificate, or only TLS 1.0
//! with legacy ciphers (served by OpenSSL). Faults
//! (slow answers, slow downloads, stalled and failed jobs, a host
//! that ignores graceful requests, malformed bodies, stale jobs) are set
//! per device and can be changed while it runs. Device time is scaled so
//! tests run in seconds.
//!
//! ```no_run
//! # async fn demo() -> Result<(), outpost_sim::redfish::SimError> {
//! use outpost_sim::redfish::{IdracSpec, RedfishSim};
//! let spec = IdracSpec::new("127.0.0.1:0".parse().unwrap(), "root", "calvin", 1);
//! let sim = RedfishSim::start(vec![spec]).await?;
//! let addr = sim.addrs()[0];
//! # let _ = addr; sim.stop().await; Ok(()) }
//! ```

mod device;
mod image;
mod legacy_tls;
mod resources;
mod routes;
mod server;
mod spec;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use device::{Device, HostReset, Job, Power, Stats, UpdateSource};
pub use image::{Image, make_image};
pub use spec::{Component, Faults, IdracSpec, Malformed, Timings, TlsProfile, Vendor, service_tag};

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("two devices listen on {0}")]
    Duplicate(SocketAddr),
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, String),
    #[error("cannot make a certificate: {0}")]
    Certificate(String),
}

/// A running set of simulated Redfish services.
pub struct RedfishSim {
    served: Vec<server::Served>,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

impl RedfishSim {
    /// Binds every listener and serves; every device accepts connections
    /// when this returns.
    pub async fn start(specs: Vec<IdracSpec>) -> Result<RedfishSim, SimError> {
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let served = server::start(specs, &cancel, &tracker).await?;
        Ok(RedfishSim {
            served,
            cancel,
            tracker,
        })
    }

    /// Bound addresses, in the order of the specs.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.served.iter().map(|s| s.addr).collect()
    }

    /// The device serving `addr`.
    pub fn device(&self, addr: SocketAddr) -> Option<&Arc<Device>> {
        self.served
            .iter()
            .find(|s| s.addr == addr)
            .map(|s| &s.device)
    }

    /// SHA-256 fingerprint (lowercase hex) of the certificate at `addr`.
    pub fn fingerprint(&self, addr: SocketAddr) -> Option<String> {
        self.served
            .iter()
            .find(|s| s.addr == addr)
            .map(|s| s.identity.fingerprint())
    }

    /// Gives the device at `addr` a new certificate (a replaced board).
    pub fn rotate_certificate(&self, addr: SocketAddr) -> Result<(), SimError> {
        let s = self
            .served
            .iter()
            .find(|s| s.addr == addr)
            .ok_or_else(|| SimError::Bind(addr, "no such device".into()))?;
        s.identity
            .rotate(&format!("idrac-{}", s.device.spec.service_tag))
            .map_err(SimError::Certificate)
    }

    pub async fn stop(self) {
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

impl Drop for RedfishSim {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
