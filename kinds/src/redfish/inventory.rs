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
}
