//! The JSON documents a simulated service serves, shaped like an iDRAC9's
//! (or, for `Vendor::Other`, a generic BMC's) Redfish resources.

use serde_json::{Value, json};

use super::device::{Device, Job, State};
use super::spec::{Component, IdracSpec, Vendor};

pub const SYSTEM: &str = "/redfish/v1/Systems/System.Embedded.1";
pub const MANAGER: &str = "/redfish/v1/Managers/iDRAC.Embedded.1";
pub const JOBS: &str = "/redfish/v1/Managers/iDRAC.Embedded.1/Jobs";
pub const UPDATE: &str = "/redfish/v1/UpdateService";
pub const INVENTORY: &str = "/redfish/v1/UpdateService/FirmwareInventory";
pub const TASKS: &str = "/redfish/v1/TaskService/Tasks";

fn id(path: &str) -> Value {
    json!({ "@odata.id": path })
}

pub fn service_root(spec: &IdracSpec) -> Value {
    let mut v = full_root(spec);
    if spec.vendor == Vendor::Other {
        // The generic BMC serves only its system and sessions.
        if let Some(m) = v.as_object_mut() {
            for k in ["Managers", "UpdateService", "Tasks"] {
                m.remove(k);
            }
        }
    }
    v
}

fn full_root(spec: &IdracSpec) -> Value {
    let (vendor, systems) = match spec.vendor {
        Vendor::Dell => ("Dell", "/redfish/v1/Systems"),
        Vendor::Other => ("Contoso", "/redfish/v1/Systems"),
    };
    json!({
        "@odata.context": "/redfish/v1/$metadata#ServiceRoot.ServiceRoot",
        "@odata.id": "/redfish/v1",
        "@odata.type": "#ServiceRoot.v1_11_0.ServiceRoot",
        "Id": "RootService",
        "Name": "Root Service",
        "RedfishVersion": "1.17.0",
        "Vendor": vendor,
        "Product": if spec.vendor == Vendor::Dell { "Integrated Dell Remote Access Controller" } else { "Contoso BMC" },
        "UUID": format!("4c4c4544-0000-{:04x}-8000-{:012x}", spec.cert_seed & 0xffff, spec.cert_seed),
        "Systems": id(systems),
        "Managers": id("/redfish/v1/Managers"),
        "UpdateService": id(UPDATE),
        "Tasks": id("/redfish/v1/TaskService"),
        "SessionService": id("/redfish/v1/SessionService"),
        "AccountService": id("/redfish/v1/AccountService"),
        "Links": { "Sessions": id("/redfish/v1/SessionService/Sessions") },
    })
}

pub fn collection(path: &str, type_name: &str, name: &str, members: &[String]) -> Value {
    json!({
        "@odata.context": format!("/redfish/v1/$metadata#{type_name}.{type_name}"),
        "@odata.id": path,
        "@odata.type": format!("#{type_name}.{type_name}"),
        "Name": name,
        "Members": members.iter().map(|m| id(m)).collect::<Vec<_>>(),
        "Members@odata.count": members.len(),
    })
}

fn system_path(spec: &IdracSpec) -> &'static str {
    match spec.vendor {
        Vendor::Dell => SYSTEM,
        Vendor::Other => "/redfish/v1/Systems/1",
    }
}

pub fn systems(spec: &IdracSpec) -> Value {
    collection(
        "/redfish/v1/Systems",
        "ComputerSystemCollection",
        "Computer System Collection",
        &[system_path(spec).to_string()],
    )
}

pub fn system(dev: &Device, s: &State) -> Value {
    let spec = &dev.spec;
    let path = system_path(spec);
    let bios = s
        .components
        .iter()
        .find(|c| c.id == "159")
        .map(|c| c.version.clone())
        .unwrap_or_default();
    let mut v = json!({
        "@odata.context": "/redfish/v1/$metadata#ComputerSystem.ComputerSystem",
        "@odata.id": path,
        "@odata.type": "#ComputerSystem.v1_17_0.ComputerSystem",
        "Id": path.rsplit('/').next(),
        "Name": "System",
        "SystemType": "Physical",
        "Manufacturer": if spec.vendor == Vendor::Dell { "Dell Inc." } else { "Contoso" },
        "Model": spec.model,
        "SKU": spec.service_tag,
        "SerialNumber": spec.serial,
        "HostName": spec.host_name,
        "BiosVersion": bios,
        "PowerState": s.power.as_str(),
        "LastResetTime": s.last_reset.to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        "Status": { "State": "Enabled", "Health": "OK", "HealthRollup": "OK" },
        "ProcessorSummary": { "Count": 2, "LogicalProcessorCount": 64,
                              "Status": { "State": "Enabled", "Health": "OK" } },
        "MemorySummary": { "TotalSystemMemoryGiB": 512,
                           "Status": { "State": "Enabled", "Health": "OK" } },
        "Actions": {
            "#ComputerSystem.Reset": {
                "target": format!("{path}/Actions/ComputerSystem.Reset"),
                "ResetType@Redfish.AllowableValues": [
                    "On", "ForceOff", "ForceRestart", "GracefulRestart",
                    "GracefulShutdown", "PushPowerButton", "Nmi", "PowerCycle"
                ]
            }
        },
        "Links": { "ManagedBy": [id(MANAGER)] },
    });
    if spec.vendor == Vendor::Other
        && let Some(m) = v.as_object_mut()
    {
        // The generic BMC serves no manager resource to link to.
        m.remove("Links");
    }
    v
}

