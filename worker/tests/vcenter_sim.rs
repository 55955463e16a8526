//! `vcenter.maintenance` and the vSphere client against govmomi's vCenter
//! simulator (sim/vcsim): a refused login, host lookup by name and managed
//! object id, enter and exit (idempotent), session expiry answered by a
//! second login, the blockers reported before entering (DRS off, powered-on
//! VMs) and the enter that times out because of them, DRS moving VMs away,
//! and the wait for a disconnected host to come back.

use outpost_kinds::ErrorClass;
use outpost_sim::vcsim::{VcSim, VcSimOptions};
use outpost_worker::credentials::Credentials;
use outpost_worker::ops::redfish::tls::Pin;
use outpost_worker::ops::vcenter::{MoRef, VimClient};
use outpost_worker::ops::{Kind, OpCtx, OpEnv, OpError, run};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const USER: &str = "administrator@vsphere.local";
const PASS: &str = "vc-sim-secret-7";
/// Deadline for things that must happen (loaded 2-core machines).
const MUST: Duration = Duration::from_secs(60);
/// How long we watch for something that must not happen.
const MUST_NOT: Duration = Duration::from_millis(1500);

fn names() -> Vec<String> {
    let mut n = Vec::new();
    for c in ["a", "b"] {
        for h in 1..=4 {
            n.push(format!("esx-{c}{h}.lab"));
        }
    }
    n
}

