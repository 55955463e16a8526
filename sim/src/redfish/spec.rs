//! What one simulated Redfish service is: its address, credentials,
//! identity, TLS, firmware components, the faults it shows and how fast
//! its clock runs. Specs are plain data; the running state lives in `device`.

use std::net::SocketAddr;
use std::time::Duration;

/// Whose Redfish service this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    /// A Dell iDRAC9: `Server: iDRAC/9`, `System.Embedded.1`, Dell job queue.
    Dell,
    /// Some other vendor's BMC (service root with `Vendor: Contoso`,
    /// `Systems/1`); discovery must not take it for an iDRAC.
    Other,
}

/// How the service speaks TLS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TlsProfile {
    /// TLS 1.2 and 1.3 with an ECDSA P-256 certificate (rustls), as an
    /// iDRAC9 with a replaced certificate.
    #[default]
    Modern,
    /// TLS 1.2 only, with a 1024-bit RSA certificate (OpenSSL), as an iDRAC
    /// 7/8 still on its factory certificate.
    WeakKey,
    /// TLS 1.0 only, with a 1024-bit RSA certificate and legacy cipher
    /// suites (OpenSSL at security level 0), as old iDRAC 7 firmware.
    Tls10,
}

/// One firmware component of the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    /// Dell's ComponentID (`159` for the BIOS, `25227` for the iDRAC).
    pub id: String,
    /// Name as in `FirmwareInventory` (`BIOS`, `Integrated Dell Remote Access Controller`).
    pub name: String,
    pub version: String,
    /// `BIOS`, `FRMW` or `APAC`.
    pub component_type: String,
    pub updateable: bool,
    /// Applies only when the host reboots (BIOS, NIC); the iDRAC's own
    /// firmware instead applies at once and resets the iDRAC.
    pub needs_host_reboot: bool,
    /// Devices (FQDD and MAC) the component has one inventory member
    /// each for, as a real iDRAC lists every port of a NIC under the
    /// same ComponentID; empty for a component listed once.
    pub ports: Vec<(String, String)>,
}

impl Component {
    pub fn bios(version: &str) -> Component {
        Component {
            id: "159".into(),
            name: "BIOS".into(),
            version: version.into(),
            component_type: "BIOS".into(),
            updateable: true,
            needs_host_reboot: true,
            ports: Vec::new(),
        }
    }
    pub fn idrac(version: &str) -> Component {
        Component {
            id: "25227".into(),
            name: "Integrated Dell Remote Access Controller".into(),
            version: version.into(),
            component_type: "FRMW".into(),
            updateable: true,
            needs_host_reboot: false,
            ports: Vec::new(),
        }
    }
    /// A dual-port LOM: two inventory members, one per port.
    pub fn nic(version: &str) -> Component {
        Component {
            id: "108255".into(),
            name: "Broadcom Gigabit Ethernet BCM5720".into(),
            version: version.into(),
            component_type: "FRMW".into(),
            updateable: true,
            needs_host_reboot: true,
            ports: vec![
                ("NIC.Embedded.1-1-1".into(), "B0:7B:25:00:00:01".into()),
                ("NIC.Embedded.2-1-1".into(), "B0:7B:25:00:00:02".into()),
            ],
        }
    }
    pub fn cpld(version: &str) -> Component {
        Component {
            id: "27763".into(),
            name: "System CPLD".into(),
            version: version.into(),
            component_type: "FRMW".into(),
            updateable: false,
            needs_host_reboot: true,
            ports: Vec::new(),
        }
    }
}

/// A broken answer the device gives to `GET Systems/System.Embedded.1`
/// and `FirmwareInventory`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// Truncated JSON.
    BadJson,
    /// Valid JSON without the expected properties.
    MissingFields,
    /// A body of many megabytes.
    HugeBody,
}

