//! The vSphere calls Outpost makes on top of the session: reading
//! properties (`RetrievePropertiesEx` through a container view or on given
//! objects), finding a host by managed object id, name or address, the
//! maintenance-mode tasks, the blockers to report before entering, and
//! waiting for a task or a host state through a private PropertyCollector
//! with `WaitForUpdatesEx` — never by polling on a clock.

use super::client::{MoRef, VimClient};
use super::error::VimError;
use super::xml::{Node, escape};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;
use tokio::time::Instant;
use tracing::Instrument;

/// Properties of one object, by property path.
pub type Props = BTreeMap<String, Node>;

/// What Outpost reads of a host.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HostInfo {
    pub moid: String,
    pub name: String,
    pub connection_state: String,
    pub in_maintenance: bool,
    pub power_state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(skip)]
    pub cluster_ref: Option<MoRef>,
    #[serde(skip)]
    pub vms: Vec<MoRef>,
}

/// A powered-on VM that will not leave the host by itself.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Blocker {
    pub vm: String,
    pub reason: String,
}

/// Cluster facts that decide whether maintenance mode can empty a host
/// (the contract a rolling update reads them by).
pub use outpost_kinds::vcenter::ClusterInfo;

fn text(p: &Props, k: &str) -> String {
    p.get(k)
        .map(|n| n.text.trim().to_string())
        .unwrap_or_default()
}

fn morefs(n: Option<&Node>) -> Vec<MoRef> {
    n.map(|n| n.children.iter().filter_map(MoRef::from_node).collect())
        .unwrap_or_default()
}

/// How much one property read may bring back: at most `max_objects`
/// objects (more is refused as [`VimError::TooMany`], never read on), in
/// pages of `page_size` objects (`maxObjects`, vCenter's default when
/// `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub max_objects: usize,
    pub page_size: Option<u32>,
    /// What the objects are, for the error (`VMs`).
    pub what: &'static str,
}

impl Default for Bounds {
    /// Far above what the maintenance reads (a host's VMs, a cluster's
    /// hosts) may legitimately meet.
    fn default() -> Self {
        Bounds {
            max_objects: 200_000,
            page_size: None,
            what: "objects",
        }
    }
}

/// One page of a `RetrievePropertiesEx` or `ContinueRetrievePropertiesEx`
/// answer: its objects with their properties, and the token of the next
/// page.
#[derive(Debug, Default, PartialEq)]
pub struct Page {
    pub objects: Vec<(MoRef, Props)>,
    pub token: Option<String>,
    /// An object's property could not be read because the session ended.
    pub unauthenticated: bool,
}

/// Reads one page from the `<...Response>` element; an answer without
/// `returnval` is an empty last page.
pub fn read_page(response: &Node) -> Page {
    let mut page = Page::default();
    let Some(rv) = response.child("returnval") else {
        return page;
    };
    for o in rv.all("objects") {
        let Some(obj) = o.child("obj").and_then(MoRef::from_node) else {
            continue;
        };
        page.unauthenticated |= o.all("missingSet").any(|m| {
            m.path(&["fault", "fault"])
                .and_then(|f| f.ty.as_deref())
                .is_some_and(|t| t == "NotAuthenticated")
        });
        let mut props = Props::new();
        for p in o.all("propSet") {
            if let (Some(name), Some(val)) = (p.text_of("name"), p.child("val")) {
                props.insert(name.to_string(), val.clone());
            }
        }
        page.objects.push((obj, props));
    }
    page.token = rv
        .text_of("token")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    page
}

impl VimClient {
    /// Reads `paths` of objects of type `ty`: either every such object
    /// under the root folder (`objects` = None) or the given ones.
    pub async fn retrieve(
        &mut self,
        ty: &str,
        paths: &[&str],
        objects: Option<&[MoRef]>,
    ) -> Result<Vec<(MoRef, Props)>, VimError> {
        self.retrieve_bounded(ty, paths, objects, Bounds::default())
            .await
    }

    /// As [`retrieve`](Self::retrieve), within `bounds`.
    pub async fn retrieve_bounded(
        &mut self,
        ty: &str,
        paths: &[&str],
        objects: Option<&[MoRef]>,
        bounds: Bounds,
    ) -> Result<Vec<(MoRef, Props)>, VimError> {
        match self.retrieve_once(ty, paths, objects, bounds).await {
            // The session ended between calls: the collector reports it per
            // property (`missingSet`) rather than as a fault of the call.
            Err(VimError::NotAuthenticated { .. }) => {
                tracing::info!(vcenter = %self.addr(), "session ended; logging in again");
                self.login().await?;
                self.retrieve_once(ty, paths, objects, bounds).await
            }
            r => r,
        }
    }