async fn sim(extra: impl FnOnce(&mut VcSimOptions)) -> VcSim {
    let mut o = VcSimOptions {
        username: USER.into(),
        password: PASS.into(),
        names: names(),
        ..VcSimOptions::default()
    };
    extra(&mut o);
    VcSim::start(o).await.expect("outpost-vcsim")
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

struct Run {
    out: Result<Value, OpError>,
    steps: Vec<String>,
}

async fn op(env: &Arc<OpEnv>, vc: &VcSim, params: Value) -> Run {
    op_with(env, vc, params, |_| {}).await
}

/// Runs the op; `on_step` sees each progress step as it comes.
async fn op_with(
    env: &Arc<OpEnv>,
    vc: &VcSim,
    mut params: Value,
    mut on_step: impl FnMut(&str),
) -> Run {
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
    let mut steps = Vec::new();
    let out = {
        let fut = run(Kind::VcenterMaintenance, &ctx);
        tokio::pin!(fut);
        loop {
            tokio::select! {
                out = &mut fut => break out,
                Some(p) = rx.recv() => { on_step(&p.step); steps.push(p.step); }
            }
        }
    };
    drop(ctx);
    while let Ok(p) = rx.try_recv() {
        steps.push(p.step);
    }
    Run { out, steps }
}

async fn host_state(vc: &VcSim, name: &str) -> outpost_sim::vcsim::SimHost {
    vc.hosts()
        .await
        .unwrap()
        .into_iter()
        .find(|h| h.name == name)
        .unwrap_or_else(|| panic!("no host {name}"))
}

#[tokio::test]
async fn wrong_password_is_an_auth_error_without_the_secret() {
    let vc = sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let env = env(&dir, "not-the-password-9");
    let r = op(&env, &vc, json!({"action": "status", "host": "esx-a1.lab"})).await;
    match r.out {
        Err(OpError::Permanent { kind, message }) => {
            assert_eq!(kind, ErrorClass::Auth, "{message}");
            assert!(message.contains(USER), "{message}");
            assert!(!message.contains("not-the-password-9"), "{message}");
        }
        other => panic!("expected an auth error, got {other:?}"),
    }
    vc.stop().await;
}

#[tokio::test]
async fn finds_hosts_by_name_and_id_and_names_an_unknown_one() {
    let vc = sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let env = env(&dir, PASS);
    let want = host_state(&vc, "esx-b3.lab").await;
    for wanted in ["esx-b3.lab", "ESX-B3.LAB", want.moid.as_str()] {
        let r = op(&env, &vc, json!({"action": "status", "host": wanted})).await;
        let out = r.out.unwrap_or_else(|e| panic!("{wanted}: {e:?}"));
        assert_eq!(out["host"]["name"], "esx-b3.lab", "{out}");
        assert_eq!(out["host"]["moid"], want.moid.as_str(), "{out}");
        assert_eq!(out["host"]["cluster"], want.cluster.as_str(), "{out}");
        assert_eq!(out["host"]["connection_state"], "connected");
        assert_eq!(out["host"]["in_maintenance"], false);
        assert_eq!(out["host"]["power_state"], "poweredOn");
        assert_eq!(out["cluster"]["hosts"], 4, "{out}");
        assert_eq!(out["cluster"]["drs_enabled"], true, "{out}");
        assert_eq!(out["blockers"], json!([]));
    }
    let r = op(&env, &vc, json!({"action": "status", "host": "esx-z9.lab"})).await;
    match r.out {
        Err(OpError::Permanent { kind, message }) => {
            assert_eq!(kind, ErrorClass::HostNotFound);
            assert!(message.contains("esx-z9.lab"), "{message}");
        }
        other => panic!("expected host_not_found, got {other:?}"),
    }
    vc.stop().await;
}

#[tokio::test]
async fn enters_and_exits_maintenance_idempotently() {
    let vc = sim(|o| o.enter_ms = 300).await;
    let dir = tempfile::tempdir().unwrap();
    let env = env(&dir, PASS);
    let enter = json!({"action": "enter", "host": "esx-a2.lab", "timeout_s": 60});
    let r = op(&env, &vc, enter.clone()).await;
    let out = r.out.expect("enter");
    assert_eq!(out["already"], false);
    assert_eq!(out["host"]["in_maintenance"], true, "{out}");
    assert!(
        r.steps.iter().any(|s| s == "entering maintenance mode"),
        "{:?}",
        r.steps
    );
    assert!(host_state(&vc, "esx-a2.lab").await.in_maintenance);
    assert!(!host_state(&vc, "esx-a1.lab").await.in_maintenance);
    // The cluster now counts one host out of service.
    let s = op(&env, &vc, json!({"action": "status", "host": "esx-a1.lab"})).await;
    assert_eq!(s.out.unwrap()["cluster"]["out_of_service"], 1);

    let again = op(&env, &vc, enter).await.out.expect("enter again");
    assert_eq!(
        again["already"], true,
        "a second enter resumes, not repeats"
    );

    let exit = json!({"action": "exit", "host": "esx-a2.lab"});
    let out = op(&env, &vc, exit.clone()).await.out.expect("exit");
    assert_eq!(out["already"], false);
    assert_eq!(out["host"]["in_maintenance"], false);
    assert!(!host_state(&vc, "esx-a2.lab").await.in_maintenance);
    let out = op(&env, &vc, exit).await.out.expect("exit again");
    assert_eq!(out["already"], true);
    vc.stop().await;
}

#[tokio::test]
async fn an_expired_session_is_replaced_by_a_second_login() {
    let vc = sim(|_| {}).await;
    let mut c = VimClient::new(
        &vc.host,
        vc.port,
        Pin::Off,
        USER,
        PASS,
        Duration::from_secs(20),
    )
    .unwrap();
    c.login().await.expect("login");
    let h = c.find_host("esx-a1.lab").await.expect("lookup");
    assert_eq!(c.logins, 1);
    let ended = vc.expire_sessions().await.unwrap();
    assert!(ended >= 1, "the client's session was ended ({ended})");
    let again = c
        .host(&MoRef::new("HostSystem", &h.moid))
        .await
        .expect("the call after expiry logs in again and succeeds");
    assert_eq!(again.name, "esx-a1.lab");
    assert_eq!(c.logins, 2, "exactly one more login");
    c.logout().await;

    let mut bad = VimClient::new(
        &vc.host,
        vc.port,
        Pin::Off,
        USER,
        "wrong",
        Duration::from_secs(20),
    )
    .unwrap();
    let e = bad.login().await.unwrap_err();
    assert_eq!(e.kind(), ErrorClass::Auth, "{e}");
    vc.stop().await;
}

#[tokio::test]
async fn blockers_are_reported_and_drs_off_keeps_the_host_from_entering() {
    // One powered-on VM per cluster; DRS off in DC0_C0 (the esx-a hosts).
    let vc = sim(|o| {
        o.vms = 1;
        o.drs_off = vec!["DC0_C0".into()];
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let env = env(&dir, PASS);
    let hosts = vc.hosts().await.unwrap();
    let busy_a = hosts
        .iter()
        .find(|h| h.cluster == "DC0_C0" && h.powered_on_vms > 0)
        .expect("a host of DC0_C0 runs a VM")
        .name
        .clone();
    let busy_b = hosts
        .iter()
        .find(|h| h.cluster == "DC0_C1" && h.powered_on_vms > 0)
        .expect("a host of DC0_C1 runs a VM")
        .name
        .clone();

    let s = op(&env, &vc, json!({"action": "status", "host": busy_a}))
        .await
        .out
        .expect("status");
    assert_eq!(s["cluster"]["drs_enabled"], false, "{s}");
    let blockers = s["blockers"].as_array().unwrap();
    assert_eq!(blockers.len(), 1, "{s}");
    assert!(
        blockers[0]["reason"]
            .as_str()
            .unwrap()
            .contains("DRS is off"),
        "{s}"
    );

    let r = op(
        &env,
        &vc,
        json!({"action": "enter", "host": busy_a, "timeout_s": 5}),
    )
    .await;
    match r.out {
        Err(OpError::Permanent { kind, message }) => {
            assert_eq!(kind, ErrorClass::MaintenanceTimeout, "{message}");
            assert!(message.contains("DRS is off"), "{message}");
        }
        other => panic!("expected maintenance_timeout, got {other:?}"),
    }
    assert!(!host_state(&vc, &busy_a).await.in_maintenance);

    // With DRS on, the VM moves to another host and the host enters.
    let s = op(&env, &vc, json!({"action": "status", "host": busy_b}))
        .await
        .out
        .unwrap();
    assert_eq!(s["blockers"], json!([]), "{s}");
    op(&env, &vc, json!({"action": "enter", "host": busy_b}))
        .await
        .out
        .expect("enter with DRS");
    let after = host_state(&vc, &busy_b).await;
    assert!(after.in_maintenance);
    assert_eq!(after.powered_on_vms, 0, "the VM migrated away");
    let total: u32 = vc
        .hosts()
        .await
        .unwrap()
        .iter()
        .filter(|h| h.cluster == "DC0_C1")
        .map(|h| h.powered_on_vms)
        .sum();
    assert_eq!(total, 1, "the VM still runs, elsewhere in the cluster");
    vc.stop().await;
}

#[tokio::test]
async fn waits_for_a_disconnected_host_to_come_back() {
    let vc = sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let env = env(&dir, PASS);
    vc.disconnect("esx-b1.lab").await.unwrap();
    let s = op(&env, &vc, json!({"action": "status", "host": "esx-b1.lab"}))
        .await
        .out
        .unwrap();
    assert_eq!(s["host"]["connection_state"], "disconnected");
    let r = op(&env, &vc, json!({"action": "enter", "host": "esx-b1.lab"})).await;
    assert!(
        matches!(&r.out, Err(OpError::Permanent { kind, .. }) if *kind == ErrorClass::HostNotConnected),
        "{:?}",
        r.out
    );

    // The wait does not end while the host is away, and ends once it is back.
    let (waiting_tx, waiting_rx) = tokio::sync::oneshot::channel();
    let mut waiting_tx = Some(waiting_tx);
    let params = json!({"action": "wait_connected", "host": "esx-b1.lab", "timeout_s": 60});
    let waiter = op_with(&env, &vc, params, |step| {
        if step == "waiting for the host to connect"
            && let Some(tx) = waiting_tx.take()
        {
            let _ = tx.send(());
        }
    });
    let vc_ref = &vc;
    let reconnect = async move {
        tokio::time::timeout(MUST, waiting_rx)
            .await
            .expect("the wait started")
            .unwrap();
        // Still disconnected: a correct wait must not have ended yet.
        tokio::time::sleep(MUST_NOT).await;
        vc_ref.connect("esx-b1.lab").await.unwrap();
    };
    let (r, ()) = tokio::time::timeout(MUST, async { tokio::join!(waiter, reconnect) })
        .await
        .expect("the wait ended after the reconnect");
    let out = r.out.expect("wait_connected");
    assert_eq!(out["host"]["connection_state"], "connected");
    assert!(
        out["took_ms"].as_u64().unwrap() >= MUST_NOT.as_millis() as u64,
        "the wait ended before the host was back: {out}"
    );

    // A host that stays away fails the wait at its deadline.
    vc.disconnect("esx-b2.lab").await.unwrap();
    let r = op(
        &env,
        &vc,
        json!({"action": "wait_connected", "host": "esx-b2.lab", "timeout_s": 2}),
    )
    .await;
    assert!(
        matches!(&r.out, Err(OpError::Permanent { kind, .. }) if *kind == ErrorClass::HostNotConnected),
        "{:?}",
        r.out
    );
    vc.stop().await;
}

/// The DER certificate a TLS server presents (read with OpenSSL, which
/// judges nothing here).
async fn peer_certificate(host: &str, port: u16) -> Vec<u8> {
    use openssl::ssl::{Ssl, SslContext, SslMethod, SslVerifyMode};
    let mut ctx = SslContext::builder(SslMethod::tls_client()).unwrap();
    ctx.set_verify(SslVerifyMode::NONE);
    let ssl = Ssl::new(&ctx.build()).unwrap();
    let tcp = tokio::net::TcpStream::connect((host, port)).await.unwrap();
    let mut tls = tokio_openssl::SslStream::new(ssl, tcp).unwrap();
    std::pin::Pin::new(&mut tls).connect().await.unwrap();
    tls.ssl().peer_certificate().unwrap().to_der().unwrap()
}

#[tokio::test]
async fn a_1024_bit_certificate_is_trusted_by_its_pin() {
    use outpost_worker::ops::redfish::{legacy_sig::rsa_bits, pins::keyed, tls::fingerprint};
    let vc = sim(|o| o.weak_key = true).await;
    let der = peer_certificate(&vc.host, vc.port).await;
    assert_eq!(rsa_bits(&der), Some(1024), "the simulator's key");
    let dir = tempfile::tempdir().unwrap();
    let env = env(&dir, PASS);
    let status = json!({"action": "status", "host": "esx-a1.lab"});
    // First use: trusted and pinned.
    let out = op(&env, &vc, status.clone()).await.out.expect("first use");
    assert_eq!(out["host"]["name"], "esx-a1.lab", "{out}");
    let key = keyed("vcenter", &vc.host, vc.port);
    assert_eq!(
        env.pins.get_key(&key).await.unwrap(),
        Some(fingerprint(&der))
    );
    // Pinned: accepted by the pin, through a whole enter and exit.
    let enter = json!({"action": "enter", "host": "esx-a2.lab", "timeout_s": 60});
    let out = op(&env, &vc, enter).await.out.expect("enter");
    assert_eq!(out["host"]["in_maintenance"], true, "{out}");
    let exit = json!({"action": "exit", "host": "esx-a2.lab"});
    op(&env, &vc, exit).await.out.expect("exit");
    vc.stop().await;
}
