//! The task kinds: the names on the wire (`outpost.task.<zone>.<kind>`,
//! `Task.kind`, `Result.kind`) and in job documents.

use std::fmt;

/// A task kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    NetReach,
    DiagSleep,
    SshCollect,
    RedfishDiscover,
    RedfishInventory,
    RedfishPower,
    RedfishFirmware,
    VcenterMaintenance,
    VcenterInventory,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::NetReach,
        Kind::DiagSleep,
        Kind::SshCollect,
        Kind::RedfishDiscover,
        Kind::RedfishInventory,
        Kind::RedfishPower,
        Kind::RedfishFirmware,
        Kind::VcenterMaintenance,
        Kind::VcenterInventory,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::NetReach => "net.reach",
            Kind::DiagSleep => "diag.sleep",
            Kind::SshCollect => "ssh.collect",
            Kind::RedfishDiscover => "redfish.discover",
            Kind::RedfishInventory => "redfish.inventory",
            Kind::RedfishPower => "redfish.power",
            Kind::RedfishFirmware => "redfish.firmware",
            Kind::VcenterMaintenance => "vcenter.maintenance",
            Kind::VcenterInventory => "vcenter.inventory",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_parses_back_from_its_wire_name() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
        assert_eq!(Kind::parse("redfish.Firmware"), None);
    }
}
