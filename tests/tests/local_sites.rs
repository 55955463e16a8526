//! `deploy/local-sites.sh`: the multi-site topology in network namespaces
//! (root). A hub namespace (3 NATS nodes, 2 coordinators) and two site
//! namespaces (a leaf node, a worker, simulated switches and an iDRAC on
//! addresses that exist only inside the site). Jobs at both sites reach
//! their own devices; a site's namespace cannot reach the other site's
//! devices at all (the network says so, not a configuration flag); a site
//! cut off by `partition` keeps its new job waiting while the other site
//! works, and `heal` lets it finish.

use anyhow::{Context, Result, bail};
use outpost_tests::api::Api;
use outpost_tests::fleet::SETTLE;
use serde_json::json;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

const PREFIX: &str = "ot";
const NET: u32 = 150;

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/local-sites.sh")
}

/// Runs the script with `args` in this test's environment.
fn run(dir: &std::path::Path, args: &[&str]) -> Result<String> {
    let bin_dir = outpost_tests::fleet_bin("outpost-coordinator")?
        .parent()
        .context("binary directory")?
        .to_path_buf();
    let out = Command::new("bash")
        .arg(script())
        .args(args)
        .env("OUTPOST_BIN_DIR", bin_dir)
        .env("NATS_SERVER_BIN", outpost_tests::nats::server_bin()?)
        .env("OUTPOST_SITES_DIR", dir)
        .env("OUTPOST_SITES_PREFIX", PREFIX)
        .env("OUTPOST_SITES_NET", NET.to_string())
        .output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        bail!("local-sites.sh {args:?}: {}\n{text}", out.status);
    }
    Ok(text)
}

/// Takes the topology down whatever happens to the test.
struct Down(PathBuf);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = run(&self.0, &["down"]);
    }
}

/// Whether a TCP connection from inside namespace `ns` to `addr` opens.
fn connects_from(ns: &str, addr: &str) -> Result<bool> {
    let (host, port) = addr.rsplit_once(':').context("host:port")?;
    let status = Command::new("ip")
        .args(["netns", "exec", ns, "timeout", "3", "bash", "-c"])
        .arg(format!("exec 3<>/dev/tcp/{host}/{port}"))
        .status()?;
    Ok(status.success())
}

fn lan(site: u32, host: u32) -> String {
    format!("10.{}.{site}.{host}", NET + 1)
}

async fn reach_job(api: &Api, zone: &str, targets: &[String]) -> Result<String> {
    api.submit_ok(
        &json!({"type": "net.reach", "zone": zone, "targets": targets,
                          "params": {"timeout_ms": 3000}}),
    )
    .await
}

async fn site_up(api: &Api, site: &str) -> Result<bool> {
    let r = api.get("/api/v1/sites").await?;
    let sites = r.body["sites"].as_array().cloned().unwrap_or_default();
    Ok(sites.iter().any(|s| s["name"] == site && s["up"] == true))
}

#[tokio::test]
async fn sites_in_namespaces_reach_their_own_devices_only_and_wait_out_a_cut() -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("this test needs root: it makes network namespaces (CI runs as root)");
    }
    let dir = tempfile::tempdir()?;
    let state = dir.path().join("state");
    let _ = run(&state, &["down"]);
    let _down = Down(state.clone());
    let said = run(&state, &["up"])?;
    assert!(said.contains("local-sites up"), "{said}");
    let token = std::fs::read_to_string(state.join("api-token"))?;
    let api = Api::new(&format!("http://10.{NET}.9.1:8080"), Some(token.trim()));
    let other = Api::new(&format!("http://10.{NET}.9.2:8080"), Some(token.trim()));

    // Each site's namespace reaches its own devices, never the other's.
    let (ns_a, ns_b) = (format!("{PREFIX}-site-a"), format!("{PREFIX}-site-b"));
    assert!(connects_from(&ns_a, &format!("{}:22", lan(1, 10)))?);
    assert!(
        !connects_from(&ns_a, &format!("{}:22", lan(2, 10)))?,
        "site-a reached site-b's switch"
    );
    assert!(connects_from(&ns_b, &format!("{}:22", lan(2, 10)))?);
    assert!(
        !connects_from(&ns_b, &format!("{}:443", lan(1, 20)))?,
        "site-b reached site-a's iDRAC"
    );
    // Nor does the hub reach a site's devices.
    assert!(!connects_from(
        &format!("{PREFIX}-hub"),
        &format!("{}:22", lan(1, 10))
    )?);

    // Jobs at both sites reach their own devices, through either coordinator.
    let a = reach_job(
        &api,
        "site-a-mgmt",
        &[format!("{}:22", lan(1, 10)), format!("{}:443", lan(1, 20))],
    )
    .await?;
    let b = reach_job(
        &other,
        "site-b-mgmt",
        &[format!("{}:22", lan(2, 10)), format!("{}:22", lan(2, 11))],
    )
    .await?;
    for id in [&a, &b] {
        let job = api.wait_finished(id, SETTLE).await?;
        assert_eq!(job["status"], "succeeded", "{job:#}");
    }

    // Cut site-a off: its new job waits, site-b goes on.
    run(&state, &["partition", "site-a"])?;
    outpost_tests::wait_until(
        "site-a seen down",
        Duration::from_secs(30),
        async || match site_up(&api, "site-a").await {
            Ok(false) => Ok(()),
            other => Err(format!("{other:?}")),
        },
    )
    .await?;
    let waiting = reach_job(&api, "site-a-mgmt", &[format!("{}:22", lan(1, 11))]).await?;
    let b2 = reach_job(&api, "site-b-mgmt", &[format!("{}:22", lan(2, 11))]).await?;
    let job = api.wait_finished(&b2, SETTLE).await?;
    assert_eq!(
        job["status"], "succeeded",
        "site-b stopped while site-a was cut: {job:#}"
    );
    let job = api.job(&waiting).await?;
    assert_eq!(
        job["counts"]["succeeded"], 0,
        "site-a ran a task while cut off: {job:#}"
    );
    let status = run(&state, &["status"])?;
    assert!(status.contains("site-a: link CUT"), "{status}");

    run(&state, &["heal", "site-a"])?;
    let job = api.wait_finished(&waiting, SETTLE).await?;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    outpost_tests::wait_until(
        "site-a seen up",
        Duration::from_secs(30),
        async || match site_up(&api, "site-a").await {
            Ok(true) => Ok(()),
            other => Err(format!("{other:?}")),
        },
    )
    .await?;
    Ok(())
}
