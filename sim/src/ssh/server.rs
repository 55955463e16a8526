//! [`SshSim`]: binds one listener per device, accepts connections, runs one
//! russh session per connection, and tears everything down on `stop`.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::algorithms;
use super::device::Device;
use super::error::SimError;
use super::handler::Conn;
use super::hostkey;
use super::killer::Killer;
use super::spec::DeviceSpec;
use super::stats::{Counters, DeviceStats};

/// A running fleet of simulated SSH devices. Dropping it (or [`stop`])
/// closes every listener and session.
///
/// [`stop`]: SshSim::stop
pub struct SshSim {
    devices: Vec<Arc<Device>>,
    by_name: HashMap<String, usize>,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

impl SshSim {
    /// Validates the specs, prepares host keys (RSA ones for legacy devices
    /// are generated once per seed, in parallel, off the runtime), binds
    /// every listener, and starts serving. When it returns, every device
    /// accepts connections.
    pub async fn start(specs: Vec<DeviceSpec>) -> Result<SshSim, SimError> {
        let mut names = HashSet::new();
        for spec in &specs {
            spec.validate()?;
            if !names.insert(spec.name.clone()) {
                return Err(SimError::DuplicateName(spec.name.clone()));
            }
        }
        let rsa_seeds: HashSet<u64> = specs
            .iter()
            .filter(|s| s.legacy_only)
            .map(|s| s.host_key_seed)
            .collect();
        let mut rsa = HashMap::new();
        let jobs: Vec<_> = rsa_seeds
            .into_iter()
            .map(|seed| tokio::spawn(async move { (seed, hostkey::rsa_key(seed).await) }))
            .collect();
        for job in jobs {
            let (seed, key) = job.await.map_err(|e| SimError::HostKey {
                seed: 0,
                reason: e.to_string(),
            })?;
            rsa.insert(seed, key?);
        }

        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let mut devices = Vec::with_capacity(specs.len());
        let mut listeners = Vec::with_capacity(specs.len());
        for spec in specs {
            let listener =
                TcpListener::bind(spec.listen)
                    .await
                    .map_err(|source| SimError::Bind {
                        addr: spec.listen,
                        source,
                    })?;
            let addr = listener.local_addr().map_err(|source| SimError::Bind {
                addr: spec.listen,
                source,
            })?;
            let key = match rsa.get(&spec.host_key_seed) {
                Some(k) if spec.legacy_only => k.clone(),
                _ => hostkey::ed25519_key(spec.host_key_seed),
            };
            let fingerprint = hostkey::fingerprint(&key);
            let config = Arc::new(algorithms::server_config(&spec, key));
            devices.push(Arc::new(Device::new(spec, addr, fingerprint, config)));
            listeners.push(listener);
        }
        for (dev, listener) in devices.iter().zip(listeners) {
            tracker.spawn(accept_loop(
                dev.clone(),
                listener,
                cancel.clone(),
                tracker.clone(),
            ));
        }
        let by_name = devices
            .iter()
            .enumerate()
            .map(|(i, d)| (d.spec.name.clone(), i))
            .collect();
        Ok(SshSim {
            devices,
            by_name,
            cancel,
            tracker,
        })
    }

    /// Every device's name and bound address (the actual port when the spec
    /// asked for port 0), in spec order.
    pub fn addrs(&self) -> Vec<(String, SocketAddr)> {
        self.devices
            .iter()
            .map(|d| (d.spec.name.clone(), d.addr))
            .collect()
    }

    /// The bound address of one device.
    pub fn addr(&self, name: &str) -> Option<SocketAddr> {
        self.device(name).map(|d| d.addr)
    }

    /// The specs as started, with `listen` replaced by the bound address.
    pub fn specs(&self) -> Vec<DeviceSpec> {
        self.devices
            .iter()
            .map(|d| DeviceSpec {
                listen: d.addr,
                ..d.spec.clone()
            })
            .collect()
    }

    /// The host key fingerprint of a device, `SHA256:<base64>` as OpenSSH
    /// prints it; empty for an unknown name.
    pub fn host_key_fingerprint(&self, name: &str) -> String {
        self.device(name)
            .map(|d| d.fingerprint.clone())
            .unwrap_or_default()
    }

    /// The counters of a device.
    pub fn stats(&self, name: &str) -> Option<DeviceStats> {
        self.device(name).map(|d| d.counters.snapshot())
    }

    /// Closes every listener and connection, and waits for their tasks.
    pub async fn stop(self) {
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }

    fn device(&self, name: &str) -> Option<&Arc<Device>> {
        self.by_name.get(name).map(|&i| &self.devices[i])
    }
}

impl Drop for SshSim {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn accept_loop(
    dev: Arc<Device>,
    listener: TcpListener,
    cancel: CancellationToken,
    tracker: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = cancel.cancelled() => return,
        };
        match accepted {
            Ok((stream, _peer)) => {
                Counters::bump(&dev.counters.connections);
                tracker.spawn(serve(dev.clone(), stream, cancel.clone(), tracker.clone()));
            }
            Err(e) => {
                // Out of descriptors and the like: back off, keep listening.
                tracing::warn!(device = %dev.spec.name, error = %e, "accept failed");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(50)) => {}
                    () = cancel.cancelled() => return,
                }
            }
        }
    }
}

/// Decrements the active-connection counter however the session ends.
struct Active(Arc<Device>);

impl Drop for Active {
    fn drop(&mut self) {
        self.0
            .counters
            .active
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

async fn serve(
    dev: Arc<Device>,
    stream: TcpStream,
    cancel: CancellationToken,
    tracker: TaskTracker,
) {
    Counters::bump(&dev.counters.active);
    let _active = Active(dev.clone());
    let Ok((stream, killer)) = Killer::wrap(stream) else {
        return;
    };
    let conn_cancel = cancel.child_token();
    let handler = Conn {
        dev: dev.clone(),
        killer: killer.clone(),
        cancel: conn_cancel.clone(),
        tracker,
    };
    let session = async {
        match russh::server::run_stream(dev.config.clone(), stream, handler).await {
            Ok(running) => {
                if let Err(e) = running.await {
                    tracing::debug!(device = %dev.spec.name, error = %e, "session ended");
                }
            }
            Err(e) => tracing::debug!(device = %dev.spec.name, error = %e, "handshake failed"),
        }
    };
    tokio::select! {
        () = session => {}
        () = cancel.cancelled() => killer.kill(),
    }
    // The session is over: end its shells.
    conn_cancel.cancel();
}