/// Failures the device shows on purpose.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// Every response waits this long first.
    pub slow_ms: u64,
    /// `SessionService` answers 405: clients must fall back to Basic.
    pub no_sessions: bool,
    pub malformed: Option<Malformed>,
    /// The unauthenticated service root (`GET /redfish/v1`) is broken.
    pub malformed_root: Option<Malformed>,
    /// Scheduled firmware jobs stay `Scheduled` through host reboots.
    pub stuck_scheduled: bool,
    /// Firmware jobs stop at 40 % until the host is reset.
    pub stall_job: bool,
    /// Firmware jobs end `Failed` while applying (40 % into `Running`,
    /// after the host reboot for host components): a failure mid-flash.
    pub fail_job: bool,
    /// Firmware jobs end `Failed` when the package is checked, before
    /// they are scheduled: its signature does not verify.
    pub bad_signature: bool,
    /// Extra wall-clock time (not scaled) a firmware job spends in `New`
    /// and `Downloading`, as with a slow repository: half in each.
    pub slow_download_ms: u64,
    /// The host OS ignores graceful shutdown and restart requests.
    pub graceful_ignored: bool,
    /// The queue starts with stale jobs: one Failed, one
    /// CompletedWithErrors, one Scheduled from two days ago.
    pub stale_jobs: bool,
    /// The queue starts with a Running job (a RAID configuration) that
    /// ends on its own after `busy_job_ms` (scaled).
    pub busy_job: bool,
}

/// Durations of the device's slow operations, in device time; the
/// simulator multiplies them by its scale so tests run in seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Timings {
    /// Fetching or receiving an image and checking it.
    pub download: Duration,
    /// Applying an update once it runs.
    pub apply: Duration,
    /// Host power-off during a graceful shutdown.
    pub graceful_shutdown: Duration,
    /// Host POST after power-on.
    pub boot: Duration,
    /// The iDRAC's own reset, during which it does not answer.
    pub idrac_reset: Duration,
    /// How long the pre-seeded busy job runs.
    pub busy_job: Duration,
    /// Scale applied to every duration above (0.01 = 100× faster).
    pub scale: f64,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            download: Duration::from_secs(20),
            apply: Duration::from_secs(60),
            graceful_shutdown: Duration::from_secs(30),
            boot: Duration::from_secs(120),
            idrac_reset: Duration::from_secs(90),
            busy_job: Duration::from_secs(120),
            scale: 1.0,
        }
    }
}

impl Timings {
    /// Device time → wall time.
    pub fn scaled(&self, d: Duration) -> Duration {
        d.mul_f64(self.scale.max(0.0))
    }
}

/// One simulated service.
#[derive(Debug, Clone)]
pub struct IdracSpec {
    pub listen: SocketAddr,
    pub vendor: Vendor,
    pub username: String,
    pub password: String,
    pub service_tag: String,
    pub serial: String,
    pub model: String,
    pub host_name: String,
    pub mac: String,
    pub powered_on: bool,
    pub components: Vec<Component>,
    pub faults: Faults,
    pub timings: Timings,
    /// Seed of the self-signed certificate's key (same seed, same
    /// certificate across restarts of the simulator).
    pub cert_seed: u64,
    /// Protocol versions, cipher suites and key of its TLS.
    pub tls: TlsProfile,
}

impl IdracSpec {
    /// A healthy, powered-on PowerEdge R650 with BIOS 1.0.0, iDRAC 6.10.00.00,
    /// a NIC at 21.80.9 and a CPLD that cannot be updated.
    pub fn new(listen: SocketAddr, username: &str, password: &str, index: u64) -> IdracSpec {
        let tag = service_tag(index);
        IdracSpec {
            listen,
            vendor: Vendor::Dell,
            username: username.into(),
            password: password.into(),
            serial: format!("CNFCP00{}", &tag[..5]),
            host_name: format!("r650-{}", tag.to_ascii_lowercase()),
            mac: format!(
                "d0:8e:79:{:02x}:{:02x}:{:02x}",
                (index >> 16) & 0xff,
                (index >> 8) & 0xff,
                index & 0xff
            ),
            service_tag: tag,
            model: "PowerEdge R650".into(),
            powered_on: true,
            components: vec![
                Component::bios("1.0.0"),
                Component::idrac("6.10.00.00"),
                Component::nic("21.80.9"),
                Component::cpld("1.0.6"),
            ],
            faults: Faults::default(),
            timings: Timings::default(),
            cert_seed: index,
            tls: TlsProfile::Modern,
        }
    }
}

/// A 7-character Dell-style service tag derived from an index.
pub fn service_tag(index: u64) -> String {
    const ALPHABET: &[u8] = b"0123456789BCDFGHJKLMNPQRSTVWXYZ";
    let mut n = index.wrapping_mul(2_654_435_761).wrapping_add(12345);
    let mut s = String::with_capacity(7);
    for _ in 0..7 {
        s.push(ALPHABET[(n % ALPHABET.len() as u64) as usize] as char);
        n /= ALPHABET.len() as u64;
    }
    s
}
