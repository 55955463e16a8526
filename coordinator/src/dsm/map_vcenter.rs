//! Mapping the jobs that talk to the app's vCenters: `vcenter_sync` and
//! the safety check's read (each vCenter with its own login), and
//! `prepare_host_for_update` (maintenance mode for a server's host).

use super::*;

/// `prepare_host_for_update`: maintenance mode for the server's vCenter
/// host, with the vCenter's own login (or, for a server with no host, a
/// check that its iDRAC answers).
pub(super) fn map_prepare(l: &Lookup, port: u16, d: &Value) -> Result<Mapped, MapError> {
    let list = servers(l)?;
    let [s] = list else {
        return Err(format!(
            "prepare_host_for_update names {} servers; it prepares one",
            list.len()
        ));
    };
    let extra = |vc: Option<&(String, Option<String>, String, u16)>| {
        json!({"server_id": s.id, "vcenter_host_id": vc.and(s.vcenter_host_id),
               "hostname": s.name, "vcenter_host": vc.map(|v| v.0.clone())})
    };
    let Some(vc) = &s.vcenter else {
        let mut m = per_server(l, "redfish.inventory", json!({"port": port}), true)?;
        m.extra = extra(None);
        return Ok(m);
    };
    let (host, _, vc_host, vc_port) = vc;
    let mut secrets = Secrets::default();
    secrets.vcenters.push(vc_host.clone());
    Ok(Mapped {
        doc: doc(
            "vcenter.maintenance",
            vec![format!("{vc_host}:{vc_port}")],
            json!({"action": "enter", "host": host,
                   "timeout_s": d["maintenance_timeout"].as_u64().unwrap_or(600).max(1),
                   "credential": crate::dsm::seal::vcenter_credential(vc_host)}),
        ),
        rows: vec![RowPlan {
            server_id: Some(s.id),
            source: RowSource::Target(vc_host.clone()),
        }],
        logins: Vec::new(),
        secrets,
        vcenters: Vec::new(),
        extra: extra(Some(vc)),
        notes: Vec::new(),
    })
}

/// `vcenter_sync`: each vCenter's inventory, read with its own login.
pub(super) fn map_vcenter_sync(l: &Lookup) -> Result<Mapped, MapError> {
    if l.vcenters.is_empty() {
        return Err("No vCenter connection configured or sync is disabled".into());
    }
    let mut secrets = Secrets::default();
    let mut logins = Vec::new();
    let mut rows = Vec::new();
    for v in &l.vcenters {
        secrets.vcenters.push(v.host.clone());
        logins.push(Login {
            address: v.host.clone(),
            credential: Some(crate::dsm::seal::vcenter_credential(&v.host)),
            legacy_tls: false,
        });
        rows.push(RowPlan {
            server_id: None,
            source: RowSource::Target(v.host.clone()),
        });
    }
    Ok(Mapped {
        doc: doc(
            "vcenter.inventory",
            l.vcenters
                .iter()
                .map(|v| format!("{}:{}", v.host, v.port))
                .collect(),
            json!({}),
        ),
        rows,
        logins,
        secrets,
        vcenters: l.vcenters.clone(),
        extra: Value::Null,
        notes: Vec::new(),
    })
}
