//! `vcenter.inventory` against govmomi's vCenter simulator (sim/vcsim):
//! the clusters, hosts (with their service tag), VMs, datastores and
//! networks the kind reads through the vSphere API match what the
//! simulator's model holds (its control API's `/inventory`, read from the
//! model itself); `include` narrows the read, a disconnected host still
//! appears with its state, too small a `max_output_bytes` is a clear
//! `response_too_large`, and a wrong password an `auth` error.

use outpost_kinds::ErrorClass;
use outpost_kinds::vcenter::{InventoryOutput, InventoryParams};
use outpost_sim::vcsim::{SimInventory, VcSim, VcSimOptions};
use outpost_worker::credentials::Credentials;
use outpost_worker::ops::{Kind, OpCtx, OpEnv, OpError, run};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

const USER: &str = "administrator@vsphere.local";
const PASS: &str = "vc-sim-inventory-3";

async fn sim() -> VcSim {
    VcSim::start(VcSimOptions {
        username: USER.into(),
        password: PASS.into(),
        clusters: 2,
        hosts_per_cluster: 3,
        standalone: 1,
        vms: 2,
        names: vec!["esx-a1.lab".into()],
        drs_off: vec!["DC0_C1".into()],
        ..VcSimOptions::default()
    })
    .await
    .expect("outpost-vcsim")
}

fn env(dir: &tempfile::TempDir, password: &str) -> Arc<OpEnv> {
    use outpost_vault::{Credential, Secret, Vault, VaultParams};
    let mut v = Vault::create(&dir.path().join("v.vault"), "pw", VaultParams::for_tests()).unwrap();
    v.add(Credential {
        name: "vcenter".into(),
        username: USER.into(),
        password: Secret::new(password),
        enable_secret: None,
        is_default: true,
    })
    .unwrap();
    let mut env = OpEnv::detached();
    env.credentials = Credentials::Vault(Arc::new(v));
    Arc::new(env)
}

async fn inventory(
    env: &Arc<OpEnv>,
    vc: &VcSim,
    mut params: Value,
) -> (Result<Value, OpError>, Vec<u32>) {
    params["port"] = json!(vc.port);
    params["http_timeout_ms"] = json!(20_000);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let ctx = OpCtx::detached_with(
        "t",
        &vc.host,
        params,
        1,
        CancellationToken::new(),
        env.clone(),
        tx,
    );
    let out = run(Kind::VcenterInventory, &ctx).await;
    drop(ctx);
    let mut percents = Vec::new();
    while let Ok(p) = rx.try_recv() {
        percents.push(p.percent);
    }
    (out, percents)
}

fn by_moid<T, F: Fn(&T) -> String>(items: &[T], key: F) -> BTreeMap<String, &T> {
    items.iter().map(|i| (key(i), i)).collect()
}

