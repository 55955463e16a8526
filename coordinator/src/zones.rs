//! Zone resolution: which zone a target belongs to, from an explicit zone
//! name or from the CIDRs the zones declare.

use crate::config::ZoneConfig;
use ipnet::IpNet;
use std::net::IpAddr;
use thiserror::Error;

/// Why a target could not be placed in exactly one zone.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ZoneError {
    #[error("unknown zone {0:?}")]
    Unknown(String),
    #[error("address {0} is in no zone's CIDRs; name a zone")]
    NoZone(IpAddr),
    #[error("address {addr} is in more than one zone ({zones}); name a zone")]
    Ambiguous { addr: IpAddr, zones: String },
}

/// The configured zones.
#[derive(Debug, Clone, Default)]
pub struct Zones {
    zones: Vec<(String, Vec<IpNet>)>,
    redfish: Vec<(String, bool, u32)>,
    keys: Vec<(String, String)>,
}

impl Zones {
    pub fn new(config: &[ZoneConfig]) -> Self {
        Self {
            zones: config
                .iter()
                .map(|z| (z.name.clone(), z.cidrs.clone()))
                .collect(),
            redfish: config
                .iter()
                .map(|z| {
                    (
                        z.name.clone(),
                        z.redfish_tls_pinning,
                        z.redfish_max_concurrent,
                    )
                })
                .collect(),
            keys: config
                .iter()
                .filter_map(|z| z.public_key.clone().map(|k| (z.name.clone(), k)))
                .collect(),
        }
    }

    /// The zone's public key, when it has one.
    pub fn public_key(&self, zone: &str) -> Option<&str> {
        self.keys
            .iter()
            .find(|(n, _)| n == zone)
            .map(|(_, k)| k.as_str())
    }

    /// A zone's Redfish settings: certificate pinning, concurrent operations.
    pub fn redfish(&self, zone: &str) -> (bool, u32) {
        self.redfish
            .iter()
            .find(|(n, _, _)| n == zone)
            .map(|(_, pin, max)| (*pin, *max))
            .unwrap_or((true, 8))
    }

    /// Names of every zone, in configuration order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.zones.iter().map(|(n, _)| n.as_str())
    }

    /// Checks that `zone` is declared.
    pub fn check(&self, zone: &str) -> Result<(), ZoneError> {
        if self.zones.iter().any(|(n, _)| n == zone) {
            Ok(())
        } else {
            Err(ZoneError::Unknown(zone.to_string()))
        }
    }

    /// The one zone whose CIDRs contain `addr`.
    pub fn resolve(&self, addr: IpAddr) -> Result<&str, ZoneError> {
        let mut found = self
            .zones
            .iter()
            .filter(|(_, nets)| nets.iter().any(|n| n.contains(&addr)))
            .map(|(n, _)| n.as_str());
        let first = found.next().ok_or(ZoneError::NoZone(addr))?;
        let rest: Vec<&str> = found.collect();
        if rest.is_empty() {
            Ok(first)
        } else {
            let mut all = vec![first];
            all.extend(rest);
            Err(ZoneError::Ambiguous {
                addr,
                zones: all.join(", "),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zones() -> Zones {
        Zones::new(&[
            ZoneConfig::new("a", vec!["10.1.0.0/16".parse().unwrap()]),
            ZoneConfig::new(
                "b",
                vec![
                    "10.2.0.0/16".parse().unwrap(),
                    "10.1.5.0/24".parse().unwrap(),
                ],
            ),
        ])
    }

    #[test]
    fn resolves_by_cidr() {
        let z = zones();
        assert_eq!(z.resolve("10.1.2.3".parse().unwrap()), Ok("a"));
        assert_eq!(z.resolve("10.2.9.9".parse().unwrap()), Ok("b"));
    }

    #[test]
    fn no_zone_and_two_zones_are_errors() {
        let z = zones();
        assert!(matches!(
            z.resolve("192.0.2.1".parse().unwrap()),
            Err(ZoneError::NoZone(_))
        ));
        let e = z.resolve("10.1.5.7".parse().unwrap()).unwrap_err();
        assert!(e.to_string().contains("a, b"), "{e}");
        assert_eq!(z.check("c"), Err(ZoneError::Unknown("c".into())));
        assert_eq!(z.check("b"), Ok(()));
    }
}
