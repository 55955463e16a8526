//! Redfish jobs through the whole fleet against the iDRAC simulator:
//! a discovery whose iDRACs land in the coordinator's inventory with their
//! pinned certificates, and a firmware push from the `outpost_firmware`
//! object store whose worker is killed mid-update: the next attempt, on
//! another worker, follows the same Dell job and the image is uploaded once;
//! and firmware by image URI following Dell's job model, counted in host
//! power cycles: a 404 image fails naming Dell's message with the host
//! untouched, a slow repository gets the host rebooted once and only after
//! the job is Scheduled, the iDRAC's own firmware never reboots the host;
//! a certificate that changes mid-update fails the task naming the Dell job
//! that carries on, and once accepted an update submitted again waits for
//! that job instead of queueing a second one.

use outpost_sim::redfish::{RedfishSim, Stats, make_image};
use outpost_tests::api::tasks;
use outpost_tests::collect::{CollectFleet, Cred};
use outpost_tests::fleet::{SETTLE, two_zones_with};
use serde_json::json;
use std::net::SocketAddr;
use std::time::Duration;

const PASS: &str = "calvin-fleet";

fn creds() -> Vec<Cred<'static>> {
    vec![
        Cred {
            name: "wrong",
            username: "root",
            password: "nope",
            enable_secret: None,
            default: false,
        },
        Cred {
            name: "idrac",
            username: "root",
            password: PASS,
            enable_secret: None,
            default: true,
        },
    ]
}

/// iDRACs on `ips`, all on one port (each binds its own address).
async fn idracs(ips: &[&str], scale: f64) -> RedfishSim {
    let ips: Vec<String> = ips.iter().map(|s| s.to_string()).collect();
    outpost_tests::idracs::start(&ips, "root", PASS, 500, scale)
        .await
        .unwrap()
}

#[tokio::test]
async fn discovery_fills_the_inventory_with_pinned_certificates() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let sim = idracs(&["127.1.60.1", "127.1.60.2", "127.1.60.3"], 0.01).await;
    let port = sim.addrs()[0].port();
    let mut f = CollectFleet::start(dir.path(), &creds(), &[]).await?;
    f.worker("alpha", "alpha-1", &[]).await?;
    let id = f
        .fleet
        .api
        .submit_ok(&json!({
            "type": "redfish.discover",
            "targets": ["127.1.60.0/29"],
            "params": {"port": port, "connect_timeout_ms": 1000, "slice_size": 4,
                       "credentials": ["wrong", {"name": "idrac", "ranges": ["127.1.60.0/24"], "priority": 1}]},
        }))
        .await?;
    let job = f.fleet.api.wait_finished(&id, SETTLE).await?;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    assert_eq!(tasks(&job).len(), 2, "a /29 in slices of 4: {job:#}");
    let inv = f.fleet.api.get("/api/v1/inventory/redfish").await?;
    let entries = inv.body.as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 3, "{:#}", inv.body);
    for (e, a) in entries.iter().zip(sim.addrs()) {
        let d = sim.device(a).unwrap();
        assert_eq!(e["address"], a.ip().to_string());
        assert_eq!(e["zone"], "alpha");
        assert_eq!(e["service_tag"], d.spec.service_tag);
        assert_eq!(e["credential"], "idrac");
        assert_eq!(e["cert_sha256"], sim.fingerprint(a).unwrap());
        assert_eq!(
            Stats::get(&d.stats.failed_logins),
            0,
            "the scoped set is tried first"
        );
    }
    // The pins are used: a replaced certificate fails an inventory job.
    sim.rotate_certificate(sim.addrs()[1])?;
    let id = f
        .fleet
        .api
        .submit_ok(&json!({
            "type": "redfish.inventory",
            "targets": [sim.addrs()[0].ip().to_string(), sim.addrs()[1].ip().to_string()],
            "params": {"port": port},
        }))
        .await?;
    let job = f.fleet.api.wait_finished(&id, SETTLE).await?;
    let t = tasks(&job);
    assert_eq!(t[0]["status"], "succeeded", "{job:#}");
    assert_eq!(
        t[0]["output"]["components"].as_array().map(Vec::len),
        // BIOS, iDRAC, CPLD and the two ports of the NIC.
        Some(5),
        "{job:#}"
    );
    assert_eq!(t[1]["status"], "failed", "{job:#}");
    assert_eq!(t[1]["error_kind"], "cert_changed", "{job:#}");
    Ok(())
}

