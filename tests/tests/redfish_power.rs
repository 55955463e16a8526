//! `redfish.power` through the whole fleet against the iDRAC simulator:
//! each reset type waits for the power state it leads to. A power-button
//! press on a running host is a request to its OS, so the task waits
//! until the host is off (and fails naming the OS when it ignores it);
//! pressed again, the host comes back on. A request for the state the
//! host is already in changes nothing.

use outpost_sim::redfish::{Power, Stats};
use outpost_tests::api::tasks;
use outpost_tests::collect::{CollectFleet, Cred};
use outpost_tests::fleet::SETTLE;
use serde_json::{Value, json};
use std::net::SocketAddr;

const PASS: &str = "calvin-power";

fn creds() -> Vec<Cred<'static>> {
    Cred::idrac(PASS)
}

async fn power(f: &CollectFleet, a: SocketAddr, reset: &str, wait_s: u64) -> anyhow::Result<Value> {
    let id = f
        .fleet
        .api
        .submit_ok(
            &json!({"type": "redfish.power", "targets": [a.ip().to_string()],
            "params": {"port": a.port(), "reset_type": reset, "wait_s": wait_s, "poll_ms": 20}}),
        )
        .await?;
    let job = f.fleet.api.wait_finished(&id, SETTLE).await?;
    Ok(tasks(&job)[0].clone())
}

#[tokio::test]
async fn the_power_button_waits_for_the_state_it_leads_to() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let ips = vec!["127.1.65.1".to_string(), "127.1.65.2".to_string()];
    // Device time ×0.05: a graceful shutdown takes a few seconds of wall time.
    let sim = outpost_tests::idracs::start(&ips, "root", PASS, 500, 0.05).await?;
    let (a, deaf) = (sim.addrs()[0], sim.addrs()[1]);
    let d = sim.device(deaf).unwrap();
    let mut faults = d.faults();
    faults.graceful_ignored = true;
    d.set_faults(faults);
    let mut f = CollectFleet::start(dir.path(), &creds(), &[]).await?;
    f.worker("alpha", "alpha-1", &[]).await?;
    let state = |a: SocketAddr| sim.device(a).unwrap().lock().power;

    // Running host: the press shuts its OS down; the task ends once it is off.
    let t = power(&f, a, "PushPowerButton", 60).await?;
    assert_eq!(t["status"], "succeeded", "{t:#}");
    assert_eq!(t["output"]["power_state"], "Off", "{t:#}");
    assert_eq!(state(a), Power::Off);
    // Off: pressed again, it boots; the task ends once it is on.
    let t = power(&f, a, "PushPowerButton", 60).await?;
    assert_eq!(t["status"], "succeeded", "{t:#}");
    assert_eq!(t["output"]["power_state"], "On", "{t:#}");
    assert_eq!(state(a), Power::On);
    // Asking for what it already is changes nothing.
    let resets = Stats::get(&sim.device(a).unwrap().stats.host_resets);
    let t = power(&f, a, "On", 60).await?;
    assert_eq!(t["output"]["changed"], false, "{t:#}");
    assert_eq!(
        Stats::get(&sim.device(a).unwrap().stats.host_resets),
        resets
    );

    // An OS that ignores the button: the task says so instead of success.
    let t = power(&f, deaf, "PushPowerButton", 5).await?;
    assert_eq!(t["status"], "failed", "{t:#}");
    assert_eq!(t["error_kind"], "power_timeout", "{t:#}");
    assert!(
        t["error"].as_str().is_some_and(|e| e.contains("OS")),
        "{t:#}"
    );
    assert_eq!(state(deaf), Power::On);
    Ok(())
}