fn check_against_model(out: &InventoryOutput, model: &SimInventory) {
    // vCenter's about: the simulator is a VPX model.
    assert!(
        out.vcenter.full_name.contains("vCenter"),
        "{:?}",
        out.vcenter
    );
    assert!(!out.vcenter.version.is_empty() && !out.vcenter.build.is_empty());
    assert!(!out.vcenter.instance_uuid.is_empty());

    let clusters = out.clusters.as_ref().expect("clusters");
    assert_eq!(clusters.len(), model.clusters.len());
    let want = by_moid(&model.clusters, |c| c.moid.clone());
    for c in clusters {
        let m = want
            .get(&c.moid)
            .unwrap_or_else(|| panic!("{c:?} not in the model"));
        assert_eq!(c.name, m.name);
        assert_eq!(c.host_count, m.hosts, "{c:?}");
        assert_eq!(c.drs_enabled, m.drs_enabled, "{c:?}");
        assert_eq!(c.total_cpu_mhz, Some(m.total_cpu_mhz), "{c:?}");
        assert_eq!(c.total_memory_bytes, Some(m.total_memory_bytes), "{c:?}");
        assert_eq!(c.datacenter.as_deref(), Some("DC0"), "{c:?}");
        assert!(!c.ha_enabled, "{c:?}");
    }
    assert!(
        clusters
            .iter()
            .any(|c| c.name == "DC0_C1" && !c.drs_enabled)
    );

    let hosts = out.hosts.as_ref().expect("hosts");
    assert_eq!(hosts.len(), model.hosts.len());
    let want = by_moid(&model.hosts, |h| h.moid.clone());
    for h in hosts {
        let m = want
            .get(&h.moid)
            .unwrap_or_else(|| panic!("{h:?} not in the model"));
        assert_eq!(h.name, m.name);
        assert_eq!(h.cluster.as_deref().unwrap_or(""), m.cluster, "{h:?}");
        assert_eq!(h.datacenter.as_deref(), Some("DC0"), "{h:?}");
        assert_eq!(h.connection_state, m.connection_state, "{h:?}");
        assert_eq!(h.power_state, m.power_state, "{h:?}");
        assert!(!h.maintenance_mode);
        assert_eq!(
            (h.esxi_version.as_str(), h.esxi_build.as_str()),
            (m.esxi_version.as_str(), m.esxi_build.as_str())
        );
        assert_eq!(
            (h.vendor.as_str(), h.model.as_str()),
            (m.vendor.as_str(), m.model.as_str())
        );
        assert_eq!(h.uuid, m.uuid, "{h:?}");
        // The simulator's hosts have no serialNumber: the service tag it is.
        assert_eq!(
            h.serial_number.as_deref(),
            Some(m.service_tag.as_str()),
            "{h:?}"
        );
        assert_eq!(h.cpu_cores, Some(m.cpu_cores), "{h:?}");
        assert_eq!(h.memory_bytes, Some(m.memory_bytes), "{h:?}");
    }
    assert!(
        hosts
            .iter()
            .any(|h| h.name == "esx-a1.lab" && h.cluster.as_deref() == Some("DC0_C0"))
    );
    assert_eq!(hosts.iter().filter(|h| h.cluster.is_none()).count(), 1);

    let vms = out.vms.as_ref().expect("vms");
    assert_eq!(vms.len(), model.vms.len());
    let want = by_moid(&model.vms, |v| v.moid.clone());
    let host_cluster: BTreeMap<&str, &str> = model
        .hosts
        .iter()
        .map(|h| (h.moid.as_str(), h.cluster.as_str()))
        .collect();
    for v in vms {
        let m = want
            .get(&v.moid)
            .unwrap_or_else(|| panic!("{v:?} not in the model"));
        assert_eq!(v.name, m.name);
        assert_eq!(v.host.as_deref(), Some(m.host.as_str()), "{v:?}");
        let cl = host_cluster[m.host.as_str()];
        assert_eq!(v.cluster.as_deref().unwrap_or(""), cl, "{v:?}");
        assert_eq!(v.power_state, m.power_state, "{v:?}");
        assert_eq!(v.guest_os, m.guest_os, "{v:?}");
        assert_eq!(
            (v.cpu_count, v.memory_mb),
            (m.cpu_count, m.memory_mb),
            "{v:?}"
        );
        assert_eq!(v.uuid.as_deref(), Some(m.uuid.as_str()), "{v:?}");
        assert_eq!(v.is_template, m.is_template, "{v:?}");
    }

    let stores = out.datastores.as_ref().expect("datastores");
    assert_eq!(stores.len(), model.datastores.len());
    let want = by_moid(&model.datastores, |d| d.moid.clone());
    for d in stores {
        let m = want
            .get(&d.moid)
            .unwrap_or_else(|| panic!("{d:?} not in the model"));
        assert_eq!(
            (d.name.as_str(), d.ds_type.as_str()),
            (m.name.as_str(), m.ds_type.as_str())
        );
        assert_eq!(d.capacity_bytes, m.capacity_bytes, "{d:?}");
        // The simulator's free space is its disk's, which moves.
        assert!(
            d.free_bytes > 0 && d.free_bytes <= d.capacity_bytes,
            "{d:?}"
        );
        assert!(d.accessible, "{d:?}");
        let mut a = d.hosts.clone();
        let mut b = m.hosts.clone();
        a.sort();
        b.sort();
        assert_eq!(a, b, "{d:?}");
        assert_eq!(a.len(), hosts.len(), "mounted on every host");
    }

    let nets = out.networks.as_ref().expect("networks");
    assert_eq!(nets.len(), model.networks.len());
    let want = by_moid(&model.networks, |n| n.moid.clone());
    for n in nets {
        let m = want
            .get(&n.moid)
            .unwrap_or_else(|| panic!("{n:?} not in the model"));
        assert_eq!(
            (n.name.as_str(), n.net_type.as_str()),
            (m.name.as_str(), m.net_type.as_str())
        );
    }
}

