//! `redfish.inventory`: the iDRAC's `UpdateService/FirmwareInventory`,
//! each member's name, id, version, whether it can be updated and its Dell
//! component type. Also the lookup the firmware update uses to find the
//! component it targets.

use serde_json::Value;

use super::client::Client;
use super::device;
use super::error::RedfishError;
use crate::ops::{OpCtx, OpError};

pub const FIRMWARE_INVENTORY: &str = "/redfish/v1/UpdateService/FirmwareInventory";

use outpost_kinds::redfish::inventory::{Component, Health, Output, Params};

/// One firmware component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: String,
    pub name: String,
    pub version: String,
    pub updateable: bool,
    pub component_type: Option<String>,
    pub software_id: Option<String>,
}

impl Member {
    /// As the task's output lists it.
    pub fn component(&self) -> Component {
        Component {
            id: self.id.clone(),
            name: self.name.clone(),
            version: self.version.clone(),
            updateable: self.updateable,
            component_type: self.component_type.clone(),
            software_id: self.software_id.clone(),
        }
    }

    /// Whether `wanted` (a ComponentID, an inventory id, a short name such
    /// as `iDRAC` or `NIC`, or part of the name, case-insensitive)
    /// designates this component.
    pub fn matches(&self, wanted: &str) -> bool {
        let w = wanted.trim().to_ascii_lowercase();
        !w.is_empty()
            && (self.software_id.as_deref() == Some(wanted.trim())
                || self.id.eq_ignore_ascii_case(wanted.trim())
                || self.name.to_ascii_lowercase().contains(&w)
                || super::components::short_name_matches(self, wanted))
    }
}

pub(crate) fn member(c: &Client, path: &str, v: &Value) -> Result<Member, RedfishError> {
    let missing = |field: &str| RedfishError::Malformed {
        addr: c.addr().to_string(),
        path: path.to_string(),
        message: format!("missing {field}"),
    };
    Ok(Member {
        id: v["Id"].as_str().ok_or_else(|| missing("Id"))?.to_string(),
        name: v["Name"]
            .as_str()
            .ok_or_else(|| missing("Name"))?
            .to_string(),
        version: v["Version"]
            .as_str()
            .ok_or_else(|| missing("Version"))?
            .to_string(),
        updateable: v["Updateable"].as_bool().unwrap_or(false),
        component_type: v["Oem"]["Dell"]["DellSoftwareInventory"]["ComponentType"]
            .as_str()
            .map(str::to_string),
        software_id: v["SoftwareId"].as_str().map(str::to_string),
    })
}

/// Reads the inventory (installed entries only unless `all`).
pub async fn read(
    c: &mut Client,
    all: bool,
    deadline: tokio::time::Instant,
) -> Result<Vec<Member>, RedfishError> {
    let coll = c.get_retrying(FIRMWARE_INVENTORY, deadline).await?;
    let members = coll["Members"]
        .as_array()
        .ok_or_else(|| RedfishError::Malformed {
            addr: c.addr().to_string(),
            path: FIRMWARE_INVENTORY.into(),
            message: "missing Members".into(),
        })?
        .clone();
    let mut out = Vec::new();
    for m in members {
        let Some(path) = m["@odata.id"].as_str() else {
            continue;
        };
        let last = path.rsplit('/').next().unwrap_or_default();
        if !all && !last.starts_with("Installed-") && last.contains('-') {
            continue;
        }
        let v = c.get_retrying(path, deadline).await?;
        out.push(member(c, path, &v)?);
    }
    Ok(out)
}

/// The system's health rollup, power state and CPU and memory health.
async fn health(c: &mut Client, deadline: tokio::time::Instant) -> Result<Health, RedfishError> {
    let sys = c
        .get_retrying("/redfish/v1/Systems/System.Embedded.1", deadline)
        .await?;
    let text = |v: &Value| v.as_str().map(|s| s.chars().take(64).collect::<String>());
    Ok(Health {
        overall: text(&sys["Status"]["HealthRollup"]).or_else(|| text(&sys["Status"]["Health"])),
        power_state: text(&sys["PowerState"]),
        cpu: text(&sys["ProcessorSummary"]["Status"]["Health"]),
        memory: text(&sys["MemorySummary"]["Status"]["Health"]),
    })
}

pub async fn run(ctx: &OpCtx) -> Result<Value, OpError> {
    let p: Params = ctx.params()?;
    let port = p.device.port;
    let mut s = device::open(ctx, p.device).await?;
    let deadline = s.retry_deadline();
    let r = tokio::select! {
        r = async {
            let members = read(&mut s.client, p.all, deadline).await?;
            let health = if p.health {
                Some(health(&mut s.client, deadline).await?)
            } else {
                None
            };
            Ok::<_, RedfishError>((members, health))
        } => r,
        _ = ctx.cancel.cancelled() => { s.close().await; return Err(OpError::Cancelled) }
    };
    s.close().await;
    let (members, health) = r?;
    Ok(serde_json::to_value(Output {
        address: ctx.target.clone(),
        port,
        components: members.iter().map(Member::component).collect(),
        health,
    })
    .unwrap_or_default())
}