pub fn managers() -> Value {
    collection(
        "/redfish/v1/Managers",
        "ManagerCollection",
        "Manager Collection",
        &[MANAGER.to_string()],
    )
}

pub fn manager(s: &State) -> Value {
    let version = s
        .components
        .iter()
        .find(|c| c.id == "25227")
        .map(|c| c.version.clone())
        .unwrap_or_default();
    json!({
        "@odata.context": "/redfish/v1/$metadata#Manager.Manager",
        "@odata.id": MANAGER,
        "@odata.type": "#Manager.v1_14_0.Manager",
        "Id": "iDRAC.Embedded.1",
        "Name": "Manager",
        "ManagerType": "BMC",
        "Model": "14G Monolithic",
        "FirmwareVersion": version,
        "Status": { "State": "Enabled", "Health": "OK" },
        "EthernetInterfaces": id(&format!("{MANAGER}/EthernetInterfaces")),
        "Actions": {
            "#Manager.Reset": {
                "target": format!("{MANAGER}/Actions/Manager.Reset"),
                "ResetType@Redfish.AllowableValues": ["GracefulRestart"]
            }
        },
    })
}

pub fn manager_nics() -> Value {
    collection(
        &format!("{MANAGER}/EthernetInterfaces"),
        "EthernetInterfaceCollection",
        "Ethernet Network Interface Collection",
        &[format!("{MANAGER}/EthernetInterfaces/NIC.1")],
    )
}

pub fn manager_nic(spec: &IdracSpec) -> Value {
    let ip = spec.listen.ip().to_string();
    json!({
        "@odata.context": "/redfish/v1/$metadata#EthernetInterface.EthernetInterface",
        "@odata.id": format!("{MANAGER}/EthernetInterfaces/NIC.1"),
        "@odata.type": "#EthernetInterface.v1_8_0.EthernetInterface",
        "Id": "NIC.1",
        "Name": "Manager Ethernet Interface",
        "MACAddress": spec.mac,
        "PermanentMACAddress": spec.mac,
        "HostName": format!("idrac-{}", spec.service_tag),
        "IPv4Addresses": [{ "Address": ip, "AddressOrigin": "Static", "SubnetMask": "255.0.0.0" }],
        "Status": { "State": "Enabled", "Health": "OK" },
    })
}

pub fn update_service() -> Value {
    json!({
        "@odata.context": "/redfish/v1/$metadata#UpdateService.UpdateService",
        "@odata.id": UPDATE,
        "@odata.type": "#UpdateService.v1_11_0.UpdateService",
        "Id": "UpdateService",
        "Name": "Update Service",
        "ServiceEnabled": true,
        "MultipartHttpPushUri": format!("{UPDATE}/MultipartUpload"),
        "FirmwareInventory": id(INVENTORY),
        "Actions": {
            "#UpdateService.SimpleUpdate": {
                "target": format!("{UPDATE}/Actions/UpdateService.SimpleUpdate"),
                "TransferProtocol@Redfish.AllowableValues": ["HTTP", "HTTPS"]
            }
        },
        "Status": { "State": "Enabled", "Health": "OK" },
    })
}

/// Inventory members as a real iDRAC names them:
/// `Installed-<ComponentID>-<version>` per component, and for a component
/// with ports `Installed-<ComponentID>-<version>__<FQDD>` per port, named
/// after the device with its MAC.
fn members(s: &State) -> Vec<(String, &Component, String)> {
    let mut out = Vec::new();
    for c in &s.components {
        let base = format!("Installed-{}-{}", c.id, c.version);
        if c.ports.is_empty() {
            out.push((base.clone(), c, c.name.clone()));
        }
        for (fqdd, mac) in &c.ports {
            out.push((format!("{base}__{fqdd}"), c, format!("{} - {mac}", c.name)));
        }
    }
    out
}

pub fn inventory_ids(s: &State) -> Vec<String> {
    members(s).into_iter().map(|(id, _, _)| id).collect()
}