#[tokio::test]
async fn the_inventory_matches_the_simulators_model() {
    let vc = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let env = env(&dir, PASS);
    let model = vc.inventory().await.expect("the simulator's /inventory");
    // The model as laid out: 2 clusters of 3, a standalone host, 2 VMs
    // per cluster and standalone host, one shared datastore.
    assert_eq!(model.clusters.len(), 2);
    assert_eq!(model.hosts.len(), 7);
    assert!(model.vms.len() >= 4, "{:?}", model.vms);
    assert!(!model.datastores.is_empty());

    let (out, percents) =
        inventory(&env, &vc, json!({"credential": "vcenter", "page_size": 2})).await;
    let out = out.expect("inventory");
    let parsed = InventoryOutput::from_value(&out).unwrap_or_else(|| panic!("{out}"));
    check_against_model(&parsed, &model);
    assert_eq!(percents.first(), Some(&0));
    assert_eq!(percents.last(), Some(&100));
    assert!(percents.windows(2).all(|w| w[0] <= w[1]), "{percents:?}");

    // A narrower read returns only what was asked.
    let (out, _) = inventory(&env, &vc, json!({"include": ["vms"]})).await;
    let out = out.expect("vms only");
    assert!(
        out.get("hosts").is_none() && out.get("clusters").is_none(),
        "{out}"
    );
    assert_eq!(out["vms"].as_array().map(Vec::len), Some(model.vms.len()));
    assert!(out["vms"][0]["cluster"].is_string() || out["vms"][0]["cluster"].is_null());

    // A disconnected host is still listed, with its state.
    let a1 = model.hosts.iter().find(|h| h.name == "esx-a1.lab").unwrap();
    vc.disconnect(&a1.name).await.unwrap();
    let (out, _) = inventory(&env, &vc, json!({"include": ["hosts"]})).await;
    let out = InventoryOutput::from_value(&out.expect("hosts")).unwrap();
    let h = out
        .hosts
        .unwrap()
        .into_iter()
        .find(|h| h.moid == a1.moid)
        .unwrap();
    assert_eq!(h.connection_state, "disconnected");
    vc.stop().await;
}

#[tokio::test]
async fn too_big_an_answer_and_a_wrong_password_fail_clearly() {
    let vc = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let env = env(&dir, PASS);
    let (out, _) = inventory(&env, &vc, json!({"max_output_bytes": 1024})).await;
    match out {
        Err(OpError::Permanent { kind, message }) => {
            assert_eq!(kind, ErrorClass::ResponseTooLarge, "{message}");
            assert!(message.contains("max_output_bytes"), "{message}");
            assert!(message.contains("7 hosts"), "{message}");
        }
        other => panic!("expected response_too_large, got {other:?}"),
    }
    let (out, _) = inventory(&env, &vc, json!({"page_size": 0})).await;
    assert!(
        matches!(&out, Err(OpError::Permanent { kind: ErrorClass::Params, message }) if message.contains("page_size")),
        "{out:?}"
    );

    let bad = env_with_wrong_password();
    let (out, _) = inventory(&bad.1, &vc, json!({})).await;
    match out {
        Err(OpError::Permanent { kind, message }) => {
            assert_eq!(kind, ErrorClass::Auth, "{message}");
            assert!(!message.contains("not-the-password"), "{message}");
        }
        other => panic!("expected an auth error, got {other:?}"),
    }
    // The defaults are what a job without params gets.
    assert_eq!(
        serde_json::from_value::<InventoryParams>(json!({})).unwrap(),
        InventoryParams::default()
    );
    vc.stop().await;
}

fn env_with_wrong_password() -> (tempfile::TempDir, Arc<OpEnv>) {
    let dir = tempfile::tempdir().unwrap();
    let e = env(&dir, "not-the-password-4");
    (dir, e)
}
