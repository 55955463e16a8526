//! Generated fleets (N devices on consecutive loopback addresses sharing a
//! port) and the CSV inventory that describes a running fleet to Outpost.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use super::error::SimError;
use super::spec::{DeviceSpec, Platform};

/// Which platforms a generated fleet has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlatformChoice {
    One(Platform),
    /// ios, eos, junos, ios, ...
    Mixed,
}

impl std::str::FromStr for PlatformChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("mixed") {
            Ok(PlatformChoice::Mixed)
        } else {
            s.parse().map(PlatformChoice::One)
        }
    }
}

/// The parameters of a generated fleet.
#[derive(Debug, Clone)]
pub struct FleetParams {
    pub count: usize,
    pub first_addr: Ipv4Addr,
    pub port: u16,
    pub platform: PlatformChoice,
    pub username: String,
    pub password: String,
    pub enable_secret: Option<String>,
    pub latency_ms: u64,
    pub config_bytes: usize,
    pub name_prefix: String,
    /// Addresses outside 127.0.0.0/8 too, inside a network namespace of
    /// our own (see [`crate::netns`]).
    pub in_namespace: bool,
}

/// N device specs: `<prefix>001`, `<prefix>002`, ... on consecutive
/// addresses from `first_addr`, host key seed = index.
pub fn generate(p: &FleetParams) -> Result<Vec<DeviceSpec>, SimError> {
    let first = u32::from(p.first_addr);
    (0..p.count)
        .map(|i| {
            let ip = first
                .checked_add(i as u32)
                .map(Ipv4Addr::from)
                .filter(|ip| crate::netns::may_listen(*ip, p.in_namespace))
                .ok_or_else(|| SimError::BadSpec {
                    name: format!("{}{:03}", p.name_prefix, i + 1),
                    reason: format!(
                        "{} devices from {} leave 127.0.0.0/8 (other addresses: --in-namespace, inside a network namespace)",
                        p.count, p.first_addr
                    ),
                })?;
            let platform = match p.platform {
                PlatformChoice::One(pl) => pl,
                PlatformChoice::Mixed => [Platform::Ios, Platform::Eos, Platform::Junos][i % 3],
            };
            let mut spec = DeviceSpec::new(
                format!("{}{:03}", p.name_prefix, i + 1),
                SocketAddr::V4(SocketAddrV4::new(ip, p.port)),
                platform,
                p.username.clone(),
                p.password.clone(),
            );
            spec.enable_secret = p.enable_secret.clone();
            spec.latency_ms = p.latency_ms;
            spec.config_bytes = p.config_bytes;
            spec.host_key_seed = i as u64;
            Ok(spec)
        })
        .collect()
}

/// The inventory header Outpost's importer expects.
pub const INVENTORY_HEADER: &str =
    "name,management_ip,port,vendor,role,site,model,platform,zone,legacy";

/// The CSV inventory of running devices (`listen` must hold the bound
/// address): role `access`, site `sim1`, zone empty.
pub fn inventory_csv(specs: &[DeviceSpec]) -> String {
    let mut s = String::from(INVENTORY_HEADER);
    s.push('\n');
    for d in specs {
        let _ = writeln!(
            s,
            "{},{},{},{},access,sim1,{},{},,{}",
            d.name,
            d.listen.ip(),
            d.listen.port(),
            d.platform.vendor(),
            d.platform.model(),
            d.platform.as_str(),
            d.legacy_only
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_fleet_and_inventory() {
        let p = FleetParams {
            count: 4,
            first_addr: Ipv4Addr::new(127, 3, 0, 254),
            port: 2222,
            platform: PlatformChoice::Mixed,
            username: "admin".into(),
            password: "pw".into(),
            enable_secret: None,
            latency_ms: 0,
            config_bytes: 4096,
            name_prefix: "sw".into(),
            in_namespace: false,
        };
        let specs = generate(&p).unwrap();
        assert_eq!(specs[1].listen, "127.3.0.255:2222".parse().unwrap());
        assert_eq!(specs[2].listen, "127.3.1.0:2222".parse().unwrap());
        assert_eq!(specs[2].platform, Platform::Junos);
        let csv = inventory_csv(&specs);
        let mut lines = csv.lines();
        assert_eq!(lines.next(), Some(INVENTORY_HEADER));
        assert_eq!(
            lines.next(),
            Some("sw001,127.3.0.254,2222,cisco,access,sim1,C9300-48P,ios,,false")
        );
    }
}