    async fn retrieve_once(
        &mut self,
        ty: &str,
        paths: &[&str],
        objects: Option<&[MoRef]>,
        bounds: Bounds,
    ) -> Result<Vec<(MoRef, Props)>, VimError> {
        let sc = self.content().await?;
        let pc = sc.property_collector.clone();
        let path_xml: String = paths
            .iter()
            .map(|p| format!("<pathSet>{}</pathSet>", escape(p)))
            .collect();
        let mut view = None;
        let object_set = match objects {
            Some(objs) => {
                if objs.is_empty() {
                    return Ok(Vec::new());
                }
                objs.iter()
                    .map(|o| format!("<objectSet>{}<skip>false</skip></objectSet>", o.xml("obj")))
                    .collect::<String>()
            }
            None => {
                let args = format!(
                    "{}<type>{}</type><recursive>true</recursive>",
                    sc.root_folder.xml("container"),
                    escape(ty)
                );
                let r = self
                    .call("CreateContainerView", &sc.view_manager, &args)
                    .await?;
                let v = r
                    .child("returnval")
                    .and_then(MoRef::from_node)
                    .ok_or_else(|| self.malformed_err("CreateContainerView", "no view"))?;
                let set = format!(
                    "<objectSet>{}<skip>true</skip><selectSet xsi:type=\"TraversalSpec\">\
                     <name>view</name><type>ContainerView</type><path>view</path><skip>false</skip>\
                     </selectSet></objectSet>",
                    v.xml("obj")
                );
                view = Some(v);
                set
            }
        };
        let options = match bounds.page_size {
            Some(n) => format!("<options><maxObjects>{n}</maxObjects></options>"),
            None => "<options></options>".to_string(),
        };
        let args = format!(
            "<specSet><propSet><type>{}</type>{path_xml}</propSet>{object_set}</specSet>{options}",
            escape(ty)
        );
        let result = self.retrieve_all(&pc, &args, bounds).await;
        if let Some(v) = view {
            let _ = self.call("DestroyView", &v, "").await;
        }
        result
    }

    async fn retrieve_all(
        &mut self,
        pc: &MoRef,
        args: &str,
        bounds: Bounds,
    ) -> Result<Vec<(MoRef, Props)>, VimError> {
        let mut out = Vec::new();
        let mut r = self.call("RetrievePropertiesEx", pc, args).await?;
        loop {
            let page = read_page(&r);
            if page.unauthenticated {
                return Err(VimError::NotAuthenticated {
                    addr: self.addr().to_string(),
                });
            }
            let empty = page.objects.is_empty();
            out.extend(page.objects);
            let too_many = out.len() > bounds.max_objects;
            let Some(token) = page.token else {
                if too_many {
                    return Err(self.too_many(bounds));
                }
                return Ok(out);
            };
            // Every page but the last brings objects, so the objects bound
            // the pages too.
            let refusal = if too_many {
                Some(self.too_many(bounds))
            } else if empty {
                Some(self.malformed_err(
                    "RetrievePropertiesEx",
                    "a page without objects names a next page",
                ))
            } else {
                None
            };
            if let Some(e) = refusal {
                let _ = self
                    .call(
                        "CancelRetrievePropertiesEx",
                        pc,
                        &format!("<token>{}</token>", escape(&token)),
                    )
                    .await;
                return Err(e);
            }
            r = self
                .call(
                    "ContinueRetrievePropertiesEx",
                    pc,
                    &format!("<token>{}</token>", escape(&token)),
                )
                .await?;
        }
    }

    fn too_many(&self, bounds: Bounds) -> VimError {
        VimError::TooMany {
            addr: self.addr().to_string(),
            what: bounds.what.to_string(),
            limit: bounds.max_objects,
        }
    }

    fn malformed_err(&self, method: &str, message: &str) -> VimError {
        VimError::Malformed {
            addr: self.addr().to_string(),
            method: method.into(),
            message: message.into(),
        }
    }

