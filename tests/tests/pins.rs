//! An operator accepts an iDRAC's new certificate for that one device
//! (`outpost pins accept`), by fingerprint or by forgetting the pin, and
//! operations on it run again; pinning stays on for every other device.

use outpost_tests::api::tasks;
use outpost_tests::collect::{CollectFleet, Cred};
use outpost_tests::fleet::SETTLE;
use outpost_tests::fleet_bin;
use outpost_tests::procs::Proc;
use serde_json::{Value, json};
use std::ffi::OsStr;

const PASS: &str = "calvin-pins";

fn creds() -> Vec<Cred<'static>> {
    Cred::idrac(PASS)
}

async fn outpost(api: &str, args: &[&str]) -> anyhow::Result<(i32, String)> {
    let mut all: Vec<&OsStr> = vec!["--api".as_ref(), api.as_ref()];
    all.extend(args.iter().map(OsStr::new));
    let mut p = Proc::spawn("outpost", fleet_bin("outpost")?, &all, &[])?;
    let status = p.wait_exit(SETTLE).await?;
    tokio::task::yield_now().await;
    let mut out = p.stdout();
    for _ in 0..100 {
        if !out.is_empty() || status.code() != Some(0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        out = p.stdout();
    }
    Ok((status.code().unwrap_or(-1), out.join("\n")))
}

async fn inventory(f: &CollectFleet, targets: &[String], port: u16) -> anyhow::Result<Value> {
    let id = f
        .fleet
        .api
        .submit_ok(
            &json!({"type": "redfish.inventory", "targets": targets, "params": {"port": port}}),
        )
        .await?;
    f.fleet.api.wait_finished(&id, SETTLE).await
}

#[tokio::test]
async fn a_changed_certificate_is_accepted_per_device() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let ips = vec!["127.1.61.1".to_string(), "127.1.61.2".to_string()];
    let sim = outpost_tests::idracs::start(&ips, "root", PASS, 500, 0.01).await?;
    let port = sim.addrs()[0].port();
    let mut f = CollectFleet::start(dir.path(), &creds(), &[]).await?;
    f.worker("alpha", "alpha-1", &[]).await?;
    let api = f.fleet.api.base.clone();
    // First contact pins both certificates.
    let job = inventory(&f, &ips, port).await?;
    assert_eq!(job["status"], "succeeded", "{job:#}");

    // A replaced board: its new certificate is refused.
    let b = sim.addrs()[1];
    sim.rotate_certificate(b)?;
    let job = inventory(&f, &ips, port).await?;
    assert_eq!(tasks(&job)[1]["error_kind"], "cert_changed", "{job:#}");

    // A wrong fingerprint is refused, naming what is expected.
    let (code, _) = outpost(
        &api,
        &[
            "pins",
            "accept",
            "127.1.61.2",
            "--port",
            &port.to_string(),
            "--sha256",
            "abc",
        ],
    )
    .await?;
    assert_eq!(code, 2);

    // Accepting the fingerprint read on the device's console lets it run.
    let new = sim.fingerprint(b).unwrap_or_default();
    let (code, out) = outpost(
        &api,
        &[
            "pins",
            "accept",
            "127.1.61.2",
            "--port",
            &port.to_string(),
            "--sha256",
            &new,
        ],
    )
    .await?;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&new), "{out}");
    let job = inventory(&f, &ips, port).await?;
    assert_eq!(job["status"], "succeeded", "{job:#}");

    // Forgetting the pin instead: the next connection pins what it sees.
    sim.rotate_certificate(b)?;
    let (code, out) = outpost(
        &api,
        &["pins", "accept", "127.1.61.2", "--port", &port.to_string()],
    )
    .await?;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("forgotten"), "{out}");
    let job = inventory(&f, &ips, port).await?;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    let inv = f.fleet.api.get("/api/v1/inventory/redfish").await?;
    let entry = inv
        .body
        .as_array()
        .and_then(|a| a.iter().find(|e| e["address"] == "127.1.61.2").cloned())
        .unwrap_or_default();
    assert_eq!(entry["cert_sha256"], sim.fingerprint(b).unwrap_or_default());

    // The other device's pin was never touched: a change there still fails.
    sim.rotate_certificate(sim.addrs()[0])?;
    let job = inventory(&f, &ips, port).await?;
    assert_eq!(tasks(&job)[0]["error_kind"], "cert_changed", "{job:#}");
    // An address the inventory does not know is a clear 404.
    let (code, _) = outpost(&api, &["pins", "accept", "127.1.61.9"]).await?;
    assert_eq!(code, 2);
    Ok(())
}
