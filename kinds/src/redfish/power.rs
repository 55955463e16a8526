//! `redfish.power`: a `ComputerSystem.Reset` and the wait for the power
//! state it leads to.

use super::device::DeviceParams;
use serde::{Deserialize, Serialize};

/// Redfish's reset types, as the iDRAC names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResetType {
    On,
    ForceOff,
    GracefulShutdown,
    GracefulRestart,
    ForceRestart,
    PowerCycle,
    PushPowerButton,
    Nmi,
}

impl ResetType {
    pub const ALL: [ResetType; 8] = [
        ResetType::On,
        ResetType::ForceOff,
        ResetType::GracefulShutdown,
        ResetType::GracefulRestart,
        ResetType::ForceRestart,
        ResetType::PowerCycle,
        ResetType::PushPowerButton,
        ResetType::Nmi,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ResetType::On => "On",
            ResetType::ForceOff => "ForceOff",
            ResetType::GracefulShutdown => "GracefulShutdown",
            ResetType::GracefulRestart => "GracefulRestart",
            ResetType::ForceRestart => "ForceRestart",
            ResetType::PowerCycle => "PowerCycle",
            ResetType::PushPowerButton => "PushPowerButton",
            ResetType::Nmi => "Nmi",
        }
    }

    /// Asks the host's OS, which may ignore it.
    pub fn graceful(self) -> bool {
        matches!(
            self,
            ResetType::GracefulShutdown | ResetType::GracefulRestart
        )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(default)]
    pub device: DeviceParams,
    pub reset_type: ResetType,
    /// How long to wait for the requested state.
    #[serde(default = "default_wait_s")]
    pub wait_s: u64,
    #[serde(default = "default_poll_ms")]
    pub poll_ms: u64,
}

fn default_wait_s() -> u64 {
    600
}
fn default_poll_ms() -> u64 {
    2000
}

impl Params {
    pub fn validate(&self) -> Result<(), crate::Invalid> {
        self.device.validate()?;
        super::check_duration("wait_s", self.wait_s)?;
        super::check_duration("poll_ms", self.poll_ms)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    pub address: String,
    #[serde(default)]
    pub port: Option<u16>,
    pub reset_type: ResetType,
    pub power_state: String,
    /// False when the host already was in the requested state.
    pub changed: bool,
}