    const HOST_PATHS: [&'static str; 6] = [
        "name",
        "runtime.connectionState",
        "runtime.inMaintenanceMode",
        "runtime.powerState",
        "parent",
        "vm",
    ];

    async fn host_infos(&mut self, objects: Option<&[MoRef]>) -> Result<Vec<HostInfo>, VimError> {
        let rows = self
            .retrieve("HostSystem", &Self::HOST_PATHS, objects)
            .await?;
        let mut hosts: Vec<HostInfo> = rows
            .into_iter()
            .map(|(obj, p)| {
                let parent = p.get("parent").and_then(MoRef::from_node);
                HostInfo {
                    moid: obj.value.clone(),
                    name: text(&p, "name"),
                    connection_state: text(&p, "runtime.connectionState"),
                    in_maintenance: text(&p, "runtime.inMaintenanceMode") == "true",
                    power_state: text(&p, "runtime.powerState"),
                    cluster: None,
                    cluster_ref: parent.filter(|m| m.ty == "ClusterComputeResource"),
                    vms: morefs(p.get("vm")),
                }
            })
            .collect();
        let clusters: Vec<MoRef> = {
            let mut c: Vec<MoRef> = hosts.iter().filter_map(|h| h.cluster_ref.clone()).collect();
            c.sort();
            c.dedup();
            c
        };
        if !clusters.is_empty() {
            let names = self
                .retrieve("ClusterComputeResource", &["name"], Some(&clusters))
                .await?;
            for h in &mut hosts {
                h.cluster = h.cluster_ref.as_ref().and_then(|c| {
                    names
                        .iter()
                        .find(|(o, _)| o == c)
                        .map(|(_, p)| text(p, "name"))
                });
            }
        }
        Ok(hosts)
    }

    /// Every host vCenter manages.
    pub async fn hosts(&mut self) -> Result<Vec<HostInfo>, VimError> {
        self.host_infos(None).await
    }

