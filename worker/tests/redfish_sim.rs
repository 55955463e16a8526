//! Redfish operations against the iDRAC simulator: discovery's
//! authenticated stage (credential order, wrong credentials, other
//! vendors), inventory, power, and firmware updates — happy path both
//! ways (SimpleUpdate and multipart push), already current, stale jobs,
//! a busy iDRAC, a stalled job, a host ignoring graceful restarts, the
//! iDRAC vanishing during its own reset, a crash mid-update resumed from
//! the checkpoint without a second upload, cancel, certificate changes,
//! and malformed answers; Dell's job model (a 404 or corrupt image fails
//! with power untouched, a slow download reboots once and only once the
//! job is Scheduled, the iDRAC's own firmware never reboots the host),
//! counted in host power cycles.

use outpost_kinds::ErrorClass;
use outpost_sim::redfish::{
    Faults, IdracSpec, Malformed, RedfishSim, Stats, UpdateSource, Vendor, make_image,
};
use outpost_worker::credentials::Credentials;
use outpost_worker::ops::{Kind, OpCtx, OpEnv, OpError, run};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const USER: &str = "root";
const PASS: &str = "calvin-sim";
/// Device time runs 200× faster: a 60 s apply takes 0.3 s.
const SCALE: f64 = 0.005;

fn spec(ip: &str, index: u64) -> IdracSpec {
    let mut s = IdracSpec::new(format!("{ip}:0").parse().unwrap(), USER, PASS, index);
    s.timings.scale = SCALE;
    s
}