async fn put_image(
    nats: &outpost_tests::nats::NatsServer,
    name: &str,
    bytes: Vec<u8>,
) -> anyhow::Result<()> {
    let client = nats.client().await?;
    let js = async_nats::jetstream::new(client);
    let store = js
        .get_object_store(outpost_proto::layout::FIRMWARE_STORE)
        .await?;
    let mut r = std::io::Cursor::new(bytes);
    store.put(name, &mut r).await?;
    Ok(())
}

#[tokio::test]
async fn firmware_push_resumes_its_dell_job_after_the_worker_is_killed() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let sim = idracs(&["127.1.61.1"], 0.03).await;
    let a: SocketAddr = sim.addrs()[0];
    let d = sim.device(a).unwrap().clone();
    let mut f = CollectFleet::start_with_zones(
        dir.path(),
        &creds(),
        &[],
        &two_zones_with("ack_wait_secs = 3"),
    )
    .await?;
    put_image(
        &f.fleet.nats,
        "bios-2.19.1.exe",
        make_image("159", "2.19.1", 300_000),
    )
    .await?;
    f.worker("alpha", "alpha-1", &[]).await?;
    let id = f
        .fleet
        .api
        .submit_ok(&json!({
            "type": "redfish.firmware",
            "targets": [a.ip().to_string()],
            "params": {"port": a.port(), "component": "BIOS", "version": "2.19.1",
                       "image": "bios-2.19.1.exe", "poll_ms": 50, "stall_s": 30,
                       "graceful_s": 10, "reboot_s": 60, "retry_s": 30},
        }))
        .await?;
    // Kill the worker once the Dell job exists and is under way.
    let until = tokio::time::Instant::now() + SETTLE;
    while !d.jobs().iter().any(|j| {
        j.job_type == "FirmwareUpdate" && !matches!(j.state.as_str(), "New" | "Downloading")
    }) {
        anyhow::ensure!(
            tokio::time::Instant::now() < until,
            "no firmware job: {:?}",
            d.jobs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f.fleet.workers[0].kill9().await?;
    f.worker("alpha", "alpha-2", &[]).await?;
    let job = f.fleet.api.wait_finished(&id, SETTLE * 2).await?;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    let t = &tasks(&job)[0];
    assert_eq!(t["worker_id"], "alpha-2", "{t:#}");
    assert!(t["attempts"].as_u64() >= Some(2), "{t:#}");
    assert_eq!(t["output"]["status"], "updated", "{t:#}");
    assert_eq!(t["output"]["jid"], d.jobs()[0].id, "{t:#}");
    assert_eq!(Stats::get(&d.stats.uploads), 1, "the image was pushed once");
    assert_eq!(d.component_version("159").as_deref(), Some("2.19.1"));
    assert_eq!(
        Stats::get(&d.stats.host_power_cycles),
        1,
        "{:?}",
        d.host_reset_log()
    );
    Ok(())
}

#[tokio::test]
async fn firmware_reboots_the_host_only_for_a_scheduled_job() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let sim = idracs(&["127.1.62.1", "127.1.62.2", "127.1.62.3"], 0.01).await;
    let (typo, slow, idrac) = (sim.addrs()[0], sim.addrs()[1], sim.addrs()[2]);
    for a in [slow, idrac] {
        let d = sim.device(a).unwrap();
        let mut f = d.faults();
        // A slow repository: New and Downloading last seconds.
        f.slow_download_ms = 3000;
        d.set_faults(f);
    }
    let repo = outpost_sim::repo::serve(vec![
        ("/bios.exe".into(), make_image("159", "2.19.1", 4096)),
        ("/idrac.d9".into(), make_image("25227", "7.00.00.00", 4096)),
    ])
    .await?;
    let mut f = CollectFleet::start(dir.path(), &creds(), &[]).await?;
    f.worker("alpha", "alpha-1", &[]).await?;
    // The inventory knows the BIOS the slow host runs before the update.
    let id = f
        .fleet
        .api
        .submit_ok(
            &json!({"type": "redfish.inventory", "targets": [slow.ip().to_string()],
                           "params": {"port": slow.port()}}),
        )
        .await?;
    let job = f.fleet.api.wait_finished(&id, SETTLE).await?;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    let entry = |inv: &serde_json::Value, ip: String| {
        inv.as_array()
            .and_then(|a| a.iter().find(|e| e["address"] == ip.as_str()).cloned())
            .unwrap_or_default()
    };
    let bios_before = sim.device(slow).unwrap().component_version("159");
    let inv = f.fleet.api.get("/api/v1/inventory/redfish").await?.body;
    assert_eq!(
        entry(&inv, slow.ip().to_string())["bios_version"].as_str(),
        bios_before.as_deref(),
        "{inv:#}"
    );
    let common = json!({"port": typo.port(), "poll_ms": 50, "stall_s": 30,
                        "graceful_s": 10, "reboot_s": 60, "retry_s": 30});
    let submit = |target: SocketAddr, extra: serde_json::Value| {
        let mut p = common.clone();
        for (k, v) in extra.as_object().unwrap() {
            p[k] = v.clone();
        }
        json!({"type": "redfish.firmware", "targets": [target.ip().to_string()], "params": p})
    };
    let jobs = [
        submit(
            typo,
            json!({"component": "BIOS", "version": "2.19.1",
                   "image_uri": format!("http://{repo}/bios-typo.exe")}),
        ),
        submit(
            slow,
            json!({"component": "BIOS", "version": "2.19.1",
                   "image_uri": format!("http://{repo}/bios.exe")}),
        ),
        submit(
            idrac,
            json!({"component": "25227", "version": "7.00.00.00",
                   "image_uri": format!("http://{repo}/idrac.d9")}),
        ),
    ];
    let mut ids = Vec::new();
    for j in &jobs {
        ids.push(f.fleet.api.submit_ok(j).await?);
    }
    let mut done = Vec::new();
    for id in &ids {
        done.push(f.fleet.api.wait_finished(id, SETTLE * 2).await?);
    }
    let cycles = |a: SocketAddr| Stats::get(&sim.device(a).unwrap().stats.host_power_cycles);

    // The typo: failed with Dell's message, power untouched.
    let t = &tasks(&done[0])[0];
    assert_eq!(t["status"], "failed", "{t:#}");
    assert_eq!(t["error_kind"], "image_download_failed", "{t:#}");
    assert!(
        t["error"]
            .as_str()
            .is_some_and(|e| e.contains("Unable to transfer image file")),
        "{t:#}"
    );
    assert_eq!(cycles(typo), 0);
    assert_eq!(Stats::get(&sim.device(typo).unwrap().stats.host_resets), 0);

    // The slow repository: one power cycle, while the job was Scheduled.
    let t = &tasks(&done[1])[0];
    assert_eq!(t["status"], "succeeded", "{t:#}");
    assert_eq!(t["output"]["status"], "updated", "{t:#}");
    assert_eq!(cycles(slow), 1);
    let log = sim.device(slow).unwrap().host_reset_log();
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(
        log[0].jobs.iter().all(|(_, st)| st == "Scheduled"),
        "{log:?}"
    );

    // The inventory shows what the host runs now, in its firmware list too.
    let inv = f.fleet.api.get("/api/v1/inventory/redfish").await?.body;
    let e = entry(&inv, slow.ip().to_string());
    assert_eq!(e["bios_version"], "2.19.1", "{e:#}");
    let bios = e["firmware"]
        .as_array()
        .and_then(|l| l.iter().find(|c| c["software_id"] == "159").cloned())
        .unwrap_or_default();
    assert_eq!(bios["version"], "2.19.1", "{e:#}");
    assert_eq!(
        entry(&inv, idrac.ip().to_string())["idrac_version"],
        "7.00.00.00",
        "{inv:#}"
    );

    // The iDRAC's own firmware, named by its short name: applied without
    // touching the host.
    let t = &tasks(&done[2])[0];
    assert_eq!(t["status"], "succeeded", "{t:#}");
    assert_eq!(cycles(idrac), 0);
    assert_eq!(Stats::get(&sim.device(idrac).unwrap().stats.host_resets), 0);
    assert_eq!(
        sim.device(idrac)
            .unwrap()
            .component_version("25227")
            .as_deref(),
        Some("7.00.00.00")
    );
    Ok(())
}