pub fn inventory(s: &State) -> Value {
    let members: Vec<String> = inventory_ids(s)
        .iter()
        .map(|i| format!("{INVENTORY}/{i}"))
        .collect();
    collection(
        INVENTORY,
        "SoftwareInventoryCollection",
        "Firmware Inventory Collection",
        &members,
    )
}

pub fn inventory_member(s: &State, member: &str) -> Option<Value> {
    let (_, c, name) = members(s).into_iter().find(|(id, _, _)| id == member)?;
    Some(json!({
        "@odata.context": "/redfish/v1/$metadata#SoftwareInventory.SoftwareInventory",
        "@odata.id": format!("{INVENTORY}/{member}"),
        "@odata.type": "#SoftwareInventory.v1_5_0.SoftwareInventory",
        "Id": member,
        "Name": name,
        "Version": c.version,
        "Updateable": c.updateable,
        "SoftwareId": c.id,
        "Status": { "State": "Enabled", "Health": "OK" },
        "Oem": { "Dell": {
            "@odata.type": "#DellOem.v1_3_0.DellOemResources",
            "DellSoftwareInventory": {
            "@odata.type": "#DellSoftwareInventory.v1_1_0.DellSoftwareInventory",
            "ComponentID": c.id,
            "ComponentType": c.component_type,
        }}},
    }))
}

pub fn job(j: &Job) -> Value {
    let t = |d: &chrono::DateTime<chrono::Utc>| d.format("%Y-%m-%dT%H:%M:%S").to_string();
    json!({
        "@odata.context": "/redfish/v1/$metadata#DellJob.DellJob",
        "@odata.id": format!("{JOBS}/{}", j.id),
        "@odata.type": "#DellJob.v1_4_0.DellJob",
        "Id": j.id,
        "Name": j.name,
        "JobType": j.job_type,
        "JobState": j.state,
        "PercentComplete": j.percent,
        "Message": j.message,
        "MessageId": j.message_id,
        "MessageArgs": [],
        "StartTime": j.start_time.as_ref().map(t).unwrap_or_else(|| "TIME_NOW".into()),
        "CompletionTime": j.completed.as_ref().map(t),
        "EndTime": "TIME_NA",
    })
}

/// The Redfish task of a firmware job (Dell keeps one per JID until it
/// resets or the job is old).
pub fn task(j: &Job) -> Value {
    let state = match j.state.as_str() {
        "Completed" => "Completed",
        "Failed" | "CompletedWithErrors" => "Exception",
        "Scheduled" => "Pending",
        _ => "Running",
    };
    json!({
        "@odata.context": "/redfish/v1/$metadata#Task.Task",
        "@odata.id": format!("{TASKS}/{}", j.id),
        "@odata.type": "#Task.v1_5_1.Task",
        "Id": j.id,
        "Name": "Task",
        "TaskState": state,
        "PercentComplete": j.percent,
        "Messages": [{ "Message": j.message, "MessageId": j.message_id }],
    })
}

pub fn account_service() -> Value {
    json!({
        "@odata.context": "/redfish/v1/$metadata#AccountService.AccountService",
        "@odata.id": "/redfish/v1/AccountService",
        "@odata.type": "#AccountService.v1_11_0.AccountService",
        "Id": "AccountService",
        "Name": "Account Service",
        "ServiceEnabled": true,
        "MinPasswordLength": 0,
        "MaxPasswordLength": 40,
    })
}

pub fn task_service() -> Value {
    json!({
        "@odata.context": "/redfish/v1/$metadata#TaskService.TaskService",
        "@odata.id": "/redfish/v1/TaskService",
        "@odata.type": "#TaskService.v1_2_0.TaskService",
        "Id": "TaskService",
        "Name": "Task Service",
        "ServiceEnabled": true,
        "CompletedTaskOverWritePolicy": "Oldest",
        "LifeCycleEventOnTaskStateChange": true,
        "Tasks": id(TASKS),
    })
}

pub fn session(id_: &str, user: &str) -> Value {
    json!({
        "@odata.context": "/redfish/v1/$metadata#Session.Session",
        "@odata.id": format!("/redfish/v1/SessionService/Sessions/{id_}"),
        "@odata.type": "#Session.v1_3_0.Session",
        "Id": id_,
        "Name": "User Session",
        "UserName": user,
    })
}

/// A Redfish error body with one extended message.
pub fn error(message_id: &str, message: &str) -> Value {
    json!({
        "error": {
            "code": "Base.1.12.GeneralError",
            "message": "A general error has occurred. See ExtendedInfo for more information",
            "@Message.ExtendedInfo": [{
                "@odata.type": "#Message.v1_1_1.Message",
                "MessageId": message_id,
                "Message": message,
                "Severity": "Warning",
                "Resolution": "Retry the operation.",
            }]
        }
    })
}