/// A worker environment with a vault holding `good` (the right password)
/// and `bad` (a wrong one), `good` being the default.
fn env(dir: &tempfile::TempDir) -> Arc<OpEnv> {
    use outpost_vault::{Credential, Secret, Vault, VaultParams};
    let mut v = Vault::create(&dir.path().join("v.vault"), "pw", VaultParams::for_tests()).unwrap();
    v.add(Credential {
        name: "bad".into(),
        username: USER.into(),
        password: Secret::new("wrong"),
        enable_secret: None,
        is_default: false,
    })
    .unwrap();
    v.add(Credential {
        name: "good".into(),
        username: USER.into(),
        password: Secret::new(PASS),
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

async fn op(
    env: &Arc<OpEnv>,
    kind: Kind,
    task: &str,
    addr: SocketAddr,
    mut params: Value,
    attempt: u32,
    cancel: CancellationToken,
) -> Run {
    let fast = json!({
        "port": addr.port(), "http_timeout_ms": 5000, "retry_s": 20,
    });
    if kind != Kind::RedfishDiscover {
        let dev = params["device"].take();
        let mut d = fast.clone();
        if let Value::Object(m) = dev {
            for (k, v) in m {
                d[k] = v;
            }
        }
        params["device"] = d;
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let ctx = OpCtx::detached_with(
        task,
        &addr.ip().to_string(),
        params,
        attempt,
        cancel,
        env.clone(),
        tx,
    );
    let out = run(kind, &ctx).await;
    drop(ctx);
    let mut steps = Vec::new();
    while let Some(p) = rx.recv().await {
        steps.push(p.step);
    }
    Run { out, steps }
}

fn firmware_params(extra: Value) -> Value {
    let mut p = json!({
        "component": "BIOS", "version": "2.19.1",
        "poll_ms": 20, "stall_s": 2, "graceful_s": 2, "reboot_s": 20, "job_timeout_s": 60,
    });
    for (k, v) in extra.as_object().unwrap() {
        p[k] = v.clone();
    }
    p
}

/// Serves files over plain HTTP on loopback (the image repository).
async fn repo(files: Vec<(&'static str, Vec<u8>)>) -> SocketAddr {
    outpost_sim::repo::serve(files.into_iter().map(|(p, b)| (p.to_string(), b)).collect())
        .await
        .unwrap()
}

#[tokio::test]
async fn discovery_reads_idracs_in_credential_order_and_tells_others_apart() {
    let dir = tempfile::tempdir().unwrap();
    let env = env(&dir);
    let mut other = spec("127.6.0.3", 3);
    other.vendor = Vendor::Other;
    let sim = RedfishSim::start(vec![spec("127.6.0.1", 1), spec("127.6.0.2", 2), other])
        .await
        .unwrap();
    let port = sim.addrs()[0].port();
    // Put the other two on the same port: each device binds its own address.
    let sim2 = RedfishSim::start(vec![{
        let mut s = spec("127.6.0.4", 4);
        s.listen = format!("127.6.0.4:{port}").parse().unwrap();
        s.password = "something-else".into();
        s
    }])
    .await
    .unwrap();
    let addrs = sim.addrs();
    let mut runs = vec![];
    for a in &addrs {
        // Each sim device has its own port; probe each address with its port.
        let r = op(
            &env,
            Kind::RedfishDiscover,
            "d1",
            *a,
            json!({
                "slice": [a.ip().to_string()], "port": a.port(),
                "connect_timeout_ms": 2000, "http_timeout_ms": 5000,
                // `bad` is listed first but `good` is scoped to 127.6.0.0/24.
                "credentials": ["bad", {"name": "good", "ranges": ["127.6.0.0/24"]}],
            }),
            1,
            CancellationToken::new(),
        )
        .await;
        runs.push(r.out.expect("discovery runs"));
    }
    let found = &runs[0]["found"][0];
    assert_eq!(found["manufacturer"], "Dell Inc.", "{}", runs[0]);
    assert_eq!(found["model"], "PowerEdge R650");
    assert_eq!(
        found["service_tag"],
        sim.device(addrs[0]).unwrap().spec.service_tag
    );
    assert_eq!(found["bios_version"], "1.0.0");
    assert_eq!(found["idrac_version"], "6.10.00.00");
    assert_eq!(found["power_state"], "On");
    assert_eq!(found["health"], "OK");
    assert_eq!(found["idrac_mac"], sim.device(addrs[0]).unwrap().spec.mac);
    assert_eq!(found["credential"], "good");
    assert_eq!(found["cert_sha256"], sim.fingerprint(addrs[0]).unwrap());
    // The scoped set went first: the wrong password was never tried.
    assert_eq!(
        Stats::get(&sim.device(addrs[0]).unwrap().stats.failed_logins),
        0
    );
    assert_eq!(runs[1]["idrac"], 1);
    // A Contoso BMC is Redfish, not an iDRAC.
    assert_eq!(runs[2]["idrac"], 0, "{}", runs[2]);
    assert_eq!(
        runs[2]["other_redfish"][0]["vendor"], "Contoso",
        "{}",
        runs[2]
    );
    // No credential opens 127.6.0.4: it is reported as locked, with its certificate.
    let a4 = sim2.addrs()[0];
    let r = op(
        &env,
        Kind::RedfishDiscover,
        "d2",
        a4,
        json!({"slice": ["127.6.0.4"], "port": a4.port(), "credentials": ["bad", "good"]}),
        1,
        CancellationToken::new(),
    )
    .await
    .out
    .unwrap();
    assert_eq!(r["locked"][0]["address"], "127.6.0.4", "{r}");
    assert_eq!(r["found"].as_array().unwrap().len(), 0);
    assert_eq!(Stats::get(&sim2.device(a4).unwrap().stats.failed_logins), 2);
}

#[tokio::test]
async fn inventory_lists_components_and_sessions_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let env = env(&dir);
    let sim = RedfishSim::start(vec![spec("127.6.1.1", 11)])
        .await
        .unwrap();
    let a = sim.addrs()[0];
    let r = op(
        &env,
        Kind::RedfishInventory,
        "i1",
        a,
        json!({}),
        1,
        CancellationToken::new(),
    )
    .await;
    let out = r.out.expect("inventory");
    let comps = out["components"].as_array().unwrap();
    // BIOS, iDRAC, CPLD and the NIC once per port, as an iDRAC lists them.
    assert_eq!(comps.len(), 5, "{out}");
    let ports = comps
        .iter()
        .filter(|c| c["software_id"] == "108255")
        .count();
    assert_eq!(ports, 2, "{out}");
    let bios = comps.iter().find(|c| c["name"] == "BIOS").unwrap();
    assert_eq!(bios["version"], "1.0.0");
    assert_eq!(bios["updateable"], true);
    assert_eq!(bios["component_type"], "BIOS");
    assert_eq!(bios["id"], "Installed-159-1.0.0");
    let cpld = comps.iter().find(|c| c["name"] == "System CPLD").unwrap();
    assert_eq!(cpld["updateable"], false);
    let d = sim.device(a).unwrap();
    assert_eq!(Stats::get(&d.stats.logins), 1);
    assert_eq!(
        Stats::get(&d.stats.sessions_deleted),
        1,
        "the session is deleted at the end"
    );

    // Without sessions the client falls back to Basic.
    d.set_faults(Faults {
        no_sessions: true,
        ..Faults::default()
    });
    let out = op(
        &env,
        Kind::RedfishInventory,
        "i2",
        a,
        json!({}),
        1,
        CancellationToken::new(),
    )
    .await
    .out
    .expect("inventory over Basic");
    assert_eq!(out["components"].as_array().unwrap().len(), 5);
    assert!(Stats::get(&d.stats.basic_requests) >= 5);

    // Wrong credentials are a permanent auth error that names the user, not the password.
    let err = op(
        &env,
        Kind::RedfishInventory,
        "i3",
        a,
        json!({"device": {"credential": "bad"}}),
        1,
        CancellationToken::new(),
    )
    .await
    .out
    .unwrap_err();
    match err {
        OpError::Permanent { kind, message } => {
            assert_eq!(kind, ErrorClass::Auth);
            assert!(
                message.contains("root") && !message.contains("wrong"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn malformed_answers_are_clear_task_errors() {
    let dir = tempfile::tempdir().unwrap();
    let env = env(&dir);
    let sim = RedfishSim::start(vec![spec("127.6.2.1", 21)])
        .await
        .unwrap();
    let a = sim.addrs()[0];
    let d = sim.device(a).unwrap();
    for (m, class, expect) in [
        (Malformed::BadJson, ErrorClass::Malformed, "EOF"),
        (
            Malformed::MissingFields,
            ErrorClass::Malformed,
            "missing Members",
        ),
        (
            Malformed::HugeBody,
            ErrorClass::ResponseTooLarge,
            "larger than",
        ),
    ] {
        d.set_faults(Faults {
            malformed: Some(m),
            ..Faults::default()
        });
        let err = op(
            &env,
            Kind::RedfishInventory,
            "m",
            a,
            json!({}),
            1,
            CancellationToken::new(),
        )
        .await
        .out
        .unwrap_err();
        match err {
            OpError::Permanent { kind, message } => {
                assert_eq!(kind, class, "{m:?}: {message}");
                assert!(message.contains(expect), "{m:?}: {message}");
            }
            other => panic!("{m:?}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn power_actions_wait_for_the_state() {
    let dir = tempfile::tempdir().unwrap();
    let env = env(&dir);
    let sim = RedfishSim::start(vec![spec("127.6.3.1", 31)])
        .await
        .unwrap();
    let a = sim.addrs()[0];
    let p = |t: &str| json!({"reset_type": t, "poll_ms": 20, "wait_s": 20});
    let out = op(
        &env,
        Kind::RedfishPower,
        "p1",
        a,
        p("ForceOff"),
        1,
        CancellationToken::new(),
    )
    .await
    .out
    .unwrap();
    assert_eq!(out["power_state"], "Off");
    assert_eq!(out["changed"], true);
    let out = op(
        &env,
        Kind::RedfishPower,
        "p2",
        a,
        p("ForceOff"),
        1,
        CancellationToken::new(),
    )
    .await
    .out
    .unwrap();
    assert_eq!(out["changed"], false, "already off: nothing sent");
    let out = op(
        &env,
        Kind::RedfishPower,
        "p3",
        a,
        p("On"),
        1,
        CancellationToken::new(),
    )
    .await
    .out
    .unwrap();
    assert_eq!(out["power_state"], "On");
    let out = op(
        &env,
        Kind::RedfishPower,
        "p4",
        a,
        p("GracefulRestart"),
        1,
        CancellationToken::new(),
    )
    .await
    .out
    .unwrap();
    assert_eq!(out["power_state"], "On");
    assert_eq!(Stats::get(&sim.device(a).unwrap().stats.host_resets), 3);
    // A host that ignores graceful requests: a clear timeout, not a hang.
    sim.device(a).unwrap().set_faults(Faults {
        graceful_ignored: true,
        ..Faults::default()
    });
    let err = op(
        &env,
        Kind::RedfishPower,
        "p5",
        a,
        json!({"reset_type": "GracefulShutdown", "poll_ms": 20, "wait_s": 1}),
        1,
        CancellationToken::new(),
    )
    .await
    .out
    .unwrap_err();
    assert!(
        matches!(&err, OpError::Permanent { kind, .. } if *kind == ErrorClass::PowerTimeout),
        "{err:?}"
    );
    let err = op(
        &env,
        Kind::RedfishPower,
        "p6",
        a,
        json!({"reset_type": "Reboot"}),
        1,
        CancellationToken::new(),
    )
    .await
    .out
    .unwrap_err();
    assert!(
        matches!(&err, OpError::Permanent { kind, message } if *kind == ErrorClass::Params && message.contains("GracefulRestart")),
        "{err:?}"
    );
}

#[tokio::test]
async fn firmware_by_uri_updates_after_reboot_and_skips_when_current() {
    let dir = tempfile::tempdir().unwrap();
    let env = env(&dir);
    let mut s = spec("127.6.4.1", 41);
    s.faults.stale_jobs = true;
    let sim = RedfishSim::start(vec![s]).await.unwrap();
    let a = sim.addrs()[0];
    let d = sim.device(a).unwrap();
    let repo = repo(vec![("/bios.exe", make_image("159", "2.19.1", 4096))]).await;
    let params = firmware_params(json!({"image_uri": format!("http://{repo}/bios.exe")}));
    let r = op(
        &env,
        Kind::RedfishFirmware,
        "f1",
        a,
        params.clone(),
        1,
        CancellationToken::new(),
    )
    .await;
    let out = r.out.unwrap_or_else(|e| panic!("{e:?}\n{:#?}", r.steps));
    assert_eq!(out["status"], "updated", "{out}");
    assert_eq!(out["from_version"], "1.0.0");
    assert_eq!(out["version"], "2.19.1");
    assert_eq!(d.component_version("159").as_deref(), Some("2.19.1"));
    assert_eq!(Stats::get(&d.stats.simple_updates), 1);
    assert_eq!(
        Stats::get(&d.stats.host_resets),
        1,
        "one reboot applies the BIOS"
    );
    assert_eq!(Stats::get(&d.stats.host_power_cycles), 1);
    // The three stale jobs were deleted before the update started.
    assert_eq!(Stats::get(&d.stats.jobs_deleted), 3);
    assert!(
        r.steps.iter().any(|s| s.starts_with("cleared stale jobs")),
        "{:#?}",
        r.steps
    );
    assert!(
        Stats::get(&d.stats.max_sessions) <= 1,
        "one session at a time"
    );
    // Again: already at the version, nothing is sent.
    let out = op(
        &env,
        Kind::RedfishFirmware,
        "f2",
        a,
        params,
        1,
        CancellationToken::new(),
    )
    .await
    .out
    .unwrap();
    assert_eq!(out["status"], "already_current");
    assert_eq!(Stats::get(&d.stats.simple_updates), 1);
}

#[tokio::test]
async fn firmware_of_the_idrac_survives_its_own_reset() {
    let dir = tempfile::tempdir().unwrap();
    let env = env(&dir);
    let mut s = spec("127.6.5.1", 51);
    // A slow repository: the job sits in New and Downloading for a while.
    s.faults.slow_download_ms = 1000;
    let sim = RedfishSim::start(vec![s]).await.unwrap();
    let a = sim.addrs()[0];
    let d = sim.device(a).unwrap();
    // The iDRAC's own firmware: it resets itself (dropping connections,
    // then answering 503) before the job completes; the Redfish task is
    // gone afterwards, the Dell job is not. The host is never touched.
    let repo = repo(vec![(
        "/idrac.d9",
        make_image("25227", "7.00.00.00", 200_000),
    )])
    .await;
    let params = firmware_params(json!({
        "component": "25227", "version": "7.00.00.00",
        "image_uri": format!("http://{repo}/idrac.d9"),
    }));
    let r = op(
        &env,
        Kind::RedfishFirmware,
        "f3",
        a,
        params,
        1,
        CancellationToken::new(),
    )
    .await;
    let out = r.out.unwrap_or_else(|e| panic!("{e:?}\n{:#?}", r.steps));
    assert_eq!(out["status"], "updated", "{out}");
    assert_eq!(Stats::get(&d.stats.idrac_resets), 1);
    assert_eq!(
        Stats::get(&d.stats.host_resets),
        0,
        "the iDRAC's firmware needs no host reboot: {:#?}",
        r.steps
    );
    assert_eq!(Stats::get(&d.stats.host_power_cycles), 0);
    assert_eq!(d.component_version("25227").as_deref(), Some("7.00.00.00"));
}

#[tokio::test]
async fn stalled_job_is_rebooted_forcefully_when_graceful_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let env = env(&dir);
    let mut s = spec("127.6.6.1", 61);
    s.faults.stall_job = true;
    s.faults.graceful_ignored = true;
    let sim = RedfishSim::start(vec![s]).await.unwrap();
    let a = sim.addrs()[0];
    let d = sim.device(a).unwrap();
    let repo = repo(vec![("/bios.exe", make_image("159", "2.19.1", 4096))]).await;
    let params = firmware_params(
        json!({"image_uri": format!("http://{repo}/bios.exe"), "graceful_s": 1, "stall_s": 1}),
    );
    let r = op(
        &env,
        Kind::RedfishFirmware,
        "f4",
        a,
        params,
        1,
        CancellationToken::new(),
    )
    .await;
    let out = r.out.unwrap_or_else(|e| panic!("{e:?}\n{:#?}", r.steps));
    assert_eq!(out["status"], "updated", "{out}");
    assert_eq!(out["reboots"], 2, "one to apply, one for the stall: {out}");
    assert!(
        r.steps.iter().any(|s| s.contains("stalled at 40%")),
        "{:#?}",
        r.steps
    );
    assert!(
        r.steps.iter().any(|s| s.contains("ForceRestart")),
        "{:#?}",
        r.steps
    );
    // Two graceful requests ignored, two forced restarts.
    assert_eq!(Stats::get(&d.stats.host_resets), 4);
}

#[tokio::test]
async fn failed_busy_and_scheduled_updates() {
    let dir = tempfile::tempdir().unwrap();
    let env = env(&dir);
    let mut s = spec("127.6.7.1", 71);
    s.faults.busy_job = true;
    let sim = RedfishSim::start(vec![s, spec("127.6.7.2", 72)])
        .await
        .unwrap();
    let (a, b) = (sim.addrs()[0], sim.addrs()[1]);
    let repo = repo(vec![("/bios.exe", make_image("159", "2.19.1", 4096))]).await;
    let uri = format!("http://{repo}/bios.exe");
    // A RAID job runs: the update is refused for now (retryable), nothing sent.
    let err = op(
        &env,
        Kind::RedfishFirmware,
        "f5",
        a,
        firmware_params(json!({"image_uri": uri})),
        1,
        CancellationToken::new(),
    )
    .await
    .out
    .unwrap_err();
    assert!(
        matches!(&err, OpError::Retryable { kind, message } if *kind == ErrorClass::Busy && message.contains("RAID")),
        "{err:?}"
    );
    assert_eq!(Stats::get(&sim.device(a).unwrap().stats.simple_updates), 0);
    // OnReset: the job is left scheduled for the next reboot; nothing changes yet.
    let out = op(
        &env,
        Kind::RedfishFirmware,
        "f6",
        b,
        firmware_params(json!({"image_uri": uri, "apply_time": "OnReset"})),
        1,
        CancellationToken::new(),
    )
    .await
    .out
    .unwrap();
    assert_eq!(out["status"], "scheduled", "{out}");
    let db = sim.device(b).unwrap();
    assert_eq!(db.component_version("159").as_deref(), Some("1.0.0"));
    assert_eq!(Stats::get(&db.stats.host_resets), 0);
    // A package the iDRAC rejects: the Dell job's message is the task error.
    db.set_faults(Faults {
        bad_signature: true,
        ..Faults::default()
    });
    let err = op(
        &env,
        Kind::RedfishFirmware,
        "f7",
        b,
        firmware_params(json!({"image_uri": uri})),
        1,
        CancellationToken::new(),
    )
    .await
    .out
    .unwrap_err();
    assert!(
        matches!(&err, OpError::Permanent { kind, message } if *kind == ErrorClass::PackageInvalid && message.contains("signature") && message.contains("SUP0518")),
        "{err:?}"
    );
    assert_eq!(Stats::get(&db.stats.host_power_cycles), 0);
    // A job that fails while flashing, after the host rebooted for it.
    db.set_faults(Faults {
        fail_job: true,
        ..Faults::default()
    });
    let err = op(
        &env,
        Kind::RedfishFirmware,
        "f7b",
        b,
        firmware_params(json!({"image_uri": uri})),
        1,
        CancellationToken::new(),
    )
    .await
    .out
    .unwrap_err();
    assert!(
        matches!(&err, OpError::Permanent { kind, message } if *kind == ErrorClass::JobFailed && message.contains("while applying") && message.contains("rebooted for it")),
        "{err:?}"
    );
    assert_eq!(Stats::get(&db.stats.host_power_cycles), 1);
    // A missing component names what is installed.
    let err = op(
        &env,
        Kind::RedfishFirmware,
        "f8",
        b,
        firmware_params(json!({"image_uri": uri, "component": "PERC"})),
        1,
        CancellationToken::new(),
    )
    .await
    .out
    .unwrap_err();
    assert!(
        matches!(&err, OpError::Permanent { kind, message } if *kind == ErrorClass::ComponentNotFound && message.contains("BIOS (159)")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_crashed_attempt_is_resumed_from_its_jid_and_cancel_stops_following() {
    let dir = tempfile::tempdir().unwrap();
    let env = env(&dir);
    let mut s = spec("127.6.8.1", 81);
    s.timings.scale = 0.02; // slow enough to crash in the middle
    let sim = RedfishSim::start(vec![s]).await.unwrap();
    let a = sim.addrs()[0];
    let d = sim.device(a).unwrap().clone();
    let repo = repo(vec![("/bios.exe", make_image("159", "2.19.1", 4096))]).await;
    let params = firmware_params(json!({"image_uri": format!("http://{repo}/bios.exe")}));
    // Attempt 1 dies (its future is dropped) once the job is running.
    let first = {
        let env = env.clone();
        let params = params.clone();
        tokio::spawn(async move {
            op(
                &env,
                Kind::RedfishFirmware,
                "crash",
                a,
                params,
                1,
                CancellationToken::new(),
            )
            .await
            .out
        })
    };
    let until = tokio::time::Instant::now() + Duration::from_secs(30);
    while !d.jobs().iter().any(|j| j.state == "Running") {
        assert!(
            tokio::time::Instant::now() < until,
            "the job never ran: {:?}",
            d.jobs()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.abort();
    let _ = first.await;
    let r = op(
        &env,
        Kind::RedfishFirmware,
        "crash",
        a,
        params.clone(),
        2,
        CancellationToken::new(),
    )
    .await;
    let out = r.out.unwrap_or_else(|e| panic!("{e:?}\n{:#?}", r.steps));
    assert_eq!(out["status"], "updated", "{out}");
    assert!(
        r.steps
            .iter()
            .any(|s| s.starts_with("resuming the Dell job")),
        "{:#?}",
        r.steps
    );
    assert_eq!(
        Stats::get(&d.stats.simple_updates),
        1,
        "the second attempt did not start another update"
    );
    assert_eq!(out["jid"], d.jobs().last().unwrap().id);

    // Cancel while following: the task ends cancelled promptly.
    let repo2 = repo_for("159", "2.20.0").await;
    let cancel = CancellationToken::new();
    let c2 = cancel.clone();
    let dd = d.clone();
    tokio::spawn(async move {
        let until = tokio::time::Instant::now() + Duration::from_secs(30);
        while dd.jobs().len() < 2 && tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        c2.cancel();
    });
    let p2 = firmware_params(
        json!({"version": "2.20.0", "image_uri": format!("http://{repo2}/bios.exe")}),
    );
    let r = op(&env, Kind::RedfishFirmware, "cancel", a, p2, 1, cancel).await;
    assert!(matches!(r.out, Err(OpError::Cancelled)), "{:?}", r.out);
}

async fn repo_for(component: &str, version: &str) -> SocketAddr {
    repo(vec![("/bios.exe", make_image(component, version, 4096))]).await
}

#[tokio::test]
async fn a_changed_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let env = env(&dir);
    let sim = RedfishSim::start(vec![spec("127.6.9.1", 91)])
        .await
        .unwrap();
    let a = sim.addrs()[0];
    op(
        &env,
        Kind::RedfishInventory,
        "c1",
        a,
        json!({}),
        1,
        CancellationToken::new(),
    )
    .await
    .out
    .unwrap();
    sim.rotate_certificate(a).unwrap();
    let err = op(
        &env,
        Kind::RedfishInventory,
        "c2",
        a,
        json!({}),
        1,
        CancellationToken::new(),
    )
    .await
    .out
    .unwrap_err();
    assert!(
        matches!(&err, OpError::Permanent { kind, message } if *kind == ErrorClass::CertChanged && message.contains(&sim.fingerprint(a).unwrap())),
        "{err:?}"
    );
    // A zone that opted out of pinning still connects.
    op(
        &env,
        Kind::RedfishInventory,
        "c3",
        a,
        json!({"device": {"tls_pinning": false}}),
        1,
        CancellationToken::new(),
    )
    .await
    .out
    .unwrap();
}

#[tokio::test]
async fn one_operation_per_idrac_and_the_zone_cap_hold() {
    let dir = tempfile::tempdir().unwrap();
    let env = env(&dir);
    let slow = |ip: &str, i: u64| {
        let mut s = spec(ip, i);
        s.faults.slow_ms = 150;
        s
    };
    let sim = RedfishSim::start(vec![slow("127.6.10.1", 101), slow("127.6.10.2", 102)])
        .await
        .unwrap();
    let (a, b) = (sim.addrs()[0], sim.addrs()[1]);
    // Two inventories of the same iDRAC: the second waits for the first.
    let (r1, r2) = tokio::join!(
        op(
            &env,
            Kind::RedfishInventory,
            "l1",
            a,
            json!({}),
            1,
            CancellationToken::new()
        ),
        op(
            &env,
            Kind::RedfishInventory,
            "l2",
            a,
            json!({}),
            1,
            CancellationToken::new()
        ),
    );
    r1.out.unwrap();
    r2.out.unwrap();
    let waited: Vec<&String> = r1
        .steps
        .iter()
        .chain(&r2.steps)
        .filter(|s| s.contains("another operation is running"))
        .collect();
    assert_eq!(waited.len(), 1, "{:?} {:?}", r1.steps, r2.steps);
    assert_eq!(Stats::get(&sim.device(a).unwrap().stats.max_sessions), 1);
    // Two iDRACs, a zone cap of 1: one waits for the zone's slot.
    let cap = json!({"device": {"zone_limit": 1}});
    let (r1, r2) = tokio::join!(
        op(
            &env,
            Kind::RedfishInventory,
            "z1",
            a,
            cap.clone(),
            1,
            CancellationToken::new()
        ),
        op(
            &env,
            Kind::RedfishInventory,
            "z2",
            b,
            cap.clone(),
            1,
            CancellationToken::new()
        ),
    );
    r1.out.unwrap();
    r2.out.unwrap();
    let waited = r1
        .steps
        .iter()
        .chain(&r2.steps)
        .filter(|s| s.contains("already runs 1"))
        .count();
    assert_eq!(waited, 1, "{:?} {:?}", r1.steps, r2.steps);
}

/// The image URI answers 404: the Dell job fails while downloading; the
/// task fails naming Dell's message and the host is never power cycled.
/// With `OnReset` the same failure is a failure, not "scheduled". A file
/// that is not a package fails with `package_invalid`, power untouched.
#[tokio::test]
async fn missing_or_corrupt_images_fail_without_touching_power() {
    let dir = tempfile::tempdir().unwrap();
    let env = env(&dir);
    let mut s = spec("127.6.10.1", 101);
    s.faults.slow_download_ms = 600;
    let sim = RedfishSim::start(vec![s]).await.unwrap();
    let a = sim.addrs()[0];
    let d = sim.device(a).unwrap();
    let repo = repo(vec![("/corrupt.exe", b"MZ\x90\x00 not a package".to_vec())]).await;
    for (task, apply) in [("nf1", "Immediate"), ("nf2", "OnReset")] {
        let r = op(
            &env,
            Kind::RedfishFirmware,
            task,
            a,
            firmware_params(json!({
                "image_uri": format!("http://{repo}/typo.exe"), "apply_time": apply,
            })),
            1,
            CancellationToken::new(),
        )
        .await;
        let err = r.out.unwrap_err();
        assert!(
            matches!(&err, OpError::Permanent { kind, message }
                if *kind == ErrorClass::ImageDownloadFailed
                    && message.contains("Unable to transfer image file")
                    && message.contains("RED014")
                    && message.contains("power was not touched")),
            "{apply}: {err:?}\n{:#?}",
            r.steps
        );
        assert!(
            r.steps.iter().any(|s| s.contains(" New ")),
            "the job was seen New first: {:#?}",
            r.steps
        );
    }
    let err = op(
        &env,
        Kind::RedfishFirmware,
        "nf3",
        a,
        firmware_params(json!({"image_uri": format!("http://{repo}/corrupt.exe")})),
        1,
        CancellationToken::new(),
    )
    .await
    .out
    .unwrap_err();
    assert!(
        matches!(&err, OpError::Permanent { kind, message }
            if *kind == ErrorClass::PackageInvalid && message.contains("Package verification failed")),
        "{err:?}"
    );
    assert_eq!(
        Stats::get(&d.stats.host_resets),
        0,
        "{:?}",
        d.host_reset_log()
    );
    assert_eq!(Stats::get(&d.stats.host_power_cycles), 0);
    assert_eq!(d.component_version("159").as_deref(), Some("1.0.0"));
}

/// A slow repository keeps the job New and Downloading for longer than
/// the worker polls: the host is rebooted once, and only after the job
/// is Scheduled.
#[tokio::test]
async fn slow_download_reboots_once_after_the_job_is_scheduled() {
    let dir = tempfile::tempdir().unwrap();
    let env = env(&dir);
    let mut s = spec("127.6.11.1", 111);
    s.faults.slow_download_ms = 2000;
    let sim = RedfishSim::start(vec![s]).await.unwrap();
    let a = sim.addrs()[0];
    let d = sim.device(a).unwrap();
    let repo = repo(vec![("/bios.exe", make_image("159", "2.19.1", 4096))]).await;
    let r = op(
        &env,
        Kind::RedfishFirmware,
        "slow",
        a,
        firmware_params(json!({"image_uri": format!("http://{repo}/bios.exe"), "stall_s": 5})),
        1,
        CancellationToken::new(),
    )
    .await;
    let out = r.out.unwrap_or_else(|e| panic!("{e:?}\n{:#?}", r.steps));
    assert_eq!(out["status"], "updated", "{out}");
    assert_eq!(out["reboots"], 1, "{out}");
    assert_eq!(Stats::get(&d.stats.host_power_cycles), 1);
    let log = d.host_reset_log();
    assert_eq!(log.len(), 1, "{log:?}");
    let jid = out["jid"].as_str().unwrap();
    assert!(
        log[0]
            .jobs
            .iter()
            .any(|(id, st)| id == jid && st == "Scheduled"),
        "the reboot came while the job was not Scheduled: {log:?}"
    );
    for state in ["New", "Downloading", "Downloaded"] {
        assert!(
            r.steps.iter().any(|s| s.contains(&format!(" {state} "))),
            "{state} was never seen: {:#?}",
            r.steps
        );
    }
    assert_eq!(d.component_version("159").as_deref(), Some("2.19.1"));
}

/// A job that stays Scheduled through every reboot: the task gives up
/// and deletes it, so a retry does not queue a second job beside it.
#[tokio::test]
async fn a_stalled_job_given_up_is_deleted_and_a_retry_starts_clean() {
    let dir = tempfile::tempdir().unwrap();
    let env = env(&dir);
    let mut s = spec("127.6.12.1", 121);
    s.faults.stuck_scheduled = true;
    let sim = RedfishSim::start(vec![s]).await.unwrap();
    let a = sim.addrs()[0];
    let d = sim.device(a).unwrap();
    let repo = repo(vec![("/bios.exe", make_image("159", "2.19.1", 4096))]).await;
    let params = firmware_params(json!({
        "image_uri": format!("http://{repo}/bios.exe"), "stall_s": 1, "max_stall_reboots": 1,
    }));
    let r = op(
        &env,
        Kind::RedfishFirmware,
        "gu1",
        a,
        params.clone(),
        1,
        CancellationToken::new(),
    )
    .await;
    let err = r.out.unwrap_err();
    assert!(
        matches!(&err, OpError::Permanent { kind, message }
            if *kind == ErrorClass::Stalled && message.contains("Dell job JID_") && message.contains("was deleted")),
        "{err:?}\n{:#?}",
        r.steps
    );
    assert!(d.jobs().is_empty(), "{:?}", d.jobs());
    assert_eq!(Stats::get(&d.stats.jobs_deleted), 1);
    assert_eq!(
        Stats::get(&d.stats.host_power_cycles),
        2,
        "one to apply, one for the stall"
    );
    // The retry: one job in the queue, and the update applies.
    d.set_faults(Faults::default());
    let r = op(
        &env,
        Kind::RedfishFirmware,
        "gu2",
        a,
        params,
        1,
        CancellationToken::new(),
    )
    .await;
    let out = r.out.unwrap_or_else(|e| panic!("{e:?}\n{:#?}", r.steps));
    assert_eq!(out["status"], "updated", "{out}");
    assert_eq!(d.jobs().len(), 1, "{:?}", d.jobs());
    assert_eq!(Stats::get(&d.stats.host_power_cycles), 3);
}

/// An attempt died after sending the update and before recording the
/// JID; Dell shows the job's `StartTime` as `TIME_NOW`. The next attempt
/// adopts that job instead of starting a second one.
#[tokio::test]
async fn an_unrecorded_job_with_time_now_is_adopted() {
    let dir = tempfile::tempdir().unwrap();
    let env = env(&dir);
    let sim = RedfishSim::start(vec![spec("127.6.13.1", 131)])
        .await
        .unwrap();
    let a = sim.addrs()[0];
    let d = sim.device(a).unwrap();
    let repo = repo(vec![("/bios.exe", make_image("159", "2.19.1", 4096))]).await;
    // What the dead attempt left: a checkpoint saying it was starting, and
    // its job.
    env.checkpoints
        .save(
            "adopt",
            &json!({"starting_ms": outpost_proto::now_ms(), "from_version": "1.0.0"}),
        )
        .await
        .unwrap();
    let jid = d.start_update(UpdateSource::Uri(format!("http://{repo}/bios.exe")));
    let r = op(
        &env,
        Kind::RedfishFirmware,
        "adopt",
        a,
        firmware_params(json!({"image_uri": format!("http://{repo}/bios.exe")})),
        2,
        CancellationToken::new(),
    )
    .await;
    let out = r.out.unwrap_or_else(|e| panic!("{e:?}\n{:#?}", r.steps));
    assert_eq!(out["status"], "updated", "{out}");
    assert_eq!(out["jid"], jid, "{out}");
    assert_eq!(Stats::get(&d.stats.simple_updates), 0, "no second update");
    assert!(
        r.steps
            .iter()
            .any(|s| s.contains("started by an earlier attempt")),
        "{:#?}",
        r.steps
    );
}

/// Several components in one task, in the order given: the BIOS, the NIC
/// (listed once per port, as a real iDRAC lists it) and the iDRAC. A
/// worker that dies while the NIC's Dell job runs is resumed by the next
/// attempt from its checkpoint: the BIOS is not looked at again, the NIC
/// job is followed rather than sent again, and the iDRAC comes after.
#[tokio::test]
async fn several_components_update_in_turn_and_resume_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let env = env(&dir);
    let mut s = spec("127.6.13.1", 131);
    s.timings.scale = 0.02; // slow enough to crash in the middle
    let sim = RedfishSim::start(vec![s]).await.unwrap();
    let a = sim.addrs()[0];
    let d = sim.device(a).unwrap().clone();
    let nic_from = d.component_version("108255").unwrap();
    let repo = repo(vec![
        ("/bios.exe", make_image("159", "2.19.1", 4096)),
        ("/nic.exe", make_image("108255", "22.0.9", 4096)),
        ("/idrac.exe", make_image("25227", "7.10.30.00", 4096)),
    ])
    .await;
    let uri = |f: &str| format!("http://{repo}/{f}");
    let mut params = firmware_params(json!({"updates": [
        {"component": "BIOS", "version": "2.19.1", "image_uri": uri("bios.exe")},
        {"component": "NIC", "version": "22.0.9", "image_uri": uri("nic.exe")},
        {"component": "iDRAC", "version": "7.10.30.00", "image_uri": uri("idrac.exe")},
    ]}));
    let m = params.as_object_mut().unwrap();
    m.remove("component");
    m.remove("version");

    // Before: the check names what needs an update.
    let mut check = params.clone();
    check["mode"] = json!("check");
    for u in check["updates"].as_array_mut().unwrap() {
        u.as_object_mut().unwrap().remove("image_uri");
    }
    let out = op(
        &env,
        Kind::RedfishFirmware,
        "c",
        a,
        check.clone(),
        1,
        CancellationToken::new(),
    )
    .await
    .out
    .unwrap();
    assert_eq!(out["status"], "needs_update", "{out}");
    assert_eq!(out["updates"].as_array().unwrap().len(), 3, "{out}");

    let first = {
        let (env, params) = (env.clone(), params.clone());
        tokio::spawn(async move {
            op(
                &env,
                Kind::RedfishFirmware,
                "multi",
                a,
                params,
                1,
                CancellationToken::new(),
            )
            .await
        })
    };
    let until = tokio::time::Instant::now() + Duration::from_secs(60);
    while !d
        .jobs()
        .iter()
        .any(|j| j.name.contains("Ethernet") && j.state == "Running")
    {
        assert!(
            tokio::time::Instant::now() < until,
            "the NIC job never ran: {:?}",
            d.jobs()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.abort();
    let _ = first.await;
    assert_eq!(d.component_version("159").as_deref(), Some("2.19.1"));
    assert_eq!(Stats::get(&d.stats.simple_updates), 2);

    let r = op(
        &env,
        Kind::RedfishFirmware,
        "multi",
        a,
        params.clone(),
        2,
        CancellationToken::new(),
    )
    .await;
    let out = r.out.unwrap_or_else(|e| panic!("{e:?}\n{:#?}", r.steps));
    assert_eq!(out["status"], "updated", "{out}");
    let parts = out["updates"].as_array().unwrap();
    let statuses: Vec<&str> = parts
        .iter()
        .map(|p| p["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["updated", "updated", "updated"], "{out}");
    // The BIOS's result came from the checkpoint, not from a new look.
    assert_eq!(parts[0]["from_version"], "1.0.0", "{out}");
    assert_eq!(
        parts[1]["component"], "Broadcom Gigabit Ethernet BCM5720",
        "{out}"
    );
    assert_eq!(parts[1]["from_version"], json!(nic_from), "{out}");
    assert_eq!(d.component_version("108255").as_deref(), Some("22.0.9"));
    assert_eq!(d.component_version("25227").as_deref(), Some("7.10.30.00"));
    assert_eq!(
        Stats::get(&d.stats.simple_updates),
        3,
        "the NIC job was followed, not sent again"
    );
    assert!(
        r.steps
            .iter()
            .any(|s| s.starts_with("[2/3] NIC: resuming the Dell job")),
        "{:#?}",
        r.steps
    );
    // After: every component verifies; a wrong version names its component.
    let mut verify = check.clone();
    verify["mode"] = json!("verify");
    let out = op(
        &env,
        Kind::RedfishFirmware,
        "v",
        a,
        verify.clone(),
        1,
        CancellationToken::new(),
    )
    .await
    .out
    .unwrap();
    assert_eq!(out["status"], "verified", "{out}");
    verify["updates"][1]["version"] = json!("23.0.0");
    let e = op(
        &env,
        Kind::RedfishFirmware,
        "v2",
        a,
        verify,
        1,
        CancellationToken::new(),
    )
    .await
    .out
    .unwrap_err();
    assert_eq!(e.class(), Some(ErrorClass::VersionMismatch), "{e:?}");
    assert!(format!("{e:?}").contains("component 2 of 3 (NIC)"), "{e:?}");
}
