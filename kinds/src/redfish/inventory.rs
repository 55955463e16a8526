//! `redfish.inventory`: the iDRAC's firmware components.

use super::device::DeviceParams;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(default)]
    pub device: DeviceParams,
    /// Also list `Previous-` and `Available-` entries, not only installed ones.
    #[serde(default)]
    pub all: bool,
    /// Also read the system's health (a health check).
    #[serde(default)]
    pub health: bool,
}

/// The system's health as `Systems/System.Embedded.1` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `Status.HealthRollup`, else `Status.Health` (`OK`, `Warning`, `Critical`).
    pub overall: Option<String>,
    pub power_state: Option<String>,
    pub cpu: Option<String>,
    pub memory: Option<String>,
}

/// One firmware component as `FirmwareInventory` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Component {
    pub id: String,
    pub name: String,
    pub version: String,
    pub updateable: bool,
    #[serde(default)]
    pub component_type: Option<String>,
    /// Dell's ComponentID (`159` the BIOS, `25227` the iDRAC).
    #[serde(default)]
    pub software_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    pub address: String,
    pub port: u16,
    pub components: Vec<Component>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
}
