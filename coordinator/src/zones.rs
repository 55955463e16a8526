//! Zone resolution: which zone a target belongs to, from an explicit zone
//! name or from the CIDRs the zones declare. [`Zones::place`] is the one
//! rule every planner uses for a target.

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
    #[error("address {addr} is outside zone {zone:?} (its CIDRs: {cidrs})")]
    OutsideZone {
        addr: IpAddr,
        zone: String,
        cidrs: String,
    },
    #[error("{0:?} is a host name, not an address: name the job's zone")]
    NeedsZone(String),
    #[error("the inventory puts it in zone {inventory:?}, the job names zone {job:?}")]
    Conflict { inventory: String, job: String },
}

/// The configured zones.
#[derive(Debug, Clone, Default)]
pub struct Zones {
    zones: Vec<(String, Vec<IpNet>)>,
    redfish: Vec<(String, bool, u32)>,
    legacy_tls: Vec<String>,
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
            legacy_tls: config
                .iter()
                .filter(|z| z.redfish_legacy_tls)
                .map(|z| z.name.clone())
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

    /// Whether the zone opted in to legacy TLS for its iDRACs.
    pub fn redfish_legacy_tls(&self, zone: &str) -> bool {
        self.legacy_tls.iter().any(|n| n == zone)
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

    /// The zone of a target `host` (an address or a name): the job's
    /// `explicit` zone, which must hold an address in its CIDRs when it
    /// declares any (names cannot be checked), or else the one zone whose
    /// CIDRs hold the address.
    pub fn place(&self, explicit: Option<&str>, host: &str) -> Result<String, ZoneError> {
        match (explicit, host.parse::<IpAddr>()) {
            (Some(z), Ok(ip)) => self.place_ip(Some(z), ip),
            (Some(z), Err(_)) => {
                self.check(z)?;
                Ok(z.to_string())
            }
            (None, Ok(ip)) => self.resolve(ip).map(str::to_string),
            (None, Err(_)) => Err(ZoneError::NeedsZone(host.to_string())),
        }
    }

    /// The zone of an inventory device: the zone the inventory gives it
    /// (which a job's `explicit` zone must not contradict), else as
    /// [`Zones::place`] places its management address.
    pub fn place_device(
        &self,
        inventory: Option<&str>,
        explicit: Option<&str>,
        host: &str,
    ) -> Result<String, ZoneError> {
        match (inventory, explicit) {
            (Some(i), Some(j)) if i != j => Err(ZoneError::Conflict {
                inventory: i.to_string(),
                job: j.to_string(),
            }),
            (Some(i), _) => {
                self.check(i)?;
                Ok(i.to_string())
            }
            (None, _) => self.place(explicit, host),
        }
    }

    /// [`Zones::place`] for an address.
    pub fn place_ip(&self, explicit: Option<&str>, ip: IpAddr) -> Result<String, ZoneError> {
        let Some(z) = explicit else {
            return self.resolve(ip).map(str::to_string);
        };
        let nets = self
            .zones
            .iter()
            .find(|(n, _)| n == z)
            .map(|(_, nets)| nets)
            .ok_or_else(|| ZoneError::Unknown(z.to_string()))?;
        if nets.is_empty() || nets.iter().any(|n| n.contains(&ip)) {
            Ok(z.to_string())
        } else {
            Err(ZoneError::OutsideZone {
                addr: ip,
                zone: z.to_string(),
                cidrs: nets
                    .iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
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
    fn an_explicit_zone_holds_only_its_own_addresses() {
        let z = zones();
        assert_eq!(z.place(Some("a"), "10.1.2.3").unwrap(), "a");
        let e = z.place(Some("a"), "10.9.0.1").unwrap_err().to_string();
        assert!(
            e.contains("outside zone \"a\"") && e.contains("10.1.0.0/16"),
            "{e}"
        );
        // Names cannot be checked; an explicit zone places them.
        assert_eq!(z.place(Some("b"), "idrac-7.lab").unwrap(), "b");
        assert!(matches!(
            z.place(None, "idrac-7.lab"),
            Err(ZoneError::NeedsZone(_))
        ));
        assert!(matches!(
            z.place(Some("zz"), "10.1.2.3"),
            Err(ZoneError::Unknown(_))
        ));
        // A zone that declares no CIDRs takes any address it is given.
        let open = Zones::new(&[ZoneConfig::new("lab", vec![])]);
        assert_eq!(open.place(Some("lab"), "192.0.2.1").unwrap(), "lab");
    }

    #[test]
    fn a_device_is_placed_by_its_inventory_zone_or_its_address() {
        let z = zones();
        // The inventory's zone wins, and a job naming another is refused.
        assert_eq!(z.place_device(Some("b"), None, "10.1.2.3").unwrap(), "b");
        assert_eq!(
            z.place_device(Some("b"), Some("b"), "sw1.lab").unwrap(),
            "b"
        );
        assert!(matches!(
            z.place_device(Some("b"), Some("a"), "10.1.2.3"),
            Err(ZoneError::Conflict { .. })
        ));
        assert!(matches!(
            z.place_device(Some("zz"), None, "10.1.2.3"),
            Err(ZoneError::Unknown(_))
        ));
        // Without one, the address decides, and an explicit zone must hold it.
        assert_eq!(z.place_device(None, None, "10.2.9.9").unwrap(), "b");
        assert!(matches!(
            z.place_device(None, Some("a"), "10.9.0.1"),
            Err(ZoneError::OutsideZone { .. })
        ));
        assert!(matches!(
            z.place_device(None, None, "sw1.lab"),
            Err(ZoneError::NeedsZone(_))
        ));
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