#[tokio::test]
async fn a_certificate_changed_mid_update_names_the_dell_job_that_carries_on() -> anyhow::Result<()>
{
    let dir = tempfile::tempdir()?;
    let sim = idracs(&["127.1.62.5"], 0.01).await;
    let a = sim.addrs()[0];
    let d = sim.device(a).unwrap().clone();
    let mut faults = d.faults();
    faults.slow_download_ms = 4000;
    d.set_faults(faults);
    let repo = outpost_sim::repo::serve(vec![(
        "/bios.exe".into(),
        make_image("159", "2.19.1", 4096),
    )])
    .await?;
    let mut f = CollectFleet::start(dir.path(), &creds(), &[]).await?;
    f.worker("alpha", "alpha-1", &[]).await?;
    let job = json!({"type": "redfish.firmware", "targets": [a.ip().to_string()],
        "params": {"port": a.port(), "poll_ms": 50, "stall_s": 30, "graceful_s": 10,
                   "reboot_s": 60, "retry_s": 30, "component": "BIOS", "version": "2.19.1",
                   "image_uri": format!("http://{repo}/bios.exe")}});
    let id = f.fleet.api.submit_ok(&job).await?;
    // The Dell job exists and downloads: the certificate changes now.
    let until = tokio::time::Instant::now() + SETTLE;
    let jid = loop {
        if let Some(j) = d.jobs().into_iter().find(|j| !j.finished()) {
            break j.id;
        }
        anyhow::ensure!(tokio::time::Instant::now() < until, "no Dell job appeared");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    sim.rotate_certificate(a)?;
    let done = f.fleet.api.wait_finished(&id, SETTLE * 2).await?;
    let t = &tasks(&done)[0];
    assert_eq!(t["error_kind"], "cert_changed", "{t:#}");
    let err = t["error"].as_str().unwrap_or_default();
    let new = sim.fingerprint(a).unwrap_or_default();
    assert!(err.contains(&jid), "the error names the Dell job: {err}");
    assert!(err.contains("carries on"), "{err}");
    assert!(
        err.contains(&format!(
            "outpost pins accept 127.1.62.5 --port {} --sha256 {new}",
            a.port()
        )),
        "the error says how to accept the new certificate: {err}"
    );
    assert_eq!(Stats::get(&d.stats.host_power_cycles), 0);
    // Accepting the certificate and submitting again: the new task waits
    // for the running Dell job instead of queueing a second one.
    let reply = f
        .fleet
        .api
        .put(
            &format!("/api/v1/inventory/redfish/127.1.62.5/pin?port={}", a.port()),
            &json!({"sha256": new}),
        )
        .await?;
    assert_eq!(reply.status, 200, "{:#}", reply.body);
    let id = f.fleet.api.submit_ok(&job).await?;
    let done = f.fleet.api.wait_finished(&id, SETTLE * 2).await?;
    let t = &tasks(&done)[0];
    assert_eq!(t["status"], "succeeded", "{t:#}");
    let firmware_jobs = d
        .jobs()
        .into_iter()
        .filter(|j| j.name.starts_with("Firmware Update"))
        .count();
    assert_eq!(firmware_jobs, 1, "{:?}", d.jobs());
    assert_eq!(d.component_version("159").as_deref(), Some("2.19.1"));
    Ok(())
}