    /// The current state of one host.
    pub async fn host(&mut self, host: &MoRef) -> Result<HostInfo, VimError> {
        self.host_infos(Some(std::slice::from_ref(host)))
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| VimError::HostNotFound {
                addr: self.addr().to_string(),
                wanted: host.value.clone(),
            })
    }

    /// Finds a host by managed object id (`host-42`), by name (as added to
    /// vCenter: often its FQDN or address), or by one of its addresses.
    pub async fn find_host(&mut self, wanted: &str) -> Result<HostInfo, VimError> {
        let wanted = wanted.trim();
        let all = self.hosts().await?;
        if let Some(h) = all.iter().find(|h| h.moid == wanted) {
            return Ok(h.clone());
        }
        let by_name: Vec<&HostInfo> = all
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(wanted))
            .collect();
        match by_name.as_slice() {
            [h] => return Ok((*h).clone()),
            [] => {}
            _ => {
                return Err(VimError::Fault {
                    addr: self.addr().to_string(),
                    method: "find host".into(),
                    fault: "Ambiguous".into(),
                    message: format!("{} hosts are named {wanted:?}", by_name.len()),
                });
            }
        }
        let sc = self.content().await?;
        if let Some(si) = sc.search_index {
            let (method, arg) = if wanted.parse::<IpAddr>().is_ok() {
                ("FindByIp", format!("<ip>{}</ip>", escape(wanted)))
            } else {
                (
                    "FindByDnsName",
                    format!("<dnsName>{}</dnsName>", escape(wanted)),
                )
            };
            let r = self
                .call(method, &si, &format!("{arg}<vmSearch>false</vmSearch>"))
                .await?;
            if let Some(m) = r.child("returnval").and_then(MoRef::from_node)
                && let Some(h) = all.iter().find(|h| h.moid == m.value)
            {
                return Ok(h.clone());
            }
        }
        Err(VimError::HostNotFound {
            addr: self.addr().to_string(),
            wanted: wanted.to_string(),
        })
    }

    /// The host's cluster: DRS, size and hosts out of service.
    pub async fn cluster(&mut self, cluster: &MoRef) -> Result<ClusterInfo, VimError> {
        let rows = self
            .retrieve(
                "ClusterComputeResource",
                &["name", "configurationEx", "host"],
                Some(std::slice::from_ref(cluster)),
            )
            .await?;
        let Some((_, p)) = rows.into_iter().next() else {
            return Err(self.malformed_err("RetrievePropertiesEx", "cluster not found"));
        };
        let drs_enabled = p
            .get("configurationEx")
            .and_then(|c| c.path(&["drsConfig", "enabled"]))
            .is_some_and(|n| n.text.trim() == "true");
        let members = morefs(p.get("host"));
        let states = self.host_infos(Some(&members)).await?;
        let out: Vec<String> = states
            .iter()
            .filter(|h| h.in_maintenance || h.connection_state != "connected")
            .map(|h| h.name.clone())
            .collect();
        Ok(ClusterInfo {
            name: text(&p, "name"),
            drs_enabled,
            hosts: members.len() as u32,
            out_of_service: out.len() as u32,
            out_of_service_hosts: out,
        })
    }

    /// Powered-on VMs of `host` that maintenance mode cannot move away:
    /// on a datastore no other host mounts, with a passthrough device, or
    /// with nowhere to go (a standalone host or a cluster without DRS).
    pub async fn blockers(
        &mut self,
        host: &HostInfo,
        drs_enabled: bool,
    ) -> Result<Vec<Blocker>, VimError> {
        let vms = self
            .retrieve(
                "VirtualMachine",
                &[
                    "name",
                    "runtime.powerState",
                    "datastore",
                    "config.hardware.device",
                ],
                Some(&host.vms),
            )
            .await?;
        let on: Vec<&(MoRef, Props)> = vms
            .iter()
            .filter(|(_, p)| text(p, "runtime.powerState") == "poweredOn")
            .collect();
        let mut ds: Vec<MoRef> = on
            .iter()
            .flat_map(|(_, p)| morefs(p.get("datastore")))
            .collect();
        ds.sort();
        ds.dedup();
        let stores = self
            .retrieve(
                "Datastore",
                &["name", "summary.multipleHostAccess", "host"],
                Some(&ds),
            )
            .await?;
        let local = |m: &MoRef| {
            stores.iter().any(|(o, p)| {
                o == m
                    && text(p, "summary.multipleHostAccess") != "true"
                    && p.get("host").map(|h| h.children.len()).unwrap_or(0) <= 1
            })
        };
        let store_name = |m: &MoRef| {
            stores
                .iter()
                .find(|(o, _)| o == m)
                .map(|(_, p)| text(p, "name"))
                .unwrap_or_else(|| m.value.clone())
        };
        let mut out = Vec::new();
        for (_, p) in on {
            let vm = text(p, "name");
            let passthrough = p.get("config.hardware.device").is_some_and(|d| {
                d.children.iter().any(|c| {
                    c.ty.as_deref().is_some_and(|t| {
                        t.contains("PCIPassthrough") || t.contains("DynamicPassthrough")
                    })
                })
            });
            let reason = if passthrough {
                Some("has a PCI passthrough device".to_string())
            } else if let Some(d) = morefs(p.get("datastore")).iter().find(|d| local(d)) {
                Some(format!(
                    "is on datastore {:?}, local to this host",
                    store_name(d)
                ))
            } else if host.cluster_ref.is_none() {
                Some("runs on a standalone host: nowhere to migrate".to_string())
            } else if !drs_enabled {
                Some("DRS is off in the cluster: nothing will migrate it".to_string())
            } else {
                None
            };
            if let Some(reason) = reason {
                out.push(Blocker { vm, reason });
            }
        }
        Ok(out)
    }

    /// Starts `EnterMaintenanceMode_Task`; returns the task.
    pub async fn enter_maintenance(
        &mut self,
        host: &MoRef,
        timeout_s: u64,
        evacuate_powered_off: bool,
    ) -> Result<MoRef, VimError> {
        let args = format!(
            "<timeout>{timeout_s}</timeout><evacuatePoweredOffVms>{evacuate_powered_off}</evacuatePoweredOffVms>"
        );
        self.task_call("EnterMaintenanceMode_Task", host, &args)
            .await
    }

    /// Starts `ExitMaintenanceMode_Task`; returns the task.
    pub async fn exit_maintenance(
        &mut self,
        host: &MoRef,
        timeout_s: u64,
    ) -> Result<MoRef, VimError> {
        self.task_call(
            "ExitMaintenanceMode_Task",
            host,
            &format!("<timeout>{timeout_s}</timeout>"),
        )
        .await
    }

    async fn task_call(
        &mut self,
        method: &str,
        this: &MoRef,
        args: &str,
    ) -> Result<MoRef, VimError> {
        let r = self.call(method, this, args).await?;
        r.child("returnval")
            .and_then(MoRef::from_node)
            .ok_or_else(|| self.malformed_err(method, "no task in the answer"))
    }

    /// Waits until `obj`'s properties satisfy `done` (given the changed
    /// property values seen so far), through a private PropertyCollector:
    /// the server answers when something changes. `done` returns
    /// `Some(result)` to stop.
    pub async fn wait_for<T>(
        &mut self,
        obj: &MoRef,
        paths: &[&str],
        deadline: Instant,
        what: &str,
        mut done: impl FnMut(&Props) -> Option<T>,
    ) -> Result<T, VimError> {
        let sc = self.content().await?;
        let r = self
            .call("CreatePropertyCollector", &sc.property_collector, "")
            .await?;
        let pc = r
            .child("returnval")
            .and_then(MoRef::from_node)
            .ok_or_else(|| self.malformed_err("CreatePropertyCollector", "no collector"))?;
        let span = tracing::info_span!(
            "vcenter.wait",
            server.address = %self.addr(),
            what,
            object = %obj.value,
        );
        let result = self
            .wait_on(&pc, obj, paths, deadline, what, &mut done)
            .instrument(span)
            .await;
        let _ = self.call("DestroyPropertyCollector", &pc, "").await;
        result
    }

    async fn wait_on<T>(
        &mut self,
        pc: &MoRef,
        obj: &MoRef,
        paths: &[&str],
        deadline: Instant,
        what: &str,
        done: &mut impl FnMut(&Props) -> Option<T>,
    ) -> Result<T, VimError> {
        let path_xml: String = paths
            .iter()
            .map(|p| format!("<pathSet>{}</pathSet>", escape(p)))
            .collect();
        let spec = format!(
            "<spec><propSet><type>{}</type>{path_xml}</propSet><objectSet>{}<skip>false</skip></objectSet></spec>\
             <partialUpdates>false</partialUpdates>",
            escape(&obj.ty),
            obj.xml("obj")
        );
        self.call("CreateFilter", pc, &spec).await?;
        let mut version = String::new();
        let mut props = Props::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(VimError::Timeout {
                    addr: self.addr().to_string(),
                    method: what.to_string(),
                    secs: 0,
                });
            }
            let wait_s = left.as_secs().clamp(1, 30);
            let args = format!(
                "<version>{}</version><options><maxWaitSeconds>{wait_s}</maxWaitSeconds></options>",
                escape(&version)
            );
            let r = self
                .call_with_timeout(
                    "WaitForUpdatesEx",
                    pc,
                    &args,
                    Some(std::time::Duration::from_secs(wait_s + 30)),
                )
                .await?;
            let Some(rv) = r.child("returnval") else {
                continue;
            };
            if let Some(v) = rv.text_of("version") {
                version = v.to_string();
            }
            for fs in rv.all("filterSet") {
                for os in fs.all("objectSet") {
                    for c in os.all("changeSet") {
                        if let Some(name) = c.text_of("name") {
                            match c.child("val") {
                                Some(v) => props.insert(name.to_string(), v.clone()),
                                None => props.remove(name),
                            };
                        }
                    }
                }
            }
            if let Some(t) = done(&props) {
                return Ok(t);
            }
        }
    }

    /// Waits for a task to end; a task error comes back as its fault.
    pub async fn wait_task(
        &mut self,
        task: &MoRef,
        deadline: Instant,
        method: &str,
    ) -> Result<(), VimError> {
        let addr = self.addr().to_string();
        self.wait_for(
            task,
            &["info.state", "info.error"],
            deadline,
            method,
            |p| match p.get("info.state").map(|n| n.text.trim()) {
                Some("success") => Some(Ok(())),
                Some("error") => {
                    let err = p.get("info.error");
                    let fault = err
                        .and_then(|e| e.child("fault"))
                        .and_then(|f| f.ty.clone())
                        .unwrap_or_else(|| "SystemError".into());
                    let message = err
                        .and_then(|e| e.text_of("localizedMessage"))
                        .unwrap_or("")
                        .to_string();
                    Some(Err(VimError::Fault {
                        addr: addr.clone(),
                        method: method.to_string(),
                        fault,
                        message,
                    }))
                }
                _ => None,
            },
        )
        .await?
    }
}
